"""The ``emoscore`` command-line runner: stdin -> scores -> stdout, streamed in bounded batches.

    emoscore score [--text FIELD] [--input-format jsonl|arrow] [--output-format jsonl|arrow]
                   [--batch-size N] [--quiet]
    emoscore sample [--n N] [--seed S] [--output-format jsonl|arrow]

Structure: a *reader* turns the input stream into :class:`Chunk` objects (at most ``--batch-size``
records each), the scorer adds the score columns, and a *writer* serialises each chunk. Readers and
writers are looked up by format name in :data:`READERS` and :data:`WRITERS`, so another format is one
class of each kind. Everything that is not output — rejected records, warnings, the summary — goes
to stderr; rejected records are JSON lines ``{"line": N, "field": ..., "reason": ...}``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as _dt
import decimal
import errno
import functools
import io
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO, TextIO

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from .api import Scorer
from .errors import EmoscoreError

__all__ = ["READERS", "WRITERS", "main"]

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

EPILOG = """\
exit status:
  0    every input record was scored and written
  1    some input was rejected (each rejection is a JSON line on stderr naming the input line,
       the field and the reason), or the input could not be read at all
  2    usage error (unknown option, bad value)
  130  interrupted (SIGINT)
  141  the reader of stdout went away before all output was written (e.g. `| head`); no
       traceback is printed
"""

SCORE_EPILOG = """\
JSONL: each output line is the input object unchanged (fields, order and formatting) followed by
the score fields, floats rounded to 4 decimals, in input order. Blank lines are skipped. An input
field with the name of a score field is replaced (the object is then re-serialised). A record whose
text is null scores as neutral. Arrow: an IPC stream in, an IPC stream of the scored batches out.
Without --input-format, input that starts with the IPC continuation marker 0xFFFFFFFF is read as
Arrow, anything else as JSONL. JSONL in and Arrow out infers the column types from the first batch;
later records that do not fit them are rejected (reported, never dropped silently).

