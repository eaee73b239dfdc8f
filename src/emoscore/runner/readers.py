"""Readers: an opened :class:`~.inputs.Input` → chunks of at most ``batch_size`` accepted records.

Every reader counts each record it consumes in ``session.read`` — accepted records when their chunk
is handed on, rejected ones as they are reported — and keeps ``session.last`` at the number of the
last record consumed. A reader stops at once when ``session.halt`` is set (``--on-error fail``, a
failed output) and reads no more input once a stop signal arrived (what it holds is still handed on).

Chunks: :class:`JsonlChunk` keeps each record's raw line so the JSONL writer can write the object
back byte for byte; :class:`ArrowChunk` is a record batch plus each row's input line/row number.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
import pyarrow as pa

from .inputs import BOM, Input, TooLong, split_lines
from .session import ERROR_RECORD_BYTES, InputFailure, Session

__all__ = [
    "READERS",
    "ArrowChunk",
    "ArrowStreamReader",
    "CsvReader",
    "JsonlChunk",
    "JsonlReader",
    "ParquetReader",
    "check_text_column",
    "json_type",
    "row_record",
]

DEFAULT_MAX_RECORD_BYTES = 16 << 20
MAX_BATCH_BYTES = 64 << 20  # a text-format batch also ends at this many input bytes (long lines)
_MISSING = object()


def json_type(value) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )


def is_text_type(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return (
        pa.types.is_string(kind) or pa.types.is_large_string(kind)
        or pa.types.is_string_view(kind) or pa.types.is_null(kind)
    )  # fmt: skip


def check_text_column(schema: pa.Schema, text: str, name: str) -> None:
    """The input's schema must have ``text`` as a string column (else :class:`InputFailure`)."""
    try:
        names = schema.names
        [str(field.type) for field in schema]
    except (UnicodeDecodeError, pa.ArrowException, ValueError) as exc:
        raise InputFailure(f"the schema of {name} is unreadable (column names must be UTF-8): {exc}") from None
    if text not in names:
        raise InputFailure(f"text column {text!r} not found in {name}; its columns are {schema.names}")
    if schema.names.count(text) > 1:
        raise InputFailure(f"{name} has {schema.names.count(text)} columns named {text!r}")
    kind = schema.field(text).type
    if not is_text_type(kind):
        raise InputFailure(f"text column {text!r} of {name} must hold strings, but its type is {kind}")


# -------------------------------------------------------------------------------------------------
# Chunks
# -------------------------------------------------------------------------------------------------
class JsonlChunk:
    """Accepted JSONL records: each raw line (a JSON object, surrounding whitespace allowed), the
    parsed object, its text and its 1-based input line number."""

    where = "line"

    def __init__(self, raw: list[bytes], objects: list[dict], text_values: list, lines: list[int]) -> None:
        self.raw = raw
        self.objects = objects
        self.text_values = text_values
        self.lines = lines

    @property
    def numbers(self) -> Sequence[int]:
        return self.lines

    def __len__(self) -> int:
        return len(self.raw)

    def texts(self) -> pa.Array:
        return pa.array(self.text_values, pa.string())


class ArrowChunk:
    """A record batch (``text`` holds the texts) and the input number of each of its rows."""

    def __init__(self, batch: pa.RecordBatch, text: str, numbers: Sequence[int], where: str = "row") -> None:
        self.batch = batch
        self.text = text
        self.numbers = numbers
        self.where = where
        self.scored: pa.RecordBatch | None = None  # set once scored: the batch plus the scores

    def __len__(self) -> int:
        return self.batch.num_rows

    def texts(self) -> pa.Array:
        return self.batch.column(self.text)


