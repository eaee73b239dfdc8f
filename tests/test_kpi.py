"""KPI engine: every KPI against an independent pandas computation, validation, merge/serialisation
properties, windows and time zones, quantile-sketch accuracy."""

from __future__ import annotations

import datetime as dt
import math
import struct

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emoscore import sketch
from emoscore.errors import ColumnNotFoundError, EmoscoreError, InputError
from emoscore.kpi import (
    DEFAULT_EMOTIONS,
    DRIVER_TARGETS,
    IncompatibleStateError,
    KpiAggregator,
    StateFormatError,
)
from reference_kpi import TAXONOMY, exact_quantile, reference_drivers, reference_kpis, scored_table

FLOAT_KPIS = ["nps", "csat", "ces", "churn_rate", "renewal_rate", "upsell_rate", "cross_sell_rate",
              "valence_mean"] + [f"{e}_mean" for e in TAXONOMY] + [f"{e}_share" for e in TAXONOMY]


def by_key(result: pa.Table, keys) -> dict:
    rows = result.to_pylist()
    return {tuple(r[k] for k in keys): r for r in rows}


def assert_close(got, want, *, name, key, rel=1e-9, abs_=1e-9):
    if want is None:
        assert got is None, f"{name} of {key}: expected null, got {got!r}"
        return
    assert got is not None, f"{name} of {key}: expected {want!r}, got null"
    assert math.isclose(got, want, rel_tol=rel, abs_tol=abs_), f"{name} of {key}: {got!r} != {want!r}"


def check_against_reference(result: pa.Table, table: pa.Table, by, *, window=None):
    keys = list(by) + (["window_start"] if window else [])
    got = by_key(result, keys)
    want = reference_kpis(table, by, window=window)
    assert set(got) == set(want)
    for key, ref in want.items():
        row = got[key]
        assert row["n"] == ref["n"]
        for name in FLOAT_KPIS:
            assert_close(row[name], ref[name], name=name, key=key)
        for name in ("frt_p50", "frt_p90"):
            if ref[name] is None:
                assert row[name] is None
            elif ref[name] < sketch.X_MIN:
                assert row[name] == 0.0, (name, key)
            else:
                assert abs(row[name] - ref[name]) <= 0.01 * ref[name] * (1 + 1e-9), (name, key, row[name], ref[name])
        assert row["dominant_emotion"] == ref["dominant_emotion"], key
        assert_close(row["revenue"], ref["revenue"], name="revenue", key=key, rel=1e-12, abs_=1e-6 * ref["n"])
        # HyperLogLog: linear counting is within a few percent for these small counts
        assert abs(row["customers"] - ref["customers"]) <= max(1, 0.05 * ref["customers"]), key
        if ref["clv"] is None:
            assert row["clv"] is None, key
        else:
            assert math.isclose(row["clv"], ref["clv"], rel_tol=0.06), (key, row["clv"], ref["clv"])
            assert row["clv"] == pytest.approx(row["revenue"] / row["customers"] / row["churn_rate"], rel=1e-12)
    return got


# --------------------------------------------------------------------------------------------------
# KPIs against pandas
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("by", [("channel",), ("channel", "tier"), ("vip", "region", "tier"), ()])
def test_kpis_match_pandas(by):
    table = scored_table(3000, seed=1)
    agg = KpiAggregator(by)
    for batch in table.to_batches(max_chunksize=700):
        agg.update(batch)
    result = agg.result()
    got = check_against_reference(result, table, by)
    assert len(got) == len(agg)
    # nulls are groups of their own
    if by:
        assert any(None in key for key in got)


def test_key_types_and_type_mixing_across_batches():
    base = scored_table(400, seed=2)
    day = pc.cast(pc.cast(base.column("ts"), pa.timestamp("us")), pa.date32())
    table = base.append_column("day", day)
    agg = KpiAggregator(("day", "region", "vip"))
    agg.update(table.slice(0, 200))
    # the same keys, other physical types: dictionary -> plain, bool stays, date32 -> timestamp? no: date64
    other = table.slice(200)
    other = other.set_column(other.schema.get_field_index("region"), "region",
                             other.column("region").cast(pa.string()))
    other = other.set_column(other.schema.get_field_index("day"), "day", other.column("day").cast(pa.date64()))
    agg.update(other)
    check_against_reference(agg.result(), table, ("day", "region", "vip"))
    assert agg.result().schema.field("region").type == pa.string()
    assert agg.result().schema.field("day").type == pa.date32()