""" + EPILOG

DEFAULT_BATCH_SIZE = 8192
_MAX_BATCH_BYTES = 64 << 20  # a JSONL batch also ends at this many input bytes (long lines)
_ARROW_MARKER = b"\xff\xff\xff\xff"
_JSON_WS = " \t\r\n"
_LARGE = {text: pa.scalar(text, pa.large_string()) for text in ("", ",", "}\n")}
_BOM = b"\xef\xbb\xbf"
_MISSING = object()


class _Fatal(Exception):
    """The input as a whole cannot be processed (exit status 1, message on stderr)."""


# -------------------------------------------------------------------------------------------------
# Diagnostics
# -------------------------------------------------------------------------------------------------
class Log:
    """stderr output: rejection records (always), warnings and the summary (unless quiet)."""

    def __init__(self, stream: TextIO, *, quiet: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet
        self.rejected = 0
        self._warned: set[str] = set()

    def reject(self, line: int | None, field: str | None, reason: str) -> None:
        self.rejected += 1
        record = {"line": line, "field": field, "reason": reason}
        self.stream.write(orjson.dumps(record).decode() + "\n")

    def warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.stream.write(f"emoscore: warning: {message}\n")

    def info(self, message: str) -> None:
        if not self.quiet:
            self.stream.write(f"emoscore: {message}\n")

    def error(self, message: str) -> None:
        self.stream.write(f"emoscore: error: {message}\n")


def _json_type(value) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )


# -------------------------------------------------------------------------------------------------
# Chunks: what a reader hands on, at most --batch-size records; ``texts()`` is what gets scored.
# -------------------------------------------------------------------------------------------------
class Chunk:
    def __len__(self) -> int:
        raise NotImplementedError

    def texts(self) -> pa.Array:
        raise NotImplementedError


class JsonlChunk(Chunk):
    """Accepted JSONL records: each raw line (a JSON object, surrounding whitespace and line end
    included), the parsed object, its text and its 1-based input line number."""

    def __init__(self, raw: list[bytes], objects: list[dict], text_values: list, lines: list[int]) -> None:
        self.raw = raw
        self.objects = objects
        self.text_values = text_values
        self.lines = lines

    def __len__(self) -> int:
        return len(self.raw)

    def texts(self) -> pa.Array:
        return pa.array(self.text_values, pa.string())


class ArrowChunk(Chunk):
    """A record batch whose column ``text`` holds the texts."""

    def __init__(self, batch: pa.RecordBatch, text: str) -> None:
        self.batch = batch
        self.text = text
        self.scored: pa.RecordBatch | None = None  # set once scored: the batch plus the scores

    def __len__(self) -> int:
        return self.batch.num_rows

    def texts(self) -> pa.Array:
        return self.batch.column(self.text)


# -------------------------------------------------------------------------------------------------
# Readers
# -------------------------------------------------------------------------------------------------
class JsonlReader:
    """JSON Lines: one object per line; bad lines are reported to the log and skipped.

    Blank lines are skipped silently (they hold no record); a UTF-8 byte order mark before the
    first line is ignored. ``read`` counts the non-blank lines.
    """

    schema = None  # unknown until records are seen

    def __init__(self, stream: BinaryIO, *, text: str, batch_size: int, log: Log) -> None:
        self.stream = stream
        self.text = text
        self.batch_size = batch_size
        self.log = log
        self.read = 0

    def __iter__(self) -> Iterator[JsonlChunk]:
        loads, decode_error, missing = orjson.loads, orjson.JSONDecodeError, _MISSING
        text, log, batch_size, read_lines = self.text, self.log, self.batch_size, self.stream.readlines
        raw: list[bytes] = []
        objects: list[dict] = []
        values: list = []
        lines: list[int] = []
        held = line_no = blank = 0
        first = True
        while block := read_lines(1 << 16):
            if first and block[0].startswith(_BOM):
                block[0] = block[0][3:]
            first = False
            for line in block:  # the hot loop: one orjson parse and a few checks per line
                line_no += 1
                try:
                    obj = loads(line)
                except decode_error as exc:
                    if line.isspace() or not line:
                        blank += 1
                    else:
                        log.reject(line_no, None, f"invalid JSON: {exc}")
                    continue
                if type(obj) is not dict:
                    log.reject(line_no, None, f"expected a JSON object, got {_json_type(obj)}")
                    continue
                value = obj.get(text, missing)
                if value is None or type(value) is str:
                    raw.append(line)
                    objects.append(obj)
                    values.append(value)
                    lines.append(line_no)
                    if len(raw) >= batch_size:
                        self.read = line_no - blank
                        yield JsonlChunk(raw, objects, values, lines)
                        raw, objects, values, lines, held = [], [], [], [], 0
                elif value is missing:
                    log.reject(line_no, text, f"field {text!r} is missing")
                else:
                    log.reject(line_no, text, f"expected a string or null, got {_json_type(value)}")
            self.read = line_no - blank
            held += sum(map(len, block))
            if held >= _MAX_BATCH_BYTES and raw:
                yield JsonlChunk(raw, objects, values, lines)
                raw, objects, values, lines, held = [], [], [], [], 0
        if raw:
            yield JsonlChunk(raw, objects, values, lines)


class ArrowReader:
    """An Arrow IPC stream; batches longer than ``batch_size`` are sliced (zero-copy)."""

    def __init__(self, stream: BinaryIO, *, text: str, batch_size: int, log: Log) -> None:
        self.text = text
        self.batch_size = batch_size
        self.read = 0
        try:
            self._reader = pa.ipc.open_stream(stream)
        except (pa.ArrowInvalid, OSError) as exc:
            if isinstance(exc, BrokenPipeError):
                raise
            raise _Fatal(f"cannot read an Arrow IPC stream from stdin: {exc}") from None
        self.schema = self._reader.schema
        if text not in self.schema.names:
            raise _Fatal(f"text column {text!r} not found; the stream has columns {self.schema.names}")
        kind = self.schema.field(text).type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if not (
            pa.types.is_string(kind) or pa.types.is_large_string(kind)
            or pa.types.is_string_view(kind) or pa.types.is_null(kind)
        ):  # fmt: skip
            raise _Fatal(f"text column {text!r} must hold strings, but its type is {self.schema.field(text).type}")

    def __iter__(self) -> Iterator[ArrowChunk]:
        while True:
            try:
                batch = self._reader.read_next_batch()
            except StopIteration:
                return
            except pa.ArrowInvalid as exc:
                raise _Fatal(f"invalid Arrow IPC stream after {self.read} rows: {exc}") from None
            for start in range(0, batch.num_rows, self.batch_size):
                piece = batch.slice(start, self.batch_size)
                self.read += piece.num_rows
                yield ArrowChunk(piece, self.text)


READERS: dict[str, Callable[..., JsonlReader | ArrowReader]] = {"jsonl": JsonlReader, "arrow": ArrowReader}


# -------------------------------------------------------------------------------------------------
# Score fields as JSON text, built column-wise with pyarrow.compute (no Python work per row)
# -------------------------------------------------------------------------------------------------
_DECIMAL_RANGE = 10_000  # scores in [-1, 1] at 4 decimals: k / 10**4 for |k| <= 10**4
_INT_RANGE = 1 << 14  # counts (tokens, hits) below this use a table too


@functools.cache
def _decimals() -> tuple[str, ...]:
    """JSON text of k / 10**4 for k in [-10**4, 10**4], as orjson writes the float (1.0, not 1)."""
    return tuple(orjson.dumps(k / 10_000).decode() for k in range(-_DECIMAL_RANGE, _DECIMAL_RANGE + 1))


@functools.lru_cache(maxsize=64)
def _keyed_table(key: str, kind: str) -> pa.Array:
    """``key`` followed by every value's JSON text: the common case of a column is one take()."""
    values = _decimals() if kind == "decimal" else range(_INT_RANGE)
    return pa.array([f"{key}{value}" for value in values], pa.string())


