"""JSONL records → Arrow record batches of one schema, for the columnar writers and for any
subcommand that needs typed columns (e.g. KPIs over a JSONL input).

The schema is inferred field by field from the first chunk and never changes (the writers have
written it), so a value is written only where its column holds it exactly; a record with a value that
does not fit is rejected through the session's error sink naming the line, the field and the value,
never narrowed or dropped silently. The rules (:func:`infer_type`, :func:`_fit`):

- the text field is a string column; a field null (or absent) throughout the first chunk is a string
  column;
- booleans → bool, strings → string (never parsed: dates stay strings), integers → int64 (uint64
  when some exceed int64 and none is negative), numbers with a fraction → float64; lists → a list of
  the type of all their elements; objects → a struct of every key seen, in order of first appearance;
- a field whose values share no such type (``1`` and ``"1"``, an integer that no 64-bit type or no
  double holds exactly), or whose type the first chunk leaves open inside a list or an object (only
  empty lists, a key that is always null, an empty object), or that nests lists and objects more
  than 16 deep, is a string column of JSON text, marked with the field metadata
  ``emoscore:json = text``: it holds any later value exactly (one nested too deep for any JSON
  writer rejects its record);
- later: an integer is written to a float64 column when the double is the same number, a number
  with no fraction to an integer column when in range; a key missing from an object is written as
  null; anything else that does not fit (a fraction in an integer column, a key the struct lacks,
  a number in a string column, a field the schema lacks when every field is kept) rejects the
  record. With ``--on-error fail`` the records after the first rejected one are given back as never
  read.

orjson reads an integer beyond 64 bits as the nearest double; a record whose line holds such a long
number is read again with :mod:`json`, so the value converted (or quoted in the reason) is the exact
integer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson
import pyarrow as pa

from .readers import ArrowChunk, JsonlChunk
from .session import Session

__all__ = ["JSON_TEXT", "JsonlArrowChunk", "JsonlToArrow", "arrow_chunks", "infer_schema", "infer_type"]

JSON_TEXT = {b"emoscore:json": b"text"}  # the field metadata of a column of JSON text
_BAD_VALUES = (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, UnicodeEncodeError, TypeError, ValueError)
_NONE = type(None)
_OPEN = object()  # no value seen: the type is left open
_MIXED = object()  # no common type: JSON text
_RANGES = {pa.int64(): (-(1 << 63), (1 << 63) - 1), pa.uint64(): (0, (1 << 64) - 1)}
_MAX_DEPTH = 16  # lists and objects inside each other; deeper: JSON text (Arrow IPC stops at 64)
_PLAIN = {pa.string(): str, pa.bool_(): bool, pa.float64(): float, pa.int64(): int, pa.uint64(): int}
_DIGITS = bytes(0x39 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))  # a digit → "9", else " "
_LONG_RUN = b"9" * 19  # 19 digits in a row: perhaps an integer beyond 64 bits (orjson: a double)


def _exact_double(value: int) -> bool:
    try:
        return float(value) == value
    except OverflowError:
        return False


def _infer(values: list, depth: int = 0) -> Any:
    """The Arrow type holding every value exactly, ``_OPEN`` (nulls only) or ``_MIXED``."""
    kinds = set(map(type, values))
    kinds.discard(_NONE)
    if not kinds:
        return _OPEN
    if kinds == {int, float}:
        return pa.float64() if all(_exact_double(v) for v in values if type(v) is int) else _MIXED
    if len(kinds) > 1:
        return _MIXED
    (kind,) = kinds
    if kind is str:
        return pa.string()
    if kind is bool:
        return pa.bool_()
    if kind is float:
        return pa.float64()
    if kind is int:
        present = [v for v in values if v is not None]
        low, high = min(present), max(present)
        for arrow, (lo, hi) in _RANGES.items():
            if lo <= low and high <= hi:
                return arrow
        return _MIXED
    if kind in (list, dict) and depth >= _MAX_DEPTH:
        return _MIXED
    if kind is list:
        inner = _infer([item for value in values if value is not None for item in value], depth + 1)
        return _MIXED if inner is _OPEN or inner is _MIXED else pa.list_(inner)
    if kind is dict:
        keys = list(dict.fromkeys(key for value in values if value is not None for key in value))
        fields = []
        for key in keys:
            member = _infer([value.get(key) for value in values if value is not None], depth + 1)
            if member is _OPEN or member is _MIXED:
                return _MIXED
            fields.append(pa.field(key, member))
        return pa.struct(fields) if fields else _MIXED  # Parquet cannot store an empty struct
    return _MIXED


def infer_type(values: list) -> pa.DataType | None:
    """The column type of a field's JSON ``values`` (see the module docstring), None for JSON text."""
    kind = _infer(values)
    if kind is _OPEN:
        return pa.string()
    return None if kind is _MIXED else kind


