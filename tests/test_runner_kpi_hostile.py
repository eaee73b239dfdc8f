"""``emoscore kpi`` and ``emoscore run`` under hostile input, stops and concurrency (issue 19):
columnar output with rejected records, ``--on-error fail``, stops that keep the KPI table, the
alerts and the state of every record read, the ``--state`` lock, configuration mistakes, records
folded into both engines or neither, nested keys."""

from __future__ import annotations

import fcntl
import io
import os
import signal
import subprocess
import sys
import time

import orjson
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import emoscore.cli as cli
from emoscore.kpi import KpiAggregator

EMOSCORE = [sys.executable, "-m", "emoscore"]
ENV = {**os.environ, "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", "/tmp/nbc_runner")}
TIMEOUT = 120


def run(args: list[str], data: bytes = b"", cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(EMOSCORE + args, input=data, capture_output=True, env=ENV, timeout=TIMEOUT, cwd=cwd)


def events(stderr: bytes, kind: str) -> list[dict]:
    lines = [orjson.loads(line) for line in stderr.splitlines() if line.startswith(b"{")]
    return [line for line in lines if line["event"] == kind]


def summary(stderr: bytes) -> dict:
    (found,) = events(stderr, "summary")
    assert found["reconciled"] is True, stderr
    assert found["read"] == found["written"] + found["rejected"] + found["not_written"]
    return found


def jsonl(rows: list[dict]) -> bytes:
    return b"".join(orjson.dumps(row) + b"\n" for row in rows)


def total_n(path) -> int:
    return sum(orjson.loads(line)["n"] for line in open(path, "rb").read().splitlines())


def no_partial(directory) -> None:
    assert not [p for p in os.listdir(directory) if p.endswith(".partial")]


def records(n: int, bad: dict[int, dict] | None = None) -> bytes:
    """``n`` feedback records (lines 1..n), those in ``bad`` (by line) with the given fields."""
    rows = []
    for line in range(1, n + 1):
        row = {"id": line, "text": f"message {line}: thanks, all good", "nps": line % 11, "touchpoint": "web",
               "customer_id": f"c{line % 3}", "ts": f"2024-01-{1 + line % 28:02d}T10:00:00"}
        row.update((bad or {}).get(line, {}))
        rows.append(row)
    return jsonl(rows)


# -- row 1: run with a columnar output and a rejected record -----------------------------------------
@pytest.mark.parametrize("suffix", ["csv", "arrow", "parquet"])
def test_run_columnar_output_with_a_rejected_record(tmp_path, suffix):
    out, kpi = tmp_path / f"o.{suffix}", tmp_path / "k.jsonl"
    proc = run(["run", "--kpi-out", str(kpi), "-o", str(out)], records(3, {2: {"nps": 11}}))
    assert proc.returncode == 1, proc.stderr.decode()
    assert b"Traceback" not in proc.stderr
    found = summary(proc.stderr)
    assert (found["read"], found["written"], found["rejected"]) == (3, 2, 1)
    assert [e["line"] for e in events(proc.stderr, "rejected")] == [2]
    if suffix == "csv":
        written = pcsv.read_csv(out)
    elif suffix == "arrow":
        written = pa.ipc.open_stream(out.read_bytes()).read_all()
    else:
        written = pq.read_table(out)
    assert written.column("id").to_pylist() == [1, 3]
    assert total_n(kpi) == 2
    no_partial(tmp_path)


# -- row 2: --on-error fail stops at the first rejected record ---------------------------------------
@pytest.mark.parametrize("command", ["kpi", "run"])
def test_on_error_fail_stops_at_the_first_rejected_record(tmp_path, command):
    kpi, state = tmp_path / "k.jsonl", tmp_path / "s.state"
    data = records(6, {2: {"nps": 11}, 5: {"nps": 12}})
    args = [command, "--on-error", "fail", "--state", str(state), "--by", "touchpoint"]
    args += ["--kpi-out", str(kpi)] if command == "run" else ["-o", str(kpi)]
    proc = run(args, data)
    assert proc.returncode == 3, proc.stderr.decode()
    assert [e["line"] for e in events(proc.stderr, "rejected")] == [2]
    found = summary(proc.stderr)
    assert (found["read"], found["written"], found["rejected"], found["last_line"]) == (2, 1, 1, 2)
    if command == "run":
        assert [orjson.loads(line)["id"] for line in proc.stdout.splitlines()] == [1]
    assert total_n(kpi) == 1  # the KPI table of exactly the records before it
    assert KpiAggregator.from_bytes(state.read_bytes()).result().column("n").to_pylist() == [1]


@pytest.mark.parametrize("command", ["kpi", "run"])
def test_on_error_fail_reader_rejection_after_a_kpi_rejection(tmp_path, command):
    """Line 2 is refused by the KPI stage, line 4 by the reader (not JSON) in the same batch: only
    line 2 is reported, the records after it are given back, and the resume point is line 2."""
    kpi = tmp_path / "k.jsonl"
    lines = records(5, {2: {"nps": 11}}).splitlines(keepends=True)
    lines[3] = b"not json\n"
    args = [command, "--on-error", "fail"] + (["--kpi-out", str(kpi)] if command == "run" else ["-o", str(kpi)])
    proc = run(args, b"".join(lines))
    assert proc.returncode == 3, proc.stderr.decode()
    assert [e["line"] for e in events(proc.stderr, "rejected")] == [2]
    found = summary(proc.stderr)
    assert (found["read"], found["written"], found["rejected"], found["last_line"]) == (2, 1, 1, 2)
    assert total_n(kpi) == 1


@pytest.mark.parametrize("extra_line, nps_line", [(3, 4), (4, 3)])
def test_on_error_fail_writer_and_kpi_rejections_in_one_batch(tmp_path, extra_line, nps_line):
    """run, JSONL to CSV in batches of 2: one record of the second batch has a field the schema
    inferred from the first lacks (the writer rejects it), the other an NPS of 11 (the KPI stage
    refuses it): whichever comes first in the input is reported, alone."""
    kpi, out = tmp_path / "k.jsonl", tmp_path / "o.csv"
    proc = run(["run", "--on-error", "fail", "--batch-size", "2", "--kpi-out", str(kpi), "-o", str(out)],
               records(6, {extra_line: {"extra": 1}, nps_line: {"nps": 11}}))  # fmt: skip
    assert proc.returncode == 3, proc.stderr.decode()
    assert [e["line"] for e in events(proc.stderr, "rejected")] == [3]
    found = summary(proc.stderr)
    assert (found["read"], found["written"], found["rejected"], found["last_line"]) == (3, 2, 1, 3)
    assert pcsv.read_csv(out).column("id").to_pylist() == [1, 2]
    assert total_n(kpi) == 2


# -- row 3: a stop keeps the KPI table, the alerts and the state of every record read ----------------
def _read_until(fd: int, needle: bytes, deadline: float) -> bytes:
    import select

    data = b""
    while needle not in data:
        assert time.monotonic() < deadline, data[-2000:]
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 1 << 16)
            assert chunk, data[-2000:]
            data += chunk
    return data