def test_int_keys_of_different_widths_and_large_strings_share_groups():
    a = pa.table({"k": pa.array([1, 2, None], pa.int32()), "s": pa.array(["x", "y", "x"]), "nps": [10, 0, 5]})
    b = pa.table({"k": pa.array([2, 1, None], pa.int64()), "s": pa.array(["y", "x", "x"], pa.large_string()),
                  "nps": [10, 10, 10]})
    agg = KpiAggregator(("k", "s")).update(a).update(b)
    result = agg.result()
    assert result.column("k").to_pylist() == [1, 2, None]
    assert result.column("s").to_pylist() == ["x", "y", "x"]
    assert result.column("n").to_pylist() == [2, 2, 2]
    assert result.column("nps").to_pylist() == [100.0, 0.0, 0.0]


def test_incompatible_key_types_raise():
    agg = KpiAggregator("k").update(pa.table({"k": pa.array([1, 2])}))
    with pytest.raises(InputError, match="key column 'k'"):
        agg.update(pa.table({"k": pa.array(["a"])}))
    assert agg.result().column("n").to_pylist() == [1, 1]


def test_rows_sorted_by_keys_nulls_last_and_deterministic():
    table = scored_table(800, seed=3)
    agg = KpiAggregator(("channel", "tier")).update(table)
    keys = [(r["channel"], r["tier"]) for r in agg.result().to_pylist()]

    def sort_key(k):
        return tuple((v is None, v if v is not None else 0) for v in k)

    assert keys == sorted(keys, key=sort_key)
    reversed_batches = KpiAggregator(("channel", "tier"))
    for batch in reversed(table.to_batches(max_chunksize=100)):
        reversed_batches.update(batch)
    assert reversed_batches.result().equals(agg.result())


def test_empty_and_one_row_groups_and_all_null_kpis():
    table = pa.table({
        "g": ["solo", "empty", "empty", "full", "full"],
        "nps": pa.array([9, None, None, 10, 0]),
        "rating": pa.array([None, None, None, 4, 2], pa.int64()),
        "effort": pa.array([None, None, None, 1, 7], pa.int64()),
        "first_response_s": pa.array([None, None, None, 1.0, 100.0]),
        "event": pa.array([None, None, None, "churn", "upsell"]),
        "revenue": pa.array([None, None, None, 10.0, 20.0]),
        "customer_id": pa.array([None, None, None, "a", "b"]),
        "valence": pa.array([0.5, None, None, 0.25, -0.25], pa.float32()),
        "emotion": pa.array(["joy", None, "neutral", "anger", "neutral"]),
    })
    result = by_key(KpiAggregator("g").update(table).result(), ["g"])
    empty = result[("empty",)]
    assert empty["n"] == 2
    for name in ["nps", "csat", "ces", "frt_p50", "frt_p90", "churn_rate", "upsell_rate", "revenue", "clv",
                 "valence_mean", "dominant_emotion"]:
        assert empty[name] is None, name
    assert empty["customers"] == 0
    assert empty["joy_share"] == 0.0  # one scored (neutral) document
    solo = result[("solo",)]
    assert (solo["n"], solo["nps"], solo["dominant_emotion"], solo["joy_share"]) == (1, 100.0, "joy", 1.0)
    full = result[("full",)]
    assert full["nps"] == 0.0 and full["csat"] == 50.0 and full["ces"] == 4.0
    assert full["churn_rate"] == 1.0 and full["renewal_rate"] == 0.0 and full["upsell_rate"] == 0.5
    assert full["dominant_emotion"] == "anger" and full["anger_share"] == 0.5
    assert full["clv"] == pytest.approx(30.0 / 2 / 1.0)


def test_kpis_of_never_seen_columns_are_left_out_and_missing_columns_count_as_nulls():
    first = pa.table({"g": ["a", "a"], "nps": [10, 10]})
    second = pa.table({"g": ["a", "b"], "rating": pa.array([5, 1])})
    result = KpiAggregator("g").update(first).update(second).result()
    assert result.column_names == ["g", "n", "nps", "nps_n", "nps_low", "nps_high", "csat", "csat_n", "csat_low",
                                   "csat_high"]
    assert result.column("nps").to_pylist() == [100.0, None]
    assert result.column("csat").to_pylist() == [100.0, 0.0]
    disabled = KpiAggregator("g", nps=None).update(first).result()
    assert "nps" not in disabled.column_names


