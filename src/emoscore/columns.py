"""Arrow columns as the kernels take them: validated, converted, read in place where the type allows.

The column helpers that :mod:`emoscore.kpi` and :mod:`emoscore.alerts` share. A numeric column
becomes ``(values, bitmap, bit_offset)``: a read-only NumPy array of its values (the slots of null
rows hold garbage) and Arrow's validity bitmap (an empty bitmap means "no nulls"); a string column
becomes its distinct values and an index per row; an id column becomes 64-bit hashes. Ranges are
checked by one kernel pass (:func:`check_range`), so a bad value raises before any state changes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import InputError
from .kernels import kpi_cpu
from .kernels.contract import readonly

__all__ = [
    "as_input_errors",
    "categorical",
    "check_key_type",
    "check_range",
    "factorize",
    "hash_ids",
    "numeric",
    "offsets_view",
    "string_like",
    "validity_bitmap",
    "values_view",
]

_NO_BITMAP = np.frombuffer(b"", np.uint8)
_DURATION_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
_INT_VIEWS = {8: pa.int8(), 16: pa.int16(), 32: pa.int32(), 64: pa.int64()}



@contextlib.contextmanager
def as_input_errors() -> Iterator[list]:
    """Around the reading of a batch's columns: any failure (a pyarrow or NumPy error on a column
    type the code cannot handle) becomes one :class:`InputError` naming the column being read.
    The caller keeps ``current[:] = [name, array]`` up to date in the list it is given."""
    current: list = [None, None]
    try:
        yield current
    except (InputError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - any failure here is the input's
        name, arr = current
        kind = arr.type if arr is not None else "?"
        raise InputError(f"column {name!r} of type {kind} cannot be used here ({type(exc).__name__}: {exc})") from None

def check_key_type(kind: pa.DataType, column: str) -> None:
    """Refuse a group-key type that cannot be factorised, compared and sorted: nested types,
    unions, half floats, extension types (dictionaries are judged by their value type).

    Raises
    ------
    InputError
        Naming ``column`` and the type.
    """
    value = kind.value_type if pa.types.is_dictionary(kind) else kind
    ok = (pa.types.is_integer(value) or pa.types.is_float32(value) or pa.types.is_float64(value)
          or pa.types.is_boolean(value) or pa.types.is_null(value) or pa.types.is_decimal(value)
          or pa.types.is_temporal(value) or pa.types.is_string(value) or pa.types.is_large_string(value)
          or pa.types.is_binary(value) or pa.types.is_large_binary(value) or pa.types.is_fixed_size_binary(value)
          or pa.types.is_string_view(value) or pa.types.is_binary_view(value))
    if not ok or isinstance(value, pa.BaseExtensionType):
        raise InputError(f"key column {column!r} has type {kind}; group keys must be strings, binaries, numbers, "
                         "booleans, dates or times (not nested, union, half-float or extension types)")


def validity_bitmap(arr: pa.Array) -> tuple[np.ndarray, int]:
    """Arrow validity bitmap of ``arr`` as read-only uint8 plus the bit offset (empty = no nulls)."""
    if arr.null_count == 0:
        return _NO_BITMAP, 0
    if pa.types.is_null(arr.type):
        return readonly(np.zeros((len(arr) + 7) // 8, np.uint8)), 0
    return np.frombuffer(arr.buffers()[0], np.uint8), arr.offset


def values_view(arr: pa.Array, dtype) -> np.ndarray:
    """Zero-copy read-only view of the values buffer of a fixed-width array (nulls hold garbage)."""
    n = len(arr)
    if n == 0:
        return readonly(np.zeros(0, dtype))
    dtype = np.dtype(dtype)
    return np.frombuffer(arr.buffers()[1], dtype, count=n, offset=arr.offset * dtype.itemsize)


def offsets_view(arr: pa.Array, dtype) -> np.ndarray:
    """Zero-copy read-only view of the ``len(arr) + 1`` offsets of a string or binary array
    (``dtype`` int32, or int64 for the large types)."""
    dtype = np.dtype(dtype)
    return np.frombuffer(arr.buffers()[1], dtype, count=len(arr) + 1, offset=arr.offset * dtype.itemsize)


def numeric(arr: pa.Array, column: str, *, float32_ok: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
    """``(values, bitmap, bit_offset)`` of a numeric column: int64 or float64 (float32 when
    ``float32_ok``) values, zero-copy where the Arrow type allows; durations become seconds.

    Raises
    ------
    InputError
        The column is not numeric, or holds a uint64 beyond int64 (``column`` names it).
    """
    kind = arr.type
    if pa.types.is_dictionary(kind):
        arr = arr.dictionary_decode()
        kind = arr.type
    if pa.types.is_null(kind):
        return readonly(np.zeros(len(arr))), *validity_bitmap(arr)
    if pa.types.is_int64(kind):
        return values_view(arr, np.int64), *validity_bitmap(arr)
    if pa.types.is_float64(kind) or (float32_ok and pa.types.is_float32(kind)):
        return values_view(arr, kind.to_pandas_dtype()), *validity_bitmap(arr)
    if pa.types.is_integer(kind):
        try:
            arr = arr.cast(pa.int64())
        except pa.ArrowInvalid:  # uint64 beyond int64: report the first such value
            big = pc.greater(arr, pa.scalar(np.iinfo(np.int64).max, pa.uint64())).to_numpy(zero_copy_only=False)
            row = int(np.argmax(np.asarray(big, bool)))
            raise InputError(f"column {column!r}, row {row}: value {arr[row].as_py()!r} is out of range") from None
        return values_view(arr, np.int64), *validity_bitmap(arr)
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        arr = arr.cast(pa.float64())
        return values_view(arr, np.float64), *validity_bitmap(arr)
    if pa.types.is_duration(kind):
        seconds = values_view(arr, np.int64) * _DURATION_SECONDS[kind.unit]
        return readonly(seconds), *validity_bitmap(arr)
    raise InputError(f"column {column!r} must be numeric, but its type is {kind}")


def check_range(values, bitmap, bit_offset, lo, hi, integral, column, arr, row0, what) -> None:
    """Check that every non-null value of a :func:`numeric` column lies in ``[lo, hi]`` (and is a
    whole number when ``integral``).

    Raises
    ------
    InputError
        At the first value that does not (NaN included): the message names ``column``, the row
        (``row0`` plus its index in ``arr``), the value, and says it is ``what``.
    """
    row = kpi_cpu.first_invalid(values, bitmap, bit_offset, float(lo), float(hi), integral)
    if row >= 0:
        value = arr[row].as_py()
        raise InputError(f"column {column!r}, row {row0 + row}: value {value!r} is {what}")


def string_like(arr: pa.Array, column: str) -> pa.Array:
    """``arr`` as a string, large-string, dictionary or null array (string views become large strings).

    Raises
    ------
    InputError
        The column does not hold strings.
    """
    kind = arr.type
    if pa.types.is_dictionary(kind):
        value = kind.value_type
        if pa.types.is_string(value) or pa.types.is_large_string(value):
            return arr
        if pa.types.is_string_view(value):
            return arr.cast(pa.large_string())
        raise InputError(f"column {column!r} must hold strings, but its type is {kind}")
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind):
        return arr
    if pa.types.is_string_view(kind):
        return arr.cast(pa.large_string())
    raise InputError(f"column {column!r} must hold strings, but its type is {kind}")


def categorical(arr: pa.Array, column: str) -> tuple[list, np.ndarray]:
    """``(distinct values as Python objects, index per row)``; null rows point at a ``None`` entry or
    at index ``len(values)``.
    Costs one Numba factorisation pass plus Python work proportional to the distinct values."""
    arr = string_like(arr, column)
    if pa.types.is_null(arr.type):
        return [], np.zeros(len(arr), np.int32)
    if pa.types.is_dictionary(arr.type):
        names = arr.dictionary.to_pylist()
        return names, _indices(arr, len(names))
    values, index, _ = factorize(arr)
    return values.to_pylist(), index  # None stands for null


def _indices(arr: pa.DictionaryArray, null_index: int) -> np.ndarray:
    indices = arr.indices
    if indices.null_count:
        indices = indices.fill_null(null_index)
    return indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)


def hash_ids(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, int]:
    """64-bit hashes of an id column: ``(hashes uint64[n], bitmap, bit_offset)``; never 0.

    Strings and binaries hash their bytes (8-byte words folded by multiply/xor-shift, length-seeded,
    MurmurHash3 fmix64 finaliser: ``kernels.kpi_cpu._hash_bytes``); integers, dates,
    timestamps and durations hash their int64 value (fmix64); other types are hashed as their string
    form. The same id therefore hashes the same in every batch as long as its Arrow type family is
    the same (``42`` and ``"42"`` differ).
    """
    kind = arr.type
    n = len(arr)
    out = np.empty(n, np.uint64)
    if pa.types.is_null(kind):
        out[:] = 1
        return out, *validity_bitmap(arr)
    if pa.types.is_dictionary(kind):
        dict_hashes, dict_bitmap, dict_offset = hash_ids(arr.dictionary)
        indices = arr.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        valid = arr.is_valid().to_numpy(zero_copy_only=False)
        if len(dict_bitmap):
            dict_valid = np.unpackbits(dict_bitmap, bitorder="little")[dict_offset : dict_offset + len(arr.dictionary)]
            valid &= dict_valid.astype(bool)[indices] if n else valid
        out = dict_hashes[indices] if n else out
        if valid.all():
            return out, _NO_BITMAP, 0
        return out, readonly(np.packbits(valid, bitorder="little")), 0
    if pa.types.is_string_view(kind) or pa.types.is_binary_view(kind):
        arr = arr.cast(pa.large_binary())
        kind = arr.type
    if pa.types.is_fixed_size_binary(kind):
        arr = arr.cast(pa.binary())
        kind = arr.type
    if _is_binary_like(kind):
        if n:
            wide = pa.types.is_large_string(kind) or pa.types.is_large_binary(kind)
            offsets = offsets_view(arr, np.int64 if wide else np.int32)
            data_buffer = arr.buffers()[2]
            data = np.frombuffer(data_buffer, np.uint8) if data_buffer is not None else _NO_BITMAP
            kpi_cpu.hash_binary(offsets, data, out)
        return out, *validity_bitmap(arr)
    if pa.types.is_uint64(kind):
        if n:
            kpi_cpu.hash_int64(values_view(arr, np.int64), out)
        return out, *validity_bitmap(arr)
    ints = _as_int64(arr) if pa.types.is_integer(kind) or pa.types.is_temporal(kind) else None
    if ints is not None:
        if n:
            kpi_cpu.hash_int64(values_view(ints, np.int64), out)
        return out, *validity_bitmap(ints)
    if pa.types.is_nested(kind) or pa.types.is_union(kind) or isinstance(kind, pa.BaseExtensionType):
        raise InputError(f"ids of type {kind} cannot be hashed; use strings or integers")
    return hash_ids(arr.cast(pa.string()))


def _is_binary_like(kind: pa.DataType) -> bool:
    return (pa.types.is_string(kind) or pa.types.is_binary(kind) or pa.types.is_large_string(kind)
            or pa.types.is_large_binary(kind))


def factorize(arr: pa.Array) -> tuple[pa.Array, np.ndarray, bool]:
    """``(distinct values, index int32 per row, every value used)`` of one key column, null being a
    value of its own. Strings, binaries, integers, booleans and temporal types are factorised by a
    Numba kernel (exact: hash plus byte comparison); a dictionary array reuses its own dictionary
    (whose entries may be unused: the flag is then False); other types use Arrow's encoder."""
    kind = arr.type
    if pa.types.is_dictionary(kind):
        values = arr.dictionary
        if arr.indices.null_count:
            values = pa.concat_arrays([values, pa.nulls(1, values.type)])
        return values, _indices(arr, len(arr.dictionary)), False
    if pa.types.is_string_view(kind) or pa.types.is_binary_view(kind):
        arr = arr.cast(pa.large_string() if pa.types.is_string_view(kind) else pa.large_binary())
        kind = arr.type
    n = len(arr)
    if n and _is_binary_like(kind):
        wide = pa.types.is_large_string(kind) or pa.types.is_large_binary(kind)
        data_buffer = arr.buffers()[2]
        data = np.frombuffer(data_buffer, np.uint8) if data_buffer is not None else _NO_BITMAP
        local, first = kpi_cpu.factorize_binary(offsets_view(arr, np.int64 if wide else np.int32), data,
                                                *validity_bitmap(arr))
        return arr.take(pa.array(first)), local, True
    ints = _as_int64(arr) if n else None
    if ints is not None:
        local, first = kpi_cpu.factorize_int64(values_view(ints, np.int64), *validity_bitmap(ints))
        return arr.take(pa.array(first)), local, True
    encoded = arr.dictionary_encode(null_encoding="encode")
    return encoded.dictionary, _indices(encoded, 0), True


def _as_int64(arr: pa.Array) -> pa.Array | None:
    """The array's values as int64 (same equality), or None for types without such a view."""
    kind = arr.type
    if pa.types.is_boolean(kind):
        return arr.cast(pa.int64())
    if pa.types.is_integer(kind) or pa.types.is_temporal(kind):
        try:
            width = kind.bit_width
        except ValueError:
            return None
        if width not in _INT_VIEWS:
            return None
        view = arr.view(_INT_VIEWS[width])
        return view if width == 64 else view.cast(pa.int64())
    return None
