"""Mergeable sketches of the KPI engine: a log-bucket quantile sketch and HyperLogLog.

Both are fixed-size NumPy arrays per group, filled by the Numba kernels in
:mod:`emoscore.kernels.kpi_cpu` and merged exactly (bucket addition, register maximum).

Quantile sketch (DDSketch with a fixed, dense bucket range)
    Relative accuracy ``ALPHA = 0.01``, ``GAMMA = (1 + ALPHA) / (1 - ALPHA)``. A value ``x`` in
    ``[X_MIN, X_MAX] = [1e-3, 1e8]`` (seconds: one millisecond to ~3.2 years) falls into the bucket
    with key ``ceil(log_GAMMA(x))``, which covers ``(GAMMA**(k-1), GAMMA**k]`` and is reported as
    ``2 * GAMMA**k / (GAMMA + 1)``: every reported quantile is within 1% (relative) of a true sample
    value. Values in ``[0, X_MIN)`` are counted in a zero bucket and reported as ``0``. Larger values
    are refused by the caller (never clamped silently). ``N_BUCKETS = 1269`` int64 counters:
    10,152 bytes per group, whatever the number of values.

    Quantile definition: for ``q`` in [0, 1] over ``n`` values the sketch returns the bucket value of
    the sample of 0-based rank ``floor(q * (n - 1))`` in sorted order, i.e. numpy's
    ``np.quantile(x, q, method="lower")``, within 1% relative error.

HyperLogLog (distinct customers)
    ``HLL_P = 12``: 4096 one-byte registers (4 KiB) per group; standard error ``1.04 / 64 = 1.6%``
    for large counts. Small counts use linear counting (``m * ln(m / zeros)``), which is nearly
    exact for a few hundred ids. Ids are hashed to 64 bits (see ``hash_ids`` in :mod:`emoscore.columns`).
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