def test_custom_taxonomy():
    emotions = ("happy", "angry")
    table = pa.table({"g": [1, 1, 1], "emotion": ["happy", "angry", "happy"],
                      "happy": pa.array([0.9, 0.1, 0.7], pa.float32()),
                      "angry": pa.array([0.0, 0.8, 0.1], pa.float32())})
    result = KpiAggregator("g", emotions=emotions).update(table).result().to_pylist()[0]
    assert result["dominant_emotion"] == "happy"
    assert result["happy_share"] == pytest.approx(2 / 3)
    assert result["angry_mean"] == pytest.approx(0.3, abs=1e-7)
    with pytest.raises(InputError, match="'joy'"):
        KpiAggregator("g", emotions=emotions).update(pa.table({"g": [1], "emotion": ["joy"]}))


def test_default_taxonomy_matches_the_scorer_contract():
    assert DEFAULT_EMOTIONS == tuple(TAXONOMY)


# --------------------------------------------------------------------------------------------------
# windows and time zones
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("window", ["day", "week", "month"])
@pytest.mark.parametrize("tz", [None, "UTC", "America/New_York", "Asia/Kolkata"])
def test_windows_match_pandas_calendar(window, tz):
    # weeks and months: 2024-02-20 .. 2024-04-20; days: 2024-02-26 .. 2024-03-13. Both cross a month
    # end, a leap day and the US DST switch (2024-03-10)
    if window == "day":
        table = scored_table(600, seed=4, tz=tz, start="2024-02-26", days=16)
    else:
        table = scored_table(1500, seed=4, tz=tz)
    agg = KpiAggregator("channel", window=window)
    for batch in table.to_batches(max_chunksize=400):
        agg.update(batch)
    result = agg.result()
    assert result.schema.field("window_start").type == pa.date32()
    got = check_against_reference(result, table, ("channel",), window=window)
    starts = {key[-1] for key in got} - {None}
    if window == "week":
        assert all(d.weekday() == 0 for d in starts)
    if window == "month":
        assert all(d.day == 1 for d in starts)
        assert {dt.date(2024, 2, 1), dt.date(2024, 3, 1), dt.date(2024, 4, 1)} <= starts


def test_window_cut_on_local_calendar_at_boundaries():
    # 2024-03-31 23:30 in New York is 2024-04-01 03:30 UTC; 2024-04-01 is a Monday
    times = pa.array([
        dt.datetime(2024, 4, 1, 3, 30), dt.datetime(2024, 4, 1, 4, 30), dt.datetime(2024, 3, 31, 3, 59), None,
    ], pa.timestamp("ms", tz="UTC")).cast(pa.timestamp("ms", tz="America/New_York"))
    table = pa.table({"ts": times, "nps": [10, 0, 10, 5]})
    for window, expected in [
        ("day", [dt.date(2024, 3, 30), dt.date(2024, 3, 31), dt.date(2024, 4, 1), None]),
        ("week", [dt.date(2024, 3, 25), dt.date(2024, 4, 1), None]),
        ("month", [dt.date(2024, 3, 1), dt.date(2024, 4, 1), None]),
    ]:
        result = KpiAggregator(window=window).update(table).result()
        assert result.column("window_start").to_pylist() == expected, window
    day = KpiAggregator(window="day").update(table).result()
    assert day.column("n").to_pylist() == [1, 1, 1, 1]
    naive = pa.table({"ts": pa.array([dt.date(2024, 3, 31), dt.date(2024, 4, 1)]), "nps": [1, 2]})
    assert KpiAggregator(window="week").update(naive).result().column("window_start").to_pylist() == [
        dt.date(2024, 3, 25), dt.date(2024, 4, 1)]


def test_window_needs_the_time_column():
    with pytest.raises(ColumnNotFoundError, match="'ts'"):
        KpiAggregator(window="day").update(pa.table({"nps": [1]}))
    with pytest.raises(InputError, match="timestamp or a date"):
        KpiAggregator(window="day").update(pa.table({"ts": ["2024-01-01"]}))
    with pytest.raises(InputError):
        KpiAggregator(window="year")


