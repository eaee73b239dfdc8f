"""Damaged input through the real ``emoscore score`` process: what decompresses or decodes before
the damage is written, the damage is an input error (status 4) that says where, and a stop keeps
every record read with a resume point on a record boundary (issue 19)."""

from __future__ import annotations

import gzip
import io
import os
import signal
import subprocess
import sys
import time
import zlib

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emoscore import sample

RUNNER = [sys.executable, "-m", "emoscore"]
ENV = {**os.environ, "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", "/tmp/nbc_runner")}
TIMEOUT = 300


def run(args: list[str], data: bytes = b"") -> tuple[int, bytes, bytes]:
    proc = subprocess.run(RUNNER + args, input=data, capture_output=True, timeout=TIMEOUT, env=ENV)
    return proc.returncode, proc.stdout, proc.stderr


def events(stderr: bytes, kind: str) -> list[dict]:
    lines = [orjson.loads(line) for line in stderr.splitlines() if line.startswith(b"{")]
    return [line for line in lines if line["event"] == kind]


def summary(stderr: bytes) -> dict:
    (found,) = events(stderr, "summary")
    assert found["reconciled"] is True, found
    assert found["read"] == found["written"] + found["rejected"] + found["not_written"]
    return found


@pytest.fixture(scope="module")
def jsonl() -> bytes:
    out = io.BytesIO()
    sample.write_jsonl(sample.generate(2000, seed=3).to_batches(), out)
    return out.getvalue()


def compress(data: bytes, codec: str) -> bytes:
    out = pa.BufferOutputStream()
    with pa.CompressedOutputStream(out, codec) as stream:
        stream.write(data)
    return out.getvalue().to_pybytes()


def gunzip_prefix(data: bytes) -> bytes:
    """What ``zcat`` recovers: everything that decompresses before the damage."""
    d = zlib.decompressobj(31)
    out = []
    for i in range(len(data)):
        try:
            out.append(d.decompress(data[i : i + 1]))
        except zlib.error:
            break
    return b"".join(out)


def unzstd_prefix(data: bytes) -> bytes:
    stream = pa.CompressedInputStream(pa.BufferReader(data), "zstd")
    out = bytearray()
    try:
        while piece := stream.read(1):
            out += piece
    except OSError:
        pass
    return bytes(out)