# -------------------------------------------------------------------------------------------------
# JSON Lines
# -------------------------------------------------------------------------------------------------
class _Pending:
    """Accepted JSONL records not yet handed on (``start``: how many of them already were)."""

    __slots__ = ("raw", "objects", "values", "lines", "start")

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        """Empty: no records pending."""
        self.raw: list[bytes] = []
        self.objects: list[dict] = []
        self.values: list = []
        self.lines: list[int] = []
        self.start = 0

    def __len__(self) -> int:
        return len(self.raw) - self.start

    def compact(self) -> None:
        """Forget the records handed on (before appending a block)."""
        if self.start:
            s = self.start
            del self.raw[:s], self.objects[:s], self.values[:s], self.lines[:s]
            self.start = 0

    def take(self, n: int) -> JsonlChunk:
        s = self.start
        if s == 0 and n >= len(self.raw):
            chunk = JsonlChunk(self.raw, self.objects, self.values, self.lines)
            self._reset()
            return chunk
        e = min(s + n, len(self.raw))
        chunk = JsonlChunk(self.raw[s:e], self.objects[s:e], self.values[s:e], self.lines[s:e])
        self.start = e
        if e == len(self.raw):
            self._reset()
        return chunk


class _Reader:
    """The options every reader takes; records are numbered by input ``line`` or by ``row``.
    ``after=N`` (a resumed run) passes over the records numbered up to N as if they were not there."""

    where = "line"

    def __init__(
        self,
        source: Input,
        *,
        text: str,
        batch_size: int,
        session: Session,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        invalid_utf8: str = "reject",
        id_field: str | None = None,
        after: int = 0,
        **_: Any,
    ) -> None:
        self.source = source
        self.after = after  # the records numbered up to this are passed over: not read, checked or counted
        self.text = text
        self.batch_size = batch_size
        self.session = session
        self.max_record_bytes = max_record_bytes
        self.invalid_utf8 = invalid_utf8
        self.id_field = id_field
        self.name = source.name
        session.where = self.where


