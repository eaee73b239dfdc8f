"""The ``kpi_shift`` alert rule: significant window-to-window shifts of NPS, CSAT and emotion shares per
group, raised as windows close in a stream, checked against ``KpiAggregator.result(deltas=True)``."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from emoscore import KpiAggregator
from emoscore.alerts import AlertRules, AlertStream
from emoscore.errors import InputError

WEEKS = ("2026-01-05", "2026-01-12", "2026-01-19", "2026-01-26")


def _week(rng, start: str, n: int, promoters: float, detractors: float, joy: float, group: str) -> pa.Table:
    u = rng.random(n)
    return pa.table({
        "touchpoint": [group] * n,
        "ts": pa.array(np.datetime64(start) + np.sort(rng.integers(0, 7 * 86_400, n)).astype("timedelta64[s]")),
        "nps": np.where(u < promoters, 10, np.where(u < promoters + detractors, 2, 7)),
        "emotion": np.where(rng.random(n) < joy, "joy", "neutral"),
        "text": ["fine"] * n,
    })


def _stream_of(seed: int = 1) -> list[pa.Table]:
    """Four weeks, in time order: delivery jumps in week 3 (NPS and joy), billing stays flat."""
    rng = np.random.default_rng(seed)
    mixes = {"delivery": [(0.3, 0.3, 0.3)] * 2 + [(0.8, 0.1, 0.7)] * 2, "billing": [(0.4, 0.2, 0.4)] * 4}
    return [pa.concat_tables([_week(rng, start, 120, *mixes[g][k], g) for g in mixes]).sort_by("ts")
            for k, start in enumerate(WEEKS)]


def _rules(**options) -> AlertRules:
    return AlertRules(shift_window="week", shift_by=["touchpoint"], **options)


def _shifts(table: pa.Table) -> pa.Table:
    return table.filter(pc.equal(table.column("rule"), "kpi_shift"))


def test_a_significant_shift_alerts_when_its_window_closes_with_the_evidence():
    stream = _rules().stream()
    found = [_shifts(stream.evaluate(batch)) for batch in _stream_of()]
    assert [t.num_rows for t in found[:3]] == [0, 0, 0]     # week 3 is open until a week-4 row arrives
    alerts = found[3].to_pylist()
    assert {a["evidence"].split(":")[1].split()[0] for a in alerts} == {"nps", "joy_share"}
    assert all(a["evidence"].startswith("touchpoint=delivery:") for a in alerts)
    assert all(a["row"] == 0 and a["customer"] is None for a in alerts)  # the first week-4 row closed it
    # the evidence is the aggregator's own test of the change
    agg = KpiAggregator("touchpoint", window="week", rating=None, effort=None, response_time=None, event=None,
                        revenue=None, customer=None)
    for batch in _stream_of():
        agg.update(batch)
    row = next(r for r in agg.result(deltas=True, level=0.99).to_pylist()
               if r["touchpoint"] == "delivery" and str(r["window_start"]) == WEEKS[2])
    nps = next(a["evidence"] for a in alerts if ": nps " in a["evidence"])
    assert f"n={row['nps_n']}" in nps and f"p={row['nps_delta_p']:.2g}" in nps
    assert f"{row['nps_delta']:+.4g}" in nps
    assert stream.stats["alerts"]["kpi_shift"] == len(alerts)
    assert stream.flush().num_rows == 0                      # week 4 did not move


def test_flush_closes_the_last_window_and_the_state_carries_over():
    batches = _stream_of()
    stream = _rules().stream()
    for batch in batches[:3]:
        stream.evaluate(batch)
    resumed = AlertStream.from_bytes(stream.to_bytes())
    last = resumed.flush()
    assert last.num_rows == 2 and last.column("row").null_count == 2
    assert resumed.flush().num_rows == 0                     # once
    again = AlertStream.from_bytes(stream.to_bytes())
    assert _shifts(again.evaluate(batches[3])).column("evidence").to_pylist() == last.column("evidence").to_pylist()


def test_thin_bases_raise_nothing_and_the_level_sets_the_bar():
    stream = _rules(shift_min_n=121).stream()              # 120 answers a week and group
    assert sum(_shifts(stream.evaluate(batch)).num_rows for batch in _stream_of()) == 0
    counts = []
    for level in (0.99, 1 - 1e-9):
        stream = _rules(shift_level=level).stream()
        counts.append(sum(_shifts(stream.evaluate(batch)).num_rows for batch in _stream_of()))
    assert counts[0] > counts[1]


def test_bad_input_changes_nothing_and_configuration_fails_at_once():
    batches = _stream_of()
    stream = _rules().stream()
    stream.evaluate(batches[0])
    before = stream.to_bytes()
    bad = batches[1].set_column(2, "nps", pa.array([11] + batches[1].column("nps").to_pylist()[1:]))
    with pytest.raises(InputError, match=r"column 'nps', row 0: value 11"):
        stream.evaluate(bad)
    assert stream.to_bytes() == before
    with pytest.raises(InputError, match="needs a time column"):
        AlertRules(shift_window="week", time=None)
    with pytest.raises(InputError, match="shift_level"):
        AlertRules(shift_window="week", shift_level=1.5)
    with pytest.raises(InputError, match="window must be one of"):
        AlertRules(shift_window="fortnight").stream()