# --------------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "column, values, row, shown",
    [
        ("nps", pa.array([5, None, 11]), 2, "11"),
        ("nps", pa.array([5, -1, 3]), 1, "-1"),
        ("nps", pa.array([5.0, 9.5, 3.0]), 1, "9.5"),
        ("nps", pa.array([5.0, float("nan"), 3.0]), 1, "nan"),
        ("rating", pa.array([1, 5, 0]), 2, "0"),
        ("rating", pa.array([6, 5, 1]), 0, "6"),
        ("effort", pa.array([7, 8, 1]), 1, "8"),
        ("first_response_s", pa.array([1.0, -0.5, 2.0]), 1, "-0.5"),
        ("first_response_s", pa.array([1.0, 2e8, 2.0]), 1, "200000000.0"),
        ("revenue", pa.array([1.0, float("inf"), 2.0]), 1, "inf"),
        ("valence", pa.array([0.1, 1.5, -0.3], pa.float32()), 1, "1.5"),
        ("valence", pa.array([0.1, -0.3, float("nan")], pa.float32()), 2, "nan"),
        ("anger", pa.array([0.1, 0.3, -0.25], pa.float32()), 2, "-0.25"),
        ("confusion", pa.array([1.2, 0.3, 0.5], pa.float64()), 0, "1.2"),
        ("emotion", pa.array(["joy", "neutral", "rage"]), 2, "'rage'"),
        ("nps", pa.array(["10", "9", "8"]), None, "numeric"),
    ],
)
def test_out_of_range_values_raise_naming_column_row_value(column, values, row, shown):
    good = pa.table({"g": ["a", "b", "c"], "nps": [10, 9, 0]})
    agg = KpiAggregator("g").update(good)
    before = agg.to_bytes()
    # the bad batch comes second in the table so that the row number counts from the data's start
    bad = pa.table({"g": ["x", "y", "z"], column: values})
    data = pa.concat_tables([pa.table({"g": ["p"] * 4}), bad], promote_options="default")
    with pytest.raises(InputError) as info:
        agg.update(data)
    message = str(info.value)
    assert f"'{column}'" in message
    assert shown in message
    if row is not None:
        assert f"row {row + 4}" in message
    assert isinstance(info.value, EmoscoreError)
    # nothing of the call was applied, not even the valid first batch
    assert agg.to_bytes() == before


def test_uint64_beyond_int64_is_refused():
    with pytest.raises(InputError, match="'nps', row 1"):
        KpiAggregator().update(pa.table({"nps": pa.array([1, 2**64 - 1], pa.uint64())}))


def test_durations_are_seconds():
    table = pa.table({"first_response_s": pa.array([1500, 2500, 3500], pa.duration("ms"))})
    result = KpiAggregator().update(table).result().to_pylist()[0]
    assert result["frt_p50"] == pytest.approx(2.5, rel=0.01)


def test_missing_key_column_and_bad_input():
    with pytest.raises(ColumnNotFoundError, match="'channel'"):
        KpiAggregator("channel").update(pa.table({"nps": [1]}))
    with pytest.raises(InputError):
        KpiAggregator().update({"nps": [1]})
    with pytest.raises(InputError):
        KpiAggregator(("a", "a"))
    with pytest.raises(InputError, match="clash"):
        KpiAggregator("nps")


# --------------------------------------------------------------------------------------------------
# merge, serialisation
# --------------------------------------------------------------------------------------------------


def _partial_states(table, cuts, by, window):
    bounds = [0, *sorted(cuts), table.num_rows]
    states = []
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        agg = KpiAggregator(by, window=window)
        agg.update(table.slice(lo, hi - lo))
        states.append(agg)
    return states


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(0, 120),
    cuts=st.lists(st.integers(0, 120), max_size=6),
    order=st.randoms(use_true_random=False),
    by=st.sampled_from([("channel",), ("tier", "vip"), ("region",), ()]),
    window=st.sampled_from([None, "week"]),
    roundtrip=st.booleans(),
)
def test_any_split_and_merge_order_gives_the_one_pass_result(seed, n, cuts, order, by, window, roundtrip):
    table = scored_table(n, seed=seed, days=40)
    one_pass = KpiAggregator(by, window=window).update(table).result()
    states = _partial_states(table, [min(c, n) for c in cuts], by, window)
    if roundtrip:
        states = [KpiAggregator.from_bytes(s.to_bytes()) for s in states]
    # merge in a random tree: repeatedly merge two random states
    while len(states) > 1:
        order.shuffle(states)
        a, b = states.pop(), states.pop()
        states.append(a.merge(b))
    assert states[0].result().equals(one_pass)
    for target in ("nps", "churn_rate"):
        if n:
            assert states[0].drivers(target).equals(KpiAggregator(by, window=window).update(table).drivers(target))