class JsonlReader(_Reader):
    """JSON Lines: one object per line (``\\n`` or ``\\r\\n``).

    Skipped, not records: blank lines (counted in ``blank_lines``). Dropped, not part of a record:
    a UTF-8 byte order mark at the start of the input or of a line. Rejected: a line that is not
    valid JSON (NUL bytes and invalid UTF-8 included, unless ``invalid_utf8="replace"``), a JSON
    value that is not an object, an object without the text field or with a text that is neither a
    string nor null, a line longer than ``max_record_bytes`` (never read whole into memory).
    """

    schema = None  # unknown until records are seen

    def _lines(self):
        session = self.session
        return split_lines(
            self.source.read_block, self.max_record_bytes, ERROR_RECORD_BYTES,
            stopped=lambda: session.stop_signal is not None,
        )  # fmt: skip

    def __iter__(self) -> Iterator[JsonlChunk]:
        session, batch_size = self.session, self.batch_size
        pending = _Pending()
        line_no = held = 0
        first = True
        failure: InputFailure | None = None
        lines = self._lines()
        while True:
            try:
                block = next(lines)
            except StopIteration:
                break
            except InputFailure as exc:  # damage: the records before it are still handed on
                failure = exc
                break
            if line_no < self.after:  # before the resume point
                first = False
                passed = 1 if type(block) is TooLong else min(self.after - line_no, len(block))
                line_no += passed
                if type(block) is TooLong or passed == len(block):
                    continue
                block = block[passed:]
            if type(block) is TooLong:
                line_no += 1
                session.reject(
                    line_no,
                    f"record longer than --max-record-bytes={self.max_record_bytes} ({block.size} bytes); skipped "
                    "without reading it into memory",
                    raw=block.head, size=block.size,
                )  # fmt: skip
                if session.halt:
                    break
                continue
            if first:
                first = False
                if block[0].startswith(BOM):
                    block[0] = block[0][3:]
            base = line_no
            line_no += len(block)
            pending.compact()
            if not self._fast(block, base, pending) and self._slow(block, base, pending):
                break  # halted at a rejected record (--on-error fail)
            held += sum(map(len, block))
            while len(pending) >= batch_size:
                yield self._chunk(pending.take(batch_size))
                if session.halt:
                    return
            if held >= MAX_BATCH_BYTES and len(pending):
                yield self._chunk(pending.take(len(pending)))
                held = 0
                if session.halt:
                    return
        if not session.halt:
            session.last = max(session.last, line_no)
        # Halted here at a rejected record (--on-error fail): the records before it are all handed on,
        # unless a later stage rejects one of them (then that is the first rejection: stop there).
        halted_here, rejected = session.halt, session.rejected
        while len(pending):
            yield self._chunk(pending.take(batch_size))
            if session.halt and (not halted_here or session.rejected != rejected):
                return
        if failure is not None and not session.halt:
            raise _located(failure, "line", line_no)

    def _chunk(self, chunk: JsonlChunk) -> JsonlChunk:
        self.session.read += len(chunk)
        self.session.last = max(self.session.last, chunk.lines[-1])
        return chunk

    def _fast(self, block: list[bytes], base: int, pending: _Pending) -> bool:
        """The common case: every line of the block is an object with a string or null text."""
        loads, text, missing = orjson.loads, self.text, _MISSING
        try:
            objects = [loads(line) for line in block]
            values = [obj.get(text, missing) for obj in objects]
        except (orjson.JSONDecodeError, AttributeError):  # a bad line, a blank one, a non-object
            return False
        if not all([value is None or type(value) is str for value in values]):
            return False
        pending.raw += block
        pending.objects += objects
        pending.values += values
        pending.lines += range(base + 1, base + 1 + len(block))
        return True

    def _slow(self, block: list[bytes], line_no: int, pending: _Pending) -> bool:
        """Line by line, rejecting what cannot be scored; True when halted (--on-error fail)."""
        loads, decode_error, missing = orjson.loads, orjson.JSONDecodeError, _MISSING
        text, session, id_field = self.text, self.session, self.id_field
        for line in block:
            line_no += 1
            try:
                obj = loads(line)
            except decode_error as exc:
                recovered = self._recover(line, line_no, exc)
                if recovered is None:
                    if session.halt:
                        return True
                    continue
                obj, line = recovered
            if type(obj) is not dict:
                session.reject(line_no, f"expected a JSON object, got {json_type(obj)}", raw=_record([line]))
                if session.halt:
                    return True
                continue
            value = obj.get(text, missing)
            if value is None or type(value) is str:
                pending.raw.append(line)
                pending.objects.append(obj)
                pending.values.append(value)
                pending.lines.append(line_no)
                continue
            record_id = obj.get(id_field) if id_field else None
            if value is missing:
                reason = f"field {text!r} is missing"
            else:
                reason = f"field {text!r} must be a string or null, got {json_type(value)}"
            session.reject(line_no, reason, field=text, raw=_record([line]), record_id=record_id)
            if session.halt:
                return True
        return False

    def _recover(self, line: bytes, line_no: int, error: Exception) -> tuple[Any, bytes] | None:
        """The slow path of a line orjson refused: blank, a BOM, invalid UTF-8 (reject or repair),
        or invalid JSON. Returns (object, line to write) or None (skipped or rejected)."""
        session = self.session
        if line.startswith(BOM):
            line = line[3:]
            try:
                return orjson.loads(line), line
            except orjson.JSONDecodeError as exc:
                error = exc
        if not line or line.isspace():
            session.blank += 1
            return None
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            where = f"invalid UTF-8 at byte {exc.start + 1} of the line (0x{line[exc.start]:02x})"
            if self.invalid_utf8 != "replace":
                session.reject(line_no, where, raw=_record([line]))
                return None
            fixed = line.decode("utf-8", "replace").encode("utf-8")
            try:
                obj = orjson.loads(fixed)
            except orjson.JSONDecodeError as exc2:
                session.reject(line_no, f"{where}; and with it replaced, still not valid JSON: {exc2}",
                               raw=_record([line]))
                return None
            if type(obj) is dict and (obj.get(self.text, _MISSING) is None or type(obj.get(self.text)) is str):
                record_id = obj.get(self.id_field) if self.id_field else None
                session.repair(line_no, f"{where}: replaced by U+FFFD", raw=_record([line]), record_id=record_id)
            return obj, fixed
        if b"\x00" in line:
            session.reject(line_no, f"invalid JSON: the line holds a NUL byte ({error})", raw=_record([line]))
        else:
            session.reject(line_no, f"invalid JSON: {error}", raw=_record([line]))
        return None


