"""KPI and driver tables as people and JSON readers see them: rounding, column choice, terminal tables.

- :func:`round_table` rounds the float columns to N significant digits, never into the integer part
  (what ``--precision`` does to JSONL and CSV tables; Arrow and Parquet stay exact);
- :func:`pick_columns` puts the group keys first, then the ``--columns`` asked for (or a default set);
  :func:`column_names` checks the names against the columns a table can have;
- :func:`render_table` writes an aligned text table (numbers right-aligned, nulls as ``–``), with
  ``rich`` when it is installed and in plain text otherwise.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from .session import UsageError

__all__ = [
    "DRIVER_COLUMNS",
    "KPI_COLUMNS",
    "NULL",
    "check_columns",
    "column_names",
    "pick_columns",
    "render_table",
    "round_significant",
    "round_table",
]

#: What a KPI table shows by default (after its keys): the headline KPIs, NPS with its interval.
KPI_COLUMNS = ("n", "nps", "nps_low", "nps_high", "csat", "churn_rate", "valence_mean", "dominant_emotion")
#: What a drivers table shows by default (after its keys); support_with/_without are left out.
DRIVER_COLUMNS = ("emotion", "documents", "prevalence", "kpi_with", "kpi_without", "difference", "impact")
#: A null cell of a text table.
NULL = "–"


# -------------------------------------------------------------------------------------------------
# rounding
# -------------------------------------------------------------------------------------------------
def _decimals(magnitude: np.ndarray, digits: int) -> np.ndarray:
    """Decimals that leave ``digits`` significant digits of a positive finite ``magnitude``, at
    least 0 (never rounding into the integer part)."""
    with np.errstate(over="ignore", divide="ignore"):
        exponent = np.floor(np.log10(magnitude))
        # log10 may be one off right next to a power of ten
        exponent = np.where(magnitude >= 10.0 ** (exponent + 1), exponent + 1, exponent)
        exponent = np.where(magnitude < 10.0**exponent, exponent - 1, exponent)
    return np.maximum(digits - 1 - exponent, 0).astype(np.int64)


def round_significant(values: np.ndarray, digits: int) -> np.ndarray:
    """``values`` (float64) rounded to ``digits`` significant digits but to no fewer than 0
    decimals: ``round(x, max(digits - 1 - floor(log10(|x|)), 0))`` for each x, exactly as Python's
    ``round`` does it (half to even on the exact binary value); 0, NaN and infinities stay.
    ``digits`` 0: unchanged. Vectorised; only values next to a decimal tie (or with more than 22
    decimals) go through Python's ``round``."""
    x = np.asarray(values, np.float64)
    if digits <= 0 or not x.size:
        return x
    finite = np.isfinite(x) & (x != 0)
    magnitude = np.where(finite, np.abs(x), 1.0)
    decimals = _decimals(magnitude, digits)
    fast = finite & (decimals <= 22)  # 10**d is exact as a double up to d = 22
    scale = 10.0 ** np.where(fast, decimals, 0)
    scaled = np.where(fast, x, 0.0) * scale
    # scaled carries at most half an ulp of error: only a value this close to .5 may round the other way
    near_tie = np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5) < 1e-6 + np.abs(scaled) * 2.0**-50
    out = np.where(fast, np.rint(scaled) / scale, x)
    for i in np.flatnonzero(finite & (near_tie | ~fast)):
        out[i] = round(float(x[i]), int(decimals[i]))
    return out


def _round_column(column: pa.Array | pa.ChunkedArray, digits: int) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
    nulls = column.is_null().to_numpy(zero_copy_only=False)
    return pa.array(round_significant(values, digits), pa.float64(), mask=nulls)


def round_table(table: pa.Table, digits: int) -> pa.Table:
    """``table`` with each float column rounded by :func:`round_significant` (``digits`` 0: as it is);
    other columns and the schema metadata stay."""
    if digits <= 0:
        return table
    for i, field in enumerate(table.schema):
        if pa.types.is_floating(field.type):
            table = table.set_column(i, field.with_type(pa.float64()), _round_column(table.column(i), digits))
    return table


# -------------------------------------------------------------------------------------------------
# columns
# -------------------------------------------------------------------------------------------------
def column_names(value: str) -> list[str]:
    """``--columns a,b,c``: the names, in order, each once."""
    return list(dict.fromkeys(name for name in (part.strip() for part in value.split(",")) if name))


def check_columns(asked: Sequence[str], available: Sequence[str]) -> None:
    """A name that is not one of ``available``: :class:`UsageError` naming them all."""
    unknown = [name for name in asked if name not in available]
    if unknown:
        raise UsageError(f"--columns: no column {', '.join(map(repr, unknown))}; "
                         f"the columns are: {', '.join(available)}")  # fmt: skip


