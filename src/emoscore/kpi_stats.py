"""Confidence intervals of the KPIs, from the counts the aggregator keeps (numpy in, numpy out).

The intervals are chosen for good coverage at the small bases CX groups often have:

* proportions (CSAT, outcome rates, emotion shares): Wilson's score interval;
* NPS (promoters minus detractors, a difference of two proportions of one sample): the adjusted Wald
  interval -- 3/4 of a promoter and 3/4 of a detractor (and 3/2 of a passive) added to the counts, then
  the Wald interval of the difference with variance ``(p + d - (p - d)**2) / n`` (pseudo-counts in the
  manner of Agresti & Caffo's interval for a difference of proportions, 2000). It keeps its coverage
  near 95% at n = 10 and near NPS = +-100, where the plain Wald interval collapses; tests/test_kpi_stats.py
  measures the coverage by simulation.

A base of 0 gives NaN bounds (the aggregator writes them as nulls).
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pyarrow as pa

__all__ = ["PROPORTIONS", "kpi_columns", "masked", "nps_interval", "wilson_interval", "z_score"]

#: KPIs that are proportions (CSAT in percent): Wilson intervals
PROPORTIONS = ("csat", "churn_rate", "renewal_rate", "upsell_rate", "cross_sell_rate")

# pseudo-counts of the adjusted Wald NPS interval: a promoter, a detractor, a passive
_NPS_PSEUDO = (0.75, 0.75, 1.5)


def z_score(level: float) -> float:
    """The two-sided normal quantile of confidence ``level`` (0.95 -> 1.96)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"a confidence level is between 0 and 1 exclusive ({level!r})")
    return NormalDist().inv_cdf(0.5 + level / 2.0)


def wilson_interval(successes: np.ndarray, n: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson's score interval of the proportions ``successes / n``, as fractions in [0, 1]."""
    z = z_score(level)
    k = np.asarray(successes, np.float64)
    n = np.asarray(n, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low, high = np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
    empty = n <= 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def nps_interval(promoters: np.ndarray, detractors: np.ndarray, n: np.ndarray,
                 level: float) -> tuple[np.ndarray, np.ndarray]:
    """The adjusted Wald interval of NPS = 100 (promoters - detractors) / n, in NPS points."""
    z = z_score(level)
    pro_extra, det_extra, passive_extra = _NPS_PSEUDO
    n_adj = np.asarray(n, np.float64) + pro_extra + det_extra + passive_extra
    p = (np.asarray(promoters, np.float64) + pro_extra) / n_adj
    d = (np.asarray(detractors, np.float64) + det_extra) / n_adj
    centre = p - d
    half = z * np.sqrt(np.maximum(p + d - centre * centre, 0.0) / n_adj)
    low, high = np.clip(centre - half, -1.0, 1.0), np.clip(centre + half, -1.0, 1.0)
    empty = np.asarray(n) <= 0
    return np.where(empty, np.nan, 100.0 * low), np.where(empty, np.nan, 100.0 * high)


def masked(values: np.ndarray, valid: np.ndarray) -> pa.Array:
    """float64 ``values`` as an Arrow array, null where not ``valid``."""
    values = np.asarray(values, np.float64)
    valid = np.asarray(valid, bool)
    return pa.array(np.where(valid, values, 0.0), pa.float64(), mask=None if valid.all() else ~valid)


def kpi_columns(name: str, value: np.ndarray, valid: np.ndarray, n: np.ndarray, promoters: np.ndarray,
                detractors: np.ndarray, level: float, min_n: int) -> list[tuple[str, pa.Array]]:
    """A KPI's columns: its value (null where not ``valid`` or on fewer than ``min_n`` observations), its
    base ``_n`` and, for NPS (from its ``promoters``/``detractors``) and :data:`PROPORTIONS`, its interval
    ``_low``/``_high``. Means have none yet: they need sums of squares the state does not keep."""
    valid = valid & (n >= min_n)
    columns = [(name, masked(value, valid)), (f"{name}_n", pa.array(n))]
    if name == "nps":
        low, high = nps_interval(promoters, detractors, n, level)
    elif name in PROPORTIONS:
        scale = 100.0 if name == "csat" else 1.0
        low, high = wilson_interval(np.rint(np.where(valid, value, 0.0) * n / scale), n, level)
        low, high = low * scale, high * scale
    else:
        return columns
    return columns + [(f"{name}_low", masked(low, valid)), (f"{name}_high", masked(high, valid))]