# -------------------------------------------------------------------------------------------------
# CSV
# -------------------------------------------------------------------------------------------------
class _RecordTooLong(Exception):
    pass


class _CsvFeed:
    """Feeds decoded physical lines to :func:`csv.reader` and remembers which raw lines make up the
    record being parsed (a quoted field may span lines), so rejections quote the raw record."""

    def __init__(self, blocks, max_record_bytes: int) -> None:
        self._blocks = blocks
        self._it: Iterator[bytes] = iter(())
        self.max_record_bytes = max_record_bytes
        self.line_no = 0
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.bad_utf8: str | None = None  # the first invalid UTF-8 in the current record
        self.too_long: TooLong | None = None
        self.ended = False

    def __iter__(self):
        return self

    def start_record(self) -> None:
        self.pending = []
        self.pending_bytes = 0
        self.bad_utf8 = None
        self.too_long = None

    def __next__(self) -> str:
        try:
            line = next(self._it)
        except StopIteration:
            try:
                block = next(self._blocks)
            except StopIteration:
                self.ended = True  # the end of the input
                raise
            if type(block) is TooLong:
                self.line_no += 1
                self.too_long = block
                self.pending.append(block.head)
                self.pending_bytes += block.size
                return "\n"
            self._it = iter(block)
            line = next(self._it)
        self.line_no += 1
        self.pending.append(line)
        self.pending_bytes += len(line) + 1
        if self.pending_bytes > self.max_record_bytes:
            raise _RecordTooLong()
        try:
            return line.decode("utf-8") + "\n"
        except UnicodeDecodeError as exc:
            if self.bad_utf8 is None:
                self.bad_utf8 = (
                    f"invalid UTF-8 at byte {exc.start + 1} of line {self.line_no} (0x{line[exc.start]:02x})"
                )
            return line.decode("utf-8", "replace") + "\n"


def _located(failure: InputFailure, where: str, last: int) -> InputFailure:
    """``failure`` (damage met while reading) with the last complete record read before it."""
    if failure.number is not None:
        return failure
    return InputFailure(f"{failure} (the input is read up to {where} {last}; nothing after it)",
                        where=where, number=last + 1)  # fmt: skip


def _record(lines: list[bytes]) -> bytes:
    """The raw text of a record (its physical lines), without the final line end."""
    record = b"\n".join(lines)
    return record[:-1] if record.endswith(b"\r") else record