def test_merge_is_commutative_and_bytes_identical():
    t = scored_table(500, seed=5)
    a1, b1 = KpiAggregator("channel").update(t.slice(0, 250)), KpiAggregator("channel").update(t.slice(250))
    a2, b2 = KpiAggregator("channel").update(t.slice(0, 250)), KpiAggregator("channel").update(t.slice(250))
    ab = a1.merge(b1).result()
    ba = b2.merge(a2).result()
    assert ab.equals(ba)
    assert ab.equals(KpiAggregator("channel").update(t).result())


def test_merge_with_itself_doubles_counts():
    t = scored_table(100, seed=6)
    agg = KpiAggregator("channel").update(t)
    n = agg.result().column("n").to_pylist()
    agg.merge(agg)
    assert agg.result().column("n").to_pylist() == [2 * x for x in n]


@pytest.mark.parametrize(
    "other, named",
    [
        (dict(by=("tier",)), "by=['channel'] vs by=['tier']"),
        (dict(by=("channel",), window="day"), "window=None vs window='day'"),
        (dict(by=("channel",), emotions=("joy", "anger")), "emotions="),
        (dict(by=("channel",), nps="score"), "nps='nps' vs nps='score'"),
    ],
)
def test_merge_refuses_different_settings(other, named):
    a = KpiAggregator("channel")
    b = KpiAggregator(other.pop("by"), **other)
    with pytest.raises(IncompatibleStateError) as info:
        a.merge(b)
    assert named in str(info.value)
    assert isinstance(info.value, InputError)


def test_roundtrip_is_lossless_and_merges():
    table = scored_table(900, seed=7)
    agg = KpiAggregator(("channel", "vip", "region"), window="month").update(table)
    data = agg.to_bytes()
    back = KpiAggregator.from_bytes(data)
    assert back.result().equals(agg.result())
    assert back.to_bytes() == data
    assert back.settings == agg.settings
    for target in DRIVER_TARGETS:
        assert back.drivers(target).equals(agg.drivers(target))
    more = scored_table(300, seed=8)
    back.merge(KpiAggregator(("channel", "vip", "region"), window="month").update(more))
    agg.update(more)
    assert back.result().equals(agg.result())
    empty = KpiAggregator.from_bytes(KpiAggregator("x").to_bytes())
    assert len(empty) == 0 and empty.result().num_rows == 0


def test_from_bytes_rejects_garbage_versions_and_corruption():
    data = KpiAggregator("channel").update(scored_table(50, seed=9)).to_bytes()
    with pytest.raises(StateFormatError, match="not an emoscore KPI state"):
        KpiAggregator.from_bytes(b"PAR1 something else")
    with pytest.raises(StateFormatError, match="version 99"):
        KpiAggregator.from_bytes(data[:6] + struct.pack("<H", 99) + data[8:])
    with pytest.raises(StateFormatError, match="checksum"):
        KpiAggregator.from_bytes(data[:-10])
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x40
    with pytest.raises(StateFormatError, match="checksum"):
        KpiAggregator.from_bytes(bytes(flipped))
    assert issubclass(StateFormatError, InputError)


# --------------------------------------------------------------------------------------------------
# quantile sketch
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.5, 2.0, 4.0])
def test_sketch_relative_error_within_one_percent_on_lognormal(sigma):
    rng = np.random.default_rng(10)
    values = rng.lognormal(4, sigma, 50_000)
    values = values[(values >= sketch.X_MIN) & (values <= sketch.X_MAX)]
    agg = KpiAggregator().update(pa.table({"first_response_s": values}))
    for q in (0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0):
        got, valid = sketch.quantiles(agg._sketch[:1], q)
        exact = exact_quantile(values, q)
        assert valid[0]
        assert abs(got[0] - exact) <= sketch.ALPHA * exact * (1 + 1e-12), (q, got[0], exact)
    row = agg.result().to_pylist()[0]
    assert abs(row["frt_p50"] - exact_quantile(values, 0.5)) <= 0.01 * exact_quantile(values, 0.5)
    assert abs(row["frt_p90"] - exact_quantile(values, 0.9)) <= 0.01 * exact_quantile(values, 0.9)


