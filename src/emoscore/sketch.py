"""Mergeable sketches of the KPI engine: a log-bucket quantile sketch and HyperLogLog.

Conceptually both are fixed-size arrays per group, merged exactly (bucket addition, register
maximum). The KPI state stores them sparse (:class:`SparseRows`: only the non-empty buckets and
non-zero registers, filled from the entries of the Numba kernels ``sketch_entries`` / ``hll_entries``
in :mod:`emoscore.kernels.kpi_cpu`), so a group of one row costs 25 bytes instead of 14 KiB.

Quantile sketch (DDSketch with a fixed, dense bucket range)
    Relative accuracy ``ALPHA = 0.01``, ``GAMMA = (1 + ALPHA) / (1 - ALPHA)``. A value ``x`` in
    ``[X_MIN, X_MAX] = [1e-3, 1e8]`` (seconds: one millisecond to ~3.2 years) falls into the bucket
    with key ``ceil(log_GAMMA(x))``, which covers ``(GAMMA**(k-1), GAMMA**k]`` and is reported as
    ``2 * GAMMA**k / (GAMMA + 1)``: every reported quantile is within 1% (relative) of a true sample
    value. Values in ``[0, X_MIN)`` are counted in a zero bucket and reported as ``0``. Larger values
    are refused by the caller (never clamped silently). ``N_BUCKETS = 1269`` buckets: at most
    10,152 bytes per group dense; sparse, 16 bytes per non-empty bucket.

    Quantile definition: for ``q`` in [0, 1] over ``n`` values the sketch returns the bucket value of
    the sample of 0-based rank ``floor(q * (n - 1))`` in sorted order, i.e. numpy's
    ``np.quantile(x, q, method="lower")``, within 1% relative error.

HyperLogLog (distinct customers)
    ``HLL_P = 12``: 4096 one-byte registers per group (sparse: 9 bytes per non-zero one); standard
    error ``1.04 / 64 = 1.6%`` for large counts. Small counts use linear counting
    (``m * ln(m / zeros)``), which is nearly exact for a few hundred ids. Ids are hashed to 64 bits
    (see ``hash_ids`` in :mod:`emoscore.columns`).
"""

from __future__ import annotations

import math

import numpy as np

ALPHA = 0.01
GAMMA = (1.0 + ALPHA) / (1.0 - ALPHA)
LOG_GAMMA = math.log(GAMMA)
INV_LOG_GAMMA = 1.0 / LOG_GAMMA
X_MIN = 1e-3
X_MAX = 1e8
KEY_MIN = math.ceil(math.log(X_MIN) * INV_LOG_GAMMA)
KEY_MAX = math.ceil(math.log(X_MAX) * INV_LOG_GAMMA)
#: Bucket 0 counts values below X_MIN; bucket b >= 1 holds key ``b + KEY_MIN - 1``.
N_BUCKETS = KEY_MAX - KEY_MIN + 2

HLL_P = 12
HLL_M = 1 << HLL_P


def bucket_values() -> np.ndarray:
    """The value reported for each bucket (float64[N_BUCKETS]); bucket 0 reports 0."""
    keys = np.arange(N_BUCKETS, dtype=np.float64) + (KEY_MIN - 1)
    values = 2.0 * np.exp(keys * LOG_GAMMA) / (GAMMA + 1.0)
    values[0] = 0.0
    return values


_BUCKET_VALUES = bucket_values()


#: Groups per block in :func:`quantiles` and :func:`hll_estimate`: their temporaries stay bounded
#: (a few tens of MB) whatever the number of groups.
_BLOCK = 2048
_POW2 = np.ldexp(1.0, -np.arange(256))  # 2**-r of each register value