def pick_columns(table: pa.Table, keys: Sequence[str], asked: Sequence[str] | None,
                 default: Sequence[str] | None = None) -> pa.Table:  # fmt: skip
    """The group ``keys`` first, then the ``asked`` columns in their order (``None``: ``default``,
    the ones ``table`` has; no default either: ``table`` as it is). An asked column that ``table``
    lacks (a KPI whose input column was absent) is all nulls; the schema metadata stays."""
    if asked is None:
        if default is None:
            return table
        asked = [name for name in default if name in table.column_names]
    keys = [name for name in keys if name in table.column_names]
    names = [*keys, *(name for name in asked if name not in keys)]
    arrays = [table.column(name) if name in table.column_names else pa.nulls(table.num_rows) for name in names]
    return pa.Table.from_arrays(arrays, names=names).replace_schema_metadata(table.schema.metadata)


# -------------------------------------------------------------------------------------------------
# text tables
# -------------------------------------------------------------------------------------------------
def _family(name: str) -> str:
    """Columns shown with the same decimals: a KPI and its interval; a driver's KPI columns."""
    if name in ("kpi_without", "difference"):
        return "kpi_with"
    for suffix in ("_low", "_high"):
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def _cells(column: pa.ChunkedArray, decimals: int | None) -> list[str]:
    """The column as text; ``decimals`` for a float column (``None``: shortest exact form)."""
    values = column.to_pylist()
    if pa.types.is_floating(column.type):
        if decimals is None:
            return [NULL if v is None else repr(v) for v in values]
        return [NULL if v is None else f"{v:.{decimals}f}" for v in values]
    return [NULL if v is None else str(v) for v in values]


def _float_decimals(table: pa.Table, digits: int) -> dict[str, int | None]:
    """For each float column, the decimals that give the largest finite value of its family
    ``digits`` significant digits (at least 0; ``digits`` 0: ``None``, exact)."""
    largest: dict[str, float] = {}
    for field in table.schema:
        if pa.types.is_floating(field.type):
            values = table.column(field.name).to_numpy(zero_copy_only=False).astype(np.float64)
            values = np.abs(values[np.isfinite(values)])
            top = float(values.max()) if values.size else 0.0
            family = _family(field.name)
            largest[family] = max(largest.get(family, 0.0), top)
    decimals: dict[str, int | None] = {}
    for field in table.schema:
        if pa.types.is_floating(field.type):
            top = largest[_family(field.name)]
            decimals[field.name] = None if digits <= 0 else \
                int(_decimals(np.array([top]), digits)[0]) if top > 0 else 0  # fmt: skip
    return decimals


def _text_columns(table: pa.Table, digits: int) -> list[tuple[str, list[str], bool]]:
    """(header, cells, right-aligned) for each column."""
    decimals = _float_decimals(table, digits)
    out = []
    for field in table.schema:
        numeric = pa.types.is_integer(field.type) or pa.types.is_floating(field.type)
        out.append((field.name, _cells(table.column(field.name), decimals.get(field.name)), numeric))
    return out


def render_plain(table: pa.Table, digits: int) -> str:
    """The table as aligned plain text: a header, a rule, one line per row; columns two spaces apart."""
    columns = _text_columns(table, digits)
    if not columns:
        return ""
    widths = [max(len(header), *map(len, cells)) for header, cells, _ in columns]
    lines = []
    for row in range(-2, table.num_rows):
        parts = []
        for (header, cells, right), width in zip(columns, widths, strict=True):
            cell = header if row == -2 else "-" * width if row == -1 else cells[row]
            parts.append(cell.rjust(width) if right else cell.ljust(width))
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines) + "\n"


def render_rich(table: pa.Table, digits: int, *, terminal: bool = False, width: int | None = None) -> str:
    """The table drawn by ``rich`` (bold headers and a dim rule on a terminal); never squeezed:
    the console is at least as wide as the table."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    columns = _text_columns(table, digits)
    if not columns:
        return ""
    shown = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True,
                  header_style="bold" if terminal else "")
    for header, _, right in columns:
        shown.add_column(header, justify="right" if right else "left", no_wrap=True)
    for row in range(table.num_rows):
        shown.add_row(*(cells[row] for _, cells, _ in columns))
    natural = sum(max(len(h), *map(len, c)) + 3 for h, c, _ in columns)  # padding and a rule between
    text = io.StringIO()
    console = Console(file=text, force_terminal=terminal, no_color=not terminal, highlight=False,
                      width=max(natural, width or 0) + 8, legacy_windows=False)  # fmt: skip
    console.print(shown)
    return "\n".join(line.rstrip() for line in text.getvalue().splitlines()) + "\n"


def render_table(table: pa.Table, digits: int, *, terminal: bool = False, width: int | None = None,
                 use_rich: bool | None = None) -> str:  # fmt: skip
    """The table as text for people: each float column at the decimals that give its family's
    largest value ``digits`` significant digits (a KPI and its interval alike; ``digits`` 0: exact),
    numbers right-aligned, nulls as :data:`NULL`. ``use_rich`` ``None``: rich when installed."""
    if use_rich is None:
        try:
            import rich  # noqa: F401
        except ImportError:
            use_rich = False
        else:
            use_rich = True
    if use_rich:
        return render_rich(table, digits, terminal=terminal, width=width)
    return render_plain(table, digits)