class CsvReader(_Reader):
    """CSV with a header row; every field is read as a string, exactly as written (no type
    guessing: ``007`` stays ``007``; an empty field is the empty string).

    Records are numbered by the input line they start on (the header is line 1). Rejected: a row
    with more or fewer fields than the header, bad quoting, invalid UTF-8 (unless
    ``invalid_utf8="replace"``), a record longer than ``max_record_bytes``. Blank lines are
    skipped; a BOM before the header is dropped; ``\\r\\n`` line ends are fine.
    """

    def __init__(self, source: Input, *, text: str, id_field: str | None = None, **options: Any) -> None:
        super().__init__(source, text=text, id_field=id_field, **options)
        session, max_record_bytes = self.session, self.max_record_bytes
        blocks = split_lines(
            source.read_block, max_record_bytes, ERROR_RECORD_BYTES,
            stopped=lambda: session.stop_signal is not None,
        )  # fmt: skip
        self._feed = _CsvFeed(blocks, max_record_bytes)
        self._csv = self._new_parser()
        self.header = self._read_header()
        names = self.header
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise InputFailure(f"the CSV header of {source.name} names a column twice: {duplicates}")
        self.schema = pa.schema([(name, pa.string()) for name in names])
        check_text_column(self.schema, text, source.name)
        self._id_index = names.index(id_field) if id_field in names else None

    def _new_parser(self):
        return csv.reader(self._feed, delimiter=self.source.delimiter, quotechar='"', strict=True)

    def _read_header(self) -> list[str]:
        feed = self._feed
        while True:
            feed.start_record()
            try:
                row = next(self._csv)
            except StopIteration:
                raise InputFailure(f"{self.source.name} is empty: a CSV input needs a header row") from None
            except (csv.Error, _RecordTooLong) as exc:
                raise InputFailure(
                    f"cannot read the CSV header of {self.source.name} (line {feed.line_no}): {exc or 'too long'}"
                ) from None
            if feed.too_long is not None:
                raise InputFailure(
                    f"the CSV header of {self.source.name} is longer than --max-record-bytes={self.max_record_bytes}"
                )
            if not row or (len(feed.pending) == 1 and not feed.pending[0].strip()):
                self.session.blank += 1
                continue
            if feed.bad_utf8:
                raise InputFailure(f"the CSV header of {self.source.name} is not UTF-8: {feed.bad_utf8}")
            if row[0].startswith("\ufeff"):
                row[0] = row[0][1:]
            return row

    def __iter__(self) -> Iterator[ArrowChunk]:
        session, feed, width = self.session, self._feed, len(self.header)
        rows: list[list[str]] = []
        numbers: list[int] = []
        held = 0
        failure: InputFailure | None = None
        end = 0
        while True:
            if session.halt:
                break
            feed.start_record()
            try:
                row = next(self._csv)
            except StopIteration:
                break
            except InputFailure as exc:  # damage: the records before it are still handed on
                failure = _located(exc, "line", feed.line_no - len(feed.pending))
                break
            except (csv.Error, _RecordTooLong) as exc:
                start = feed.line_no - len(feed.pending) + 1
                if isinstance(exc, _RecordTooLong):
                    self._csv = self._new_parser()  # start afresh on the next line
                if feed.line_no <= self.after:  # before the resume point
                    continue
                if feed.ended and session.stop_signal is not None:
                    break  # a stop inside a record (a quoted field spanning lines): not read, not rejected
                if isinstance(exc, _RecordTooLong):
                    reason = (
                        f"record longer than --max-record-bytes={self.max_record_bytes} "
                        f"(lines {start}-{feed.line_no}; an unclosed quote?)"
                    )
                else:
                    reason = f"bad CSV quoting: {exc}"
                session.reject(start, reason, raw=_record(feed.pending), size=feed.pending_bytes)
                session.last = max(session.last, feed.line_no)
                continue
            if feed.line_no <= self.after:  # before the resume point (a record ends on its last line)
                continue
            start = feed.line_no - len(feed.pending) + 1
            if feed.too_long is not None:
                session.reject(
                    start,
                    f"record longer than --max-record-bytes={self.max_record_bytes} ({feed.pending_bytes} bytes); "
                    "skipped without reading it into memory",
                    raw=feed.too_long.head, size=feed.too_long.size,
                )  # fmt: skip
                session.last = max(session.last, feed.line_no)
                continue
            if not row or (len(feed.pending) == 1 and not feed.pending[0].strip()):
                session.blank += 1
                continue
            if len(row) != width:
                session.reject(
                    start, f"expected {width} fields (as in the header), found {len(row)}",
                    raw=_record(feed.pending), record_id=self._record_id(row),
                )  # fmt: skip
                session.last = max(session.last, feed.line_no)
                continue
            if feed.bad_utf8 is not None:
                if self.invalid_utf8 != "replace":
                    session.reject(start, feed.bad_utf8, raw=_record(feed.pending), record_id=self._record_id(row))
                    session.last = max(session.last, feed.line_no)
                    continue
                session.repair(start, f"{feed.bad_utf8}: replaced by U+FFFD", raw=_record(feed.pending),
                               record_id=self._record_id(row))
            rows.append(row)
            numbers.append(start)
            end = feed.line_no  # the record's last line: where a resume starts after
            held += feed.pending_bytes
            if len(rows) >= self.batch_size or held >= MAX_BATCH_BYTES:
                yield self._chunk(rows, numbers, end)
                rows, numbers, held = [], [], 0
        if rows:
            yield self._chunk(rows, numbers, end)
        if failure is not None:
            if not session.halt:
                raise failure
        elif not session.halt and not feed.pending:  # the end of the input (blank lines included)
            session.last = max(session.last, feed.line_no)

    def _record_id(self, row: list[str]):
        i = self._id_index
        return row[i] if i is not None and i < len(row) else None

    def _chunk(self, rows: list[list[str]], numbers: list[int], end: int) -> ArrowChunk:
        columns = [pa.array(column, pa.string()) for column in zip(*rows, strict=True)]
        batch = pa.RecordBatch.from_arrays(columns, schema=self.schema)
        self.session.read += len(rows)
        self.session.last = max(self.session.last, end)
        return ArrowChunk(batch, self.text, numbers, "line")


