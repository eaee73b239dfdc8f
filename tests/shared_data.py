"""The human-labelled data in ../shared/data (beside the repository), for the tests that read it.

Where a file is missing, a test skips on a developer's machine but fails in CI (``CI`` set): CI
always has the data, so a missing file there is a broken checkout, not a reason to test less.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def require(*files: str) -> Path:
    """``DATA``, after checking that each of ``files`` (relative to it) exists."""
    missing = [name for name in files if not (DATA / name).exists()]
    if missing:
        message = f"../shared/data lacks {', '.join(missing)} (looked in {DATA})"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return DATA
