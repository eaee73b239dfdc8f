"""Group keys of the KPI engine: the distinct values of each key column, the time-window key of each
row, and the rows of a ``--by aspect`` grouping (one per document and aspect it mentions)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .columns import validity_bitmap, values_view
from .errors import ColumnNotFoundError, InputError
from .kernels import kpi_cpu

__all__ = ["ASPECT_KEY", "KeyDictionary", "explode_aspects", "window_keys"]

#: The group key that explodes documents over their ``aspects`` list (see :class:`~emoscore.kpi.KpiAggregator`).
ASPECT_KEY = "aspect"


# ==================================================================================================
# aspect rows and time windows
# ==================================================================================================

_UTC = {"UTC", "utc", "Etc/UTC", "+00:00", "Z", "GMT", "Etc/GMT"}
_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}


def explode_aspects(data: pa.Table | pa.RecordBatch, emotions: Sequence[str]) -> pa.Table | pa.RecordBatch:
    """One row per (document, aspect) of the ``aspects`` list column: the document's columns, an
    ``aspect`` key and ``valence`` / ``emotion`` of that aspect; a document without aspects keeps one
    row with a null ``aspect`` and its own scores. Per-emotion score columns are dropped."""
    if "aspects" not in data.schema.names:
        raise ColumnNotFoundError(f"grouping by {ASPECT_KEY!r} needs the 'aspects' column of Scorer.score "
                                  f"(aspects on); the data has columns {data.schema.names}")
    lists = data.column("aspects")
    if isinstance(lists, pa.ChunkedArray):
        lists = lists.combine_chunks()
    if pa.types.is_large_list(lists.type):
        lists = lists.cast(pa.list_(lists.type.value_type))
    item = lists.type.value_type if pa.types.is_list(lists.type) else None
    if item is None or not pa.types.is_struct(item) or item.get_field_index("aspect") < 0:
        raise InputError(f"column 'aspects' must be a list of structs with an 'aspect' field, but its type is "
                         f"{lists.type}")
    n = len(lists)
    lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    reps = np.maximum(lengths, 1)
    rows = np.repeat(np.arange(n, dtype=np.int64), reps)
    first_out = np.cumsum(reps) - reps                       # first exploded row of each document
    first_in = np.cumsum(lengths) - lengths                  # its first element in the flat values
    element = np.repeat(first_in, reps) + (np.arange(len(rows)) - np.repeat(first_out, reps))
    none = np.repeat(lengths == 0, reps)
    index = pa.array(element, pa.int64(), mask=none)
    flat = lists.flatten()
    names = [name for name in data.schema.names if name not in ("aspects", ASPECT_KEY)]
    taken = data.select(names).take(pa.array(rows))
    columns = {name: taken.column(name) for name in names}
    columns[ASPECT_KEY] = flat.field("aspect").take(index)
    mask = pa.array(none)
    for name in ("valence", "emotion"):
        if item.get_field_index(name) >= 0:
            own = flat.field(name).take(index)
            if name in columns:
                doc = columns[name]
                doc = doc.combine_chunks() if isinstance(doc, pa.ChunkedArray) else doc
                own = pc.if_else(mask, doc.cast(own.type) if doc.type != own.type else doc, own)
            columns[name] = own
    columns = {k: v for k, v in columns.items() if k not in emotions}
    container = pa.RecordBatch if isinstance(data, pa.RecordBatch) else pa.Table
    return container.from_arrays([v.combine_chunks() if isinstance(v, pa.ChunkedArray) else v
                                  for v in columns.values()], names=list(columns))


def window_keys(arr: pa.Array, column: str, window: str) -> tuple[pa.Array, np.ndarray, bool]:
    """The window key of each row, as :func:`~emoscore.columns.factorize` gives a key column: ``(distinct window
    starts as date32, index int32 per row, True)``. A start is the first day of the day / ISO week
    (Monday) / month holding the time, on a zoned timestamp's own calendar; null is a window of its
    own. Days and weeks come from one Numba pass over the Arrow values."""
    kind = arr.type
    if pa.types.is_timestamp(kind):
        if kind.tz is not None and kind.tz not in _UTC:
            arr = pc.local_timestamp(arr)
        ticks, per_day = values_view(arr, np.int64), _PER_DAY[kind.unit]
    elif pa.types.is_date32(kind):
        ticks, per_day = values_view(arr, np.int32), 1
    elif pa.types.is_date64(kind):
        ticks, per_day = values_view(arr, np.int64), 86_400_000
    elif pa.types.is_null(kind):
        ticks, per_day = np.zeros(len(arr), np.int64), 1
    else:
        raise InputError(f"time column {column!r} must be a timestamp or a date, but its type is {kind}")
    days = np.empty(len(arr), np.int64)
    kpi_cpu.window_days(ticks, per_day, window == "week", days)
    if window == "month":
        days = days.astype("datetime64[D]").astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    local, first = kpi_cpu.factorize_int64(days, *validity_bitmap(arr))
    starts = pa.array(days[first].astype(np.int32), pa.date32(),
                      mask=arr.take(pa.array(first)).is_null().to_numpy(zero_copy_only=False))
    return starts, local, True


# ==================================================================================================
# group keys
# ==================================================================================================


class KeyDictionary:
    """The distinct values of one key column seen so far, numbered in first-seen order."""

    def __init__(self, name: str, kind: pa.DataType | None = None) -> None:
        self.name = name
        self.type = kind
        self._chunks: list[pa.Array] = []
        self._values: pa.Array | None = None
        self.size = 0

    @property
    def values(self) -> pa.Array:
        if self._values is None:
            kind = self.type if self.type is not None else pa.null()
            self._values = pa.concat_arrays(self._chunks) if self._chunks else pa.array([], kind)
            self._chunks = [self._values] if self._chunks else []
        return self._values

    def conform(self, values: pa.Array, kind: pa.DataType | None) -> tuple[pa.Array, pa.DataType | None]:
        """Cast ``values`` to the column's type (``kind``: the type agreed so far in this call)."""
        if pa.types.is_nested(values.type):
            raise InputError(f"key column {self.name!r} has type {values.type}; nested types cannot be group keys")
        if kind is None or pa.types.is_null(kind):
            return values, values.type if not pa.types.is_null(values.type) or kind is None else kind
        if values.type == kind:
            return values, kind
        try:
            return values.cast(kind), kind
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InputError(
                f"key column {self.name!r}: values of type {values.type} do not convert to the type "
                f"{kind} seen before ({exc})"
            ) from None

    def codes(self, values: pa.Array) -> np.ndarray:
        """Global codes (int64) of ``values`` (already conformed), adding the new ones."""
        if self.type is None or (pa.types.is_null(self.type) and not pa.types.is_null(values.type)):
            if self._chunks:
                self._chunks = [self.values.cast(values.type)]
                self._values = None
            self.type = values.type
        if self.size:
            position = pc.index_in(values, value_set=self.values, skip_nulls=False)
        else:
            position = pa.nulls(len(values), pa.int32())
        if position.null_count:
            new = pc.unique(values.filter(position.is_null()))
            self._chunks.append(new)
            self._values = None
            self.size += len(new)
            position = pc.index_in(values, value_set=self.values, skip_nulls=False)
        return position.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
