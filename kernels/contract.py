"""What the kernels take: the arrays every kernel argument must be, checked once for both targets.

Numba compiles a read-only and a writeable array as different types, and Arrow's buffers are
read-only, so every array handed to a kernel is read-only: one compiled signature per kernel.
"""

from __future__ import annotations

import numpy as np


def readonly(array, dtype=None, *, copy: bool = False) -> np.ndarray:
    """``array`` as a C-contiguous, read-only NumPy array of ``dtype`` (default: its own).

    A read-only view where no conversion is needed. ``copy=True`` copies a writeable array first,
    so that no writeable reference to the returned memory stays with the caller (arrays a user
    passed in, which must not change under a compiled lexicon).
    """
    array = np.ascontiguousarray(array, dtype=dtype)
    if array.flags.writeable:
        array = array.copy() if copy else array.view()
        array.setflags(write=False)
    return array