def infer_schema(
    objects: list[dict], text: str, fields: list[str] | None = None, exclude: frozenset[str] = frozenset()
) -> tuple[pa.Schema, frozenset[str]]:
    """(schema, fields written as JSON text) of JSONL records.

    Every field seen in ``objects`` in order of first appearance (``fields``: only these, in that
    order), except those in ``exclude``; each typed by :func:`infer_type`.
    """
    if fields is None:
        names = list(dict.fromkeys(key for obj in objects for key in obj))
        if text not in names:
            names.append(text)
    else:
        names = list(fields)
    columns, as_json = [], set()
    for name in names:
        if name in exclude:
            continue
        kind = pa.string() if name == text else infer_type([obj.get(name) for obj in objects])
        if kind is None:
            as_json.add(name)
            columns.append(pa.field(name, pa.string(), metadata=JSON_TEXT))
        else:
            columns.append(pa.field(name, kind))
    return pa.schema(columns), frozenset(as_json)


class _Misfit(Exception):
    pass


def _show(value: Any) -> str:
    try:
        text = _json_text(value)
    except _Misfit:
        return "a value nested too deeply to quote"
    return text if len(text) <= 80 else text[:77] + "..."


def _fit(value: Any, kind: pa.DataType, path: str) -> Any:
    """``value`` as handed to pyarrow for ``kind`` (a number as the column's kind of number), or
    :class:`_Misfit` naming where it does not fit."""
    if value is None:
        return None
    t = type(value)
    if pa.types.is_string(kind):
        if t is str:
            return value
    elif pa.types.is_boolean(kind):
        if t is bool:
            return value
    elif pa.types.is_integer(kind):
        lo, hi = _RANGES[kind]
        if t is int and lo <= value <= hi:
            return value
        if t is float and value.is_integer() and lo <= value <= hi:
            return int(value)
    elif pa.types.is_floating(kind):
        if t is float:
            return value
        if t is int and _exact_double(value):
            return float(value)
    elif pa.types.is_list(kind):
        if t is list:
            return [_fit(item, kind.value_type, f"{path}[{j}]") for j, item in enumerate(value)]
    elif pa.types.is_struct(kind) and t is dict:
        out = {}
        for key, item in value.items():
            index = kind.get_field_index(key)
            if index < 0:
                raise _Misfit(f"{path} has the key {key!r}, which {kind} lacks")
            out[key] = _fit(item, kind.field(index).type, f"{path}.{key}")
        return out
    raise _Misfit(f"{path} = {_show(value)} does not fit {kind}")


def _fit_column(values: list, kind: pa.DataType, name: str) -> tuple[list, list[tuple[int, str]]]:
    """(values as handed to pyarrow, [(row, reason)] of those that do not fit)."""
    kinds = set(map(type, values))
    kinds.discard(_NONE)
    plain = _PLAIN.get(kind)
    if plain is not None and kinds <= {plain}:  # the common case: one Python type, no check per value
        if plain is not int:
            return values, []
        present = [v for v in values if v is not None]
        lo, hi = _RANGES[kind]
        if not present or (lo <= min(present) and max(present) <= hi):
            return values, []
    out, bad = [], []
    for row, value in enumerate(values):
        try:
            out.append(_fit(value, kind, name))
        except _Misfit as exc:
            out.append(None)
            if pa.types.is_nested(kind):
                reason = f"{exc} (the column type {kind}, inferred from the first batch)"
            else:
                reason = f"{str(exc).removeprefix(name + ' = ')}, the column type inferred from the first batch"
            bad.append((row, f"field {name!r}: {reason}"))
    return out, bad


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits, or lists and objects beyond orjson's depth
        pass
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (RecursionError, ValueError):
        raise _Misfit("the value is nested too deeply to write as JSON text") from None


def _json_column(values: list, name: str) -> tuple[list, list[tuple[int, str]]]:
    """(JSON text of each value, [(row, reason)] of those that cannot be written)."""
    out, bad = [], []
    for row, value in enumerate(values):
        try:
            out.append(None if value is None else _json_text(value))
        except _Misfit as exc:
            out.append(None)
            bad.append((row, f"field {name!r}: {exc}"))
    return out, bad


class JsonlArrowChunk(ArrowChunk):
    """JSONL records as a batch of the converter's schema; the texts are kept aside (the batch may
    not hold the text column, or any column at all)."""

    def __init__(self, batch: pa.RecordBatch, texts: pa.Array, lines: Sequence[int], text: str = "") -> None:
        super().__init__(batch, text, lines, "line")
        self._texts = texts

    def __len__(self) -> int:
        return len(self._texts)

    def texts(self) -> pa.Array:
        return self._texts

    def take(self, rows: Sequence[int]) -> JsonlArrowChunk:
        """Only ``rows``, in that order."""
        index = pa.array(rows, pa.int64())
        return JsonlArrowChunk(self.batch.take(index), self._texts.take(index), [self.numbers[i] for i in rows],
                               self.text)  # fmt: skip