@pytest.mark.parametrize("command, signum", [("kpi", signal.SIGINT), ("run", signal.SIGINT), ("kpi", signal.SIGTERM)])
def test_a_stop_writes_the_kpi_table_alerts_and_state_of_the_records_read(tmp_path, command, signum):
    kpi, state, alerts = tmp_path / "k.jsonl", tmp_path / "s.state", tmp_path / "a.jsonl"
    args = [command, "--batch-size", "1", "--state", str(state), "--by", "touchpoint", "--window", "day"]
    args += ["--kpi-out", str(kpi), "--alerts-out", str(alerts), "-o", str(tmp_path / "o.jsonl")] \
        if command == "run" else ["-o", str(kpi)]  # fmt: skip
    proc = subprocess.Popen(EMOSCORE + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=ENV)  # fmt: skip
    deadline = time.monotonic() + TIMEOUT
    # the rejection of line 5 proves that lines 1-5 were read; the stdin stays open
    proc.stdin.write(records(6, {5: {"nps": 11}}))
    proc.stdin.flush()
    err = _read_until(proc.stderr.fileno(), b'"rejected"', deadline)
    proc.send_signal(signum)
    _, more = proc.communicate(timeout=TIMEOUT)
    err += more
    assert proc.returncode == 128 + signum, err.decode()
    assert b"Traceback" not in err
    found = summary(err)
    assert found["rejected"] == 1 and found["written"] == found["read"] - 1 >= 4
    assert found["last_line"] == found["read"]  # a record boundary: resume from the next line
    assert total_n(kpi) == found["written"]
    saved = KpiAggregator.from_bytes(state.read_bytes()).result()
    assert sum(saved.column("n").to_pylist()) == found["written"]
    if command == "run":
        assert alerts.exists()
        assert len((tmp_path / "o.jsonl").read_bytes().splitlines()) == found["written"]
    no_partial(tmp_path)


