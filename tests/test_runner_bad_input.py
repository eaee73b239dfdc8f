"""Bad input through the real ``emoscore score`` process: every case in few processes (each costs
a second or two to start), checking the rows written, the error lines and the exit status."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys

import numpy as np
import orjson
import pyarrow as pa
import pytest

import emoscore

RUNNER = [sys.executable, "-m", "emoscore", "score"]
ENV = {**os.environ, "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", "/tmp/nbc_runner")}

BOM = b"\xef\xbb\xbf"
LONG_TEXT = b"y" * 20_000

# (line, raw bytes, expected outcome): "ok" / "blank" / (field, words expected in the reason)
JSONL_CASES = [
    (1, BOM + b'{"id": 1, "text": "BOM before the first record"}', "ok"),
    (2, b'{"id": 2, "text": "I love it, CRLF line end"}\r', "ok"),
    (3, b"", "blank"),
    (4, b"   \t", "blank"),
    (5, b"{not json", (None, "invalid JSON")),
    (6, b"[1, 2]", (None, "object", "array")),
    (7, b'"a string"', (None, "object", "string")),
    (8, b'{"id": 8}', ("text", "missing")),
    (9, b'{"id": 9, "text": 42}', ("text", "number")),
    (10, b'{"id": 10, "text": ["a"]}', ("text", "array")),
    (11, b'{"id": 11, "text": "caf\xe9 in latin-1"}', (None, "UTF-8", "0xe9")),
    (12, b'{"id": 12, "text": "raw nul\x00byte"}', (None, "NUL")),
    (13, b'{"id": 13, "text": "escaped \\u0000 nul is a character"}', "ok"),
    (14, BOM + b'{"id": 14, "text": "BOM in the middle of the stream"}', "ok"),
    (15, b'{"id": 15, "text": "' + LONG_TEXT + b'"}', (None, "max-record-bytes")),
    (16, b"\r", "blank"),
    (17, b'{"id": 17, "text": null}', "ok"),
    (18, b'{"id": 18, "text": "\\ud800 unpaired surrogate"}', (None, "invalid JSON", "surrogate")),
    (19, b'{"id": 19, "text": "terrible service, last line without a line end"}', "ok"),
]


def jsonl_input() -> bytes:
    return b"\n".join(raw for _, raw, _ in JSONL_CASES)  # no final newline


def run(args: list[str], data: bytes, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(RUNNER + args, input=data, capture_output=True, timeout=300, env=ENV, **kwargs)


def events(stderr: bytes, kind: str | None = None) -> list[dict]:
    lines = [orjson.loads(line) for line in stderr.splitlines() if line.startswith(b"{")]
    return [line for line in lines if kind is None or line["event"] == kind]


def summary(stderr: bytes) -> dict:
    (found,) = events(stderr, "summary")
    assert found["reconciled"] is True
    assert found["read"] == found["written"] + found["rejected"] + found["not_written"]
    return found


def score_of(text: str | None) -> dict:
    return emoscore.score(pa.array([text], pa.string())).to_pylist()[0]


def check_scores(row: dict, text: str | None) -> None:
    for name, value in score_of(text).items():
        assert row[name] == (round(value, 4) if isinstance(value, float) else value), name


def test_jsonl_bad_lines_each_reported_once_and_the_rest_written():
    out = run(["--max-record-bytes", "10000", "--batch-size", "3"], jsonl_input())
    assert out.returncode == 1, out.stderr
    assert b"Traceback" not in out.stderr
    assert b"\x1b[K" not in out.stderr  # no progress display: stderr is not a terminal
    rows = [orjson.loads(line) for line in out.stdout.splitlines()]
    ok = [(line, raw) for line, raw, outcome in JSONL_CASES if outcome == "ok"]
    assert [row["id"] for row in rows] == [line for line, _ in ok]
    for (_, raw), row, text_line in zip(ok, rows, out.stdout.splitlines(), strict=True):
        original = orjson.loads(raw.removeprefix(BOM))
        assert {k: row[k] for k in original} == original  # nothing altered
        check_scores(row, original["text"])
        # byte for byte: the input object up to its closing brace, then the scores
        assert text_line.startswith(raw.removeprefix(BOM).rstrip()[:-1] + b',"valence":')
    rejected = events(out.stderr, "rejected")
    expected = [(line, outcome) for line, _, outcome in JSONL_CASES if isinstance(outcome, tuple)]
    assert [r["line"] for r in rejected] == [line for line, _ in expected]
    raws = {line: raw for line, raw, _ in JSONL_CASES}
    for entry, (line, (field, *words)) in zip(rejected, expected, strict=True):
        assert entry["field"] == field, entry
        for word in words:
            assert word.lower() in entry["reason"].lower(), (word, entry)
        raw = raws[line]
        assert entry["record_bytes"] == len(raw)
        if line == 15:  # too long: quoted in part, never read whole
            assert entry["truncated"] is True and entry["record"] == raw[:4096].decode()
        elif line == 11:  # not UTF-8: quoted exactly, in base64
            assert base64.b64decode(entry["record_base64"]) == raw and entry["truncated"] is False
        else:
            assert entry["record"].encode() == raw and entry["truncated"] is False
    found = summary(out.stderr)
    assert (found["read"], found["written"], found["rejected"], found["blank_lines"]) == (16, 6, 10, 3)
    assert found["last_line"] == 19 and found["status"] == "rejected" and found["exit_status"] == 1
    assert "read 16, written 6, rejected 10" in out.stderr.decode()


def test_jsonl_replace_policy_errors_file_and_ids(tmp_path):
    errors = tmp_path / "errors.jsonl"
    args = ["--max-record-bytes", "10000", "--invalid-utf8", "replace", "--errors", str(errors), "--id", "id"]
    out = run(args, jsonl_input())
    assert out.returncode == 1, out.stderr
    rows = {row["id"]: row for row in map(orjson.loads, out.stdout.splitlines())}
    assert sorted(rows) == [1, 2, 11, 13, 14, 17, 19]
    assert rows[11]["text"] == "caf\ufffd in latin-1"  # replaced, written, and flagged:
    check_scores(rows[11], "caf\ufffd in latin-1")
    logged = [orjson.loads(line) for line in errors.read_bytes().splitlines()]
    assert not events(out.stderr, "rejected")  # the error lines went to the file
    (repaired,) = [e for e in logged if e["event"] == "repaired"]
    assert repaired["line"] == 11 and repaired["id"] == 11 and "U+FFFD" in repaired["reason"]
    rejected = [e for e in logged if e["event"] == "rejected"]
    assert [e["line"] for e in rejected] == [5, 6, 7, 8, 9, 10, 12, 15, 18]
    assert {e["line"]: e.get("id") for e in rejected if "id" in e} == {8: 8, 9: 9, 10: 10}
    found = summary(out.stderr)
    assert (found["read"], found["written"], found["rejected"], found["repaired"]) == (16, 7, 9, 1)


def test_on_error_fail_stops_at_the_first_bad_record():
    out = run(["--on-error", "fail", "--batch-size", "1000"], jsonl_input())
    assert out.returncode == 3, out.stderr
    assert [orjson.loads(line)["id"] for line in out.stdout.splitlines()] == [1, 2]  # the records before it
    (entry,) = events(out.stderr, "rejected")
    assert entry["line"] == 5
    found = summary(out.stderr)
    assert (found["read"], found["written"], found["rejected"]) == (3, 2, 1)
    assert found["status"] == "stopped_on_error" and found["last_line"] == 5


CSV_LINES = [
    BOM + b"id;text;nps",  # 1: header, BOM, ';' delimiter, CRLF line ends throughout
    b"1;I love it;10",  # 2
    b'2;"multi',  # 3: a quoted field over two lines, with quotes and the delimiter inside
    b'line; with ""quotes""";9',  # 4
    b"",  # 5: blank
    b"3;too;many;fields",  # 6: rejected
    b"4;too few",  # 7: rejected
    b'5;"bad"quote;1',  # 8: rejected (strict quoting)
    b"6;caf\xe9;2",  # 9: rejected (invalid UTF-8)
    b"7;nul\x00byte;3",  # 10: a NUL is a character in CSV: kept as is
    b"8;" + LONG_TEXT + b";4",  # 11: rejected (longer than --max-record-bytes)
    b"10;last good one;7",  # 12
    b'9;"unclosed quote',  # 13: rejected at the end of input
]


