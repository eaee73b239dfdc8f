"""JSONL records → Arrow record batches of one schema, for the columnar writers and for any
subcommand that needs typed columns (e.g. KPIs over a JSONL input).

The schema is inferred field by field from the first chunk (pyarrow's inference; the text field is
always a string; a field with no common type becomes a string column of JSON text). Later records
that do not fit it — a field the schema lacks (when every field is kept), a value of another type —
are rejected through the session's error sink, never dropped silently; with ``--on-error fail`` the
records after the first rejected one are given back as never read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import orjson
import pyarrow as pa

from .readers import ArrowChunk, JsonlChunk
from .session import Session

__all__ = ["JsonlArrowChunk", "JsonlToArrow", "arrow_chunks", "infer_schema"]

_BAD_VALUES = (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, UnicodeEncodeError, TypeError, ValueError)


def infer_schema(
    objects: list[dict], text: str, fields: list[str] | None = None, exclude: frozenset[str] = frozenset()
) -> tuple[pa.Schema, frozenset[str]]:
    """(schema, fields written as JSON text) of JSONL records.

    Every field seen in ``objects`` in order of first appearance (``fields``: only these, in that
    order), except those in ``exclude``. A field with no common Arrow type (``[1, "a"]``, mixed
    lists), or holding an empty struct (Parquet cannot store one), is a string column of JSON text;
    a field that is null throughout is a string column.
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
        if name == text:
            columns.append(pa.field(name, pa.string()))
            continue
        try:
            kind = pa.array([obj.get(name) for obj in objects]).type
        except _BAD_VALUES:
            kind = None
        if kind is None or _has_empty_struct(kind):
            as_json.add(name)
            kind = pa.string()
        elif pa.types.is_null(kind):
            kind = pa.string()
        columns.append(pa.field(name, kind))
    return pa.schema(columns), frozenset(as_json)


def _has_empty_struct(kind: pa.DataType) -> bool:
    if pa.types.is_struct(kind):
        return kind.num_fields == 0 or any(_has_empty_struct(kind.field(i).type) for i in range(kind.num_fields))
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _has_empty_struct(kind.value_type)
    if pa.types.is_map(kind):
        return _has_empty_struct(kind.key_type) or _has_empty_struct(kind.item_type)
    return False


class JsonlArrowChunk(ArrowChunk):
    """JSONL records as a batch of the converter's schema; the texts are kept aside (the batch may
    not hold the text column, or any column at all)."""

    def __init__(self, batch: pa.RecordBatch, texts: pa.Array, lines: Sequence[int], text: str) -> None:
        super().__init__(batch, text, lines, "line")
        self._texts = texts

    def __len__(self) -> int:
        return len(self._texts)

    def texts(self) -> pa.Array:
        return self._texts


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
            self.schema, self.as_json = infer_schema(chunk.objects, self.text, self.fields, self.exclude)
        return self.schema

    def __call__(self, chunk: JsonlChunk) -> JsonlArrowChunk:
        schema = self.infer(chunk)
        session, objects = self.session, chunk.objects
        keep: Sequence[int] = range(len(objects))
        if self.fields is None:  # a field the schema lacks would be lost: reject the record
            allowed = frozenset(schema.names) | self.exclude
            if not all(map(allowed.issuperset, objects)):
                keep = []
                for i, obj in enumerate(objects):
                    if allowed.issuperset(obj):
                        keep.append(i)
                        continue
                    extra = next(key for key in obj if key not in allowed)
                    session.reject(
                        chunk.lines[i], f"field {extra!r} is not in the schema inferred from the first batch",
                        field=extra, raw=chunk.raw[i], counted=True,
                    )  # fmt: skip
                    if session.halt:
                        return self._truncated(chunk, keep, i)
        try:
            batch = self._batch(chunk, keep)
        except _BAD_VALUES:
            good: list[int] = []
            for i in keep:  # find the records that do not fit, one by one
                try:
                    self._batch(chunk, [i])
                    good.append(i)
                except _BAD_VALUES as exc:
                    session.reject(
                        chunk.lines[i], f"does not fit the schema inferred from the first batch: {exc}",
                        raw=chunk.raw[i], counted=True,
                    )  # fmt: skip
                    if session.halt:
                        return self._truncated(chunk, good, i)
            keep = good
            batch = self._batch(chunk, keep)
        return self._chunk(chunk, keep, batch)

    def _batch(self, chunk: JsonlChunk, keep: Sequence[int]) -> pa.RecordBatch:
        """The kept records as a batch of the schema, built column by column."""
        objects = chunk.objects if len(keep) == len(chunk.objects) else [chunk.objects[i] for i in keep]
        arrays = []
        dumps = orjson.dumps
        for field in self.infer(chunk):  # the schema: inferred already
            name = field.name
            values = [obj.get(name) for obj in objects]
            if name in self.as_json:
                values = [None if v is None else dumps(v).decode() for v in values]
            arrays.append(pa.array(values, type=field.type))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _chunk(self, chunk: JsonlChunk, keep: Sequence[int], batch: pa.RecordBatch) -> JsonlArrowChunk:
        if len(keep) == len(chunk):
            return JsonlArrowChunk(batch, chunk.texts(), chunk.lines, self.text)
        texts = pa.array([chunk.text_values[i] for i in keep], pa.string())
        return JsonlArrowChunk(batch, texts, [chunk.lines[i] for i in keep], self.text)

    def _truncated(self, chunk: JsonlChunk, keep: list[int], failed: int) -> JsonlArrowChunk:
        """--on-error fail: the records after the failing one are given back as never read."""
        self.session.read -= len(chunk) - failed - 1
        self.session.last = chunk.lines[failed]
        return self._chunk(chunk, keep, self._batch(chunk, keep))


def arrow_chunks(reader: Iterable, session: Session, *, text: str) -> Iterator[ArrowChunk]:
    """Every chunk of any reader as an :class:`ArrowChunk` (JSONL converted with
    :class:`JsonlToArrow`, every field kept): for subcommands that work on typed columns."""
    converter = JsonlToArrow(session, text=text)
    for chunk in reader:
        yield converter(chunk) if isinstance(chunk, JsonlChunk) else chunk