def _json_column(column: pa.Array, key: str = "") -> pa.Array:
    """``key`` followed by the JSON text of every value of ``column`` (nulls written as ``null``);
    floats rounded to 4 decimals and written as Python would write the rounded float."""
    kind = column.type
    if pa.types.is_floating(kind):
        values = column.to_numpy(zero_copy_only=False).astype(np.float64)
        scaled = np.rint(values * 10_000)  # exact for float32 scores, so this rounds half to even
        if np.all(np.abs(scaled) <= _DECIMAL_RANGE):  # false for NaN (and nulls): the general path
            return _keyed_table(key, "decimal").take(pa.array(scaled.astype(np.int64) + _DECIMAL_RANGE))
        rounded = np.round(values, 4) + 0.0
        finite = np.isfinite(rounded)
        text = pc.cast(pa.array(np.where(finite, rounded, 0.0)), pa.string())
        plain = pa.array(finite & (rounded == np.floor(rounded)) & (np.abs(rounded) < 1e16))
        text = pc.if_else(plain, pc.binary_join_element_wise(text, ".0", ""), text)
        text = pc.if_else(pa.array(finite), text, "null")
    elif pa.types.is_integer(kind):
        if column.null_count == 0 and len(column):
            values = column.to_numpy().astype(np.int64)
            if values.min() >= 0 and values.max() < _INT_RANGE:
                return _keyed_table(key, "int").take(pa.array(values))
        text = pc.fill_null(pc.cast(column, pa.string()), "null")
    elif pa.types.is_boolean(kind):
        text = pc.fill_null(pc.if_else(column, "true", "false"), "null")
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        encoded = pc.dictionary_encode(column)
        words = [key + orjson.dumps(v).decode() for v in encoded.dictionary.to_pylist()]
        return pc.fill_null(pa.array(words, pa.string()).take(encoded.indices), key + "null")
    else:
        dumps = orjson.dumps
        text = pa.array([dumps(v, default=_json_default).decode() for v in column.to_pylist()], pa.string())
    return pc.binary_join_element_wise(key, text, "") if key else text