def test_csv_bad_rows():
    data = b"\r\n".join(CSV_LINES) + b"\r\n"
    out = run(["--max-record-bytes", "10000", "--id", "id"], data)  # CSV detected from the header
    assert out.returncode == 1, out.stderr
    rows = [orjson.loads(line) for line in out.stdout.splitlines()]
    assert [row["id"] for row in rows] == ["1", "2", "7", "10"]  # CSV fields stay strings
    assert rows[1]["text"] == 'multi\r\nline; with "quotes"' and rows[1]["nps"] == "9"
    assert rows[2]["text"] == "nul\x00byte"
    for row in rows:
        check_scores(row, row["text"])
    assert list(rows[0])[:3] == ["id", "text", "nps"]  # the BOM is not part of the first name
    rejected = events(out.stderr, "rejected")
    assert [r["line"] for r in rejected] == [6, 7, 8, 9, 11, 13]
    reasons = {r["line"]: r for r in rejected}
    assert "expected 3 fields" in reasons[6]["reason"] and "found 4" in reasons[6]["reason"]
    assert "found 2" in reasons[7]["reason"] and reasons[7]["id"] == "4"
    assert "quoting" in reasons[8]["reason"] and reasons[8]["record"] == '5;"bad"quote;1'
    assert "UTF-8" in reasons[9]["reason"] and base64.b64decode(reasons[9]["record_base64"]) == CSV_LINES[8]
    assert "max-record-bytes" in reasons[11]["reason"] and reasons[11]["truncated"] is True
    assert "quoting" in reasons[13]["reason"] or "end of data" in reasons[13]["reason"]
    found = summary(out.stderr)
    assert (found["read"], found["written"], found["rejected"], found["blank_lines"]) == (10, 4, 6, 1)


