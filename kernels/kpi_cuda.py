"""CUDA twins of the KPI scatter-aggregation kernels: one thread per row, integer atomics.

Each ``accum_*`` method of :class:`DeviceFold` takes exactly the arguments of the :mod:`.kpi_cpu`
kernel of the same name, so ``KpiAggregator._fold`` runs the same sequence of calls on either target.
The per-row scalar logic (validity bit, fixed-point rounding, sketch bucket, HyperLogLog word, 128-bit
carry) is ``kpi_cpu``'s plain functions compiled with ``cuda.jit(device=True)``; rows are added with
``cuda.atomic.add`` on int64/uint64 counters and HyperLogLog registers kept with ``cuda.atomic.max``.
Integer addition is associative, so the counters are bit-identical to the CPU's whatever order the
threads run in; the 128-bit revenue sum stays exact because each atomic add on the low word returns
the old value, from which the thread knows its own carry into the high word.

What moves to the GPU, and why only this: group factorisation (hash tables over the key columns,
growing as new groups appear) and validation stay on the CPU -- they are branchy, sequential in
first-seen order and produce the ``cell``/``group`` index that every kernel shares. The per-row
accumulation is the part that is data-parallel. A :class:`DeviceFold` copies each input column to the
device once per batch, accumulates into zeroed device *deltas* covering only the cells the batch
touches, and :meth:`DeviceFold.finish` adds the deltas into the host state (max for HyperLogLog), so
the state itself stays a set of host NumPy arrays (merge, serialisation and growth are unchanged).
Each row costs a few integer atomics against the bytes of its columns copied over PCIe, so this pays
only for wide batches on a GPU that also scores; on its own the CPU kernels are as fast.

Import only when :func:`emoscore.backend.resolve` chose CUDA (it imports ``numba.cuda``).
"""

from __future__ import annotations

import numpy as np
from numba import cuda, float64, int64, uint32, uint64

from . import kpi_cpu
from .contract import MAX_BLOCKS, THREADS_PER_BLOCK

__all__ = ["DeviceFold"]

_valid = cuda.jit(device=True)(kpi_cpu.row_valid)
_fixed_point = cuda.jit(device=True)(kpi_cpu.fixed_point)
_sketch_bucket = cuda.jit(device=True)(kpi_cpu.sketch_bucket)
_hll_word = cuda.jit(device=True)(kpi_cpu.hll_word)
_add128_carry = cuda.jit(device=True)(kpi_cpu.add128_carry)


@cuda.jit(device=True)
def _leading_zeros64(w):
    """Leading zero bits of a non-zero uint64 by binary search (the CPU kernel's LLVM ``ctlz``; not
    ``cuda.clz``, which Numba's simulator evaluates on 32 bits, so the parity tests would not run
    the code the GPU runs)."""
    n = 0
    if (w >> uint64(32)) == 0:
        n += 32
        w <<= uint64(32)
    if (w >> uint64(48)) == 0:
        n += 16
        w <<= uint64(16)
    if (w >> uint64(56)) == 0:
        n += 8
        w <<= uint64(8)
    if (w >> uint64(60)) == 0:
        n += 4
        w <<= uint64(4)
    if (w >> uint64(62)) == 0:
        n += 2
        w <<= uint64(2)
    if (w >> uint64(63)) == 0:
        n += 1
    return n


@cuda.jit
def _scale_kernel(cell, values, bitmap, bit_offset, counts, f_answered, f_pos, pos_min, f_neg, neg_max, f_sum,
                  f_sq):
    for i in range(cuda.grid(1), cell.shape[0], cuda.gridsize(1)):
        if not _valid(bitmap, bit_offset, i):
            continue
        v = values[i]
        c = cell[i]
        cuda.atomic.add(counts, (c, f_answered), 1)
        if f_pos >= 0 and v >= pos_min:
            cuda.atomic.add(counts, (c, f_pos), 1)
        if f_neg >= 0 and v <= neg_max:
            cuda.atomic.add(counts, (c, f_neg), 1)
        if f_sum >= 0:
            cuda.atomic.add(counts, (c, f_sum), int64(v))
        if f_sq >= 0:
            cuda.atomic.add(counts, (c, f_sq), int64(v) * int64(v))


