"""Where the kernels run: ``"cpu"``, ``"cuda"`` or ``"auto"``.

:func:`resolve` turns a requested backend into the one to use; :func:`cuda_status` says whether an
NVIDIA GPU is usable. The check never fails hard: a missing ``numba-cuda`` package, a missing CUDA
driver or toolkit (NVVM), or a driver error all just mean "not usable", with the reason. Numba's
CUDA simulator counts as a device only when ``NUMBA_ENABLE_CUDASIM=1`` is set explicitly in the
environment (it runs kernels as Python threads: for tests, never for speed).
"""

from __future__ import annotations

import functools
import os
from typing import Literal, TypeAlias

from .errors import BackendError

__all__ = ["BACKENDS", "Backend", "cuda_status", "resolve"]

#: A backend name, as ``Scorer`` and ``KpiAggregator`` take it.
Backend: TypeAlias = Literal["cpu", "cuda", "auto"]

#: Backend names accepted by ``Scorer`` and ``KpiAggregator``.
BACKENDS: tuple[Backend, ...] = ("cpu", "cuda", "auto")

_MIN_COMPUTE_CAPABILITY = (5, 0)   # the oldest architecture numba-cuda compiles for


def resolve(backend: Backend) -> Literal["cpu", "cuda"]:
    """The backend to run on (``"cpu"`` or ``"cuda"``) for a requested one.

    ``"auto"`` is ``"cuda"`` when :func:`cuda_status` finds a usable device, else ``"cpu"``.

    Raises
    ------
    BackendError
        ``backend`` is not one of :data:`BACKENDS`, or it is ``"cuda"`` and no device is usable
        (the message says why).
    """
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
    if backend == "cpu":
        return "cpu"
    usable, reason = cuda_status()
    if usable:
        return "cuda"
    if backend == "cuda":
        raise BackendError(
            f"backend='cuda' needs a usable NVIDIA GPU, but {reason}; use backend='cpu', or 'auto' "
            "to fall back to the CPU (GPU support: pip install 'emoscore[cuda]')"
        )
    return "cpu"


@functools.cache
def cuda_status() -> tuple[bool, str]:
    """``(usable, reason)``: whether the CUDA kernels can run here, and if not, why.

    Imports ``numba.cuda`` (and initialises the driver) on first call only; the answer is cached
    for the process.
    """
    simulator = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
    try:
        from numba import cuda
    except Exception as exc:  # noqa: BLE001 - numba-cuda absent or broken: not usable, say why
        return False, f"numba.cuda cannot be imported ({type(exc).__name__}: {exc})"
    try:
        simulated = cuda.is_available.__module__.startswith("numba.cuda.simulator")
        if simulated:
            if simulator:
                return True, "Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1)"
            return False, "numba.cuda is the simulator, but NUMBA_ENABLE_CUDASIM=1 is not set in the environment"
        if simulator:
            return False, "NUMBA_ENABLE_CUDASIM=1 was set after numba.cuda was imported"
        if not cuda.is_available():
            try:
                gpus = len(cuda.gpus)
            except Exception:  # noqa: BLE001 - no driver
                gpus = 0
            if not gpus:
                return False, "no CUDA driver or NVIDIA GPU was found"
            return False, ("a GPU was found but not NVVM, the CUDA toolkit's compiler "
                           "(install the toolkit, or numba-cuda[cu12] / numba-cuda[cu13])")
        device = cuda.get_current_device()
        capability = tuple(device.compute_capability)
        if capability < _MIN_COMPUTE_CAPABILITY:
            return False, f"the GPU's compute capability {capability} is below {_MIN_COMPUTE_CAPABILITY}"
        name = device.name.decode() if isinstance(device.name, bytes) else str(device.name)
        return True, f"{name} (compute capability {capability[0]}.{capability[1]})"
    except Exception as exc:  # noqa: BLE001 - any driver failure means "not usable"
        return False, f"the CUDA driver failed ({type(exc).__name__}: {exc})"