# -------------------------------------------------------------------------------------------------
# Arrow IPC and Parquet
# -------------------------------------------------------------------------------------------------
class _BatchChecks(_Reader):
    """Full validation of each batch read (offsets, UTF-8): the tokenizer then never sees a broken
    buffer. Rows whose strings are not UTF-8 are rejected or repaired; anything else is fatal."""

    where = "row"

    def _checked(self, batch: pa.RecordBatch, first: int) -> tuple[pa.RecordBatch, Sequence[int]]:
        if first < self.after:  # the rows before the resume point
            passed = min(self.after - first, batch.num_rows)
            batch, first = batch.slice(passed), first + passed
        numbers: Sequence[int] = range(first + 1, first + 1 + batch.num_rows)
        try:
            batch.validate(full=True)
            return batch, numbers
        except (pa.ArrowInvalid, pa.ArrowException) as exc:
            error = exc
        bad: dict[int, str] = {}
        columns = list(batch.columns)
        for index, column in enumerate(columns):
            kind = column.type
            if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
                continue
            try:
                column.validate(full=True)
                continue
            except pa.ArrowInvalid:
                pass
            try:  # the offsets must be sound before a single value is looked at
                as_binary = column.view(pa.large_binary() if pa.types.is_large_string(kind) else pa.binary())
                as_binary.validate(full=True)
                values = as_binary.to_pylist()
            except pa.ArrowException:
                raise InputFailure(
                    f"invalid Arrow data in rows {first + 1}-{first + batch.num_rows} of {self.name}: {error}",
                    where="row", number=first + 1,
                ) from None
            fixed = []
            for row, value in enumerate(values):
                if value is not None:
                    try:
                        value.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        bad.setdefault(row, f"column {batch.schema.names[index]!r}: invalid UTF-8 at byte "
                                            f"{exc.start + 1} (0x{value[exc.start]:02x})")
                        value = value.decode("utf-8", "replace").encode("utf-8")
                fixed.append(value)
            binary = pa.large_binary() if pa.types.is_large_string(kind) else pa.binary()
            columns[index] = pa.array(fixed, binary).cast(kind)
        if not bad:
            raise InputFailure(
                f"invalid Arrow data in rows {first + 1}-{first + batch.num_rows} of {self.name}: {error}",
                where="row", number=first + 1,
            )
        try:
            repaired = pa.RecordBatch.from_arrays(columns, schema=batch.schema)
            repaired.validate(full=True)
        except (pa.ArrowException, ValueError) as exc:
            raise InputFailure(
                f"invalid Arrow data in rows {first + 1}-{first + batch.num_rows} of {self.name}: {exc}",
                where="row", number=first + 1,
            ) from None
        session = self.session
        keep = []
        for row in range(batch.num_rows):
            reason = bad.get(row)
            if reason is None:
                keep.append(row)
                continue
            record = row_record(repaired, row)
            if self.invalid_utf8 == "replace":
                session.repair(first + 1 + row, f"{reason}: replaced by U+FFFD", raw=record,
                               record_id=_row_id(repaired, row, self.id_field))
                keep.append(row)
            else:
                session.reject(first + 1 + row, reason, raw=record, record_id=_row_id(repaired, row, self.id_field))
                if session.halt:
                    keep = [r for r in keep if r < row]
                    break
        result = repaired.take(pa.array(keep, pa.int64())) if len(keep) != batch.num_rows else repaired
        return result, [first + 1 + r for r in keep]

    def _emit(self, batch: pa.RecordBatch, numbers: Sequence[int]) -> Iterator[ArrowChunk]:
        session = self.session
        for start in range(0, batch.num_rows, self.batch_size):
            piece = batch.slice(start, self.batch_size)
            piece_numbers = numbers[start : start + self.batch_size]
            session.read += piece.num_rows
            session.last = max(session.last, piece_numbers[-1])
            yield ArrowChunk(piece, self.text, piece_numbers, "row")
            if session.halt:
                return