def ipc_stream(table: pa.Table, max_chunksize: int) -> tuple[bytes, list[int]]:
    """The IPC stream and the byte offset where each record batch message starts."""
    sink = io.BytesIO()
    starts = []
    with pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=max_chunksize):
            starts.append(sink.tell())
            writer.write_batch(batch)
    return sink.getvalue(), starts


def test_arrow_stream_cut_in_the_middle_and_invalid_utf8():
    texts = [f"message {i}, all good" for i in range(30)]
    offsets = np.cumsum([0] + [len(t.encode()) for t in texts]).astype(np.int32)
    data = bytearray("".join(texts).encode())
    data[offsets[3]] = 0xFF  # row 4 holds invalid UTF-8
    text = pa.Array.from_buffers(pa.string(), 30, [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(bytes(data))])
    table = pa.table({"id": pa.array(range(1, 31), pa.int64()), "text": text})
    stream, starts = ipc_stream(table, 10)
    cut = stream[: starts[2] + (len(stream) - starts[2]) // 2]  # in the middle of the third batch
    out = run(["--batch-size", "4"], cut)
    assert out.returncode == 4, out.stderr  # the input cannot be read to its end
    assert b"Traceback" not in out.stderr
    rows = [orjson.loads(line) for line in out.stdout.splitlines()]
    assert [row["id"] for row in rows] == [i for i in range(1, 21) if i != 4]  # complete batches, in order
    for row in rows:
        check_scores(row, texts[row["id"] - 1])
    (bad,) = events(out.stderr, "rejected")
    assert bad["row"] == 4 and "UTF-8" in bad["reason"] and "'text'" in bad["reason"]
    (failure,) = events(out.stderr, "input_error")
    assert failure["row"] == 21 and "cut short" in failure["reason"]
    found = summary(out.stderr)
    assert (found["read"], found["written"], found["rejected"]) == (20, 19, 1)
    assert found["status"] == "input_error" and found["last_row"] == 20


# A process's peak RSS (ru_maxrss) counts the peak of the process that started it, since the exec
# happens in the starter's address space; pytest's is larger than the runner's. So the runner is
# started by a small launcher, which writes its child's own peak in bytes to the file argv[1].
LAUNCHER = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as peak:
    peak.write(str(usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def wait_measured(args: list[str], stdin_path, tmp_path) -> tuple[int, bytes, bytes, int]:
    """Run with stdin from a file; returns (status, stdout, stderr, the runner's peak RSS in bytes)."""
    out, err, peak = tmp_path / "out", tmp_path / "err", tmp_path / "peak"
    with open(stdin_path, "rb") as fin, open(out, "wb") as fout, open(err, "wb") as ferr:
        status = subprocess.run([sys.executable, "-c", LAUNCHER, str(peak), *RUNNER, *args], stdin=fin, stdout=fout,
                                stderr=ferr, env=ENV).returncode  # fmt: skip
    return status, out.read_bytes(), err.read_bytes(), int(peak.read_text())


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "wait4"), reason="needs os.wait4 for the child's peak memory")
def test_a_100_megabyte_line_is_rejected_without_being_read_into_memory(tmp_path):
    small = tmp_path / "small.jsonl"
    small.write_bytes(b'{"text": "before"}\n{"text": "after"}\n')
    status, _, _, baseline = wait_measured([], small, tmp_path)
    assert status == 0
    big = tmp_path / "big.jsonl"
    with big.open("wb") as file:
        file.write(b'{"text": "before"}\n{"text": "')
        block = b"x" * (1 << 20)
        for _ in range(100):
            file.write(block)
        file.write(b'"}\n{"text": "after"}\n')
    status, stdout, stderr, peak = wait_measured([], big, tmp_path)  # default limit: 16M
    assert status == 1, stderr
    assert [orjson.loads(line)["text"] for line in stdout.splitlines()] == ["before", "after"]
    (entry,) = events(stderr, "rejected")
    assert entry["line"] == 2 and "max-record-bytes" in entry["reason"]
    assert entry["record_bytes"] == 100 * (1 << 20) + len(b'{"text": ""}') and entry["truncated"]
    assert len(entry["record"]) == 4096
    assert 100 << 20 < baseline < 1 << 30, baseline  # the runner's own peak: Python, Numba, pyarrow, the lexicon
    assert peak - baseline < 48 << 20, (peak, baseline)  # far below the 100 MB of the line


@pytest.mark.parametrize("command", ["score", "run"])
@pytest.mark.parametrize("batch_size", [1, 2, 3, 100])
def test_on_error_fail_writes_every_record_before_the_first_rejected_one(tmp_path, command, batch_size):
    # The reader halted at the bad line 8 and then handed on only one more batch of the 7 records
    # before it: read 3, written 2 with --batch-size 2, the other five silently gone.
    good = [orjson.dumps({"id": i, "text": f"good {i}"}) for i in range(7)]
    data = b"\n".join([*good, b"[]", b'{"text": "after"}']) + b"\n"
    extra = ["--kpi-out", str(tmp_path / "k.jsonl")] if command == "run" else []
    from emoscore.cli import main

    stdout, stderr = io.BytesIO(), io.BytesIO()
    status = main([command, "--on-error", "fail", "--batch-size", str(batch_size), *extra],
                  stdin=io.BytesIO(data), stdout=stdout, stderr=stderr)  # fmt: skip
    [summary] = [orjson.loads(line) for line in stderr.getvalue().splitlines() if b'"event":"summary"' in line]
    assert status == 3
    assert [orjson.loads(line)["id"] for line in stdout.getvalue().splitlines()] == list(range(7))
    assert (summary["read"], summary["written"], summary["rejected"], summary["last_line"]) == (8, 7, 1, 8)
