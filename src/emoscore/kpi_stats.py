"""Confidence intervals and tests of the KPIs, from the counts the aggregator keeps (numpy in, numpy out).

The methods are chosen for good coverage at the small bases CX groups often have:

* proportions (CSAT, outcome rates, emotion shares): Wilson's score interval; a difference of two
  proportions: Agresti & Caffo's interval (one success and one failure added to each sample, 2000) and
  the pooled two-proportion z-test;
* NPS (promoters minus detractors, a difference of two proportions of one sample): the adjusted Wald
  interval -- 3/4 of a promoter and 3/4 of a detractor (and 3/2 of a passive) added to the counts, then
  the Wald interval of the difference with variance ``(p + d - (p - d)**2) / n`` (pseudo-counts in the
  manner of Agresti & Caffo). It keeps its coverage near 95% at n = 10 and near NPS = +-100, where the
  plain Wald interval collapses; tests/test_kpi_stats.py measures the coverage by simulation. A
  difference of two NPS: the adjusted centres and variances of both samples for the interval, and a
  z-test with both samples' variance pooled for the p-value;
* means (CES, valence and emotion means): Student's t interval from the sum and the sum of squares; a
  difference of two means: Welch's t interval and test.

Undefined bounds (a base of 0; a mean on fewer than 2 values) are NaN (the aggregator writes them as nulls).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pyarrow as pa
from scipy import stats

__all__ = [
    "PROPORTIONS", "Estimate", "bh_qvalues", "change_columns", "difference", "estimate_columns", "masked",
    "nps_interval", "t_interval",
    "wilson_interval", "z_score",
]

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
    centre, var = _nps_adjusted(promoters, detractors, n)
    half = z * np.sqrt(var)
    low, high = np.clip(centre - half, -1.0, 1.0), np.clip(centre + half, -1.0, 1.0)
    empty = np.asarray(n) <= 0
    return np.where(empty, np.nan, 100.0 * low), np.where(empty, np.nan, 100.0 * high)


def t_interval(total: np.ndarray, squares: np.ndarray, n: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Student's t interval of the means ``total / n`` of samples with sums ``total`` and sums of
    squares ``squares``."""
    z_score(level)
    mean, var, n = _moments(total, squares, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        half = stats.t.ppf(0.5 + level / 2.0, n - 1) * np.sqrt(var / n)
    half = np.where(n >= 2, half, np.nan)
    return mean - half, mean + half


@dataclass(frozen=True)
class Estimate:
    """A KPI per group (arrays of one shape) with what its interval and tests need: ``kind`` "nps"
    (``a`` promoters, ``b`` detractors), "proportion" (``a`` successes, ``b`` failures) or "mean" (``a`` the sum, ``b``
    the sum of squares); ``n`` the base; ``scale`` turns a fraction into the presented value (100 for
    NPS and CSAT); ``bounds``: the range of a mean's values, to which its interval is clipped (a
    valence mean's t interval of two scores can reach past -1)."""

    kind: str
    n: np.ndarray
    a: np.ndarray
    b: np.ndarray
    scale: float = 1.0
    bounds: tuple[float, float] = (-np.inf, np.inf)

    @property
    def value(self) -> np.ndarray:
        """The KPI (NaN on a base of 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.kind == "nps":
                return self.scale * (self.a - self.b) / self.n
            return self.scale * self.a / self.n

    def interval(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """The ``level`` confidence interval, in the KPI's units."""
        if self.kind == "nps":
            return nps_interval(self.a, self.b, self.n, level)
        if self.kind == "proportion":
            low, high = wilson_interval(self.a, self.n, level)
            return self.scale * low, self.scale * high
        low, high = t_interval(self.a, self.b, self.n, level)
        return np.clip(low, *self.bounds), np.clip(high, *self.bounds)


def difference(x: Estimate, y: Estimate, level: float) -> tuple[np.ndarray, ...]:
    """``x - y`` of two independent estimates of one KPI: ``(difference, low, high, p_value)``, NaN
    where either side has too small a base (see the module notes for the methods)."""
    z = z_score(level)
    if x.kind == "mean":
        return _welch(x, y, level)
    with np.errstate(divide="ignore", invalid="ignore"):
        if x.kind == "nps":
            (c1, v1), (c2, v2) = _nps_adjusted(x.a, x.b, x.n), _nps_adjusted(y.a, y.b, y.n)
            n = x.n + y.n
            pro, det = (x.a + y.a) / n, (x.b + y.b) / n
            null_var = (pro + det - (pro - det) ** 2) * (1 / x.n + 1 / y.n)
            raw = (x.a - x.b) / x.n - (y.a - y.b) / y.n
        else:
            (c1, v1), (c2, v2) = _agresti_caffo(x), _agresti_caffo(y)
            pooled = (x.a + y.a) / (x.n + y.n)
            null_var = pooled * (1 - pooled) * (1 / x.n + 1 / y.n)
            raw = x.a / x.n - y.a / y.n
        half = z * np.sqrt(v1 + v2)
        p = np.where(null_var > 0, 2 * stats.norm.sf(np.abs(raw) / np.sqrt(null_var)), 1.0)
    ok = (x.n > 0) & (y.n > 0)
    bound = 2.0 if x.kind == "nps" else 1.0
    low, high = np.clip(c1 - c2 - half, -bound, bound), np.clip(c1 - c2 + half, -bound, bound)
    return tuple(np.where(ok, x.scale * v, np.nan) for v in (raw, low, high)) + (np.where(ok, p, np.nan),)


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values of the p-values ``p`` (NaN stays NaN and does not count as a test)."""
    p = np.asarray(p, np.float64)
    q = np.full(p.shape, np.nan)
    tested = ~np.isnan(p)
    if tested.any():
        q[tested] = stats.false_discovery_control(p[tested], method="bh")
    return q


def masked(values: np.ndarray, valid: np.ndarray) -> pa.Array:
    """float64 ``values`` as an Arrow array, null where not ``valid``."""
    values = np.asarray(values, np.float64)
    valid = np.asarray(valid, bool)
    return pa.array(np.where(valid, values, 0.0), pa.float64(), mask=None if valid.all() else ~valid)


def estimate_columns(name: str, est: Estimate, level: float, min_n: int) -> list[tuple[str, pa.Array]]:
    """A KPI's columns: its value (null on a base of 0 or of fewer than ``min_n`` observations), its
    base ``_n`` and its interval ``_low``/``_high``."""
    valid = (est.n > 0) & (est.n >= min_n)
    low, high = est.interval(level)
    return [(name, masked(est.value, valid)), (f"{name}_n", pa.array(np.asarray(est.n, np.int64))),
            (f"{name}_low", masked(low, valid & ~np.isnan(low))),
            (f"{name}_high", masked(high, valid & ~np.isnan(high)))]


def change_columns(name: str, x: Estimate, y: Estimate, level: float) -> list[tuple[str, pa.Array]]:
    """The change ``x - y`` as columns ``name``, ``_low``, ``_high``, ``_p`` and ``_significant``
    (p < 1 - ``level``), null where :func:`difference` is undefined."""
    diff, low, high, p = difference(x, y, level)
    ok = ~np.isnan(diff)
    return [(name, masked(diff, ok)), (f"{name}_low", masked(low, ~np.isnan(low))),
            (f"{name}_high", masked(high, ~np.isnan(high))), (f"{name}_p", masked(p, ~np.isnan(p))),
            (f"{name}_significant", pa.array(p < 1 - level, mask=np.isnan(p)))]


def _moments(total, squares, n) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and sample variance (clipped at 0 against rounding) from the sums."""
    n = np.asarray(n, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / n
        var = np.maximum(squares - total * mean, 0.0) / (n - 1)
    return mean, var, n


def _welch(x: Estimate, y: Estimate, level: float) -> tuple[np.ndarray, ...]:
    m1, var1, n1 = _moments(x.a, x.b, x.n)
    m2, var2, n2 = _moments(y.a, y.b, y.n)
    with np.errstate(divide="ignore", invalid="ignore"):
        s1, s2 = var1 / n1, var2 / n2
        se = np.sqrt(s1 + s2)
        df = (s1 + s2) ** 2 / (s1 * s1 / (n1 - 1) + s2 * s2 / (n2 - 1))
        diff = m1 - m2
        half = np.where(se > 0, stats.t.ppf(0.5 + level / 2.0, df) * se, 0.0)
        p = np.where(se > 0, 2 * stats.t.sf(np.abs(diff) / se, df), np.where(diff == 0, 1.0, 0.0))
    ok = (n1 >= 2) & (n2 >= 2)
    return tuple(np.where(ok, v, np.nan) for v in (diff, diff - half, diff + half, p))


def _agresti_caffo(x: Estimate) -> tuple[np.ndarray, np.ndarray]:
    """Centre and variance of a proportion with one success and one failure added."""
    n = x.n + 2.0
    p = (x.a + 1.0) / n
    return p, p * (1 - p) / n


def _nps_adjusted(promoters, detractors, n) -> tuple[np.ndarray, np.ndarray]:
    """Centre and variance (as fractions) of an NPS with the pseudo-counts added."""
    pro_extra, det_extra, passive_extra = _NPS_PSEUDO
    n = np.asarray(n, np.float64) + pro_extra + det_extra + passive_extra
    p = (np.asarray(promoters, np.float64) + pro_extra) / n
    d = (np.asarray(detractors, np.float64) + det_extra) / n
    return p - d, np.maximum(p + d - (p - d) ** 2, 0.0) / n