def test_input_damage_keeps_the_kpi_table_and_state(tmp_path):
    """An Arrow stream cut short: status 4, the complete batches before the damage are aggregated,
    their KPI table and state written."""
    table = pa.table({"text": [f"t{i}" for i in range(40)], "nps": [i % 11 for i in range(40)]})
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=10):
            writer.write_batch(batch)
    data = sink.getvalue()[:-200]
    kpi, state = tmp_path / "k.jsonl", tmp_path / "s.state"
    proc = run(["kpi", "--state", str(state), "-o", str(kpi)], data)
    assert proc.returncode == 4, proc.stderr.decode()
    found = summary(proc.stderr)
    assert found["written"] == found["read"] > 0
    assert total_n(kpi) == found["written"]
    assert sum(KpiAggregator.from_bytes(state.read_bytes()).result().column("n").to_pylist()) == found["written"]


# -- row 4: --state under concurrency: an exclusive lock ---------------------------------------------
def test_state_lock_makes_a_second_run_wait_and_merge(tmp_path):
    state, kpi = tmp_path / "s.state", tmp_path / "k.jsonl"
    with open(f"{state}.lock", "a+b") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # another run is saving the state
        proc = subprocess.Popen(EMOSCORE + ["kpi", "--state", str(state), "-o", str(kpi)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)  # fmt: skip
        proc.stdin.write(records(5))
        proc.stdin.close()
        proc.stdin = None
        err = _read_until(proc.stderr.fileno(), b"waiting for another run", time.monotonic() + TIMEOUT)
        assert proc.poll() is None and not kpi.exists()
        # what the other run saves meanwhile: 7 records
        state.write_bytes(KpiAggregator().update(pa.table({"nps": list(range(7))})).to_bytes())
    _, more = proc.communicate(timeout=TIMEOUT)
    err += more
    assert proc.returncode == 0, err.decode()
    assert total_n(kpi) == 12  # merged onto the state saved while it waited
    assert KpiAggregator.from_bytes(state.read_bytes()).result().column("n").to_pylist() == [12]


def test_concurrent_state_runs_lose_nothing(tmp_path):
    state = tmp_path / "s.state"
    procs = [subprocess.Popen(EMOSCORE + ["kpi", "--state", str(state), "-o", os.devnull, "-q"],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
             for _ in range(4)]  # fmt: skip
    for k, proc in enumerate(procs):
        proc.stdin.write(records(10 + k))
        proc.stdin.close()
    for proc in procs:
        proc.wait(timeout=TIMEOUT)
        assert proc.returncode == 0, proc.stderr.read().decode()
    assert KpiAggregator.from_bytes(state.read_bytes()).result().column("n").to_pylist() == [10 + 11 + 12 + 13]


# -- row 5: configuration mistakes fail fast ---------------------------------------------------------
@pytest.mark.parametrize("fmt, options, missing", [
    ("jsonl", ["--by", "touchpont"], "touchpont"),
    ("jsonl", ["--window", "day", "--time", "tss"], "tss"),
    ("arrow", ["--by", "touchpoint,chanel"], "chanel"),
    ("csv", ["--window", "week", "--time", "tss"], "tss"),
])  # fmt: skip
def test_a_missing_key_or_time_column_is_one_input_error(tmp_path, fmt, options, missing):
    data = records(30)
    if fmt != "jsonl":
        table = pa.Table.from_pylist([orjson.loads(line) for line in data.splitlines()])
        sink = io.BytesIO()
        if fmt == "arrow":
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
        else:
            pcsv.write_csv(table, sink)
        data = sink.getvalue()
    for command in (["kpi", "-o", str(tmp_path / "k.jsonl")],
                    ["run", "--kpi-out", str(tmp_path / "k.jsonl"), "-o", str(tmp_path / "o.jsonl")]):  # fmt: skip
        proc = run([*command, "--input-format", fmt, *options], data)
        assert proc.returncode == 4, proc.stderr.decode()
        assert not events(proc.stderr, "rejected")
        (error,) = events(proc.stderr, "input_error")
        assert repr(missing) in error["reason"] and "touchpoint" in error["reason"]  # names what the input has
        summary(proc.stderr)
        assert not (tmp_path / "k.jsonl").exists() and not (tmp_path / "o.jsonl").exists()
        no_partial(tmp_path)


@pytest.mark.parametrize("command", ["kpi", "run"])
def test_a_wrong_text_field_on_jsonl_is_one_input_error(tmp_path, command):
    kpi = tmp_path / "k.jsonl"
    args = [command, "--text", "body"] + (["--kpi-out", str(kpi), "-o", str(tmp_path / "o.jsonl")]
                                          if command == "run" else ["-o", str(kpi)])  # fmt: skip
    proc = run([*args, "--batch-size", "8"], records(30))
    assert proc.returncode == 4, proc.stderr.decode()
    assert not events(proc.stderr, "rejected")
    (error,) = events(proc.stderr, "input_error")
    assert "'body'" in error["reason"] and "'text'" in error["reason"]
    assert summary(proc.stderr)["read"] == 0
    assert not kpi.exists()
    no_partial(tmp_path)
    # some records of the first batch have it: the others are rejected one by one, as before
    data = records(3).replace(b'"text"', b'"body"', 1)
    proc = run(args, data)
    assert proc.returncode == 1, proc.stderr.decode()
    assert [e["line"] for e in events(proc.stderr, "rejected")] == [2, 3]
    assert total_n(kpi) == 1


# -- row 6: a record is folded into both engines or neither; --customer for both ---------------------
def test_run_customer_object_is_rejected_once_and_not_counted(tmp_path):
    kpi = tmp_path / "k.jsonl"
    data = jsonl([{"text": f"t{i}", "acct": {"a": i}, "ts": f"2024-01-0{i}T00:00:00"} for i in range(1, 5)])
    proc = run(["run", "--customer", "acct", "--kpi-out", str(kpi)], data)
    assert proc.returncode == 1, proc.stderr.decode()
    found = summary(proc.stderr)
    assert (found["read"], found["written"], found["rejected"]) == (4, 0, 4)
    assert total_n(kpi) == 0


def test_run_customer_column_counts_customers(tmp_path):
    kpi = tmp_path / "k.jsonl"
    data = jsonl([{"text": f"t{i}", "acct": f"a{i % 2}", "customer_id": f"c{i}"} for i in range(6)])
    proc = run(["run", "--customer", "acct", "--kpi-out", str(kpi)], data)
    assert proc.returncode == 0, proc.stderr.decode()
    (row,) = [orjson.loads(line) for line in kpi.read_bytes().splitlines()]
    assert (row["n"], row["customers"]) == (6, 2)


def test_run_alert_refusal_does_not_double_count(tmp_path):
    """An Arrow input whose time column is an integer: the aggregator (no window) accepts it, the
    alert rules do not: every record is rejected and none is counted in the KPI table."""
    table = pa.table({"text": ["a", "b", "c", "d"], "ts": pa.array([1, 2, 3, 4], pa.int64()),
                      "customer_id": ["x", "y", "x", "y"]})  # fmt: skip
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    kpi = tmp_path / "k.jsonl"
    proc = run(["run", "--kpi-out", str(kpi), "-o", str(tmp_path / "o.jsonl")], sink.getvalue())
    found = summary(proc.stderr)
    assert b"Traceback" not in proc.stderr
    assert total_n(kpi) == found["written"] == len((tmp_path / "o.jsonl").read_bytes().splitlines())


# -- row 7: nested keys: per-record rejections (JSONL) or one error (columnar), no partial file -------
@pytest.mark.parametrize("command", ["kpi", "run"])
def test_nested_key_values_are_rejected_per_record(tmp_path, command):
    kpi = tmp_path / "k.jsonl"
    data = jsonl([{"text": "x", "tp": {"a": 1}}, {"text": "y", "tp": "a"}, {"text": "z", "tp": [1]}])
    args = [command, "--by", "tp"] + (["--kpi-out", str(kpi), "-o", str(tmp_path / "o.jsonl")] if command == "run"
                                      else ["-o", str(kpi)])  # fmt: skip
    proc = run(args, data)
    assert proc.returncode == 1, proc.stderr.decode()
    assert b"Traceback" not in proc.stderr
    assert [(e["line"], e["field"]) for e in events(proc.stderr, "rejected")] == [(1, "tp"), (3, "tp")]
    found = summary(proc.stderr)
    assert (found["read"], found["written"], found["rejected"]) == (3, 1, 2)
    assert [orjson.loads(line)["tp"] for line in kpi.read_bytes().splitlines()] == ["a"]
    no_partial(tmp_path)


def test_nested_key_column_is_one_input_error(tmp_path):
    table = pa.table({"text": ["x", "y"], "tp": [{"a": 1}, {"a": 2}]})
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    proc = run(["run", "--by", "tp", "--kpi-out", str(tmp_path / "k.jsonl"), "-o", str(tmp_path / "o.arrow")],
               sink.getvalue())  # fmt: skip
    assert proc.returncode == 4, proc.stderr.decode()
    assert b"Traceback" not in proc.stderr and b"'tp'" in proc.stderr
    summary(proc.stderr)
    assert os.listdir(tmp_path) == []


# -- in process: random mixes of good and bad records reconcile with the KPI table -------------------
_VALUE = st.one_of(st.none(), st.integers(-3, 14), st.floats(allow_nan=True, allow_infinity=True),
                   st.text(max_size=3), st.booleans(), st.just({"a": 1}), st.just([1]))  # fmt: skip


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.fixed_dictionaries({"nps": _VALUE, "tp": _VALUE, "rating": _VALUE}), min_size=1, max_size=12),
       batch=st.integers(1, 5), fail=st.booleans(), command=st.sampled_from(["kpi", "run"]))  # fmt: skip
