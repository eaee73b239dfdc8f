"""KPI bases and confidence intervals: Wilson against statsmodels, the coverage of the NPS and Wilson
intervals by seeded simulation, and what ``KpiAggregator.result`` reports with them."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from statsmodels.stats.proportion import proportion_confint

from emoscore import KpiAggregator
from emoscore.kpi_stats import nps_interval, wilson_interval, z_score

BASES = (10, 30, 100, 1000)


def test_wilson_equals_statsmodels():
    k = np.array([0, 1, 3, 5, 10, 17, 50, 999, 1000])
    n = np.array([10, 10, 10, 10, 10, 30, 100, 1000, 1000])
    for level in (0.8, 0.95, 0.99):
        low, high = wilson_interval(k, n, level)
        ref_low, ref_high = proportion_confint(k, n, alpha=1 - level, method="wilson")
        np.testing.assert_allclose(low, ref_low, atol=1e-12)
        np.testing.assert_allclose(high, ref_high, atol=1e-12)


def test_an_empty_base_has_no_interval_and_a_bad_level_is_refused():
    low, high = wilson_interval(np.array([0]), np.array([0]), 0.95)
    assert np.isnan(low).all() and np.isnan(high).all()
    low, high = nps_interval(np.array([0]), np.array([0]), np.array([0]), 0.95)
    assert np.isnan(low).all() and np.isnan(high).all()
    for level in (0.0, 1.0, 95):
        with pytest.raises(ValueError, match="confidence level"):
            z_score(level)


@pytest.mark.parametrize("n", BASES)
def test_wilson_coverage_is_near_nominal(n):
    rng = np.random.default_rng(n)
    covered = []
    for p in np.linspace(0.05, 0.95, 19):       # coverage averaged over true proportions
        k = rng.binomial(n, p, 2000)
        low, high = wilson_interval(k, np.full(k.shape, n), 0.95)
        covered.append(np.mean((low <= p) & (p <= high)))
    assert 0.93 <= np.mean(covered) <= 0.97, covered


@pytest.mark.parametrize("n", BASES)
def test_nps_coverage_is_near_nominal_also_near_the_extremes(n):
    rng = np.random.default_rng(1000 + n)
    mixes = [(0.5, 0.2), (0.3, 0.3), (0.7, 0.1), (0.2, 0.6), (0.9, 0.05), (0.05, 0.9), (0.4, 0.4), (0.6, 0.3)]
    covered = []
    for pro, det in mixes:
        counts = rng.multinomial(n, [pro, det, 1 - pro - det], 2000)
        low, high = nps_interval(counts[:, 0], counts[:, 1], np.full(2000, n), 0.95)
        true = 100 * (pro - det)
        covered.append(np.mean((low <= true) & (true <= high)))
    assert 0.93 <= np.mean(covered) <= 0.97, covered
    assert min(covered) >= 0.90, covered             # NPS +85 and -85 included


def _aggregate(**result_options):
    rows = {
        "touchpoint": ["app"] * 6 + ["web"] * 40,
        "nps": [10, 9, 9, 0, 5, None] + [10] * 30 + [3] * 10,
        "rating": [5, 4, 1, 2, None, 5] + [5] * 40,
        "event": ["churn", "renewal", "upsell", None, None, None] + ["churn"] * 5 + [None] * 35,
    }
    agg = KpiAggregator(["touchpoint"], nps="nps", rating="rating", event="event")
    agg.update(pa.table(rows))
    return {row["touchpoint"]: row for row in agg.result(**result_options).to_pylist()}


def test_result_reports_each_kpi_with_its_base_and_interval():
    app = _aggregate()["app"]
    assert app["n"] == 6 and app["nps_n"] == 5 and app["csat_n"] == 5
    assert app["churn_rate_n"] == 2 and app["upsell_rate_n"] == 3
    assert app["nps_low"] < app["nps"] < app["nps_high"]
    low, high = nps_interval(np.array([3]), np.array([2]), np.array([5]), 0.95)
    assert (app["nps_low"], app["nps_high"]) == pytest.approx((low[0], high[0]))
    ref_low, ref_high = proportion_confint(3, 5, alpha=0.05, method="wilson")   # CSAT: 3 of 5 rated 4-5
    assert (app["csat_low"], app["csat_high"]) == pytest.approx((100 * ref_low, 100 * ref_high))
    wider = _aggregate(level=0.99)["app"]
    assert wider["nps_low"] < app["nps_low"] and wider["nps_high"] > app["nps_high"]


def test_min_n_nulls_thin_kpis_and_the_clv_resting_on_them():
    groups = _aggregate(min_n=10)
    app, web = groups["app"], groups["web"]
    assert app["nps"] is None and app["nps_low"] is None and app["nps_n"] == 5   # the base says why
    assert web["nps"] == pytest.approx(50.0) and web["nps_low"] is not None
    assert web["churn_rate"] is None and web["churn_rate_n"] == 5
    with pytest.raises(ValueError, match="confidence level"):
        _aggregate(level=1.5)
