"""Property/fuzz tests: the tokenizer and the runner on random bytes, random JSON and corrupted
Arrow streams never crash, never lose a record and always reconcile their counts.

The runner is driven in-process (``emoscore.cli.main`` with byte streams) so that hundreds of
inputs take seconds; the process-level behaviour is in the test_runner_* files. The sanitizer
(ASAN) build of the tokenizer is fuzzed by ``bench/fuzz_asan.sh``.
"""

from __future__ import annotations

import io
import json
import random

import numpy as np
import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from emoscore import sample
from emoscore._tokenize import tokenize
from emoscore.cli import main
from emoscore.lexicon import Lexicon

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def lexicon():
    return Lexicon.default().compile()


# -------------------------------------------------------------------------------------------------
# Tokenizer
# -------------------------------------------------------------------------------------------------
_PIECES = st.sampled_from(
    [b"I", b" ", b"love", b"NOT", b"don't", b"frustrat", b"ing", b"!!", b"?", b".", b",", b"4.5", b"\n",
     "caf\u00e9".encode(), "\U0001f621".encode(), "\u2019".encode(), "\u200d".encode(), "\ufe0f".encode(),
     b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\x00"]
)  # fmt: skip
_DOC = st.one_of(st.none(), st.binary(max_size=40), st.lists(_PIECES, max_size=16).map(b"".join))


def _array(docs: list[bytes | None], large: bool) -> pa.Array:
    """A string array over exactly these bytes (valid UTF-8 or not: no validation)."""
    lengths = [len(d) if d is not None else 0 for d in docs]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64 if large else np.int32)
    data = b"".join(d for d in docs if d is not None)
    validity = None
    if any(d is None for d in docs):
        validity = pa.py_buffer(np.packbits(np.array([d is not None for d in docs]), bitorder="little").tobytes())
    kind = pa.large_string() if large else pa.string()
    return pa.Array.from_buffers(kind, len(docs), [validity, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data)])


@SETTINGS
@given(docs=st.lists(_DOC, max_size=25), large=st.booleans(), cut=st.data())
def test_tokenizer_on_random_bytes_is_well_formed_and_per_document(lexicon, docs, large, cut):
    array = _array(docs, large)
    start = cut.draw(st.integers(0, len(docs)))
    stop = cut.draw(st.integers(start, len(docs)))
    piece = array.slice(start, stop - start)  # sliced arrays: offsets honoured
    offsets, ids, flags = tokenize(piece, lexicon.table_keys, lexicon.table_ids, lexicon.stem_mask)
    assert offsets.dtype == np.int64 and ids.dtype == np.int32 and flags.dtype == np.uint8
    assert len(offsets) == len(piece) + 1 and offsets[0] == 0 and offsets[-1] == len(ids) == len(flags)
    assert np.all(np.diff(offsets) >= 0)
    assert np.all((ids >= -1) & (ids < len(lexicon.valence)))
    for i, doc in enumerate(docs[start:stop]):  # each document tokenizes as it does alone
        alone = tokenize(_array([doc], large), lexicon.table_keys, lexicon.table_ids, lexicon.stem_mask)
        lo, hi = offsets[i], offsets[i + 1]
        assert np.array_equal(ids[lo:hi], alone[1]) and np.array_equal(flags[lo:hi], alone[2])
        if not doc:
            assert hi == lo  # null and empty documents have no tokens


@SETTINGS
@given(data=st.binary(max_size=64), inner=st.lists(st.integers(0, 80), max_size=10), large=st.booleans())
def test_tokenizer_on_arbitrary_offsets_raises_or_works(lexicon, data, inner, large):
    offsets = np.array([0, *inner, len(data)], np.int64 if large else np.int32)
    kind = pa.large_string() if large else pa.string()
    try:
        array = pa.Array.from_buffers(kind, len(offsets) - 1,
                                      [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data)])
    except (pa.ArrowInvalid, ValueError):
        return
    try:
        result = tokenize(array, lexicon.table_keys, lexicon.table_ids, lexicon.stem_mask)
    except ValueError as exc:
        assert "offsets" in str(exc)
        return
    assert result[0][-1] == len(result[1])


# -------------------------------------------------------------------------------------------------
# Runner
# -------------------------------------------------------------------------------------------------
def run(args: list[str], data: bytes) -> tuple[int, bytes, list[dict]]:
    stdout, stderr = io.BytesIO(), io.BytesIO()
    status = main(["score", *args], stdin=io.BytesIO(data), stdout=stdout, stderr=stderr)
    events = [orjson.loads(line) for line in stderr.getvalue().splitlines() if line.startswith(b"{")]
    return status, stdout.getvalue(), events


def reconciled(events: list[dict]) -> dict:
    (summary,) = [e for e in events if e["event"] == "summary"]
    assert summary["reconciled"]
    assert summary["read"] == summary["written"] + summary["rejected"] + summary["not_written"]
    assert summary["not_written"] == 0
    assert len([e for e in events if e["event"] == "rejected"]) == summary["rejected"]
    return summary