def _json_fields(scores: pa.Table | pa.RecordBatch) -> pa.Array:
    """One ``"name":value,...`` fragment (large_string) per row of ``scores``."""
    pieces = []
    for i, (name, column) in enumerate(zip(scores.schema.names, scores.columns)):
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        pieces.append(_json_column(column, ("," if i else "") + orjson.dumps(name).decode() + ":"))
    if not pieces:
        return pa.array([""] * scores.num_rows, pa.large_string())
    return pc.cast(pc.binary_join_element_wise(*pieces, ""), pa.large_string())


def _json_default(value):
    """orjson fallback for the Python values of Arrow types that JSON has no direct form for."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _concat_buffer(array: pa.Array) -> pa.Buffer:
    """The bytes of every value of a (large_)string or binary array, back to back (zero-copy)."""
    wide = pa.types.is_large_binary(array.type) or pa.types.is_large_string(array.type)
    _, offsets, data = array.buffers()
    bounds = np.frombuffer(offsets, np.int64 if wide else np.int32, array.offset + len(array) + 1)
    start, end = int(bounds[array.offset]), int(bounds[-1])
    return data.slice(start, end - start) if data is not None else pa.py_buffer(b"")


def _splice_lines(objects: list[bytes], scores: pa.Table | pa.RecordBatch) -> pa.Buffer:
    """Output lines, back to back: each JSON object text (valid JSON, never ``{}`` — it holds the
    text field at least; surrounding whitespace and line end allowed) with ``,`` and the score
    fields added before its closing brace."""
    raw = pc.cast(pa.array(objects, pa.large_binary()), pa.large_string())  # orjson checked UTF-8
    head = pc.utf8_slice_codeunits(pc.utf8_trim(raw, _JSON_WS), 0, -1)  # without the closing brace
    lines = pc.binary_join_element_wise(head, _LARGE[","], _json_fields(scores), _LARGE["}\n"], _LARGE[""])
    return _concat_buffer(lines)


# -------------------------------------------------------------------------------------------------
# Writers: ``prepare(chunk)`` may reject records the output format cannot hold; ``write(chunk,
# scores)`` writes the chunk's records with the score columns; ``close()`` ends the stream.
# -------------------------------------------------------------------------------------------------
class JsonlWriter:
    """JSON Lines: the input object text with the score fields spliced in before its closing brace."""

    def __init__(self, stream: BinaryIO, *, text: str, score_names: frozenset[str], log: Log) -> None:
        self.stream = stream
        self.score_names = score_names
        self.log = log
        self.written = 0

    def prepare(self, chunk: Chunk) -> Chunk:
        return chunk

    def write(self, chunk: Chunk, scores: pa.Table | pa.RecordBatch) -> None:
        objects = self._jsonl_objects(chunk) if isinstance(chunk, JsonlChunk) else self._arrow_objects(chunk)
        self.stream.write(_splice_lines(objects, scores))
        self.stream.flush()
        self.written += len(chunk)

    def _jsonl_objects(self, chunk: JsonlChunk) -> list[bytes]:
        """The records' raw lines; a record with a field named like a score is re-serialised
        without it (the score replaces it)."""
        raw, objects, names = chunk.raw, chunk.objects, self.score_names
        for i in [i for i, obj in enumerate(objects) if not names.isdisjoint(obj)]:
            clash = [key for key in objects[i] if key in names]
            self.log.warn_once(
                "clash",
                f"input field(s) {clash} on line {chunk.lines[i]} replaced by the score(s) of the same "
                "name (reported once)",
            )
            if raw is chunk.raw:
                raw = list(raw)
            raw[i] = orjson.dumps({key: value for key, value in objects[i].items() if key not in names})
        return raw

    def _arrow_objects(self, chunk: ArrowChunk) -> list[bytes]:
        dumps, default, option = orjson.dumps, _json_default, orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
        return [dumps(row, default=default, option=option) for row in chunk.batch.to_pylist()]

    def close(self) -> None:
        self.stream.flush()


class ArrowWriter:
    """An Arrow IPC stream of the scored batches: the input columns, then the score columns.

    The stream's schema is what :meth:`Scorer.score` returns for a batch of the input schema; it is
    written up front when the reader knows the input schema, so even an empty input gives a stream.
    """

    def __init__(
        self,
        stream: BinaryIO,
        *,
        text: str,
        score_names: frozenset[str],
        log: Log,
        schema_for: Callable[[pa.Schema], pa.Schema],
    ) -> None:
        self.stream = stream
        self.text = text
        self.score_names = score_names
        self.log = log
        self.written = 0
        self._schema_for = schema_for
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None
        self._schema: pa.Schema | None = None
        self._input_schema: pa.Schema | None = None  # JSONL input: inferred from the first batch

    def open(self, input_schema: pa.Schema | None) -> None:
        if input_schema is not None:
            self._start(input_schema)

    def _start(self, input_schema: pa.Schema) -> None:
        self._input_schema = input_schema
        self._schema = self._schema_for(input_schema)
        self._writer = pa.ipc.new_stream(self.stream, self._schema)

    def prepare(self, chunk: Chunk) -> Chunk:
        if isinstance(chunk, JsonlChunk):
            return self._from_jsonl(chunk)
        return chunk

    def _from_jsonl(self, chunk: JsonlChunk) -> Chunk:
        """Convert JSONL records to a batch of the schema inferred from the first batch."""
        if self._input_schema is None:
            self._start(_infer_schema(chunk.objects, self.text, self.score_names))
        schema = self._input_schema
        names = set(schema.names)
        keep = []
        for i, obj in enumerate(chunk.objects):
            extra = [key for key in obj if key not in names and key not in self.score_names]
            if extra:
                self.log.reject(chunk.lines[i], extra[0], "field not in the Arrow schema inferred from the first batch")
            else:
                keep.append(i)
        try:
            batch = pa.RecordBatch.from_pylist([chunk.objects[i] for i in keep], schema=schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            good = []
            for i in keep:  # find the records that do not fit, one by one
                try:
                    pa.RecordBatch.from_pylist([chunk.objects[i]], schema=schema)
                    good.append(i)
                except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
                    self.log.reject(chunk.lines[i], None, f"does not fit the Arrow schema inferred from the first batch: {exc}")
            batch = pa.RecordBatch.from_pylist([chunk.objects[i] for i in good], schema=schema)
        return ArrowChunk(batch, self.text)

    def write(self, chunk: Chunk, scores) -> None:
        assert isinstance(chunk, ArrowChunk) and chunk.scored is not None and self._writer is not None
        scored = chunk.scored
        if not scored.schema.equals(self._schema):
            scored = pa.RecordBatch.from_arrays(scored.columns, schema=self._schema)
        self._writer.write_batch(scored)
        self.stream.flush()
        self.written += scored.num_rows

    def close(self) -> None:
        if self._writer is None:  # JSONL input without a single record: the text and the scores
            self._start(pa.schema([(self.text, pa.string())]))
        self._writer.close()
        self.stream.flush()


def _infer_schema(objects: list[dict], text: str, score_names: frozenset[str]) -> pa.Schema:
    """Column types of JSONL records, inferred by pyarrow; the text field is always a string and
    fields named like a score are left out (the scores replace them)."""
    try:
        schema = pa.RecordBatch.from_pylist(objects).schema
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        schema = pa.RecordBatch.from_pylist(objects[:1]).schema  # mixed types: the first record decides
    for name in [name for name in schema.names if name in score_names]:
        schema = schema.remove(schema.get_field_index(name))
    index = schema.get_field_index(text)
    if index >= 0:
        schema = schema.set(index, pa.field(text, pa.string()))
    return schema


WRITERS: dict[str, Callable[..., JsonlWriter | ArrowWriter]] = {"jsonl": JsonlWriter, "arrow": ArrowWriter}


# -------------------------------------------------------------------------------------------------
# Input format detection
# -------------------------------------------------------------------------------------------------
class _Prepend(io.RawIOBase):
    """A raw stream that yields ``head`` and then the rest of ``stream``."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = head
        self._stream = stream
        self._read = getattr(stream, "read1", stream.read)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _detect(stream: BinaryIO) -> tuple[str, BinaryIO]:
    """Sniff the first bytes: the Arrow IPC continuation marker means ``arrow``, else ``jsonl``."""
    head = stream.read(4)
    if head.startswith(b"ARRO"):
        raise _Fatal("stdin looks like an Arrow IPC *file*; pipe an IPC stream (or JSONL) instead")
    kind = "arrow" if head == _ARROW_MARKER else "jsonl"
    return kind, io.BufferedReader(_Prepend(head, stream), buffer_size=1 << 16)