def test_random_records_reconcile_with_the_kpi_table(tmp_path, rows, batch, fail, command):
    for path in tmp_path.iterdir():
        path.unlink()
    data = jsonl([{"text": "ok", **row} for row in rows])
    kpi = tmp_path / "k.jsonl"
    args = [command, "--by", "tp", "--batch-size", str(batch), "--errors", str(tmp_path / "e.jsonl"), "-q"]
    args += ["--on-error", "fail"] if fail else []
    args += ["--kpi-out", str(kpi), "-o", str(tmp_path / "o.jsonl")] if command == "run" else ["-o", str(kpi)]
    err = io.BytesIO()
    status = cli.main(args, stdin=io.BytesIO(data), stdout=io.BytesIO(), stderr=err)
    assert status in ((3, 0) if fail else (0, 1)), err.getvalue()
    errors = [orjson.loads(line) for line in (tmp_path / "e.jsonl").read_bytes().splitlines()]
    rejected = [e["line"] for e in errors if e["event"] == "rejected"]
    if fail:
        assert len(rejected) <= 1
    written = len(rows) - len(rejected) if not fail or not rejected else rejected[0] - 1
    assert total_n(kpi) == written
    if command == "run":
        assert len((tmp_path / "o.jsonl").read_bytes().splitlines()) == written