def _dumps(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()  # big integers too (orjson refuses them)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_TEXT = st.one_of(st.text(max_size=30), st.none(), _JSON)
_RECORD = st.fixed_dictionaries({"text": _TEXT}, optional={"id": st.integers(0, 99), "x": _JSON}).map(_dumps)
_LINE = st.one_of(_RECORD, _RECORD, _JSON.map(_dumps), st.binary(max_size=30),
                  st.sampled_from([b"", b"  ", b"\r", b"\xef\xbb\xbf", b"\x00", b'{"text": "\\ud800"}']))  # fmt: skip


COMPRESSED = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd")  # gzip, zstd magic


def expected_outcome(lines: list[bytes]) -> tuple[list[tuple[int, bytes]], list[int], int]:
    """The documented policy, restated: (accepted (line, object text), rejected lines, blanks)."""
    accepted, rejected, blank = [], [], 0
    for number, line in enumerate(lines, 1):
        line = line.removeprefix(b"\xef\xbb\xbf")
        if not line.strip():
            blank += 1
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            rejected.append(number)
            continue
        if isinstance(obj, dict) and "text" in obj and (obj["text"] is None or isinstance(obj["text"], str)):
            accepted.append((number, line))
        else:
            rejected.append(number)
    return accepted, rejected, blank


def no_object_has_the_text_field(lines: list[bytes]) -> bool:
    """Some lines are JSON objects and none has ``text``: a wrong ``--text``, which stops the run at
    once with status 4 before any record is read (the policy of ``runner.score.check_text_field``)."""
    objects = []
    for line in lines:
        line = line.strip().removeprefix(b"\xef\xbb\xbf").strip()
        if line.startswith(b"{"):
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                objects.append(obj)
    return bool(objects) and not any("text" in obj for obj in objects)


@SETTINGS
@given(lines=st.lists(_LINE, max_size=14), batch=st.integers(1, 6), newline=st.sampled_from([b"\n", b"\r\n"]))
def test_runner_jsonl_random_lines_match_the_policy(lines, batch, newline):
    data = newline.join(lines)
    assume(not data.startswith(COMPRESSED))  # read as gzip / zstd (and failing as such): not this test
    physical = data.split(b"\n")  # random bytes may hold line ends of their own
    if physical and physical[-1] == b"":
        physical.pop()
    status, stdout, events = run(["--input-format", "jsonl", "--batch-size", str(batch)], data)
    accepted, rejected, blank = expected_outcome(physical)
    summary = reconciled(events)
    if no_object_has_the_text_field(physical):
        assert (status, summary["read"], stdout) == (4, 0, b"")
        return
    assert status == (1 if rejected else 0)
    assert (summary["written"], summary["rejected"], summary["blank_lines"]) == (len(accepted), len(rejected), blank)
    assert [e["line"] for e in events if e["event"] == "rejected"] == rejected
    output = stdout.splitlines()
    assert len(output) == len(accepted)
    for line, (_, raw) in zip(output, accepted, strict=True):
        row = orjson.loads(line)  # valid JSON, and the input object is there unchanged
        assert line.startswith(raw.strip()[:-1])
        assert "valence" in row and "emotion" in row


@SETTINGS
@given(lines=st.lists(_LINE, max_size=14), batch=st.integers(1, 6), fmt=st.sampled_from(["arrow", "csv", "parquet"]))
def test_runner_jsonl_to_columnar_accounts_for_every_record(tmp_path_factory, lines, batch, fmt):
    data = b"\n".join(lines)
    assume(not data.startswith(COMPRESSED))
    args = ["--input-format", "jsonl", "--batch-size", str(batch), "--output-format", fmt]
    if fmt == "parquet":
        target = tmp_path_factory.mktemp("out") / "out.parquet"
        args += ["--output", str(target)]
    status, stdout, events = run(args, data)
    summary = reconciled(events)
    if no_object_has_the_text_field(data.split(b"\n")):
        assert (status, summary["read"]) == (4, 0)
        return
    assert status in (0, 1)
    if fmt == "arrow":
        assert pa.ipc.open_stream(stdout).read_all().num_rows == summary["written"]
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        assert pq.read_table(target).num_rows == summary["written"]
    else:
        import pyarrow.csv as pcsv

        table = pcsv.read_csv(io.BytesIO(stdout), parse_options=pcsv.ParseOptions(newlines_in_values=True))
        assert table.num_rows == summary["written"]


@SETTINGS
@given(data=st.binary(max_size=300), fmt=st.sampled_from([None, "csv", "jsonl"]))
def test_runner_random_bytes(data, fmt):
    args = ["--max-record-bytes", "64"] + (["--input-format", fmt] if fmt else [])
    status, _, events = run(args, data)
    if data.startswith(b"PAR1") and fmt is None:
        assert status == 2  # Parquet from stdin: a usage error
        return
    assert status in (0, 1, 4)  # 4: not CSV at all (no header)
    summary = reconciled(events)
    if status == 4:
        assert summary["read"] == 0 and summary["error"]


@pytest.fixture(scope="module")
def arrow_stream() -> bytes:
    table = sample.generate(120, seed=3)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=30)
    return sink.getvalue()


def test_runner_corrupted_arrow_streams(arrow_stream):
    rng = random.Random(20261122)
    statuses = set()
    for _ in range(300):  # flipped bytes and cuts anywhere: an input error or rows, never a crash
        data = bytearray(arrow_stream)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            data = data[: rng.randrange(len(data))]
        status, stdout, events = run(["--input-format", "arrow", "--output-format", "arrow"], bytes(data))
        statuses.add(status)
        assert status in (0, 1, 4)
        summary = reconciled(events)
        if stdout:
            assert pa.ipc.open_stream(stdout).read_all().num_rows == summary["written"]
    assert 4 in statuses
