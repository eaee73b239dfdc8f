"""``emoscore kpi`` and ``emoscore run`` (emoscore.runner.kpi) on the bundled sample."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import orjson
import pyarrow as pa
import pyarrow.json as pj
import pytest

import emoscore
import emoscore.cli as cli
from emoscore.kpi import KpiAggregator
from emoscore.runner.kpi import KpiCommand, RunCommand
from emoscore.sample import bundled_sample_path


@pytest.fixture(autouse=True)
def _commands(monkeypatch):
    commands = dict(cli.COMMANDS)
    commands.update({c.name: c for c in (KpiCommand(), RunCommand())})
    monkeypatch.setattr(cli, "COMMANDS", commands)


def _main(argv, data: bytes = b""):
    out, err = io.BytesIO(), io.BytesIO()
    status = cli.main(argv, stdin=io.BytesIO(data), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def _summary(err: bytes) -> dict:
    return orjson.loads(err.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def sample_bytes() -> bytes:
    return bundled_sample_path().read_bytes()


@pytest.fixture(scope="module")
def scored(sample_bytes) -> bytes:
    out, err = io.BytesIO(), io.BytesIO()
    status = cli.main(["score"], stdin=io.BytesIO(sample_bytes), stdout=out, stderr=err)
    assert status == 0, err.getvalue()
    return out.getvalue()


@pytest.fixture(scope="module")
def reference() -> pa.Table:
    table = pj.read_json(bundled_sample_path())
    return KpiAggregator(["touchpoint", "channel"], window="week").update(emoscore.score(table)).result()


def _arrow(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(data).read_all()


def test_kpi_equals_in_process_aggregation(scored, reference):
    status, out, err = _main(["kpi", "--by", "touchpoint,channel", "--window", "week", "--output-format", "arrow"],
                             scored)
    assert status == 0, err
    summary = _summary(err)
    assert (summary["read"], summary["written"], summary["rejected"]) == (2000, 2000, 0)
    table = _arrow(out)
    assert table.num_rows == reference.num_rows > 1
    assert table.schema.names == reference.schema.names
    for name in reference.schema.names:
        got, want = table.column(name).to_pylist(), reference.column(name).to_pylist()
        if pa.types.is_floating(reference.schema.field(name).type):
            # the scored JSONL holds the scores at 4 decimals: means agree within 5e-5, the bounds of
            # their t intervals (variances of the rounded scores, t quantiles of small bases) within 2e-3
            mean_bound = "_mean_" in name and name.endswith(("_low", "_high"))
            assert got == pytest.approx(want, abs=2e-3 if mean_bound else 1e-4, nan_ok=True), name
        else:
            assert got == want, name


def test_kpi_level_and_min_n(scored, capsys):
    status, out, err = _main(["kpi", "--by", "touchpoint", "--level", "0.8", "--min-n", "100",
                              "--output-format", "arrow"], scored)
    assert status == 0, err
    table = _arrow(out)
    agg = KpiAggregator(["touchpoint"]).update(emoscore.score(pj.read_json(bundled_sample_path())))
    want = agg.result(level=0.8, min_n=100)
    for name in ("nps", "nps_n", "nps_low", "csat_high", "churn_rate", "joy_share_low"):
        assert table.column(name).to_pylist() == pytest.approx(want.column(name).to_pylist(), abs=1e-4), name
    thin = [n < 100 for n in table.column("churn_rate_n").to_pylist()]
    assert any(thin) and all(v is None for v, t in zip(table.column("churn_rate").to_pylist(), thin, strict=True) if t)
    for bad in (["--level", "95"], ["--level", "x"], ["--min-n", "-1"]):
        status, _, err = _main(["kpi", *bad], scored)
        message = err.decode() + capsys.readouterr().err     # (argparse writes its usage errors itself)
        assert status != 0 and f"argument {bad[0]}" in message, message


def test_kpi_jsonl_rows_match(scored, reference):
    status, out, err = _main(["kpi", "--by", "touchpoint,channel", "--window", "week"], scored)
    assert status == 0, err
    rows = [orjson.loads(line) for line in out.splitlines()]
    assert len(rows) == reference.num_rows
    assert [r["n"] for r in rows] == reference.column("n").to_pylist()
    assert rows[0]["window_start"] == str(reference.column("window_start")[0].as_py())


def test_state_resume_over_two_halves_equals_one_pass(scored, reference, tmp_path):
    status, one_pass, err = _main(["kpi", "--by", "touchpoint,channel", "--window", "week", "--output-format",
                                   "arrow"], scored)
    assert status == 0, err
    one_pass = _arrow(one_pass)
    lines = scored.splitlines(keepends=True)
    state = tmp_path / "kpi.state"
    args = ["kpi", "--by", "touchpoint,channel", "--window", "week", "--output-format", "arrow", "--state", str(state)]
    status, _, err = _main(args, b"".join(lines[:700]))
    assert status == 0, err
    assert state.exists()
    first = KpiAggregator.from_bytes(state.read_bytes())
    assert first.result().column("n").to_pylist() != reference.column("n").to_pylist()
    status, out, err = _main(args, b"".join(lines[700:]))
    assert status == 0, err
    assert _summary(err)["read"] == 1300
    assert _arrow(out).equals(one_pass)
    assert KpiAggregator.from_bytes(state.read_bytes()).result().equals(one_pass)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".partial")]


def test_kpi_rejects_bad_records_and_reconciles(scored):
    lines = scored.splitlines(keepends=True)[:50]
    bad_time = orjson.loads(lines[3]) | {"ts": "not a time"}
    bad_nps = orjson.loads(lines[7]) | {"nps": 11}
    lines[3], lines[7] = orjson.dumps(bad_time) + b"\n", orjson.dumps(bad_nps) + b"\n"
    status, out, err = _main(["kpi", "--by", "touchpoint", "--window", "day", "--errors", "-"], b"".join(lines))
    assert status == 1, err
    summary = _summary(err)
    assert (summary["read"], summary["written"], summary["rejected"]) == (50, 48, 2)
    assert summary["reconciled"] is True
    errors = [orjson.loads(x) for x in err.splitlines() if x.startswith(b'{"event":"rejected"')]
    assert [e["line"] for e in errors] == [4, 8]
    assert "not a time" in errors[0]["reason"]
    assert sum(orjson.loads(x)["n"] for x in out.splitlines()) == 48


def test_run_writes_scored_rows_kpis_and_alerts(sample_bytes, reference, tmp_path):
    kpi_out, alerts_out = tmp_path / "kpi.arrow", tmp_path / "alerts.jsonl"
    status, out, err = _main(["run", "--by", "touchpoint,channel", "--window", "week", "--id", "id",
                              "--kpi-out", str(kpi_out), "--alerts-out", str(alerts_out)], sample_bytes)
    assert status == 0, err
    rows = [orjson.loads(line) for line in out.splitlines()]
    assert len(rows) == 2000 and "valence" in rows[0] and "emotion" in rows[0]
    kpis = pa.ipc.open_stream(kpi_out.read_bytes()).read_all()
    assert kpis.equals(reference)
    alerts = [orjson.loads(line) for line in alerts_out.read_bytes().splitlines()]
    frustrated = [a for a in alerts if a["rule"] == "repeated_frustration"]
    assert len(frustrated) >= 3
    # the planted customers: several repeated-frustration alerts for the same customer
    by_customer: dict = {}
    for alert in frustrated:
        by_customer[alert["customer"]] = by_customer.get(alert["customer"], 0) + 1
    assert max(by_customer.values()) >= 2
    ids = {r["id"]: r for r in rows}
    assert all(ids[a["id"]]["customer_id"] == a["customer"] for a in frustrated)


def test_subprocess_kpi(scored, tmp_path):
    """Runs the installed entry point: needs KpiCommand registered in emoscore.cli.COMMANDS."""
    path = tmp_path / "scored.jsonl"
    path.write_bytes(scored[: scored.index(b"\n", 20_000) + 1])
    env = dict(os.environ, NUMBA_CACHE_DIR=os.environ.get("NUMBA_CACHE_DIR", "/tmp/nbc_kpicli"))
    proc = subprocess.run([sys.executable, "-m", "emoscore", "kpi", "--by", "channel", "--input", str(path),
                           "--output-format", "csv"], capture_output=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    lines = proc.stdout.decode().splitlines()
    assert lines[0].startswith('"channel","n"')
    assert len(lines) > 2


def test_kpi_deltas_drivers_and_compare(scored, tmp_path):
    agg = KpiAggregator(["touchpoint"], window="week").update(emoscore.score(pj.read_json(bundled_sample_path())))
    status, out, err = _main(["kpi", "--by", "touchpoint", "--window", "week", "--deltas", "--output-format",
                              "arrow"], scored)
    assert status == 0, err
    want = agg.result(deltas=True)
    for name in ("nps_delta", "nps_delta_p", "csat_delta_low", "joy_share_delta_significant"):
        assert _arrow(out).column(name).to_pylist() == pytest.approx(want.column(name).to_pylist(), abs=1e-4), name
    status, out, err = _main(["kpi", "--by", "touchpoint", "--drivers", "csat", "--level", "0.9", "--output-format",
                              "arrow"], scored)
    assert status == 0, err
    drivers = _arrow(out)
    for q, significant in zip(drivers.column("q_value").to_pylist(), drivers.column("significant").to_pylist(),
                              strict=True):
        assert significant == (None if q is None else q < 0.1)
    lines = scored.splitlines(keepends=True)
    state = tmp_path / "last.state"
    status, _, err = _main(["kpi", "--by", "touchpoint", "--state", str(state)], b"".join(lines[:1000]))
    assert status == 0, err
    status, out, err = _main(["kpi", "--by", "touchpoint", "--compare", str(state), "--output-format", "arrow"],
                             b"".join(lines[1000:]))
    assert status == 0, err
    table = _arrow(out)
    assert table.column("n_baseline").to_pylist() == KpiAggregator.from_bytes(state.read_bytes()).result() \
        .column("n").to_pylist()
    for argv, message in ((["--deltas"], "give --window"), (["--compare", str(tmp_path / "none")], "no such state"),
                          (["--window", "week", "--compare", str(state)], "different settings")):
        status, _, err = _main(["kpi", "--by", "touchpoint", *argv], scored)
        assert status == 2 and message in _summary(err)["error"], err


def test_run_streams_kpi_shift_alerts(sample_bytes, tmp_path):
    alerts = tmp_path / "alerts.jsonl"
    status, _, err = _main(["run", "--by", "touchpoint", "--kpi-out", str(tmp_path / "kpi.jsonl"), "--alerts-out",
                            str(alerts), "--shift-window", "day", "--shift-level", "0.8", "--shift-min-n", "5"],
                           sample_bytes)
    assert status == 0, err
    rules = [orjson.loads(line)["rule"] for line in alerts.read_bytes().splitlines()]
    assert "kpi_shift" in rules
    assert _summary(err)["alerts"]["kpi_shift"] == rules.count("kpi_shift")