def row_record(batch: pa.RecordBatch, row: int) -> bytes:
    """Row ``row`` of ``batch`` as a JSON object (bytes): a columnar record as an error line shows it."""
    from .jsontext import json_default

    return orjson.dumps(batch.slice(row, 1).to_pylist()[0], default=json_default, option=orjson.OPT_NON_STR_KEYS)


def _row_id(batch: pa.RecordBatch, row: int, id_field: str | None):
    if id_field and id_field in batch.schema.names:
        value = batch.column(id_field)[row].as_py()
        return value if isinstance(value, (int, float, str, bool)) else str(value)
    return None


class ArrowStreamReader(_BatchChecks):
    """An Arrow IPC stream (or an IPC file read front to back); rows numbered from 1. A stream cut
    short or corrupt ends the run with an input error after the complete batches before it."""

    def __init__(self, source: Input, *, text: str, **options: Any) -> None:
        super().__init__(source, text=text, **options)
        stream = source.stream
        assert stream is not None  # only a Parquet input has no stream
        if source.arrow_file:
            stream.read(8)  # "ARROW1" and padding; the IPC stream follows
        try:
            self._reader = pa.ipc.open_stream(stream)
        except InputFailure:
            raise
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds
            raise InputFailure(f"{source.name} is not an Arrow IPC stream: {exc}") from None
        self.schema = self._reader.schema
        check_text_column(self.schema, text, source.name)

    def __iter__(self) -> Iterator[ArrowChunk]:
        session = self.session
        row = 0
        while not session.stopping:
            try:
                batch = self._reader.read_next_batch()
            except StopIteration:
                if session.stopping or not self._next_stream(row):
                    break
                continue
            except InputFailure as exc:
                raise _located(exc, "row", row) from None
            except Exception as exc:  # noqa: BLE001
                if session.stopping:
                    break
                raise InputFailure(
                    f"the Arrow IPC stream {self.name} is cut short or corrupt after row {row}: {exc}",
                    where="row", number=row + 1,
                ) from None
            checked, numbers = self._checked(batch, row)
            row += batch.num_rows
            if checked.num_rows:
                yield from self._emit(checked, numbers)

    def _next_stream(self, row: int) -> bool:
        """At the end-of-stream marker: True when another IPC stream of the same schema follows
        (concatenated streams are one input); False at the end of the input or of an IPC file (its
        footer checked); anything else after the marker is an :class:`InputFailure`."""
        stream = self.source.stream
        assert stream is not None
        at = stream.tell()
        after = f"after row {row}, at byte {at} of {self.name}"
        if self.source.arrow_file:  # the footer, its length and the closing magic follow
            rest = stream.read(_MAX_FOOTER + 1)
            if len(rest) <= _MAX_FOOTER and rest[-6:] == b"ARROW1" and (
                int.from_bytes(rest[-10:-6], "little") == len(rest) - 10
            ):
                return False
            raise InputFailure(
                f"the Arrow IPC file {self.name} does not end with its footer after the end-of-stream marker "
                f"({after}): bytes follow it that are not part of the file",
                where="row", number=row + 1,
            )  # fmt: skip
        head = stream.peek(8)[:8] if hasattr(stream, "peek") else b""
        if not head:
            return False
        if not head.startswith(b"\xff\xff\xff\xff"):
            raise InputFailure(f"bytes that are not an Arrow IPC stream follow the end-of-stream marker ({after})",
                               where="row", number=row + 1)  # fmt: skip
        try:
            reader = pa.ipc.open_stream(stream)
        except InputFailure:
            raise
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds
            raise InputFailure(f"a second Arrow IPC stream follows the first ({after}) but is unreadable: {exc}",
                               where="row", number=row + 1) from None  # fmt: skip
        if not reader.schema.equals(self.schema):
            raise InputFailure(
                f"a second Arrow IPC stream follows the first ({after}) with another schema: {reader.schema.names} "
                f"({', '.join(map(str, reader.schema.types))}) instead of {self.schema.names} "
                f"({', '.join(map(str, self.schema.types))})",
                where="row", number=row + 1,
            )  # fmt: skip
        self._reader = reader
        return True


