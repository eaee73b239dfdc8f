"""The CUDA backend: choosing it, refusing it without a device, and parity with the CPU kernels.

The parity checks run under Numba's CUDA simulator in a separate process (tests/cuda_sim_cases.py):
the simulator must be switched on before ``numba.cuda`` is first imported, and must not replace the
real ``numba.cuda`` in this process. ``test_real_gpu_matches_cpu`` runs only where a GPU is usable.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from emoscore import BackendError, EmoscoreError, Scorer, sample
from emoscore.backend import BACKENDS, cuda_status, resolve
from emoscore.kpi import KpiAggregator

TESTS = Path(__file__).resolve().parent
GPU, GPU_REASON = cuda_status()   # this process never enables the simulator itself


@pytest.mark.cudasim
def test_simulator_parity_in_its_own_process():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(TESTS / "cuda_sim_cases.py")],
        cwd=TESTS.parent, env=env, capture_output=True, text=True, timeout=900,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert " passed" in run.stdout and "skipped" not in run.stdout and "failed" not in run.stdout, run.stdout[-2000:]


@pytest.mark.skipif(GPU, reason="a CUDA device is usable here")
def test_cuda_without_a_device_raises_a_clear_backend_error():
    assert os.environ.get("NUMBA_ENABLE_CUDASIM") != "1"
    for make in (lambda: Scorer(backend="cuda"), lambda: KpiAggregator(backend="cuda")):
        with pytest.raises(BackendError, match="backend='cuda' needs a usable NVIDIA GPU") as info:
            make()
        assert isinstance(info.value, EmoscoreError)
        assert GPU_REASON in str(info.value) and "backend='cpu'" in str(info.value)


@pytest.mark.skipif(GPU, reason="a CUDA device is usable here")
def test_auto_falls_back_to_the_cpu_without_a_device():
    assert resolve("auto") == "cpu"
    scorer = Scorer(backend="auto")
    assert scorer.backend == "cpu"
    data = pa.table({"text": ["Great service!", None, "slow refund, not happy"]})
    assert scorer.score(data).equals(Scorer(backend="cpu").score(data))
    assert KpiAggregator(backend="auto").backend == "cpu"


@pytest.mark.parametrize("name", ["gpu", "CUDA", "", None])
def test_unknown_backend_names_are_refused_with_the_choices(name):
    for make in (lambda: Scorer(backend=name), lambda: KpiAggregator(backend=name)):
        with pytest.raises(BackendError, match=r"unknown backend .*choose one of \('cpu', 'cuda', 'auto'\)"):
            make()
    assert BACKENDS == ("cpu", "cuda", "auto")


def test_cpu_backend_never_touches_cuda():
    code = ("import sys, pyarrow as pa, emoscore; emoscore.Scorer(backend='cpu').score(pa.array(['ok']));"
            "emoscore.KpiAggregator(backend='cpu'); sys.exit('numba.cuda' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]


def assert_close_columns(cpu: pa.Table, gpu: pa.Table) -> None:
    """Float columns within 1e-6, integers and names exactly; the dominant-emotion names (of the
    documents and of their aspects) may differ only at float near-ties, so they must agree on
    99.9%; the aspects lists are compared field by field."""
    assert gpu.schema == cpu.schema
    for name in cpu.schema.names:
        a, b = cpu.column(name).combine_chunks(), gpu.column(name).combine_chunks()
        if name == "aspects":
            assert b.offsets.equals(a.offsets)
            a, b = a.flatten(), b.flatten()
            assert b.field("aspect").equals(a.field("aspect"))
            pairs = [(a.field(f), b.field(f), f) for f in ("valence", "intensity", "emotion")]
        else:
            pairs = [(a, b, name)]
        for x, y, label in pairs:
            if pa.types.is_floating(x.type):
                np.testing.assert_allclose(y.to_numpy(zero_copy_only=False), x.to_numpy(zero_copy_only=False),
                                           rtol=1e-6, atol=1e-6, err_msg=label)
            elif label == "emotion":
                assert np.mean(np.asarray(x.to_pylist()) == np.asarray(y.to_pylist())) > 0.999, label
            else:
                assert y.equals(x), label


@pytest.mark.skipif(not GPU, reason=f"needs a usable CUDA GPU: {GPU_REASON}")
def test_real_gpu_matches_cpu():
    table = sample.generate(5000, seed=3)
    for aspects in (True, False):
        cpu = Scorer(aspects=aspects, backend="cpu").score(table)
        assert_close_columns(cpu, Scorer(aspects=aspects, backend="cuda").score(table))
    states = [KpiAggregator("channel", window="week", backend=b).update(cpu).to_bytes() for b in ("cpu", "cuda")]
    assert states[0] == states[1]