# -------------------------------------------------------------------------------------------------
# Commands
# -------------------------------------------------------------------------------------------------
class _Scoring:
    """The scorer as the runner uses it: input fields named like a score are dropped (with one
    warning), Arrow batches keep their columns, JSONL texts are scored as a plain string array."""

    def __init__(self, scorer: Scorer, text: str, log: Log) -> None:
        self.scorer = scorer
        self.text = text
        self.log = log
        self.columns = list(scorer.score(pa.array([], pa.string())).schema.names)
        self.names = frozenset(self.columns)

    def _clashes(self, schema: pa.Schema) -> list[str]:
        clash = [name for name in schema.names if name in self.names]
        if clash:
            self.log.warn_once("clash", f"input column(s) {clash} replaced by the score(s) of the same name")
        return clash

    def schema_for(self, input_schema: pa.Schema) -> pa.Schema:
        """The schema of scored batches of ``input_schema``."""
        for name in self._clashes(input_schema):
            input_schema = input_schema.remove(input_schema.get_field_index(name))
        return self.scorer.score(input_schema.empty_table(), text=self.text).schema

    def __call__(self, chunk: Chunk):
        """The score columns of ``chunk`` (an ArrowChunk also gets ``scored``, the whole batch)."""
        if isinstance(chunk, ArrowChunk):
            clash = self._clashes(chunk.batch.schema)
            if clash:
                chunk.batch = chunk.batch.drop_columns(clash)
            chunk.scored = self.scorer.score(chunk.batch, text=self.text)
            return chunk.scored.select(self.columns)
        return self.scorer.score(chunk.texts())