_MAX_FOOTER = 64 << 20


class ParquetReader(_BatchChecks):
    """A Parquet file read batch by batch (``iter_batches``: one row group's pages at a time);
    rows numbered from 1. Only the needed columns are read when ``columns`` is given."""

    def __init__(self, source: Input, *, text: str, columns: list[str] | None = None, **options: Any) -> None:
        import pyarrow.parquet as pq

        super().__init__(source, text=text, **options)
        try:
            self._file = pq.ParquetFile(source.path, buffer_size=1 << 20, pre_buffer=False)
            schema = self._file.schema_arrow
        except Exception as exc:  # noqa: BLE001
            raise InputFailure(f"{source.name} is not a readable Parquet file: {exc}") from None
        check_text_column(schema, text, source.name)
        self._columns = None
        if columns is not None:
            wanted = list(dict.fromkeys([*columns, text]))
            missing = [c for c in wanted if c not in schema.names]
            if missing:
                raise InputFailure(f"column(s) {missing} not found in {source.name}; its columns are {schema.names}")
            self._columns = [c for c in schema.names if c in wanted]
            schema = pa.schema([schema.field(c) for c in self._columns], metadata=schema.metadata)
        self.schema = schema

    def __iter__(self) -> Iterator[ArrowChunk]:
        session = self.session
        row = 0
        for group in range(self._file.metadata.num_row_groups):  # a batch never spans two row groups
            if session.stopping:
                break
            rows = self._file.metadata.row_group(group).num_rows
            if row + rows <= self.after:  # the whole group is before the resume point: not read at all
                row += rows
                continue
            try:
                batches = self._file.iter_batches(batch_size=self.batch_size, row_groups=[group],
                                                  columns=self._columns)  # fmt: skip
            except Exception as exc:  # noqa: BLE001
                raise InputFailure(
                    f"cannot read row group {group + 1} of {self.name} (after row {row}): {exc}",
                    where="row", number=row + 1,
                ) from None  # fmt: skip
            while not session.stopping:
                try:
                    batch = next(batches)
                except StopIteration:
                    break
                except Exception as exc:  # noqa: BLE001
                    raise InputFailure(
                        f"the Parquet file {self.name} is corrupt in row group {group + 1}, after row {row}: {exc}",
                        where="row", number=row + 1,
                    ) from None  # fmt: skip
                checked, numbers = self._checked(batch, row)
                row += batch.num_rows
                if checked.num_rows:
                    yield from self._emit(checked, numbers)


READERS = {"jsonl": JsonlReader, "csv": CsvReader, "arrow": ArrowStreamReader, "parquet": ParquetReader}

