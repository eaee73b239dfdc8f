"""Score columns and Arrow rows as JSON text, built column-wise with pyarrow.compute (no Python work
per row in the common case): the JSONL writer splices these fragments into each input object."""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
import functools

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["concat_buffer", "json_column", "json_default", "json_fields", "splice_lines"]

_JSON_WS = " \t\r\n"
_DECIMAL_RANGE = 10_000  # scores in [-1, 1] at 4 decimals: k / 10**4 for |k| <= 10**4
_INT_RANGE = 1 << 14  # counts (tokens, hits) below this use a table too


@functools.cache
def _decimals() -> tuple[str, ...]:
    """JSON text of k / 10**4 for k in [-10**4, 10**4], as orjson writes the float (1.0, not 1)."""
    return tuple(orjson.dumps(k / 10_000).decode() for k in range(-_DECIMAL_RANGE, _DECIMAL_RANGE + 1))


@functools.cache
def _large(text: str) -> pa.Scalar:
    """``text`` as a large_string scalar, made on first use: converting a Python object is what
    makes pyarrow import pandas (when installed), which no start-up should wait for."""
    return pa.scalar(text, pa.large_string())


@functools.cache
def _texts(kind: str) -> pa.Array:
    """The JSON text of every value a table covers (``_decimals()``, or the counts below _INT_RANGE)."""
    return pa.array(_decimals() if kind == "decimal" else [str(value) for value in range(_INT_RANGE)], pa.string())


@functools.lru_cache(maxsize=64)
def _keyed_table(key: str, kind: str) -> pa.Array:
    """``key`` followed by every value's JSON text: the common case of a column is one take().
    Joined in Arrow, not per value in Python: a run makes one table per score column before its
    first line is written."""
    return pc.binary_join_element_wise(key, _texts(kind), "") if key else _texts(kind)


def json_column(column: pa.Array, key: str = "", *, exact: bool = False) -> pa.Array:
    """``key`` followed by the JSON text of every value of ``column`` (nulls written as ``null``);
    floats rounded to 4 decimals and written as Python would write the rounded float (the scores),
    unless ``exact``: then each float is written as the shortest text that reads back as the same
    double (NaN and infinities as ``null``). In a list of structs (the ``aspects`` scores) only
    float32 fields are rounded: an input value such as a JSON number (float64) is written exactly."""
    kind = column.type
    if pa.types.is_floating(kind) and exact:
        dumps = orjson.dumps
        text = pa.array([dumps(v).decode() for v in column.to_pylist()], pa.string())
    elif pa.types.is_floating(kind):
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
    elif pa.types.is_list(kind) and pa.types.is_struct(kind.value_type):
        text = _json_struct_lists(column, exact)
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        encoded = pc.dictionary_encode(column)
        words = [key + orjson.dumps(v).decode() for v in encoded.dictionary.to_pylist()]
        return pc.fill_null(pa.array(words, pa.string()).take(encoded.indices), key + "null")
    else:
        dumps = orjson.dumps
        text = pa.array([dumps(v, default=json_default).decode() for v in column.to_pylist()], pa.string())
    return pc.binary_join_element_wise(key, text, "") if key else text


def _json_struct_lists(column: pa.Array, exact: bool) -> pa.Array:
    """JSON text of a list<struct> column (the ``aspects`` scores), built column-wise: each field
    through :func:`json_column` (float32 at 4 decimals unless ``exact``), joined into objects, then
    into arrays."""
    flat = column.flatten()
    fields = list(column.type.value_type)
    if len(flat):
        pieces = [json_column(flat.field(i), ("," if i else "") + orjson.dumps(f.name).decode() + ":",
                              exact=exact or not pa.types.is_float32(f.type))
                  for i, f in enumerate(fields)]  # fmt: skip
        objects = pc.binary_join_element_wise("{", *pieces, "}", "")
    else:
        objects = pa.array([], pa.string())
    lengths = pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False).astype(np.int32)
    offsets = np.zeros(len(column) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), objects), ",")
    text = pc.binary_join_element_wise("[", joined, "]", "")
    if column.null_count:
        text = pc.if_else(column.is_valid(), text, "null")
    return text


def json_fields(scores: pa.Table | pa.RecordBatch) -> pa.Array:
    """One ``"name":value,...`` fragment (large_string) per row of ``scores``."""
    pieces = []
    for i, (name, column) in enumerate(zip(scores.schema.names, scores.columns, strict=True)):
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        pieces.append(json_column(column, ("," if i else "") + orjson.dumps(name).decode() + ":"))
    if not pieces:
        return pa.array([""] * scores.num_rows, pa.large_string())
    return pc.cast(pc.binary_join_element_wise(*pieces, ""), pa.large_string())


def json_default(value):
    """orjson fallback for the Python values of Arrow types that JSON has no direct form for."""
    if isinstance(value, decimal.Decimal):  # every digit, as a JSON number (never through float)
        return orjson.Fragment(str(value)) if value.is_finite() else None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def concat_buffer(array: pa.Array) -> pa.Buffer:
    """The bytes of every value of a (large_)string or binary array, back to back (zero-copy)."""
    wide = pa.types.is_large_binary(array.type) or pa.types.is_large_string(array.type)
    _, offsets, data = array.buffers()
    bounds = np.frombuffer(offsets, np.int64 if wide else np.int32, array.offset + len(array) + 1)
    start, end = int(bounds[array.offset]), int(bounds[-1])
    return data.slice(start, end - start) if data is not None else pa.py_buffer(b"")


def splice_lines(objects: list[bytes], scores: pa.Table | pa.RecordBatch, *, may_be_empty: bool = False) -> pa.Buffer:
    """Output lines, back to back: each JSON object text (valid UTF-8 JSON; surrounding whitespace
    and line end allowed) with the score fields added before its closing brace, after a ``,``
    unless the object is empty (only looked for when ``may_be_empty``)."""
    raw = pc.cast(pa.array(objects, pa.large_binary()), pa.large_string())  # orjson checked UTF-8
    head = pc.utf8_slice_codeunits(pc.utf8_trim(raw, _JSON_WS), 0, -1)  # without the closing brace
    comma = _large(",")
    if may_be_empty:
        empty = pc.equal(pc.utf8_rtrim(head, _JSON_WS), _large("{"))
        comma = pc.if_else(empty, _large(""), _large(","))
    lines = pc.binary_join_element_wise(head, comma, json_fields(scores), _large("}\n"), _large(""))
    return concat_buffer(lines)
