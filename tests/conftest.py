"""Set-up shared by every test module."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def compiled_kernels():
    """Every test scores with the compiled kernels. With an empty Numba cache, ``score_stream`` scores
    small batches with the interpreted rules while the kernels compile in the background (the same
    results; tests/test_kernels.py checks that start in a child process): without this, which of the
    two a test ran would depend on how far the compile had got."""
    from emoscore import Scorer
    from emoscore.kernels import score_cpu
    from emoscore.sample import generate

    Scorer().score(generate(300, seed=0))  # more documents than the interpreted start takes: compiled here
    assert score_cpu.kernels_ready()
