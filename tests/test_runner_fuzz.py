"""The runner as a whole under hostile input: random records in every input format, random damage,
random stops. Whatever happens, the summary reconciles, the output holds exactly the records it
counts as written, and no output file is ever left half-written (nor a temporary file beside it).

Bounded for CI: in-process cases for formats and damage, a few subprocess cases for signals.
"""

from __future__ import annotations

import gzip
import io
import os
import signal
import subprocess
import sys
import time

import orjson
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emoscore.cli import main

pytestmark = pytest.mark.slow
FORMATS = ("jsonl", "csv", "arrow", "parquet")
STATUSES = {0, 1, 3, 4}  # ok, rejected, stopped at a rejection, input error (damage)
_TEXT = st.one_of(st.none(), st.text(max_size=40), st.sampled_from(["I love it!", "Terrible, never again.", ""]))
_RECORD = st.fixed_dictionaries({"text": _TEXT}, optional={"id": st.integers(0, 10**6), "n": st.integers(0, 10)})


def encode(records: list[dict], fmt: str, path: str) -> None:
    if fmt == "jsonl":
        with open(path, "wb") as f:
            f.writelines(orjson.dumps(r) + b"\n" for r in records)
        return
    table = pa.Table.from_pylist(records, schema=pa.schema([("text", pa.string()), ("id", pa.int64()),
                                                            ("n", pa.int64())]))  # fmt: skip
    if fmt == "csv":
        pcsv.write_csv(table, path)
    elif fmt == "arrow":
        with pa.OSFile(path, "wb") as f, pa.ipc.new_stream(f, table.schema) as writer:
            for batch in table.to_batches(max_chunksize=7):
                writer.write_batch(batch)
    else:
        import pyarrow.parquet as pq

        pq.write_table(table, path, row_group_size=11)


def damage(path: str, kind: str, where: float, compress: bool) -> None:
    data = open(path, "rb").read()
    if compress:
        data = gzip.compress(data)
    at = int(len(data) * where)
    if kind == "cut":
        data = data[:at]
    elif kind == "flip" and data:
        at = min(at, len(data) - 1)
        data = data[:at] + bytes([data[at] ^ 0x5A]) + data[at + 1 :]
    elif kind == "garbage":
        data += b"\x00garbage\xff" * 3
    with open(path, "wb") as f:
        f.write(data)


def output_rows(path: str, fmt: str) -> int:
    if fmt == "jsonl":
        lines = open(path, "rb").read().splitlines()
        for line in lines:
            assert "valence" in orjson.loads(line)
        return len(lines)
    if fmt == "csv":
        options = pcsv.ParseOptions(newlines_in_values=True)
        return pcsv.read_csv(path, parse_options=options).num_rows if os.path.getsize(path) else 0
    if fmt == "arrow":
        with pa.OSFile(path, "rb") as f:
            return pa.ipc.open_stream(f).read_all().num_rows
    import pyarrow.parquet as pq

    return pq.read_table(path).num_rows


def summary_of(stderr: bytes) -> dict:
    [summary] = [orjson.loads(line) for line in stderr.splitlines() if line.startswith(b'{"event":"summary"')]
    assert summary["reconciled"], summary
    assert summary["read"] == summary["written"] + summary["rejected"] + summary["not_written"]
    return summary


def check_outputs(directory, out: str, out_fmt: str, status: int, summary: dict) -> None:
    leftovers = sorted(name for name in os.listdir(directory) if name not in ("in", os.path.basename(out)))
    assert leftovers == [], leftovers  # no temporary or partial file beside the output
    if os.path.exists(out):
        assert output_rows(out, out_fmt) == summary["written"]
    else:
        assert summary["written"] == 0 or status not in (0, 1)


@settings(max_examples=int(os.environ.get("EMOSCORE_FUZZ_EXAMPLES", "200")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(records=st.lists(_RECORD, max_size=40), in_fmt=st.sampled_from(FORMATS), out_fmt=st.sampled_from(FORMATS),
       kind=st.sampled_from(["none", "cut", "flip", "garbage"]), where=st.floats(0, 1), compress=st.booleans(),
       batch=st.integers(1, 9), on_error=st.sampled_from(["report", "fail"]))  # fmt: skip
def test_any_input_any_damage_loses_nothing(tmp_path_factory, records, in_fmt, out_fmt, kind, where, compress,
                                            batch, on_error):  # fmt: skip
    directory = tmp_path_factory.mktemp("fuzz")
    source, out = str(directory / "in"), str(directory / f"out.{out_fmt}")
    encode(records, in_fmt, source)
    damage(source, kind, where, compress and in_fmt != "parquet")
    args = ["score", "-i", source, "-o", out, "--input-format", in_fmt, "--batch-size", str(batch),
            "--on-error", on_error]  # fmt: skip
    stderr = io.BytesIO()
    status = main(args, stdin=io.BytesIO(), stdout=io.BytesIO(), stderr=stderr)
    assert status in STATUSES, stderr.getvalue()[-2000:]
    summary = summary_of(stderr.getvalue())
    if kind == "none":  # every record is read, unless --on-error fail stopped at the first rejected one
        assert status != 4
        if status == 3:
            assert on_error == "fail" and summary["rejected"] == 1 and summary["read"] <= len(records)
        else:
            assert summary["read"] == len(records)
    check_outputs(directory, out, out_fmt, status, summary)


@pytest.mark.parametrize("delay", [0.0, 0.3, 0.8, 1.5, 2.5])
@pytest.mark.parametrize("out_fmt", ["jsonl", "arrow", "parquet"])
def test_a_stop_at_any_moment_keeps_a_whole_output(tmp_path, delay, out_fmt):
    source, out = str(tmp_path / "in"), str(tmp_path / f"out.{out_fmt}")
    with open(source, "wb") as f:
        f.writelines(orjson.dumps({"id": i, "text": f"the refund took {i} days, unacceptable"}) + b"\n"
                     for i in range(200_000))  # fmt: skip
    env = {**os.environ, "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", "/tmp/nbc_runner")}
    child = subprocess.Popen([sys.executable, "-m", "emoscore", "score", "-i", source, "-o", out, "--batch-size",
                              "5000"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)  # fmt: skip
    time.sleep(delay)
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=300)
    if child.returncode == -signal.SIGINT:  # before the interpreter was up: nothing ran at all
        assert os.listdir(tmp_path) == ["in"] and stderr == b""
        return
    assert child.returncode in (0, 130), stderr[-2000:]
    summary = summary_of(stderr)
    check_outputs(tmp_path, out, out_fmt, child.returncode, summary)
    if os.path.exists(out):  # the records written are the first ones, in order
        assert summary["last_line"] == summary["read"]
