"""Signals, closed and full outputs, and the progress display, through the real process."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

import orjson
import pyarrow.parquet as pq
import pytest

RUNNER = [sys.executable, "-m", "emoscore", "score"]
ENV = {**os.environ, "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", "/tmp/nbc_runner")}
TIMEOUT = 120


def record(i: int) -> bytes:
    return orjson.dumps({"id": i, "text": f"message {i}: thanks, all good"}) + b"\n"


def events(stderr: bytes, kind: str) -> list[dict]:
    lines = [orjson.loads(line) for line in stderr.splitlines() if line.startswith(b"{")]
    return [line for line in lines if line["event"] == kind]


def summary(stderr: bytes) -> dict:
    (found,) = events(stderr, "summary")
    assert found["reconciled"] is True
    assert found["read"] == found["written"] + found["rejected"] + found["not_written"]
    return found


def read_until(fd: int, done, deadline: float) -> bytes:
    """Read from ``fd`` until ``done(data)`` holds (or fail at the deadline)."""
    data = b""
    while not done(data):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; got {data[-2000:]!r}")
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise AssertionError(f"stream closed early; got {data[-2000:]!r}")
            data += chunk
    return data


def test_sigint_writes_every_record_read_and_drops_the_unfinished_line():
    proc = subprocess.Popen(RUNNER + ["--batch-size", "4"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV)  # fmt: skip
    deadline = time.monotonic() + TIMEOUT
    proc.stdin.write(b"".join(record(i) for i in range(4)))
    proc.stdin.flush()
    out = read_until(proc.stdout.fileno(), lambda d: d.count(b"\n") >= 4, deadline)  # a full batch: running
    proc.stdin.write(record(4) + b"not json\n" + record(6) + b'{"id": 7, "text": "unfinis')
    proc.stdin.flush()
    # The rejection of line 6 proves the reader consumed lines 5-7: they sit in an unfinished batch.
    err = read_until(proc.stderr.fileno(), lambda d: b'"rejected"' in d, deadline)
    proc.send_signal(signal.SIGINT)
    rest, more_err = proc.communicate(timeout=TIMEOUT)  # stdin stays open: the stop is the signal
    err += more_err
    assert proc.returncode == 130, err
    assert b"Traceback" not in err and b"KeyboardInterrupt" not in err
    rows = [orjson.loads(line) for line in (out + rest).splitlines()]
    assert [row["id"] for row in rows] == [0, 1, 2, 3, 4, 6]
    found = summary(err)
    assert (found["read"], found["written"], found["rejected"]) == (7, 6, 1)
    assert found["status"] == "stopped_by_SIGINT" and found["exit_status"] == 130 and found["last_line"] == 7
    assert b"stopped by SIGINT after input line 7" in err


def test_sigterm_closes_a_parquet_output_properly(tmp_path):
    target = tmp_path / "scored.parquet"
    proc = subprocess.Popen(RUNNER + ["--batch-size", "100000", "--output", str(target)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)  # fmt: skip
    deadline = time.monotonic() + TIMEOUT
    proc.stdin.write(b"".join(record(i) for i in range(1000)) + b"[]\n")
    proc.stdin.flush()
    err = read_until(proc.stderr.fileno(), lambda d: b'"rejected"' in d, deadline)
    assert not target.exists()  # written beside it under a temporary name until the end
    proc.send_signal(signal.SIGTERM)
    _, more_err = proc.communicate(timeout=TIMEOUT)
    err += more_err
    assert proc.returncode == 143, err
    table = pq.read_table(target)  # a complete, valid file: footer written, renamed into place
    assert table.column("id").to_pylist() == list(range(1000))
    assert "valence" in table.schema.names
    assert [p.name for p in tmp_path.iterdir()] == ["scored.parquet"]  # no partial file left over
    found = summary(err)
    assert (found["read"], found["written"], found["rejected"]) == (1001, 1000, 1)


def test_sigterm_while_busy_finishes_the_batches_read(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(record(i) for i in range(300_000)))
    with source.open("rb") as stdin:
        proc = subprocess.Popen(RUNNER + ["--batch-size", "5000"], stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=ENV)  # fmt: skip
        out = read_until(proc.stdout.fileno(), lambda d: b"\n" in d, time.monotonic() + TIMEOUT)
        proc.send_signal(signal.SIGTERM)
        rest, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode in (143, 0), err  # 0 only if it had already finished
    lines = (out + rest).splitlines()
    ids = [orjson.loads(line)["id"] for line in lines]  # every line complete JSON
    assert ids == list(range(len(ids)))  # a prefix, in order, nothing skipped
    found = summary(err)
    assert found["written"] == len(ids) == found["read"] and found["last_line"] == len(ids)
    if proc.returncode == 143:
        assert len(ids) < 300_000 and found["status"] == "stopped_by_SIGTERM"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_full_disk_and_closed_stdout_are_clear_errors(tmp_path):
    data = b"".join(record(i) for i in range(50))
    with open("/dev/full", "wb") as full:
        out = subprocess.run(RUNNER, input=data, stdout=full, stderr=subprocess.PIPE, timeout=TIMEOUT, env=ENV)
    assert out.returncode == 5, out.stderr
    assert b"No space left on device" in out.stderr and b"Traceback" not in out.stderr
    found = summary(out.stderr)
    assert (found["read"], found["written"], found["not_written"], found["status"]) == (50, 0, 50, "output_error")

    closed = subprocess.run(["sh", "-c", 'exec "$@" >&-', "sh", *RUNNER], input=data, stderr=subprocess.PIPE,
                            timeout=TIMEOUT, env=ENV)  # fmt: skip
    assert closed.returncode == 5, closed.stderr
    assert b"stdout is closed" in closed.stderr and b"Traceback" not in closed.stderr


def test_progress_on_a_terminal_only(tmp_path):
    import pty

    main_fd, child_fd = pty.openpty()
    proc = subprocess.Popen(RUNNER + ["--batch-size", "1"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=child_fd, env=ENV)  # fmt: skip
    os.close(child_fd)
    shown = b""

    def read_terminal(wait: float) -> bool:
        nonlocal shown
        if not select.select([main_fd], [], [], wait)[0]:
            return True
        try:
            shown += os.read(main_fd, 1 << 16)
            return True
        except OSError:  # EIO: the child closed its end
            return False

    sent = 0
    try:
        deadline = time.monotonic() + TIMEOUT
        # Feed records slowly until a progress line shows (start-up time varies with the machine's load).
        while b"records (" not in shown:
            if time.monotonic() > deadline:
                raise AssertionError(f"no progress line after {sent} records: {shown!r}")
            proc.stdin.write(record(sent))
            proc.stdin.flush()
            sent += 1
            read_terminal(0.3)
        proc.stdin.close()
        while proc.poll() is None or select.select([main_fd], [], [], 0)[0]:
            if time.monotonic() > deadline:
                raise AssertionError("timed out")
            if not read_terminal(0.2):
                break
    finally:
        os.close(main_fd)
        proc.wait(timeout=TIMEOUT)
    assert proc.returncode == 0
    assert b"records (" in shown and b"/s)" in shown and b"\r\x1b[K" in shown  # a self-overwriting line
    assert f"read {sent}, written {sent}, rejected 0".encode() in shown