def complete_lines(data: bytes) -> int:
    return data.count(b"\n")


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_compressed_jsonl_cut_short_writes_what_decompressed(jsonl, codec):
    packed = compress(jsonl, codec)
    cut = packed[: len(packed) // 2]
    recovered = (gunzip_prefix if codec == "gzip" else unzstd_prefix)(cut)
    expected = complete_lines(recovered)
    assert expected > 100
    rc, out, err = run(["score"], cut)
    assert rc == 4, err[-2000:]
    assert out.count(b"\n") == expected
    assert len(events(err, "input_error")) == 1
    found = summary(err)
    assert found["written"] == expected and found["last_line"] == expected


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_compressed_jsonl_with_garbage_appended_writes_every_record(jsonl, codec):
    rc, out, err = run(["score"], compress(jsonl, codec) + b"garbage!")
    assert rc == 4, err[-2000:]
    assert out.count(b"\n") == 2000
    (error,) = events(err, "input_error")
    assert "garbage" in error["reason"] or "after" in error["reason"]
    assert summary(err)["written"] == 2000


def test_concatenated_gzip_members_are_one_input(jsonl):
    half = jsonl.index(b"\n", len(jsonl) // 2) + 1
    rc, out, err = run(["score"], compress(jsonl[:half], "gzip") + compress(jsonl[half:], "gzip"))
    assert rc == 0, err[-2000:]
    assert out.count(b"\n") == 2000


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_csv_cut_short_writes_the_records_before_the_damage(codec):
    rows = b"".join(b'%d,"text %d, all good"\n' % (i, i) for i in range(30000))
    data = b"id,text\n" + rows
    packed = compress(data, codec)
    cut = packed[: len(packed) // 2]
    recovered = (gunzip_prefix if codec == "gzip" else unzstd_prefix)(cut)
    expected = complete_lines(recovered) - 1  # the header
    rc, out, err = run(["score", "--input-format", "csv"], cut)
    assert rc == 4, err[-2000:]
    assert out.count(b"\n") == expected
    found = summary(err)
    assert found["written"] == expected and found["last_line"] == expected + 1


def arrow_stream(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=2)
    return sink.getvalue()


def arrow_file(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=2)
    return sink.getvalue()


def five(start: int = 0) -> pa.Table:
    return pa.table({"id": list(range(start, start + 5)), "text": [f"row {i} great" for i in range(start, start + 5)]})


def test_concatenated_arrow_streams_are_all_read():
    rc, out, err = run(["score"], arrow_stream(five()) + arrow_stream(five(5)))
    assert rc == 0, err[-2000:]
    assert [orjson.loads(line)["id"] for line in out.splitlines()] == list(range(10))
    assert summary(err)["read"] == 10


def test_concatenated_arrow_streams_of_other_schemas_are_an_input_error():
    other = pa.table({"text": ["x"], "extra": [1.5]})
    rc, out, err = run(["score"], arrow_stream(five()) + arrow_stream(other))
    assert rc == 4, err[-2000:]
    assert out.count(b"\n") == 5
    (error,) = events(err, "input_error")
    assert "schema" in error["reason"]


@pytest.mark.parametrize("kind", ["stream", "file"])
def test_garbage_after_an_arrow_input_is_an_input_error(tmp_path, kind):
    data = (arrow_stream if kind == "stream" else arrow_file)(five()) + b"garbage bytes here"
    path = tmp_path / ("in.arrows" if kind == "stream" else "in.arrow")
    path.write_bytes(data)
    for args, stdin in ((["score", "-i", str(path)], b""), (["score", "--input-format", "arrow"], data)):
        rc, out, err = run(args, stdin)
        assert rc == 4, err[-2000:]
        assert out.count(b"\n") == 5
        (error,) = events(err, "input_error")
        assert "byte" in error["reason"]
        assert summary(err)["written"] == 5


def test_an_arrow_file_read_whole_is_not_an_error(tmp_path):
    path = tmp_path / "in.arrow"
    path.write_bytes(arrow_file(five()))
    rc, out, err = run(["score", "-i", str(path)])
    assert rc == 0, err[-2000:]
    assert out.count(b"\n") == 5


def test_parquet_every_intact_row_group_is_written(tmp_path):
    n = 1000
    table = pa.table({"id": list(range(3 * n)), "text": [f"review {i}: {'good ' * (i % 7)}" for i in range(3 * n)]})
    path = tmp_path / "in.parquet"
    pq.write_table(table, path, row_group_size=n, compression="none")
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == 3
    data = bytearray(path.read_bytes())
    column = meta.row_group(2).column(1)
    start = column.dictionary_page_offset if column.has_dictionary_page else column.data_page_offset
    data[start : start + column.total_compressed_size] = b"\xff" * column.total_compressed_size
    path.write_bytes(bytes(data))
    rc, out, err = run(["score", "-i", str(path), "--batch-size", "768"])
    assert rc == 4, err[-2000:]
    ids = [orjson.loads(line)["id"] for line in out.splitlines()]
    assert ids == list(range(2 * n))
    found = summary(err)
    assert found["written"] == 2 * n and found["last_row"] == 2 * n
    assert len(events(err, "input_error")) == 1


def read_until(fd: int, done, deadline: float) -> bytes:
    import select

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


def test_sigint_inside_a_quoted_multiline_csv_field_keeps_the_record_unread():
    proc = subprocess.Popen(RUNNER + ["score", "--input-format", "csv", "--batch-size", "2"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)  # fmt: skip
    deadline = time.monotonic() + TIMEOUT
    proc.stdin.write(b'id,text\n1,"one\nspans two lines"\n2,two\n')  # lines 2-4
    proc.stdin.flush()
    out = read_until(proc.stdout.fileno(), lambda d: d.count(b"\n") >= 2, deadline)
    proc.stdin.write(b"3,three\n4,too,many\n" + b'5,"half read\nstill inside the field\n')  # lines 5-8
    proc.stdin.flush()
    err = read_until(proc.stderr.fileno(), lambda d: b'"rejected"' in d, deadline)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    rest, more_err = proc.communicate(timeout=TIMEOUT)
    err += more_err
    assert proc.returncode == 130, err
    assert [orjson.loads(line)["id"] for line in (out + rest).splitlines()] == ["1", "2", "3"]
    assert [e["line"] for e in events(err, "rejected")] == [6]
    found = summary(err)
    assert (found["read"], found["written"], found["rejected"]) == (4, 3, 1)
    assert found["last_line"] == 6  # a resume starts at line 7, where the unfinished record begins


def test_sigint_during_the_imports_stops_cleanly():
    proc = subprocess.Popen(RUNNER + ["score"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV)  # fmt: skip
    maps = f"/proc/{proc.pid}/maps"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # numpy's extension loaded: emoscore's imports are under way
        try:
            with open(maps) as f:
                if "_multiarray_umath" in f.read():
                    break
        except OSError:
            pass
        time.sleep(0.001)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(b"", timeout=TIMEOUT)
    assert proc.returncode == 130, err[-3000:]
    assert b"Traceback" not in err and b"KeyboardInterrupt" not in err
    found = summary(err)
    assert found["read"] == 0 and found["exit_status"] == 130


def test_zstd_file_cut_short_recovers_through_the_file(tmp_path, jsonl):
    packed = compress(jsonl * 3, "zstd")
    cut = packed[: len(packed) * 2 // 3]
    expected = complete_lines(unzstd_prefix(cut))
    assert expected > 100
    path = tmp_path / "in.jsonl.zst"
    path.write_bytes(cut)
    for args in (["score", "-i", str(path)], ["kpi", "-i", str(path)]):
        rc, out, err = run(args)
        assert rc == 4, err[-2000:]
        found = summary(err)
        assert found["read"] == expected and found["last_line"] == expected
        if args[0] == "score":
            assert out.count(b"\n") == expected


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_gzip_damage_anywhere_loses_nothing_that_decompressed(jsonl, data):
    """In-process: a gzip JSONL input cut, with garbage appended or with a byte changed anywhere: every
    complete line that decompressed before the damage is written, the rest is an input error."""
    from emoscore.cli import main

    small = jsonl[: jsonl.index(b"\n", 60_000) + 1]
    packed = bytearray(compress(small, "gzip"))
    kind = data.draw(st.sampled_from(["cut", "garbage", "flip"]))
    if kind == "cut":
        packed = packed[: data.draw(st.integers(10, len(packed) - 1))]
    elif kind == "garbage":
        packed += data.draw(st.binary(min_size=1, max_size=20).filter(lambda b: not b.startswith(b"\x1f\x8b")))
    else:
        at = data.draw(st.integers(10, len(packed) - 9))
        packed[at] ^= data.draw(st.integers(1, 255))
    recovered = gunzip_prefix(bytes(packed))
    out, err = io.BytesIO(), io.BytesIO()
    status = main(["score", "--batch-size", "64"], stdin=io.BytesIO(bytes(packed)), stdout=out, stderr=err)
    found = summary(err.getvalue())
    assert found["read"] == found["written"] + found["rejected"]
    if recovered == small and kind == "flip":
        try:  # a flip in the padding bits after the last deflate block changes nothing: no damage
            intact = gzip.decompress(bytes(packed)) == small
        except (OSError, EOFError, zlib.error):
            intact = False
        assert status == (0 if intact else 4)  # else a flip in the trailer's CRC/size: the check fails late
        return
    assert status == 4, err.getvalue()[-2000:]
    assert events(err.getvalue(), "input_error")
    lines = complete_lines(recovered)
    if kind != "flip":  # a flipped byte may decode to other text: only the count of lines holds
        assert out.getvalue().count(b"\n") == lines == found["written"]
    else:
        assert found["read"] == lines