def quantiles(counts: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
    """Quantile ``q`` of each row of ``counts`` (int64[G, N_BUCKETS]).

    Returns ``(values float64[G], valid bool[G])``; a row without values is not valid.
    """
    n = counts.shape[0]
    values, valid = np.zeros(n), np.zeros(n, bool)
    for start in range(0, n, _BLOCK):
        block = counts[start : start + _BLOCK]
        total = block.sum(axis=1)
        rank = np.floor(q * np.maximum(total - 1, 0)).astype(np.int64)
        cumulative = np.cumsum(block, axis=1)
        bucket = np.argmax(cumulative > rank[:, None], axis=1)
        values[start : start + _BLOCK] = _BUCKET_VALUES[bucket]
        valid[start : start + _BLOCK] = total > 0
    return values, valid


def hll_estimate(registers: np.ndarray) -> np.ndarray:
    """Distinct-count estimate of each row of ``registers`` (uint8[G, HLL_M]), float64[G]."""
    n = registers.shape[0]
    out = np.zeros(n)
    if n == 0:
        return out
    m = float(registers.shape[1])
    alpha = 0.7213 / (1.0 + 1.079 / m)
    for start in range(0, n, _BLOCK):
        block = registers[start : start + _BLOCK]
        harmonic = _POW2[block].sum(axis=1)
        raw = alpha * m * m / harmonic
        zeros = (block == 0).sum(axis=1)
        with np.errstate(divide="ignore"):
            linear = m * np.log(m / np.maximum(zeros, 1))
        out[start : start + _BLOCK] = np.where((raw <= 2.5 * m) & (zeros > 0), linear, raw)
    return out


class SparseRows:
    """A mostly-empty ``[rows, width]`` array of sketch counters, stored as its non-zero entries:
    sorted unique keys ``row * width + column`` (int64) and their values, plus a log of entries not
    yet combined. ``combine`` is ``np.add`` (quantile-sketch bucket counts) or ``np.maximum``
    (HyperLogLog registers); both are exact, so the compacted entries are the same whatever the
    order of the additions. About 16 bytes per non-zero bucket and 9 per non-zero register."""

    def __init__(self, width: int, dtype, combine) -> None:
        self.width = width
        self.dtype = np.dtype(dtype)
        self.combine = combine
        self._keys = np.zeros(0, np.int64)
        self._values = np.zeros(0, self.dtype)
        self._log: list[tuple[np.ndarray, np.ndarray]] = []
        self._logged = 0

    def add(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Combine ``values`` into the entries at ``keys`` (duplicates allowed)."""
        if len(keys):
            self._log.append((np.asarray(keys, np.int64), np.asarray(values, self.dtype)))
            self._logged += len(keys)
            if self._logged > max(len(self._keys), 1 << 16):
                self.compact()

    def compact(self) -> None:
        if not self._log:
            return
        keys = np.concatenate([self._keys] + [k for k, _ in self._log])
        values = np.concatenate([self._values] + [v for _, v in self._log])
        self._log, self._logged = [], 0
        order = np.argsort(keys, kind="stable")
        keys, values = keys[order], values[order]
        starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1]))) if len(keys) else keys
        self._keys = keys[starts]
        self._values = self.combine.reduceat(values, starts) if len(keys) else values

    def entries(self) -> tuple[np.ndarray, np.ndarray]:
        """``(keys, values)``: sorted unique keys and their combined values (never zero)."""
        self.compact()
        return self._keys, self._values

    def set_entries(self, keys: np.ndarray, values: np.ndarray) -> None:
        self._log, self._logged = [], 0
        self._keys, self._values = np.zeros(0, np.int64), np.zeros(0, self.dtype)
        self.add(keys, values)
        self.compact()

    def dense(self, rows: int) -> np.ndarray:
        """The ``[rows, width]`` array."""
        keys, values = self.entries()
        out = np.zeros((rows, self.width), self.dtype)
        out.reshape(-1)[keys] = values
        return out

    @property
    def nbytes(self) -> int:
        return self._keys.nbytes + self._values.nbytes + sum(k.nbytes + v.nbytes for k, v in self._log)


def sparse_totals(rows: SparseRows, n_groups: int) -> np.ndarray:
    """The number of values in each of the first ``n_groups`` rows of a sparse bucket-count array."""
    keys, counts = rows.entries()
    total = np.zeros(n_groups, np.int64)
    if len(keys):
        np.add.at(total, keys // rows.width, counts)
    return total


def sparse_quantiles(rows: SparseRows, n_groups: int, q: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`quantiles` of the first ``n_groups`` rows of a sparse bucket-count array (the same
    values: zero buckets do not move a cumulative count)."""
    keys, counts = rows.entries()
    values, valid = np.zeros(n_groups), np.zeros(n_groups, bool)
    if not len(keys):
        return values, valid
    group, bucket = keys // rows.width, keys % rows.width
    total = sparse_totals(rows, n_groups)
    rank = np.floor(q * np.maximum(total - 1, 0)).astype(np.int64)
    running = np.cumsum(counts)
    first = np.searchsorted(group, group, side="left")  # each entry's group's first entry
    within = running - (running[first] - counts[first])
    hit = np.flatnonzero(within > rank[group])
    _, at = np.unique(group[hit], return_index=True)
    chosen = hit[at]
    values[group[chosen]] = _BUCKET_VALUES[bucket[chosen]]
    valid[:] = total > 0
    return values, valid


def sparse_hll_estimate(rows: SparseRows, n_groups: int) -> np.ndarray:
    """:func:`hll_estimate` of the first ``n_groups`` rows of sparse HyperLogLog registers."""
    keys, ranks = rows.entries()
    m = float(rows.width)
    if n_groups == 0 or rows.width == 0:
        return np.zeros(n_groups)
    group = keys // rows.width
    nonzero = np.bincount(group, minlength=n_groups)[:n_groups]
    zeros = rows.width - nonzero
    harmonic = zeros + np.bincount(group, weights=_POW2[ranks], minlength=n_groups)[:n_groups]
    alpha = 0.7213 / (1.0 + 1.079 / m)
    raw = alpha * m * m / harmonic
    with np.errstate(divide="ignore"):
        linear = m * np.log(m / np.maximum(zeros, 1))
    return np.where((raw <= 2.5 * m) & (zeros > 0), linear, raw)