def test_sketch_bucket_edges_and_memory():
    edges = sketch.GAMMA ** np.arange(sketch.KEY_MIN, sketch.KEY_MAX)
    values = np.concatenate([edges, edges * (1 + 1e-12), edges * (1 - 1e-12), [sketch.X_MIN, sketch.X_MAX]])
    values = values[(values >= sketch.X_MIN) & (values <= sketch.X_MAX)]
    for v in values[:: 37]:
        agg = KpiAggregator().update(pa.table({"first_response_s": [v]}))
        got = agg.result().column("frt_p50")[0].as_py()
        assert abs(got - v) <= sketch.ALPHA * v * (1 + 1e-9), v
    assert sketch.N_BUCKETS * 8 == 10_152
    agg = KpiAggregator(nps=None)
    assert agg._sketch.shape[1] == sketch.N_BUCKETS


def test_hll_estimate_accuracy():
    ids = pa.array([f"user-{i}" for i in range(200_000)])
    agg = KpiAggregator().update(pa.table({"customer_id": ids}))
    est = agg.result().column("customers")[0].as_py()
    assert abs(est - 200_000) <= 0.05 * 200_000
    small = KpiAggregator().update(pa.table({"customer_id": pa.array(list(range(50)) * 3)}))
    assert small.result().column("customers")[0].as_py() == 50


# --------------------------------------------------------------------------------------------------
# drivers
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", DRIVER_TARGETS)
def test_drivers_match_python_reference(target):
    table = scored_table(1200, seed=11)
    agg = KpiAggregator("channel").update(table)
    drivers = agg.drivers(target)
    assert drivers.column_names[:2] == ["channel", "emotion"]
    want = reference_drivers(table, ("channel",), target)
    rows = drivers.to_pylist()
    assert len(rows) == len(want) == len(agg) * len(TAXONOMY)
    for r in rows:
        prevalence, k_with, k_without = want[((r["channel"],), r["emotion"])]
        assert_close(r["prevalence"], prevalence, name="prevalence", key=r["channel"])
        assert_close(r["kpi_with"], k_with, name="kpi_with", key=(r["channel"], r["emotion"]))
        assert_close(r["kpi_without"], k_without, name="kpi_without", key=(r["channel"], r["emotion"]))
        if k_with is None or k_without is None:
            assert r["difference"] is None and r["impact"] is None
        else:
            assert r["difference"] == pytest.approx(k_with - k_without, abs=1e-9)
            assert r["impact"] == pytest.approx(prevalence * (k_with - k_without), abs=1e-9)
    assert drivers.schema.metadata[b"emoscore.kpi.target"] == target.encode()


def test_drivers_refuse_unknown_or_unseen_targets():
    agg = KpiAggregator("g").update(pa.table({"g": [1], "nps": [3], "emotion": ["joy"]}))
    with pytest.raises(InputError, match="unknown driver target"):
        agg.drivers("frt_p50")
    with pytest.raises(InputError, match="never seen"):
        agg.drivers("csat")


# --------------------------------------------------------------------------------------------------
# the group-key factorisation kernels
# --------------------------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), st.text(alphabet="ab\x00é", max_size=20), st.binary(max_size=3)),
                    max_size=200),
    offset=st.integers(0, 5),
    large=st.booleans(),
)
def test_factorize_strings_matches_python(values, offset, large):
    from emoscore.columns import factorize

    strings = [v.decode("latin-1") if isinstance(v, bytes) else v for v in values]
    arr = pa.array(strings, pa.large_string() if large else pa.string()).slice(min(offset, len(strings)))
    distinct, index, used = factorize(arr)
    pylist = arr.to_pylist()
    numbering: dict = {}
    for v in pylist:
        numbering.setdefault(v, len(numbering))
    assert used
    assert distinct.to_pylist() == list(numbering)
    assert index.tolist() == [numbering[v] for v in pylist]


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), max_size=300))
def test_factorize_ints_matches_python(values):
    from emoscore.columns import factorize

    arr = pa.array(values, pa.int64())
    distinct, index, _ = factorize(arr)
    numbering: dict = {}
    for v in values:
        numbering.setdefault(v, len(numbering))
    assert distinct.to_pylist() == list(numbering)
    assert index.tolist() == [numbering[v] for v in values]


def test_many_distinct_keys_grow_the_tables():
    keys = pa.array([f"k{i % 5000}" for i in range(20_000)])
    agg = KpiAggregator("k").update(pa.table({"k": keys, "nps": np.arange(20_000) % 11}))
    result = agg.result()
    assert result.num_rows == 5000 and set(result.column("n").to_pylist()) == {4}


def test_default_taxonomy_is_the_default_lexicons():
    from emoscore import Lexicon

    assert tuple(DEFAULT_EMOTIONS) == Lexicon.default().emotions
