"""Means' intervals, differences and their tests: the KPI statistics against scipy and statsmodels, the
coverage of the NPS difference by seeded simulation, and what ``KpiAggregator`` reports with them:
mean intervals from the state's sums of squares, drivers with q-values, window deltas and ``compare``."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from emoscore import KpiAggregator
from emoscore.errors import InputError, StateFormatError
from emoscore.kpi_stats import Estimate, bh_qvalues, difference, t_interval


def _mean_estimate(samples: list[np.ndarray]) -> Estimate:
    n = np.array([len(s) for s in samples])
    return Estimate("mean", n, np.array([s.sum() for s in samples]), np.array([(s * s).sum() for s in samples]))


def test_t_interval_and_welch_equal_scipy():
    rng = np.random.default_rng(7)
    xs = [rng.normal(3, 1.5, n) for n in (2, 5, 30, 400)]
    ys = [rng.normal(3.4, 0.5, n) for n in (3, 9, 12, 1000)]
    for level in (0.9, 0.95, 0.99):
        low, high = t_interval(*(np.array(v, float) for v in zip(*[(x.sum(), (x * x).sum(), len(x)) for x in xs],
                                                                strict=True)), level)
        for x, lo, hi in zip(xs, low, high, strict=True):
            ref = stats.t.interval(level, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
            assert (lo, hi) == pytest.approx(ref, rel=1e-9)
        diff, d_low, d_high, p = difference(_mean_estimate(xs), _mean_estimate(ys), level)
        for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
            ref = stats.ttest_ind(x, y, equal_var=False)
            assert p[i] == pytest.approx(ref.pvalue, rel=1e-9)
            assert (d_low[i], d_high[i]) == pytest.approx(tuple(ref.confidence_interval(level)), rel=1e-9)
            assert diff[i] == pytest.approx(x.mean() - y.mean())


def test_a_mean_on_fewer_than_two_values_has_no_interval():
    low, high = t_interval(np.array([3.0, 0.0]), np.array([9.0, 0.0]), np.array([1, 0]), 0.95)
    assert np.isnan(low).all() and np.isnan(high).all()
    one = _mean_estimate([np.array([3.0])])
    assert np.isnan(difference(one, _mean_estimate([np.array([1.0, 2.0])]), 0.95)).all()


def test_proportion_difference_equals_statsmodels():
    k1, n1 = np.array([0, 3, 17, 40, 999]), np.array([10, 10, 30, 100, 1000])
    k2, n2 = np.array([5, 3, 2, 60, 1000]), np.array([10, 12, 25, 90, 1000])
    x = Estimate("proportion", n1, k1, n1 - k1)
    y = Estimate("proportion", n2, k2, n2 - k2)
    for level in (0.9, 0.95):
        diff, low, high, p = difference(x, y, level)
        for i in range(len(k1)):
            ref_low, ref_high = confint_proportions_2indep(k1[i], n1[i], k2[i], n2[i], method="agresti-caffo",
                                                           alpha=1 - level)
            assert (low[i], high[i]) == pytest.approx((ref_low, ref_high), abs=1e-12)
            _, ref_p = proportions_ztest([k1[i], k2[i]], [n1[i], n2[i]])
            assert p[i] == pytest.approx(ref_p, rel=1e-9)
            assert diff[i] == pytest.approx(k1[i] / n1[i] - k2[i] / n2[i])


def test_bh_qvalues_equal_statsmodels_and_skip_untested():
    p = np.array([0.01, np.nan, 0.04, 0.03, 0.5, np.nan, 0.002])
    q = bh_qvalues(p)
    tested = ~np.isnan(p)
    np.testing.assert_allclose(q[tested], multipletests(p[tested], method="fdr_bh")[1], rtol=1e-12)
    assert np.isnan(q[~tested]).all()


@pytest.mark.parametrize("n", (30, 100, 1000))
def test_nps_difference_coverage_is_near_nominal(n):
    rng = np.random.default_rng(2000 + n)
    pairs = [((0.5, 0.2), (0.3, 0.3)), ((0.7, 0.1), (0.6, 0.2)), ((0.2, 0.6), (0.4, 0.4)), ((0.8, 0.1), (0.8, 0.1))]
    covered = []
    for (p1, d1), (p2, d2) in pairs:
        a = rng.multinomial(n, [p1, d1, 1 - p1 - d1], 2000)
        b = rng.multinomial(n, [p2, d2, 1 - p2 - d2], 2000)
        sizes = np.full(2000, n)
        _, low, high, _ = difference(Estimate("nps", sizes, a[:, 0], a[:, 1], 100.0),
                                     Estimate("nps", sizes, b[:, 0], b[:, 1], 100.0), 0.95)
        true = 100 * ((p1 - d1) - (p2 - d2))
        covered.append(np.mean((low <= true) & (true <= high)))
    assert 0.93 <= np.mean(covered) <= 0.97, covered


def _rows(seed: int = 3, n: int = 600) -> pa.Table:
    rng = np.random.default_rng(seed)
    emotions = np.array(["joy", "anger", "neutral"])
    return pa.table({
        "touchpoint": rng.choice(["app", "web"], n),
        "ts": pa.array(np.datetime64("2026-01-05") + rng.integers(0, 28, n).astype("timedelta64[D]")),
        "nps": pa.array(rng.integers(0, 11, n), mask=rng.random(n) < 0.2),
        "rating": rng.integers(1, 6, n),
        "effort": pa.array(rng.integers(1, 8, n), mask=rng.random(n) < 0.3),
        "valence": rng.uniform(-1, 1, n).astype(np.float32),
        "emotion": rng.choice(emotions, n),
    })


def _aggregator(**options) -> KpiAggregator:
    return KpiAggregator("touchpoint", emotions=("joy", "anger"), **options)


def test_mean_intervals_come_from_the_states_sums_of_squares():
    rows = _rows()
    # three batches and a merge: the sums of squares add up like the sums
    agg = _aggregator().update(rows.slice(0, 200)).update(rows.slice(200, 100))
    agg.merge(_aggregator().update(rows.slice(300)))
    result = {r["touchpoint"]: r for r in agg.result(level=0.9).to_pylist()}
    frame = rows.to_pandas()
    for group, part in frame.groupby("touchpoint"):
        for kpi, column in (("ces", "effort"), ("valence_mean", "valence")):
            x = part[column].dropna().to_numpy(np.float64)
            ref = stats.t.interval(0.9, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
            got = result[group]
            assert got[f"{kpi}_n"] == len(x)
            assert (got[f"{kpi}_low"], got[f"{kpi}_high"]) == pytest.approx(ref, abs=1e-8), kpi
    assert KpiAggregator.from_bytes(agg.to_bytes()).result().equals(agg.result())


def test_drivers_test_each_difference_and_sort_by_impact():
    agg = _aggregator().update(_rows())
    table = agg.drivers("csat", level=0.9)
    rows = table.to_pylist()
    frame = _rows().to_pandas()
    for row in rows:
        part = frame[frame.touchpoint == row["touchpoint"]]
        with_e = part[part.emotion == row["emotion"]]
        without = part[part.emotion != row["emotion"]]
        counts = [(with_e.rating >= 4).sum(), (without.rating >= 4).sum()]
        _, p = proportions_ztest(counts, [len(with_e), len(without)])
        assert row["p_value"] == pytest.approx(p, rel=1e-9)
        assert row["difference_low"] <= row["difference"] <= row["difference_high"]
    q = bh_qvalues(np.array([r["p_value"] for r in rows]))
    assert [r["q_value"] for r in rows] == pytest.approx(q.tolist())
    assert [r["significant"] for r in rows] == [v < 0.1 for v in q]
    for group in ("app", "web"):
        impacts = [abs(r["impact"]) for r in rows if r["touchpoint"] == group]
        assert impacts == sorted(impacts, reverse=True)


def test_deltas_compare_each_window_with_the_previous_one_of_its_group():
    agg = _aggregator(window="week").update(_rows())
    result = agg.result(deltas=True).to_pylist()
    previous = {}
    for row in result:
        before = previous.get(row["touchpoint"])
        if before is None:
            assert row["nps_delta"] is None and row["csat_delta_significant"] is None
        else:
            assert row["nps_delta"] == pytest.approx(row["nps"] - before["nps"])
            assert row["ces_delta"] == pytest.approx(row["ces"] - before["ces"])
            assert row["joy_share_delta"] == pytest.approx(row["joy_share"] - before["joy_share"])
            assert row["nps_delta_low"] <= row["nps_delta"] <= row["nps_delta_high"]
            assert row["nps_delta_significant"] == (row["nps_delta_p"] < 0.05)
        previous[row["touchpoint"]] = row
    with pytest.raises(InputError, match="needs a window"):
        _aggregator().update(_rows()).result(deltas=True)


def test_compare_two_states_group_by_group():
    rows = _rows()
    now, then = _aggregator().update(rows.slice(0, 300)), _aggregator().update(rows.slice(300))
    extra = pa.table({"touchpoint": ["kiosk"], "nps": [10]})
    now.update(extra)                       # a group only this state has
    table = {r["touchpoint"]: r for r in now.compare(then).to_pylist()}
    mine, base = ({r["touchpoint"]: r for r in a.result().to_pylist()} for a in (now, then))
    for group in ("app", "web"):
        row = table[group]
        assert (row["n"], row["n_baseline"]) == (mine[group]["n"], base[group]["n"])
        assert row["nps_delta"] == pytest.approx(mine[group]["nps"] - base[group]["nps"])
        assert row["csat_baseline"] == pytest.approx(base[group]["csat"])
    assert table["kiosk"]["n_baseline"] == 0 and table["kiosk"]["nps_delta"] is None
    with pytest.raises(Exception, match="different settings"):
        now.compare(KpiAggregator("channel"))


def test_a_version_2_state_is_refused_with_a_clear_error():
    blob = bytearray(_aggregator().update(_rows()).to_bytes())
    header = bytes(blob[:12])
    version_at = header.index(b"EMOKPI") + 6
    blob[version_at] = 2
    with pytest.raises(StateFormatError, match="version"):
        KpiAggregator.from_bytes(bytes(blob))