def _run_score(args: argparse.Namespace, stdin: BinaryIO, stdout: BinaryIO, log: Log) -> int:
    scoring = _Scoring(Scorer(), args.text, log)
    started = time.perf_counter()
    reader = None
    options = {"text": args.text, "score_names": scoring.names, "log": log}
    if args.output_format == "arrow":
        options["schema_for"] = scoring.schema_for
    writer = WRITERS[args.output_format](stdout, **options)
    try:
        kind = args.input_format
        if kind is None:
            kind, stdin = _detect(stdin)
        reader = READERS[kind](stdin, text=args.text, batch_size=args.batch_size, log=log)
        if isinstance(writer, ArrowWriter):
            writer.open(reader.schema)
        for chunk in reader:
            chunk = writer.prepare(chunk)
            if len(chunk):
                writer.write(chunk, scoring(chunk))
        writer.close()
    except (_Fatal, EmoscoreError) as exc:  # the input as a whole is unusable (e.g. no text column)
        log.error(str(exc))
        _summary(log, reader, writer, started)
        return EXIT_REJECTED
    _summary(log, reader, writer, started)
    return EXIT_REJECTED if log.rejected else EXIT_OK


def _summary(log: Log, reader, writer, started: float) -> None:
    read = reader.read if reader is not None else 0
    seconds = time.perf_counter() - started
    rate = f", {read / seconds:,.0f} rows/s" if seconds > 0 and read >= 10_000 else ""
    log.info(f"read {read}, written {writer.written}, rejected {log.rejected} ({seconds:.2f} s{rate})")