class JsonlToArrow:
    """Converts :class:`JsonlChunk` objects to :class:`JsonlArrowChunk` objects of one schema."""

    def __init__(
        self, session: Session, *, text: str, fields: list[str] | None = None, exclude: frozenset[str] = frozenset()
    ) -> None:
        self.session = session
        self.text = text
        self.fields = fields
        self.exclude = exclude
        self.schema: pa.Schema | None = None
        self.as_json: frozenset[str] = frozenset()

    def infer(self, chunk: JsonlChunk) -> pa.Schema:
        """The schema (inferred from ``chunk`` if this is the first one)."""
        if self.schema is None:
            self.schema, self.as_json = infer_schema(_exact(chunk), self.text, self.fields, self.exclude)
        return self.schema

    def __call__(self, chunk: JsonlChunk) -> JsonlArrowChunk:
        schema = self.infer(chunk)
        objects = _exact(chunk)
        bad: dict[int, tuple[str, str]] = {}  # row: (field, reason), the first found
        if self.fields is None:  # a field the schema lacks would be lost: reject the record
            allowed = frozenset(schema.names) | self.exclude
            if not all(map(allowed.issuperset, objects)):
                for i, obj in enumerate(objects):
                    if not allowed.issuperset(obj):
                        extra = next(key for key in obj if key not in allowed)
                        bad[i] = (extra, f"field {extra!r} is not in the schema inferred from the first batch")
        columns = []
        for field in schema:
            name = field.name
            values = [obj.get(name) for obj in objects]
            if name in self.as_json:
                values, misfits = _json_column(values, name)
            else:
                values, misfits = _fit_column(values, field.type, name)
            for row, reason in misfits:
                bad.setdefault(row, (name, reason))
            columns.append(values)
        keep: list[int] = []
        for i in range(len(objects)):
            if i not in bad:
                keep.append(i)
                continue
            if self._reject(chunk, i, *bad[i]):
                return self._truncated(chunk, columns, keep, i)
        try:
            batch = self._batch(columns, keep, len(objects))
        except _BAD_VALUES:  # not expected after the checks above; still, reject, never crash
            good: list[int] = []
            for i in keep:
                try:
                    self._batch(columns, [i], len(objects))
                    good.append(i)
                except _BAD_VALUES as exc:
                    if self._reject(chunk, i, None, f"does not fit the schema inferred from the first batch: {exc}"):
                        return self._truncated(chunk, columns, good, i)
            keep = good
            batch = self._batch(columns, keep, len(objects))
        return self._chunk(chunk, keep, batch)

    def _reject(self, chunk: JsonlChunk, i: int, field: str | None, reason: str) -> bool:
        """Reports record ``i``; True when the run halts there (--on-error fail)."""
        self.session.reject(chunk.lines[i], reason, field=field, raw=chunk.raw[i], counted=True)
        return self.session.halt

    def _batch(self, columns: list[list], keep: Sequence[int], count: int) -> pa.RecordBatch:
        """The kept rows of the checked column values as a batch of the schema."""
        assert self.schema is not None
        arrays = []
        for field, values in zip(self.schema, columns, strict=True):
            if len(keep) != count:
                values = [values[i] for i in keep]
            arrays.append(pa.array(values, type=field.type))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _chunk(self, chunk: JsonlChunk, keep: Sequence[int], batch: pa.RecordBatch) -> JsonlArrowChunk:
        if len(keep) == len(chunk):
            return JsonlArrowChunk(batch, chunk.texts(), chunk.lines, self.text)
        texts = pa.array([chunk.text_values[i] for i in keep], pa.string())
        return JsonlArrowChunk(batch, texts, [chunk.lines[i] for i in keep], self.text)

    def _truncated(self, chunk: JsonlChunk, columns: list[list], keep: list[int], failed: int) -> JsonlArrowChunk:
        """--on-error fail: the records after the failing one are given back as never read."""
        self.session.read -= len(chunk) - failed - 1
        self.session.last = chunk.lines[failed]
        return self._chunk(chunk, keep, self._batch(columns, keep, len(chunk)))


def _exact(chunk: JsonlChunk) -> list[dict]:
    """The chunk's objects, those whose line holds 19 digits in a row read again with :mod:`json`
    (orjson reads an integer beyond 64 bits as the nearest double). One translate and one find
    over the whole chunk in the common case."""
    objects, table = chunk.objects, _DIGITS
    if b"\n".join(chunk.raw).translate(table).find(_LONG_RUN) < 0:
        return objects
    objects = list(objects)
    for i, raw in enumerate(chunk.raw):
        if raw.translate(table).find(_LONG_RUN) < 0:
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        if type(obj) is dict:
            objects[i] = obj
    return objects


def arrow_chunks(reader: Iterable, session: Session, *, text: str) -> Iterator[ArrowChunk]:
    """Every chunk of any reader as an :class:`ArrowChunk` (JSONL converted with
    :class:`JsonlToArrow`, every field kept): for subcommands that work on typed columns."""
    converter = JsonlToArrow(session, text=text)
    for chunk in reader:
        yield converter(chunk) if isinstance(chunk, JsonlChunk) else chunk