@cuda.jit
def _fixed_kernel(cell, values, bitmap, bit_offset, counts, f_count, f_sum, f_sq, scale):
    # as the CPU kernel: with no nulls only the sums (the caller adds the per-cell row counts)
    count = bitmap.shape[0] != 0
    for i in range(cuda.grid(1), cell.shape[0], cuda.gridsize(1)):
        if not _valid(bitmap, bit_offset, i):
            continue
        c = cell[i]
        if count:
            cuda.atomic.add(counts, (c, f_count), 1)
        x = float64(values[i])
        cuda.atomic.add(counts, (c, f_sum), _fixed_point(x, scale))
        cuda.atomic.add(counts, (c, f_sq), _fixed_point(x * x, scale))


@cuda.jit
def _revenue_kernel(cell, values, bitmap, bit_offset, counts, f_count, hi, lo, scale):
    for i in range(cuda.grid(1), cell.shape[0], cuda.gridsize(1)):
        if not _valid(bitmap, bit_offset, i):
            continue
        c = cell[i]
        cuda.atomic.add(counts, (c, f_count), 1)
        q = _fixed_point(values[i], scale)
        old = cuda.atomic.add(lo, c, uint64(q))   # returns the low word before this row's add
        cuda.atomic.add(hi, c, _add128_carry(old, old + uint64(q), q))


@cuda.jit
def _codes_kernel(cell, codes, counts, f_any, field_of_code):
    for i in range(cuda.grid(1), cell.shape[0], cuda.gridsize(1)):
        k = codes[i]
        if k < 0:
            continue
        c = cell[i]
        cuda.atomic.add(counts, (c, f_any), 1)
        f = field_of_code[k]
        if f >= 0:
            cuda.atomic.add(counts, (c, f), 1)


@cuda.jit
def _sketch_kernel(group, values, log_values, bitmap, bit_offset, sketch, x_min, inv_log_gamma, key_min):
    last = sketch.shape[1] - 1
    for i in range(cuda.grid(1), group.shape[0], cuda.gridsize(1)):
        if not _valid(bitmap, bit_offset, i):
            continue
        b = _sketch_bucket(values[i], log_values[i], x_min, inv_log_gamma, key_min, last)
        cuda.atomic.add(sketch, (group[i], b), 1)


@cuda.jit
def _hll_kernel(group, hashes, bitmap, bit_offset, registers, p):
    for i in range(cuda.grid(1), group.shape[0], cuda.gridsize(1)):
        if not _valid(bitmap, bit_offset, i):
            continue
        j, w = _hll_word(hashes[i], p)
        cuda.atomic.max(registers, (group[i], j), uint32(_leading_zeros64(w) + 1))


