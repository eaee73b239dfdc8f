"""Alert rules: each fires and stays quiet at its boundaries; window expiry; bounded state and eviction;
deterministic output; checkpoints; the frustration rule against a plain-Python reference."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emoscore.alerts import DEFAULT_CHURN_PHRASES, RULES, AlertRules, AlertStream
from emoscore.columns import hash_ids
from emoscore.errors import InputError, StateFormatError
from emoscore.kernels import alerts_cpu

DAY = 86_400
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def batch(customers, times, emotions=None, *, frustration=None, valence=None, nps=None, rating=None, text=None,
          ids=None) -> pa.Table:
    n = len(customers)
    columns = {
        "customer_id": pa.array(customers, pa.string()),
        "ts": pa.array([None if t is None else at(t) for t in times], pa.timestamp("s", tz="UTC")),
        "emotion": pa.array(emotions if emotions is not None else ["neutral"] * n, pa.string()),
    }
    if frustration is not None:
        columns["frustration"] = pa.array(frustration, pa.float32())
    if valence is not None:
        columns["valence"] = pa.array(valence, pa.float32())
    if nps is not None:
        columns["nps"] = pa.array(nps, pa.int64())
    if rating is not None:
        columns["rating"] = pa.array(rating, pa.int64())
    if text is not None:
        columns["text"] = pa.array(text, pa.string())
    if ids is not None:
        columns["ticket"] = pa.array(ids)
    return pa.table(columns)


def rules_of(alerts: pa.Table, rule: str) -> list[int]:
    return [r["row"] for r in alerts.to_pylist() if r["rule"] == rule]


# --------------------------------------------------------------------------------------------------
# rule (a): repeated frustration
# --------------------------------------------------------------------------------------------------


def test_frustration_fires_on_the_nth_within_the_window_boundary_inclusive():
    stream = AlertStream(AlertRules(frustration_count=3, window_days=30))
    data = batch(["a", "a", "a"], [0, 10 * DAY, 30 * DAY], ["frustration", "anger", "frustration"])
    alerts = stream.evaluate(data)
    assert rules_of(alerts, "repeated_frustration") == [2]
    row = alerts.to_pylist()[0]
    assert row["customer"] == "a" and row["time"] == at(30 * DAY)
    assert "3 frustrated messages within 30 days" in row["evidence"]
    assert "2024-01-01T00:00:00Z" in row["evidence"]


def test_frustration_quiet_one_second_past_the_window():
    stream = AlertStream(AlertRules(frustration_count=3, window_days=30))
    data = batch(["a", "a", "a"], [0, 10 * DAY, 30 * DAY + 1], ["frustration"] * 3)
    assert stream.evaluate(data).num_rows == 0
    # ... but the two recent ones plus one more do fire
    assert rules_of(stream.evaluate(batch(["a"], [31 * DAY], ["anger"])), "repeated_frustration") == [0]


def test_frustration_score_threshold_boundary_and_non_frustrated_rows():
    stream = AlertStream(AlertRules(frustration_count=2, frustration_min=0.5))
    data = batch(["a", "a", "b", "b", "c", "c"], [0, 1, 0, 1, 0, 1],
                 ["joy", "joy", "joy", "joy", "sadness", "frustration"],
                 frustration=[0.5, 0.5, 0.4999, 0.9, 0.0, 0.0])
    # a: two at exactly 0.5 -> fires; b: only one frustrated row; c: one by label only
    assert rules_of(stream.evaluate(data), "repeated_frustration") == [1]


def test_frustration_counts_restart_after_an_alert_and_carry_across_batches():
    stream = AlertStream(AlertRules(frustration_count=3))
    fired = []
    for k in range(7):
        alerts = stream.evaluate(batch(["a"], [k * 3600], ["frustration"]))
        fired += [k] * alerts.num_rows
    assert fired == [2, 5]
    assert stream.stats["alerts"]["repeated_frustration"] == 2


def test_frustration_window_expiry_and_out_of_order_rows():
    stream = AlertStream(AlertRules(frustration_count=3, window_days=30))
    data = batch(["a"] * 4, [0, 20 * DAY, 45 * DAY, 40 * DAY], ["anger"] * 4)
    # 0 and 45 are 45 days apart: the first alert needs 20, 45 and (out of order) 40
    assert rules_of(stream.evaluate(data), "repeated_frustration") == [3]


def test_frustration_ignores_rows_without_customer_or_time_and_separates_customers():
    stream = AlertStream(AlertRules(frustration_count=2))
    data = batch(["a", None, "a", "b", "a"], [0, 1, None, 2, 3], ["anger"] * 5)
    assert rules_of(stream.evaluate(data), "repeated_frustration") == [4]


def test_frustration_count_one_alerts_every_frustrated_row_without_state():
    stream = AlertStream(AlertRules(frustration_count=1))
    alerts = stream.evaluate(batch(["a", "b", "c"], [0, 1, 2], ["anger", "joy", "frustration"]))
    assert rules_of(alerts, "repeated_frustration") == [0, 2]
    assert stream.stats["customers"] == 0


def reference_frustration(customers, times, frustrated, need, window_s):
    """Plain-Python rule (a): per customer the need-1 most recent frustration times."""
    ring: dict = {}
    alerts = []
    for i, (c, t, f) in enumerate(zip(customers, times, frustrated, strict=True)):
        if c is None or t is None or not f:
            continue
        stored = ring.setdefault(c, [])
        close = [s for s in stored if abs(t - s) <= window_s]
        if 1 + len(close) >= need:
            alerts.append((i, 1 + len(close), min([t, *close])))
            ring[c] = []
            continue
        if len(stored) < need - 1:
            stored.append(t)
        else:
            stored[stored.index(min(stored))] = t
    return alerts


@settings(max_examples=60, deadline=None)
@given(
    need=st.integers(1, 5),
    window_days=st.sampled_from([1, 7, 30]),
    events=st.lists(st.tuples(st.sampled_from(["a", "b", "c", None]), st.integers(0, 90 * DAY), st.booleans()),
                    max_size=80),
    split=st.integers(0, 80),
)
def test_frustration_matches_reference(need, window_days, events, split):
    customers = [e[0] for e in events]
    times = [e[1] for e in events]
    frustrated = [e[2] for e in events]
    emotions = ["frustration" if f else "joy" for f in frustrated]
    want = reference_frustration(customers, times, frustrated, need, window_days * DAY)
    stream = AlertStream(AlertRules(frustration_count=need, window_days=window_days))
    table = batch(customers, times, emotions)
    got = []
    for start, part in ((0, table.slice(0, split)), (min(split, len(events)), table.slice(split))):
        for r in stream.evaluate(part).to_pylist():
            got.append((r["row"] + start, int(r["evidence"].split()[0]), r["evidence"]))
    assert [(r, c) for r, c, _ in got] == [(r, c) for r, c, _ in want]
    for (_, _, text), (_, _, first) in zip(got, want, strict=True):
        assert at(first).strftime("%Y-%m-%dT%H:%M:%SZ") in text


# --------------------------------------------------------------------------------------------------
# rule (b): score says fine, words say otherwise
# --------------------------------------------------------------------------------------------------


def test_mismatch_boundaries():
    stream = AlertStream(AlertRules(mismatch_valence=-0.5, frustration_count=None))
    data = batch(
        ["a"] * 8, [0] * 8,
        valence=[-0.5, -0.5, -0.49, -0.9, -0.6, -0.6, None, -1.0],
        nps=[9, 8, 10, None, None, 10, 10, None],
        rating=[None, None, None, 4, 3, None, 5, 5],
    )
    alerts = stream.evaluate(data)
    assert rules_of(alerts, "score_text_mismatch") == [0, 3, 5, 7]
    evidence = {r["row"]: r["evidence"] for r in alerts.to_pylist()}
    assert evidence[0] == "nps=9 but valence=-0.5"
    assert evidence[3] == "rating=4 but valence=-0.9"
    assert evidence[7] == "rating=5 but valence=-1"
    assert stream.stats["alerts"]["score_text_mismatch"] == 4


def test_mismatch_disabled_and_missing_columns():
    assert AlertStream(AlertRules(mismatch_valence=None)).evaluate(
        batch(["a"], [0], valence=[-1.0], nps=[10])).num_rows == 0
    assert AlertStream().evaluate(batch(["a"], [0], valence=[-1.0])).num_rows == 0  # no nps/rating


# --------------------------------------------------------------------------------------------------
# rule (c): churn language
# --------------------------------------------------------------------------------------------------


def test_churn_phrases_case_insensitive_on_word_boundaries():
    texts = [
        "Please CANCEL MY SUBSCRIPTION right now",
        "we are switching tools this week",
        "I'm Switching To a competitor, bye",
        None,
        "never againnn",
        "This was great, will buy again",
        "x" * 200 + " close my account " + "y" * 200,
    ]
    stream = AlertStream(AlertRules(frustration_count=None))
    alerts = stream.evaluate(batch(["a"] * 7, [0] * 7, text=texts))
    assert rules_of(alerts, "churn_language") == [0, 2, 6]
    evidence = {r["row"]: r["evidence"] for r in alerts.to_pylist()}
    assert evidence[0].startswith("phrase 'cancel my subscription' in ")
    assert "'switching to'" in evidence[2]
    long = evidence[6]
    assert "close my account" in long and long.count("x") < 60 and "…" in long


def test_custom_phrases_and_disabling():
    stream = AlertStream(AlertRules(churn_phrases=["talk to a lawyer"], frustration_count=None))
    alerts = stream.evaluate(batch(["a", "b"], [0, 0], text=["I will talk to a lawyer!", "cancel my subscription"]))
    assert rules_of(alerts, "churn_language") == [0]
    none = AlertStream(AlertRules(churn_phrases=(), frustration_count=None))
    assert none.evaluate(batch(["a"], [0], text=["cancel my subscription"])).num_rows == 0
    assert "switching to" in DEFAULT_CHURN_PHRASES


# --------------------------------------------------------------------------------------------------
# output, validation, determinism
# --------------------------------------------------------------------------------------------------


def test_output_schema_ids_order_and_determinism():
    rules = AlertRules(frustration_count=2, id="ticket")
    data = batch(["a", "a", "b"], [0, 1, 2], ["anger", "anger", "joy"], valence=[-0.9, -0.9, -0.9],
                 nps=[1, 10, 10], text=["ok", "never again", "fine"], ids=[101, 102, 103])
    first = AlertStream(rules).evaluate(data)
    second = AlertStream(rules).evaluate(data)
    assert first.equals(second)
    assert first.column_names == ["row", "ticket", "customer", "time", "rule", "evidence"]
    assert [(r["row"], r["ticket"], r["rule"]) for r in first.to_pylist()] == [
        (1, 102, "repeated_frustration"), (1, 102, "score_text_mismatch"), (1, 102, "churn_language"),
        (2, 103, "score_text_mismatch"),
    ]
    assert first.schema.field("ticket").type == pa.int64()
    empty = AlertStream(rules).evaluate(data.slice(0, 0))
    assert empty.num_rows == 0 and empty.column_names == first.column_names
    assert RULES == ("repeated_frustration", "score_text_mismatch", "churn_language", "kpi_shift")


def test_row_numbers_count_across_table_chunks():
    data = pa.concat_tables([batch(["a"], [0], ["anger"]), batch(["a"], [1], ["anger"])])
    assert data.column("ts").num_chunks == 2
    alerts = AlertStream(AlertRules(frustration_count=2)).evaluate(data)
    assert alerts.column("row").to_pylist() == [1]


@pytest.mark.parametrize("column, values, shown", [
    ("valence", [0.0, 1.5], "1.5"),
    ("nps", [3, 11], "11"),
    ("frustration", [0.2, -0.5], "-0.5"),
])
def test_out_of_range_values_raise_and_leave_state_alone(column, values, shown):
    stream = AlertStream(AlertRules(frustration_count=2))
    stream.evaluate(batch(["a"], [0], ["anger"]))
    before = stream.to_bytes()
    data = batch(["a", "a"], [1, 2], ["anger", "anger"], valence=[-0.1, -0.1])
    if column == "valence":
        data = data.drop_columns(["valence"])
    kind = pa.int64() if column == "nps" else pa.float32()
    data = data.append_column(column, pa.array(values, kind))
    with pytest.raises(InputError) as info:
        stream.evaluate(data)
    assert f"'{column}', row 1" in str(info.value) and shown in str(info.value)
    assert stream.to_bytes() == before
    with pytest.raises(InputError) as checked:  # check() refuses what evaluate() refuses, alike
        stream.check(data)
    assert str(checked.value) == str(info.value)
    stream.check(batch(["a"], [3], ["anger"]))  # a good batch passes and changes nothing either
    assert stream.to_bytes() == before


def test_times_outside_the_stored_range_raise():
    stream = AlertStream()
    data = pa.table({"customer_id": ["a"], "ts": pa.array([dt.datetime(1960, 1, 1)], pa.timestamp("s")),
                     "emotion": ["anger"]})
    with pytest.raises(InputError, match="'ts', row 0"):
        stream.evaluate(data)


# --------------------------------------------------------------------------------------------------
# bounded state and eviction
# --------------------------------------------------------------------------------------------------


def test_memory_is_fixed_and_documented():
    stream = AlertStream(AlertRules(max_customers=1000, frustration_count=3))
    assert stream.memory_bytes == 1500 * (8 + 4 + 2 * 4)
    before = stream.memory_bytes
    customers = [f"c{i}" for i in range(20_000)]
    stream.evaluate(batch(customers, list(range(20_000)), ["anger"] * 20_000))
    assert stream.memory_bytes == before
    stats = stream.stats
    assert stats["customers"] <= 1000
    assert stats["evicted_expired"] + stats["evicted_lru"] + stats["customers"] == 20_000


def test_eviction_takes_expired_customers_first():
    stream = AlertStream(AlertRules(max_customers=10, frustration_count=3, window_days=30))
    old = [f"old{i}" for i in range(5)]
    recent = [f"new{i}" for i in range(5)]
    stream.evaluate(batch(old, [0] * 5, ["anger"] * 5))
    stream.evaluate(batch(recent * 2, [100 * DAY] * 10, ["anger"] * 10))
    assert stream.stats["customers"] == 10
    stream.evaluate(batch(["newcomer"], [100 * DAY], ["anger"]))  # full: the sweep evicts the 5 old ones
    stats = stream.stats
    assert (stats["evicted_expired"], stats["evicted_lru"], stats["customers"]) == (5, 0, 6)
    # every recent customer kept its two frustrations: one more each fires
    alerts = stream.evaluate(batch(recent, [100 * DAY + 1] * 5, ["anger"] * 5))
    assert rules_of(alerts, "repeated_frustration") == [0, 1, 2, 3, 4]


def test_eviction_then_least_recently_seen():
    stream = AlertStream(AlertRules(max_customers=16, frustration_count=2, window_days=365))
    names = [f"c{i}" for i in range(16)]
    stream.evaluate(batch(names, [i * 60 for i in range(16)], ["anger"] * 16))
    # c0 is seen again (not frustrated): it becomes the most recently seen
    stream.evaluate(batch(["c0"], [1000], ["joy"]))
    stream.evaluate(batch(["newcomer"], [2000], ["anger"]))
    stats = stream.stats
    # the sweep keeps 16 - 16 // 8 = 14 customers (7/8), then the newcomer is added
    assert (stats["evicted_expired"], stats["evicted_lru"], stats["customers"]) == (0, 2, 15)
    # c1 and c2 (least recently seen) lost their count; c0 and c3 did not
    alerts = stream.evaluate(batch(["c0", "c3", "c1", "c2"], [3000] * 4, ["anger"] * 4))
    assert rules_of(alerts, "repeated_frustration") == [0, 1]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), capacity=st.integers(1, 40), n=st.integers(1, 400))
def test_table_stays_consistent_through_sweeps(seed, capacity, n):
    rng = np.random.default_rng(seed)
    customers = [f"c{int(c)}" for c in rng.integers(0, 3 * capacity + 1, n)]
    times = np.sort(rng.integers(0, 200 * DAY, n)).tolist()
    emotions = np.where(rng.random(n) < 0.7, "anger", "joy").tolist()
    stream = AlertStream(AlertRules(max_customers=capacity, frustration_count=3, window_days=20))
    stream.evaluate(batch(customers, times, emotions))
    keys = stream._keys[stream._keys != 0]
    assert len(keys) == stream.stats["customers"] <= capacity
    assert len(np.unique(keys)) == len(keys)
    for key in keys:  # every stored customer is reachable from its home slot
        assert alerts_cpu.table_find(stream._keys, key) >= 0
    hashes, _, _ = hash_ids(pa.array(sorted(set(customers))))
    stored = set(keys.tolist())
    for h in hashes.tolist():
        found = alerts_cpu.table_find(stream._keys, np.uint64(h))
        assert (found >= 0) == (h in stored)


# --------------------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------------------


def test_checkpoint_roundtrip_continues_identically():
    rng = np.random.default_rng(3)
    n = 600
    customers = [f"c{int(c)}" for c in rng.integers(0, 40, n)]
    times = np.sort(rng.integers(0, 60 * DAY, n)).tolist()
    emotions = np.where(rng.random(n) < 0.5, "frustration", "joy").tolist()
    data = batch(customers, times, emotions, text=["switching to rival"] * n)
    rules = AlertRules(max_customers=25, frustration_count=3, window_days=10)
    straight = AlertStream(rules)
    a = straight.evaluate(data.slice(0, 300))
    b = straight.evaluate(data.slice(300))
    resumed = AlertStream(rules)
    resumed.evaluate(data.slice(0, 300))
    restored = AlertStream.from_bytes(resumed.to_bytes())
    assert restored.rules == rules
    assert restored.stats == resumed.stats
    assert restored.evaluate(data.slice(300)).equals(b)
    assert a.num_rows > 0 and b.num_rows > 0
    with pytest.raises(StateFormatError):
        AlertStream.from_bytes(b"nonsense")
    blob = bytearray(resumed.to_bytes())
    blob[-5] ^= 1
    with pytest.raises(StateFormatError, match="checksum"):
        AlertStream.from_bytes(bytes(blob))


def test_rules_validation():
    with pytest.raises(InputError):
        AlertRules(frustration_count=0)
    with pytest.raises(InputError):
        AlertRules(max_customers=0)
    with pytest.raises(InputError):
        AlertRules(churn_phrases="cancel")
    rules = AlertRules(window_days=7)
    assert rules.window_days == 7.0 and rules.stream().rules is rules