def _run_sample(args: argparse.Namespace, stdout: BinaryIO, log: Log) -> int:
    from . import sample

    if args.n is None and args.seed is None and args.output_format == "jsonl":
        with sample.bundled_sample_path().open("rb") as bundled:
            shutil.copyfileobj(bundled, stdout)
        stdout.flush()
        return EXIT_OK
    n = sample.SAMPLE_N if args.n is None else args.n
    seed = sample.SAMPLE_SEED if args.seed is None else args.seed
    batches = sample.iter_batches(n, seed=seed, batch_size=65_536)
    if args.output_format == "jsonl":
        sample.write_jsonl(batches, stdout)
    else:
        with pa.ipc.new_stream(stdout, sample.SCHEMA) as writer:
            for batch in batches:
                writer.write_batch(batch)
    stdout.flush()
    return EXIT_OK


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _non_negative(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {number}")
    return number


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``emoscore`` command."""
    parser = argparse.ArgumentParser(
        prog="emoscore",
        description="Score the emotions in customer feedback, streaming stdin to stdout.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    score = commands.add_parser(
        "score",
        help="score records read from stdin, write them with the scores to stdout",
        description="Read records from stdin, add the score fields, write them to stdout.",
        epilog=SCORE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    score.add_argument("--text", default="text", metavar="FIELD", help="field holding the text (default: text)")
    score.add_argument(
        "--input-format", choices=sorted(READERS), default=None,
        help="input format (default: detected, see below)",
    )  # fmt: skip
    score.add_argument("--output-format", choices=sorted(WRITERS), default="jsonl", help="output format (default: jsonl)")
    score.add_argument(
        "--batch-size", type=_positive, default=DEFAULT_BATCH_SIZE, metavar="N",
        help=f"records scored at a time; bounds memory (default: {DEFAULT_BATCH_SIZE})",
    )  # fmt: skip
    score.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr (rejections still are)")
    sample = commands.add_parser(
        "sample",
        help="write generated customer feedback to stdout",
        description="Write customer feedback to stdout: the bundled 2,000-row sample when neither --n nor "
        "--seed is given, else freshly generated rows (deterministic for a seed).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sample.add_argument("--n", type=_non_negative, default=None, help="rows to generate (default: 2000)")
    sample.add_argument("--seed", type=_non_negative, default=None, help="random seed (default: 7)")
    sample.add_argument("--output-format", choices=sorted(WRITERS), default="jsonl", help="output format (default: jsonl)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``emoscore`` console script and ``python -m emoscore``; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    stdout = sys.stdout.buffer
    log = Log(sys.stderr, quiet=getattr(args, "quiet", False))
    try:
        if args.command == "sample":
            return _run_sample(args, stdout, log)
        return _run_score(args, sys.stdin.buffer, stdout, log)
    except KeyboardInterrupt:
        log.error("interrupted")
        return EXIT_INTERRUPTED
    except OSError as exc:
        if not _is_broken_pipe(exc):
            raise
        # The reader of stdout is gone: stop quietly, and keep the interpreter's final flush of
        # stdout from raising again at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


def _is_broken_pipe(exc: BaseException) -> bool:
    if isinstance(exc, BrokenPipeError) or getattr(exc, "errno", None) == errno.EPIPE:
        return True
    return "Broken pipe" in str(exc)  # pyarrow re-raises write errors as its own OSError subclasses


if __name__ == "__main__":
    sys.exit(main())