# -- KPI domains: a non-integral survey value is rejected, never truncated to a whole number ---------
@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "csv"])
def test_non_integral_survey_values_are_rejected_not_truncated(tmp_path, fmt):
    table = pa.table({"text": ["w", "x", "y", "z"], "nps": [6.9, 9.5, 10.0, 3.0], "rating": [4.5, 1.0, 2.0, 5.0]})
    if fmt == "jsonl":
        args, data = [], jsonl(table.to_pylist())
    elif fmt == "parquet":
        pq.write_table(table, tmp_path / "in.parquet")
        args, data = ["-i", str(tmp_path / "in.parquet")], b""
    else:
        sink = io.BytesIO()
        pcsv.write_csv(table, sink)
        args, data = ["--input-format", "csv"], sink.getvalue()
    proc = run(["kpi", *args, "-o", str(tmp_path / "k.jsonl")], data)
    assert proc.returncode == 1, proc.stderr.decode()
    rejected = events(proc.stderr, "rejected")
    assert [(e["line" if fmt != "parquet" else "row"], e["field"]) for e in rejected] == \
        [(1 + (fmt == "csv"), "nps"), (2 + (fmt == "csv"), "nps")]  # fmt: skip
    assert "whole number" in rejected[0]["reason"]
    (row,) = [orjson.loads(line) for line in (tmp_path / "k.jsonl").read_bytes().splitlines()]
    assert (row["n"], row["nps"]) == (2, 0.0)  # 10 and 3: one promoter, one detractor