def _launch(kernel, n: int, *args) -> None:
    if n:
        blocks = min(-(-n // THREADS_PER_BLOCK), MAX_BLOCKS)
        kernel[blocks, THREADS_PER_BLOCK](*args)


def _key(array: np.ndarray) -> tuple:
    return array.__array_interface__["data"][0], array.shape, array.strides, array.dtype.str


class DeviceFold:
    """One batch's KPI update on the GPU, called exactly as the ``kpi_cpu`` kernels are.

    Inputs (``cell``, ``group``, value columns, bitmaps) are copied to the device once each. Each
    host state array gets a zeroed device delta over the rows the batch touches (``max(index) + 1``
    cells or groups); :meth:`finish` copies the deltas back and adds them into the host arrays
    (int64 counters and sketch: ``+``; revenue: 128-bit ``+``; HyperLogLog: ``max``). The host
    arrays must not be replaced between the calls and :meth:`finish` (changing them is fine:
    deltas are added, not copied over).
    """

    def __init__(self) -> None:
        self._inputs: dict[tuple, object] = {}
        self._rows: dict[tuple, int] = {}
        self._deltas: dict[tuple, tuple] = {}   # key -> (host array, device delta, rows, combine)
        self._revenue: tuple | None = None

    # -- buffers -------------------------------------------------------------------------------------

    def _input(self, array: np.ndarray):
        key = _key(array)
        device = self._inputs.get(key)
        if device is None:
            device = self._inputs[key] = cuda.to_device(np.ascontiguousarray(array))
        return device

    def _touched(self, index: np.ndarray) -> int:
        key = _key(index)
        rows = self._rows.get(key)
        if rows is None:
            rows = self._rows[key] = int(index.max()) + 1 if index.shape[0] else 0
        return rows

    def _delta(self, host: np.ndarray, index: np.ndarray, combine: str = "add", dtype=None):
        key = _key(host)
        rows = self._touched(index)
        entry = self._deltas.get(key)
        if entry is None or entry[2] < rows:
            if entry is not None:   # a later call touched more rows: settle the smaller delta
                self._settle(*entry)
            device = cuda.to_device(np.zeros((rows,) + host.shape[1:], dtype or host.dtype))
            entry = self._deltas[key] = (host, device, rows, combine)
        return entry[1]

    @staticmethod
    def _settle(host, device, rows, combine) -> None:
        delta = device.copy_to_host()
        if combine == "max":
            np.maximum(host[:rows], delta.astype(host.dtype), out=host[:rows])
        else:
            host[:rows] += delta

    # -- the kpi_cpu kernels' twins ------------------------------------------------------------------

    def accum_scale(self, cell, values, bitmap, bit_offset, counts, f_answered, f_pos, pos_min, f_neg, neg_max,
                    f_sum, f_sq) -> None:
        """As :func:`kpi_cpu.accum_scale`."""
        _launch(_scale_kernel, cell.shape[0], self._input(cell), self._input(values), self._input(bitmap),
                bit_offset, self._delta(counts, cell), f_answered, f_pos, pos_min, f_neg, neg_max, f_sum, f_sq)

    def accum_fixed(self, cell, values, bitmap, bit_offset, counts, f_count, f_sum, f_sq, scale) -> None:
        """As :func:`kpi_cpu.accum_fixed`."""
        _launch(_fixed_kernel, cell.shape[0], self._input(cell), self._input(values), self._input(bitmap),
                bit_offset, self._delta(counts, cell), f_count, f_sum, f_sq, scale)

    def accum_revenue(self, cell, values, bitmap, bit_offset, counts, f_count, hi, lo, scale) -> None:
        """As :func:`kpi_cpu.accum_revenue`; the 128-bit deltas are added in :meth:`finish`."""
        if self._revenue is not None:
            raise RuntimeError("accum_revenue runs once per DeviceFold")
        rows = self._touched(cell)
        d_hi = cuda.to_device(np.zeros(rows, np.int64))
        d_lo = cuda.to_device(np.zeros(rows, np.uint64))
        self._revenue = (hi, lo, d_hi, d_lo, rows)
        _launch(_revenue_kernel, cell.shape[0], self._input(cell), self._input(values), self._input(bitmap),
                bit_offset, self._delta(counts, cell), f_count, d_hi, d_lo, scale)

    def accum_codes(self, cell, codes, counts, f_any, field_of_code) -> None:
        """As :func:`kpi_cpu.accum_codes`."""
        _launch(_codes_kernel, cell.shape[0], self._input(cell), self._input(codes), self._delta(counts, cell),
                f_any, self._input(field_of_code))

    def accum_sketch(self, group, values, log_values, bitmap, bit_offset, sketch, x_min, inv_log_gamma,
                     key_min) -> None:
        """As :func:`kpi_cpu.accum_sketch`."""
        _launch(_sketch_kernel, group.shape[0], self._input(group), self._input(values), self._input(log_values),
                self._input(bitmap), bit_offset, self._delta(sketch, group), x_min, inv_log_gamma, key_min)

    def accum_hll(self, group, hashes, bitmap, bit_offset, registers, p) -> None:
        """As :func:`kpi_cpu.accum_hll` (device registers are uint32: CUDA has no 8-bit atomic max)."""
        _launch(_hll_kernel, group.shape[0], self._input(group), self._input(hashes), self._input(bitmap),
                bit_offset, self._delta(registers, group, "max", np.uint32), p)

    def finish(self) -> None:
        """Add every device delta into its host state array (waits for the kernels)."""
        for entry in self._deltas.values():
            self._settle(*entry)
        self._deltas.clear()
        if self._revenue is not None:
            hi, lo, d_hi, d_lo, rows = self._revenue
            add_hi = d_hi.copy_to_host()
            add_lo = d_lo.copy_to_host()
            old = lo[:rows].copy()
            lo[:rows] += add_lo                       # uint64: wraps
            hi[:rows] += add_hi + (lo[:rows] < old)   # carry out of the low word
            self._revenue = None
        self._inputs.clear()
