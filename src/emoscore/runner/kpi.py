"""``emoscore kpi`` and ``emoscore run``: KPI tables (and alerts) over scored records, streamed.

- ``emoscore kpi --by touchpoint,channel --window week < scored.jsonl``: fold already-scored
  records into a :class:`~emoscore.kpi.KpiAggregator` batch by batch and write its table.
- ``emoscore run --kpi-out kpi.csv --alerts-out alerts.jsonl < feedback.jsonl``: score, write the
  scored rows, and aggregate KPIs and alerts in the same pass.

``--state FILE`` resumes from a saved aggregator state (merged into this run's) and saves the
updated state there at the end (temporary file, then rename), under an exclusive lock on
``FILE.lock``: a concurrent run with the same state waits, then merges onto what this one saved.

A stop (a signal, ``--on-error fail``, damaged input) still writes the KPI table, the alerts and
the state, of exactly the records reported as written; ``--on-error fail`` stops at the first
rejected record in input order (the reader's, the writer's or the KPI stage's). A record is folded
into the aggregator and the alert stream together or into neither. A key (or, with a window, the
time) column that the input lacks, or a JSONL text field missing from every record of the first
batch, is a configuration mistake: one error, status 4, nothing aggregated.

Records that cannot be aggregated (a value that does not convert to its column's type, an
unparseable time, a value outside its KPI domain) are rejected like the score command rejects
records: one error line each, counted, so that read = written + rejected (``written``: records
aggregated, and with ``run`` also written to the output).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import gc
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import orjson
import pyarrow as pa

from .arguments import (
    add_alert_arguments,
    add_input_arguments,
    add_lexicon_arguments,
    add_output_arguments,
    add_run_arguments,
    check_paths,
    output_format,
)
from .inputs import FORMATS, format_from_name
from .jsontext import json_default
from .outputs import WRITERS, Output, record_output, record_writer, write_atomically
from .present import DRIVER_COLUMNS, KPI_COLUMNS, check_columns, column_names, pick_columns, render_table, round_table
from .readers import ArrowChunk, JsonlChunk, json_type, row_record
from .score import Scoring, make_scorer
from .session import EXIT_TABLE, ExitStatus, InputFailure, OutputFailure, Session, UsageError
from .sources import open_records

__all__ = ["KpiCommand", "RunCommand", "write_table"]

WINDOWS = ("day", "week", "month")

KPI_EPILOG = """\
input: scored records (the output of `emoscore score`), in any input format. Columns used: the
--by keys, the --time column (with --window), nps, rating, effort, first_response_s, event,
revenue, customer_id and the score columns. Strings are converted: times as ISO 8601 (with or
without a zone offset; zoned times are taken in UTC), numbers from CSV text.
rejected (one error line each, like `emoscore score`): a value that does not convert, an
unparseable or out-of-range (1970-2106) time, a value outside its KPI domain (NPS 0-10, ...).
--state FILE: resume from FILE when it exists (its settings must match), save the state there;
  an exclusive lock on FILE.lock makes a concurrent run with the same FILE wait, then merge.
a stop (a signal, --on-error fail, damaged input) writes the KPI table, the alerts and the state
  of exactly the records written. A --by or --time (with --window) column that the input lacks
  (JSONL: no record of the first batch has it) is an input error (status 4), as is a JSONL --text
  field that no record of the first batch has.

""" + EXIT_TABLE


def parse_columns(value: str) -> list[str]:
    names = [name for name in (part.strip() for part in value.split(",")) if name]
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"--by names a column twice: {value!r}")
    return names


def parse_level(value: str) -> float:
    try:
        level = float(value)
    except ValueError:
        level = -1.0
    if not 0.0 < level < 1.0:
        raise argparse.ArgumentTypeError(f"--level is a confidence level between 0 and 1 exclusive: {value!r}")
    return level


def _count(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"--min-n is a whole number of observations: {value!r}")
    return int(value)


def _precision(value: str) -> int:
    if not value.isdigit() or int(value) > 17:
        raise argparse.ArgumentTypeError(f"--precision is a number of significant digits, 0 to 17: {value!r}")
    return int(value)


def add_kpi_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("kpi")
    group.add_argument("--by", type=parse_columns, default=[], metavar="COLS",
                       help="comma-separated group key columns (default: one group); 'aspect' groups by the "
                            "scored aspects: a record counts in each aspect it mentions")
    group.add_argument("--window", choices=WINDOWS, help="also group by the day, ISO week or month of --time")
    group.add_argument("--time", default="ts", metavar="COL", help="the time column (default: ts)")
    group.add_argument("--customer", default="customer_id", metavar="COL",
                       help="customer id column: the KPI customers count (and, with run, the alert rules); "
                            "default: customer_id")
    group.add_argument("--level", type=parse_level, default=0.95,
                       help="confidence level of the KPI intervals <kpi>_low/_high (default: 0.95)")
    group.add_argument("--min-n", type=_count, default=0, metavar="N",
                       help="a KPI resting on fewer than N observations is null; its <kpi>_n says how many "
                            "(default: 0, off)")
    group.add_argument("--precision", type=_precision, default=4, metavar="N",
                       help="JSONL, CSV and table output: floats rounded to N significant digits, but never "
                            "into the integer part (-22.55125 -> -22.55, 0.0123456 -> 0.01235, 1234.56 -> 1235); "
                            "0: exact. Arrow and Parquet keep the exact values (default: 4)")
    group.add_argument("--state", metavar="FILE",
                       help="resume from this saved KPI state when it exists; save the updated state there "
                            "(under an exclusive lock on FILE.lock: a concurrent run waits, then merges)")


# -------------------------------------------------------------------------------------------------
# Records -> typed Arrow batches
# -------------------------------------------------------------------------------------------------
class Converter:
    """The columns the aggregator reads, as Arrow arrays of the right type; rows whose values do
    not convert are reported as ``{row: (field, reason)}``."""

    def __init__(self, agg, by: list[str], time: str | None, extra: tuple[str, ...] = ()) -> None:
        from ..kpi import ASPECT_KEY

        s = agg.settings
        self.time = time
        self.types: dict[str, pa.DataType] = {}
        for name in ("nps", "rating", "effort"):
            if s[name]:
                self.types[s[name]] = pa.int64()
        for name in ("response_time", "revenue"):
            if s[name]:
                self.types[s[name]] = pa.float64()
        for name in ("valence", *agg.emotions):
            self.types[name] = pa.float64()
        strings = [s["event"], "emotion"]
        self.strings = [n for n in dict.fromkeys(strings) if n and n not in self.types]
        # "aspect" groups by the scored aspects list: read the "aspects" column (the aggregator explodes it)
        by = [("aspects" if name == ASPECT_KEY else name) for name in by]
        names = [*by, *([time] if time else []), *self.types, *self.strings, s["customer"], *extra]
        names = [n for n in names if n]
        self.names = list(dict.fromkeys(names))
        # columns whose values are hashed or grouped: a nested value cannot be a key or an id
        self.keys = frozenset(n for n in (*by, s["customer"]) if n and n != "aspects")
        # columns that must exist (else every record would be refused or fall into one null group)
        self.required = [*by, *([s["time"]] if s["window"] else [])]
        self.checked = False

    # -- configuration ------------------------------------------------------------------------
    def check_columns(self, names: list[str], source: str, *, provided: frozenset[str] = frozenset(),
                      jsonl: int | None = None, schema: pa.Schema | None = None) -> None:  # fmt: skip
        """A key (or, with a window, the time) column the input lacks, or a columnar key column of a
        nested type, is a configuration mistake: :class:`ColumnsMissing`, one message, status 4.
        ``names``: the input's columns (JSONL: the fields of the first batch's records, ``jsonl``
        of them)."""
        missing = [n for n in self.required if n not in names and n not in provided]
        if missing:
            what = f"no record of the first batch ({jsonl} records) of {source} has the field(s) {missing}; " \
                   f"their fields are {names}" if jsonl is not None else \
                   f"column(s) {missing} not found in {source}; its columns are {names}"  # fmt: skip
            raise ColumnsMissing(f"{what} (check --by, --time, --window)")
        if schema is not None:
            for name in sorted(self.keys):
                if name in schema.names and pa.types.is_nested(schema.field(name).type):
                    raise ColumnsMissing(f"column {name!r} of {source} has the type {schema.field(name).type}, "
                                         "which cannot be a group key or a customer id")

    def check_chunk(self, chunk, session: Session, provided: frozenset[str] = frozenset()) -> None:
        """:meth:`check_columns` on the first JSONL chunk (its records are given back as never read
        when it fails)."""
        if self.checked or not isinstance(chunk, JsonlChunk):
            return
        self.checked = True
        names = list(dict.fromkeys(key for obj in chunk.objects for key in obj))
        try:
            self.check_columns(names, session.info.get("input", "the input"), provided=provided, jsonl=len(chunk))
        except ColumnsMissing:
            session.read -= len(chunk)
            session.last = chunk.numbers[0] - 1
            raise

    # -- one column ---------------------------------------------------------------------------
    def _convert(self, name: str, column, bad: dict) -> pa.Array:
        """``column``: an Arrow array, or a list of Python values (JSONL)."""
        if name == self.time:
            return self._time(name, column, bad)
        if name == "aspects":
            return self._aspects(column, bad)
        target = self.types.get(name) or (pa.string() if name in self.strings else None)
        if isinstance(column, (pa.Array, pa.ChunkedArray)):
            if isinstance(column, pa.ChunkedArray):
                column = column.combine_chunks()
            if target is None or column.type == target:
                return column
            if pa.types.is_dictionary(column.type):
                column = column.cast(column.type.value_type)
            if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                column = column.to_pylist()  # CSV text: converted value by value below
                column = [None if v is not None and v.strip() == "" else v for v in column]
            elif pa.types.is_null(column.type) or pa.types.is_integer(column.type) \
                    or pa.types.is_floating(column.type) or pa.types.is_decimal(column.type):
                return column if target == pa.string() else self._cast(name, column, target, bad)
            else:
                return column  # let the aggregator judge (and reject) an odd type
        if target is None:  # a key column from JSONL: pyarrow infers the type
            if name in self.keys and any(isinstance(v, (dict, list)) for v in column):
                for row, value in enumerate(column):
                    if isinstance(value, (dict, list)):
                        bad.setdefault(row, (name, f"field {name!r}: {json_type(value)} cannot be a group key or "
                                                   "a customer id (a string, number or boolean can)"))
                column = [None if isinstance(v, (dict, list)) else v for v in column]
            try:
                return pa.array(column)
            except (pa.ArrowException, TypeError, ValueError, OverflowError):
                column = [v if v is None or isinstance(v, str) else orjson.dumps(v).decode() for v in column]
                return pa.array(column, pa.string())
        return self._values(name, column, target, bad)

    @staticmethod
    def _aspects(column, bad: dict) -> pa.Array:
        """The scored ``aspects`` lists: Arrow as is; JSONL lists of objects; CSV JSON text."""
        from ..api import ASPECTS_TYPE

        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if isinstance(column, pa.Array):
            if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
                return column  # a list column already (anything else: the aggregator rejects it)
            column = column.to_pylist()
        values = []
        for row, value in enumerate(column):
            try:
                if isinstance(value, str):
                    value = orjson.loads(value) if value.strip() else None
                values.append(pa.array([value], ASPECTS_TYPE)[0].as_py())
            except (orjson.JSONDecodeError, pa.ArrowException, TypeError, ValueError, KeyError) as exc:
                bad.setdefault(row, ("aspects", f"field 'aspects': not a list of scored aspects ({exc})"))
                values.append(None)
        return pa.array(values, ASPECTS_TYPE)

    @staticmethod
    def _one(value, target: pa.DataType):
        if isinstance(value, str) and target != pa.string():
            text = value.strip()
            if pa.types.is_integer(target):
                number = float(text)
                if number != int(number):
                    raise ValueError(f"not a whole number: {value!r}")
                return int(number)
            return float(text)
        if target == pa.string() and not (value is None or isinstance(value, str)):
            raise TypeError(f"expected a string, got {type(value).__name__}")
        if isinstance(value, bool):
            raise TypeError("expected a number, got a boolean")
        if isinstance(value, float) and pa.types.is_integer(target):  # pyarrow would truncate 6.9 to 6
            if not value.is_integer():
                raise ValueError(f"not a whole number: {value!r}")
            return int(value)
        return value

    def _values(self, name: str, values: list, target: pa.DataType, bad: dict) -> pa.Array:
        try:
            return pa.array([self._one(v, target) for v in values], target)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            pass
        out = []
        for row, value in enumerate(values):
            try:
                out.append(pa.array([self._one(value, target)], target)[0].as_py())
            except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
                bad.setdefault(row, (name, f"field {name!r}: cannot convert {value!r} to {target}: {exc}"))
                out.append(None)
        return pa.array(out, target)

    def _cast(self, name: str, column: pa.Array, target: pa.DataType, bad: dict) -> pa.Array:
        try:
            return column.cast(target)
        except (pa.ArrowException, TypeError, ValueError):
            return self._values(name, column.to_pylist(), target, bad)

    def _time(self, name: str, column, bad: dict) -> pa.Array:
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if isinstance(column, pa.Array):
            if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
                return column  # a timestamp or a date already (anything else: the aggregator rejects)
            values = column.to_pylist()
        else:
            values = column
            if all(v is None or isinstance(v, str) for v in values):
                column = pa.array(values, pa.string())
            else:
                column = None
        target = pa.timestamp("us")
        if column is not None:
            for kind in (target, pa.timestamp("us", "UTC")):
                try:
                    return self._in_range(name, column.cast(kind).cast(target), bad)
                except (pa.ArrowException, ValueError):
                    pass
        out: list[int | None] = []
        for row, value in enumerate(values):
            parsed = None
            if value is None:
                out.append(None)
                continue
            if isinstance(value, str):
                for kind in (target, pa.timestamp("us", "UTC")):
                    try:
                        parsed = pa.array([value.strip()]).cast(kind).cast(target)[0].value
                        break
                    except (pa.ArrowException, ValueError):
                        pass
            if parsed is None:
                bad.setdefault(row, (name, f"field {name!r}: cannot read {value!r} as an ISO 8601 time"))
            out.append(parsed)
        return self._in_range(name, pa.array(out, pa.int64()).cast(target), bad)

    @staticmethod
    def _in_range(name: str, column: pa.Array, bad: dict) -> pa.Array:
        seconds = column.cast(pa.int64()).to_numpy(zero_copy_only=False)
        valid = column.is_valid().to_numpy(zero_copy_only=False)
        for row in ((seconds < 0) | (seconds >= (1 << 32) * 1_000_000)).nonzero()[0]:
            if valid[row]:
                bad.setdefault(int(row), (name, f"field {name!r}: time {column[int(row)]} is outside 1970-2106"))
        return column

    # -- one chunk ----------------------------------------------------------------------------
    def batch(self, chunk, scores: pa.Table | None = None) -> tuple[pa.RecordBatch, dict]:
        """The chunk's (and its scores') columns that the aggregator reads, typed; bad rows."""
        bad: dict[int, tuple[str, str]] = {}
        names, arrays = [], []
        score_names = set(scores.column_names) if scores is not None else set()
        for name in self.names:
            if scores is not None and name in score_names:
                names.append(name)
                arrays.append(self._convert(name, scores.column(name), bad))
            elif isinstance(chunk, JsonlChunk):
                values = [obj.get(name) for obj in chunk.objects]
                if name in self.types or name in self.strings or name == self.time:
                    if not any(name in obj for obj in chunk.objects):
                        continue  # missing from every record: the aggregator counts nulls
                names.append(name)
                arrays.append(self._convert(name, values, bad))
            elif name in chunk.batch.schema.names:
                names.append(name)
                arrays.append(self._convert(name, chunk.batch.column(name), bad))
        batch = pa.RecordBatch.from_arrays(arrays, names=names) if names else \
            pa.RecordBatch.from_pydict({"_": pa.nulls(len(chunk))}).select([])
        return batch, bad


class ColumnsMissing(InputFailure):
    """A configuration mistake found in the input's columns (status 4): nothing is aggregated."""


def _raw(chunk, row: int) -> bytes:
    if isinstance(chunk, JsonlChunk):
        return chunk.raw[row]
    return row_record(chunk.batch, row)


def _fold(step, batch: pa.RecordBatch, bad: dict, offset: int = 0, *, first: bool = False) -> bool:
    """``step(batch)`` (which changes nothing when it raises) on ``batch``; on a refusal, on each
    half in turn, down to single rows, which go to ``bad`` with the reason. ``first``: stop at the
    first refused row (the rows after it are not stepped). True when a row was refused."""
    from ..errors import EmoscoreError

    if batch.num_rows == 0:
        return False
    try:
        step(batch)
        return False
    except EmoscoreError as exc:
        if batch.num_rows == 1:
            bad[offset] = (None, str(exc).replace("row 0", "this record"))
            return True
    half = batch.num_rows // 2
    refused = _fold(step, batch.slice(0, half), bad, offset, first=first)
    if refused and first:
        return True
    return _fold(step, batch.slice(half), bad, offset + half, first=first) or refused


def _report(session: Session, chunk, bad: dict) -> None:
    for row in sorted(bad):
        field, reason = bad[row]
        session.reject(chunk.numbers[row], reason, field=field, raw=_raw(chunk, row), counted=True)


def _good_rows(n: int, bad: dict) -> list[int]:
    return [row for row in range(n) if row not in bad]


class Held:
    """``--on-error fail``: the error sink while a chunk is read and prepared. Rejections are held
    (other events pass), so that only the first rejected record *in input order* is reported: the
    reader or a writer may reject a record after one that the KPI stage refuses in the same chunk."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.sink = session.sink
        self.entries: list[dict] = []

    def emit(self, record: dict) -> None:
        if record.get("event") == "rejected":
            self.entries.append(record)
        else:
            self.sink.emit(record)

    def flush(self) -> None:
        self.sink.flush()

    def close(self) -> None:
        self.sink.close()

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        self.session.sink = self  # type: ignore[assignment]
        try:
            yield
        finally:
            self.session.sink = self.sink

    def release(self, report: bool = True) -> None:
        """Report the first held rejection in input order (``report=False``: none, a record before
        it was rejected); the others are of later records: given back as never read."""
        session, where = self.session, self.session.where
        entries, self.entries = self.entries, []
        if report and entries:
            first = min(entries, key=lambda e: (e.get(where) is None, e.get(where) or 0))
            entries.remove(first)
            self.sink.emit(first)
            if first.get(where) is not None:
                session.last = first[where]
        for _ in entries:
            session.read -= 1
            session.rejected -= 1


def aggregate(session: Session, chunk, batch: pa.RecordBatch, bad: dict, step: Callable,
               held: Held | None) -> list[int]:  # fmt: skip
    """Fold the rows of ``chunk`` (its typed ``batch``; ``bad``: rows that did not convert) with
    ``step``, report the refused ones and return the rows to write.

    With ``--on-error fail`` (``held``: the rejections of the reader and the writer, all of records
    after this chunk's) only the rows before the first rejected record are folded and written; that
    record alone is reported, the records after it are given back as never read, and the resume
    point (``session.last``) is it."""
    n = len(chunk)
    limit = min(bad) if held is not None and bad else n
    good = [row for row in range(limit) if row not in bad]
    if len(good) < n:
        batch = batch.take(pa.array(good, pa.int64()))
    refused: dict = {}
    _fold(step, batch, refused, first=held is not None)
    for row, why in refused.items():
        bad[good[row]] = why
    if held is None:
        _report(session, chunk, bad)
        return _good_rows(n, bad)
    if not bad:
        held.release()
        return list(range(n))
    first = min(bad)
    held.release(report=False)  # the held rejections are of later records
    field, reason = bad[first]
    session.reject(chunk.numbers[first], reason, field=field, raw=_raw(chunk, first), counted=True)
    session.read -= n - first - 1  # given back: the records after it were never read
    session.last = chunk.numbers[first]
    return list(range(first))


# -------------------------------------------------------------------------------------------------
# State and tables
# -------------------------------------------------------------------------------------------------
def new_aggregator(args: argparse.Namespace, emotions=None):
    from ..errors import EmoscoreError
    from ..kpi import KpiAggregator

    try:
        return KpiAggregator(args.by, window=args.window, time=args.time, customer=args.customer, emotions=emotions)
    except EmoscoreError as exc:
        raise UsageError(str(exc)) from None


def kpi_table(agg, args: argparse.Namespace, baseline=None) -> pa.Table:
    """The table ``emoscore kpi`` writes: the drivers, the comparison with ``baseline``, or the KPIs."""
    from ..errors import EmoscoreError

    try:
        if args.drivers:
            return agg.drivers(args.drivers, level=args.level)
        if baseline is not None:
            return agg.compare(baseline, level=args.level)
        return agg.result(level=args.level, min_n=args.min_n, deltas=args.deltas)
    except EmoscoreError as exc:
        raise UsageError(str(exc)) from None


def load_state(path: str | None, agg, what: str = "resume from"):
    """``agg`` merged into the state saved at ``path`` (when there is one); ``what`` the state is for."""
    from ..errors import EmoscoreError
    from ..kpi import KpiAggregator

    if not path or not os.path.exists(path):
        return agg
    try:
        with open(path, "rb") as f:
            saved = KpiAggregator.from_bytes(f.read())
        return saved.merge(agg)
    except OSError as exc:
        raise InputFailure(f"cannot read the state {path}: {exc}") from None
    except EmoscoreError as exc:
        raise UsageError(f"cannot {what} the state {path}: {exc}") from None


@contextlib.contextmanager
def state_lock(path: str | None, session: Session) -> Iterator[None]:
    """An exclusive ``fcntl.flock`` on ``PATH.lock`` (created beside the state, left there) for the
    block: a concurrent run with the same ``--state`` waits here (saying so once) and then reads
    the state this one saved, so neither loses the other's records."""
    if not path:
        yield
        return
    lock = f"{path}.lock"
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise OutputFailure(f"cannot lock the state {path}: cannot open {lock}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise OutputFailure(f"cannot lock the state {path} ({lock}): {exc.strerror}") from None
            session.message(f"waiting for another run to release the state {path} ({lock})")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def save_state(path: str, agg) -> None:
    """Write the state to ``path`` atomically (:func:`~.outputs.write_atomically`)."""
    write_atomically(path, agg.to_bytes(), "save the state")


def table_format(path: str | None, fmt: str | None = None) -> str:
    if fmt:
        return fmt
    return format_from_name(path)[0] or "jsonl" if path not in (None, "-") else "jsonl"


def _on_terminal(path: str | None, stdout: BinaryIO | None) -> bool:
    if path not in (None, "-"):
        return False
    try:
        return bool((stdout if stdout is not None else sys.stdout).isatty())
    except (AttributeError, ValueError, OSError):
        return False


def write_table(table: pa.Table, path: str | None, fmt: str, session: Session, *,
                stdout: BinaryIO | None = None, delimiter: str | None = None, precision: int = 0) -> None:  # fmt: skip
    """Write a whole table (KPIs, alerts) in ``fmt`` to ``path`` (``None``: stdout), through
    :class:`Output` (temporary file renamed at the end) and :data:`WRITERS` for the columnar
    formats; ``table``: aligned text for people (:func:`~.present.render_table`). ``precision``:
    JSONL, CSV and the text table round their floats to that many significant digits (0: exact;
    Arrow and Parquet are never rounded). The session's record counters are left as they were."""
    if fmt == "parquet" and path in (None, "-"):
        raise UsageError("Parquet output needs a path")
    if fmt in ("jsonl", "csv"):
        table = round_table(table, precision)
    output = Output.open(path, stdout=stdout)
    written = session.written
    try:
        if fmt == "table":
            terminal = _on_terminal(path, stdout)
            width = shutil.get_terminal_size().columns if terminal else None
            output.write(render_table(table, precision, terminal=terminal, width=width).encode())
        elif fmt == "jsonl":
            dumps, option = orjson.dumps, orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE
            for batch in table.to_batches(max_chunksize=8192):
                output.write(b"".join(dumps(row, default=json_default, option=option) for row in batch.to_pylist()))
        else:
            text = "\x00no-text"
            writer = WRITERS[fmt](output, text=text, session=session, score_schema=pa.schema([]),
                                  delimiter=delimiter or ",")  # fmt: skip
            writer.open(table.schema)
            empty = pa.table({})
            for batch in table.to_batches():
                writer.write(ArrowChunk(batch, text, range(batch.num_rows)), empty)
            writer.close()
        output.commit()
    except BaseException:
        output.discard()
        raise
    finally:
        session.written = written


# -------------------------------------------------------------------------------------------------
# emoscore kpi
# -------------------------------------------------------------------------------------------------
class KpiCommand:
    name = "kpi"
    help = "aggregate scored records into a KPI table (per group and time window)"
    description = (
        "Read scored records (stdin or --input), fold them into KPIs per --by group (and --window), "
        "batch by batch in bounded memory, and write the KPI table (stdout or --output): JSONL, CSV, "
        "Arrow, Parquet, or an aligned table for people (--format table). --drivers TARGET writes the "
        "emotion drivers of a KPI instead."
    )
    epilog = KPI_EPILOG

    def configure(self, parser: argparse.ArgumentParser) -> None:
        from ..kpi import DRIVER_TARGETS

        add_input_arguments(parser)
        group = parser.add_argument_group("output")
        group.add_argument("-o", "--output", metavar="PATH",
                           help="write the table to this file (default: stdout); replaced only at the end")
        group.add_argument("--output-format", "--format", dest="output_format", choices=(*FORMATS, "table"),
                           metavar="FORMAT",
                           help=f"{', '.join(FORMATS)} or table (default: from the --output extension, else "
                                "jsonl); table: aligned text for people, the keys then --columns (default: n and "
                                "the headline KPIs; with --drivers the drivers without their support counts)")
        group.add_argument("--columns", type=column_names, metavar="COLS",
                           help="comma-separated columns to write after the group keys, in this order "
                                "(default: all; with --format table a headline set)")
        add_run_arguments(parser)
        add_kpi_arguments(parser)
        table = parser.add_argument_group("table").add_mutually_exclusive_group()
        table.add_argument("--drivers", choices=DRIVER_TARGETS, metavar="TARGET",
                           help=f"write the drivers of this KPI instead ({', '.join(DRIVER_TARGETS)}), with the "
                                "difference's interval, p- and q-values (Benjamini-Hochberg) at --level")
        table.add_argument("--deltas", action="store_true",
                           help="with --window: add each KPI's change from the group's previous window "
                                "(<kpi>_delta, _delta_low/_high, _delta_p, _delta_significant)")
        table.add_argument("--compare", metavar="STATE",
                           help="write the KPIs against those of a baseline state saved by --state (same "
                                "--by and --window): <kpi>_baseline and the change with its test")

    def run(self, args: argparse.Namespace, session: Session, *, stdin: BinaryIO | None = None,
            stdout: BinaryIO | None = None) -> ExitStatus:  # fmt: skip

        source = None
        args.keep = None
        try:
            check_paths(args, stdin=stdin, stdout=stdout)  # before anything is opened: no file hurts another
            out_format = output_format(args)
            if out_format == "parquet" and args.output in (None, "-"):
                raise UsageError("Parquet output needs a path")
            named = format_from_name(args.output)[0]
            if out_format == "table" and named in ("arrow", "parquet"):
                raise UsageError(f"--format table writes text, not {named.capitalize()} ({args.output}): drop "
                                 "--format table for the exact values, or name a .txt file")
            session.open_sink(args.errors)
            agg = new_aggregator(args)
            if args.state and os.path.exists(args.state):
                load_state(args.state, agg.copy())  # a bad state is refused before any input is read
            if args.deltas and not args.window:
                raise UsageError("--deltas compares each window with the one before it: give --window")
            if args.compare and not os.path.isfile(args.compare):
                raise UsageError(f"--compare {args.compare}: no such state file")
            baseline = load_state(args.compare, new_aggregator(args), "compare with") if args.compare else None
            if baseline is not None:  # a baseline of other settings is refused before any input is read
                kpi_table(agg, args, baseline)
            convert = Converter(agg, args.by, args.time if args.window else None)
            if args.columns:  # a misspelt name fails before the input is opened
                check_columns(args.columns, _possible_columns(args, convert))
            source = open_records(args, session, stdin, compare=convert.names)
            if source.schema is not None:
                convert.check_columns(source.schema.names, source.name, schema=source.schema)
            held = Held(session) if session.on_error == "fail" else None
            each_chunk(session, source, held, lambda chunk: fold_chunk(session, chunk, convert, agg.update, held))
            if finishing(session):

                def tables(agg) -> None:
                    table = kpi_table(agg, args, baseline)
                    keys = [*args.by, *(["window_start"] if args.window else [])]
                    default = (DRIVER_COLUMNS if args.drivers else KPI_COLUMNS) if out_format == "table" else None
                    table = pick_columns(table, keys, args.columns, default)
                    session.info.update(groups=len(agg), output=args.output or "<stdout>", output_format=out_format)
                    write_table(table, args.output, out_format, session, stdout=stdout, delimiter=args.delimiter,
                                precision=args.precision)  # fmt: skip

                _finish(args.state, agg, session, tables)
        except (UsageError, InputFailure, OutputFailure) as exc:
            session.fail(exc)
        finally:
            if source is not None:
                source.close()
        return session.status()



def _possible_columns(args: argparse.Namespace, convert: Converter) -> list[str]:
    """The columns the table can have: those of an aggregator that has seen (empty) every column
    ``convert`` reads, so every KPI is there."""
    from ..api import ASPECTS_TYPE
    from ..errors import EmoscoreError

    def kind(name: str) -> pa.DataType:
        if name == "aspects":
            return ASPECTS_TYPE
        if name == convert.time:
            return pa.timestamp("us")
        return convert.types.get(name, pa.string())

    probe = new_aggregator(args)
    try:
        probe.update(pa.table({name: pa.array([], kind(name)) for name in convert.names}))
        table = kpi_table(probe, args, probe if args.compare else None)
    except (EmoscoreError, UsageError) as exc:
        raise UsageError(f"cannot check --columns: {exc}") from None
    return table.column_names


def fold_chunk(session: Session, chunk, convert: Converter, update: Callable, held: Held | None) -> None:
    """Convert a chunk of scored records and fold its good rows with ``update``, rejecting the others."""
    convert.check_chunk(chunk, session)
    batch, bad = convert.batch(chunk)
    good = aggregate(session, chunk, batch, bad, update, held)
    session.written += len(good)


def each_chunk(session: Session, reader, held: Held | None, work: Callable[[Any], None]) -> None:
    """``work(chunk)`` on each chunk of ``reader``; an input failure ends the loop (what was read
    before it stays). The first JSONL chunk is checked for the configured columns. Records of a
    chunk that ``work`` neither wrote nor rejected when it raised count as not written."""
    chunks = iter(reader)
    try:
        while True:
            with held.holding() if held is not None else contextlib.nullcontext():
                chunk = next(chunks, None)
            if chunk is None:
                break
            if len(chunk):
                try:
                    work(chunk)
                except BaseException:
                    # the chunk's records read but neither written nor rejected: not written
                    session.not_written += max(session.read - session.written - session.rejected
                                               - session.not_written, 0)
                    raise
            session.sink.flush()
            session.progress.update(session.read)
    except InputFailure as exc:
        if isinstance(exc, ColumnsMissing):
            raise
        session.fail(exc)
    finally:
        if held is not None:
            held.release()


def finishing(session: Session) -> bool:
    """Whether the KPI table, the alerts and the state are written: after the whole input, and after
    a stop (a signal, ``--on-error fail``, input damage) for the records read before it; not after
    an output failure or a configuration mistake."""
    return session.failure is None or (isinstance(session.failure, InputFailure)
                                       and not isinstance(session.failure, ColumnsMissing))  # fmt: skip


def _finish(path: str | None, agg, session: Session, tables: Callable[[Any], None]) -> None:
    """Under the state lock: the saved state merged in (read under the lock), the tables written,
    then the state saved. A failure before the state is saved leaves it as it was."""
    with state_lock(path, session):
        agg = load_state(path, agg)
        tables(agg)
        if path:
            save_state(path, agg)


# -------------------------------------------------------------------------------------------------
# emoscore run
# -------------------------------------------------------------------------------------------------
def _subset(chunk, rows: list[int]):
    """The chunk with only ``rows`` (same kind of chunk)."""
    if isinstance(chunk, JsonlChunk):
        return JsonlChunk([chunk.raw[i] for i in rows], [chunk.objects[i] for i in rows],
                          [chunk.text_values[i] for i in rows], [chunk.lines[i] for i in rows])  # fmt: skip
    index = pa.array(rows, pa.int64())
    numbers = [chunk.numbers[i] for i in rows]
    if type(chunk) is ArrowChunk:
        return ArrowChunk(chunk.batch.take(index), chunk.text, numbers, chunk.where)
    # the columnar writers' JSONL chunk keeps its texts apart: (batch, texts, lines, text)
    return type(chunk)(chunk.batch.take(index), chunk.texts().take(index), numbers, chunk.text)


def _rows_of(chunk, part) -> list[int]:
    """The rows of ``chunk`` that ``part`` (a subset of it, in order, e.g. what a writer's
    ``prepare`` kept) holds, matched by input number."""
    if len(part) == len(chunk):
        return list(range(len(chunk)))
    wanted = set(part.numbers)
    return [row for row, number in enumerate(chunk.numbers) if number in wanted]


class RunCommand:
    name = "run"
    help = "score records, write them, and aggregate KPIs and alerts in the same pass"
    description = (
        "Score records like `emoscore score` (scored rows to stdout or --output), fold the scored rows "
        "into a KPI table (--kpi-out) and an alert stream (--alerts-out) in the same pass. The format "
        "of --kpi-out and --alerts-out comes from their extension: .jsonl, .csv, .arrow, .parquet."
    )
    epilog = KPI_EPILOG

    def configure(self, parser: argparse.ArgumentParser) -> None:
        add_input_arguments(parser)
        add_output_arguments(parser)
        add_run_arguments(parser)
        add_kpi_arguments(parser)
        group = parser.add_argument_group("files")
        group.add_argument("--kpi-out", required=True, metavar="PATH", help="write the KPI table here")
        group.add_argument("--alerts-out", metavar="PATH", help="write the alerts here")
        add_alert_arguments(parser)
        add_lexicon_arguments(parser)

    def run(self, args: argparse.Namespace, session: Session, *, stdin: BinaryIO | None = None,
            stdout: BinaryIO | None = None) -> ExitStatus:  # fmt: skip
        from ..alerts import AlertRules, AlertStream
        from ..errors import EmoscoreError
        from ..kpi import ASPECT_KEY

        source = output = writer = None
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], 100_000), *thresholds[1:])
        alerts: list[pa.Table] = []
        try:
            check_paths(args, stdin=stdin, stdout=stdout)  # before anything is opened: no file hurts another
            out_format = output_format(args)
            kpi_format = table_format(args.kpi_out)
            alerts_format = table_format(args.alerts_out) if args.alerts_out else None
            if "parquet" in (kpi_format, alerts_format) and "-" in (args.kpi_out, args.alerts_out):
                raise UsageError("Parquet output needs a path")
            session.open_sink(args.errors)
            if ASPECT_KEY in args.by and not args.aspects:
                raise UsageError("--by aspect needs the aspects: drop --no-aspects")
            scorer = make_scorer(args.lexicon, args.aspects, args.aspect_lexicon, language=args.language)
            scoring = Scoring(scorer, session.info)
            agg = new_aggregator(args, emotions=scorer.emotions)
            if args.state and os.path.exists(args.state):
                load_state(args.state, agg.copy())
            try:
                rules = AlertRules(customer=args.customer, time=args.time, text=args.text, id=args.id_field,
                                   shift_window=args.shift_window, shift_by=args.shift_by or args.by,
                                   shift_level=args.shift_level, shift_min_n=args.shift_min_n,
                                   shift_emotions=scorer.emotions)
                stream = AlertStream(rules)
            except EmoscoreError as exc:
                raise UsageError(str(exc)) from None
            extra = tuple(n for n in (args.customer, args.text, args.id_field) if n)
            convert = Converter(agg, args.by, args.time, extra)
            kept = None if args.keep is None else [*convert.names, *args.keep]
            source = open_records(args, session, stdin, compare=kept)
            provided = frozenset(scoring.schema.names)
            if source.schema is not None:
                convert.check_columns(source.schema.names, source.name, provided=provided, schema=source.schema)
            output = record_output(args, stdout)
            session.info.update(output=output.name, output_format=out_format, kpi_out=args.kpi_out,
                                alerts_out=args.alerts_out)  # fmt: skip
            writer = record_writer(
                args, out_format, output, text=args.text, session=session, score_schema=scoring.schema,
                keep=args.keep, id_field=args.id_field, input_name=source.name,
                delimiter=args.delimiter or source.delimiter,
            )  # fmt: skip
            writer.open(source.schema)
            held = Held(session) if session.on_error == "fail" else None

            def step(batch: pa.RecordBatch) -> None:
                # no state changes anywhere unless both the alert rules and the aggregator accept the rows
                stream.check(batch)  # raises (nothing changed) where the alert rules refuse a value
                agg.update(batch)
                try:
                    found = stream.evaluate(batch)
                except EmoscoreError as exc:  # check() accepted it: a bug, never a half-folded batch
                    raise RuntimeError(f"the alert stream refused a batch its check accepted: {exc}") from exc
                if found.num_rows:
                    alerts.append(found)

            def work(chunk) -> None:
                convert.check_chunk(chunk, session, provided)
                with held.holding() if held is not None else contextlib.nullcontext():
                    prepared = writer.prepare(chunk)  # may reject records the output format cannot hold
                if not len(prepared):
                    return
                rows = _rows_of(chunk, prepared)
                try:
                    scores = scoring(prepared)
                except EmoscoreError as exc:
                    raise InputFailure(f"cannot score the records of {source.current}: {exc}") from None
                # the KPI columns from the records as read (JSONL: the parsed values, whatever --keep
                # and the output format keep), for the rows the writer kept
                raw = chunk if len(rows) == len(chunk) else _subset(chunk, rows)
                batch, bad = convert.batch(raw, scores)
                keep = aggregate(session, raw, batch, bad, step, held)
                if len(keep) < len(prepared):
                    prepared, scores = _subset(prepared, keep), scores.take(pa.array(keep, pa.int64()))
                if len(prepared):
                    writer.write(prepared, scores)

            each_chunk(session, source, held, work)
            writer.close()
            output.commit()
            if finishing(session):

                def tables(agg) -> None:
                    write_table(agg.result(level=args.level, min_n=args.min_n), args.kpi_out, kpi_format, session,
                                stdout=stdout, delimiter=args.delimiter, precision=args.precision)  # fmt: skip
                    if args.alerts_out and alerts_format is not None:
                        last = stream.flush()  # the kpi_shift alerts of the windows still open
                        table = _alerts_table(alerts + ([last] if last.num_rows else []), stream)
                        write_table(table, args.alerts_out, alerts_format, session, stdout=stdout,
                                    delimiter=args.delimiter)  # fmt: skip
                    session.info.update(groups=len(agg), alerts=stream.stats["alerts"])

                _finish(args.state, agg, session, tables)
        except (UsageError, InputFailure) as exc:
            session.fail(exc)
            if output is not None:
                output.discard()
        except OutputFailure as exc:
            session.fail(exc)
            if output is not None and output.discard():
                session.output_lost()
        except BaseException:  # a second signal, a bug: no half-written output file is left behind
            if output is not None:
                output.discard()
            raise
        finally:
            gc.set_threshold(*thresholds)
            if source is not None:
                source.close()
        return session.status()


def _alerts_table(parts: list[pa.Table], stream) -> pa.Table:
    """The alerts of the run, in input order (``row``, relative to one internal batch, is dropped:
    give --id to name the records)."""
    if not parts:
        from ..alerts import empty_alerts

        table = empty_alerts(stream.rules, pa.schema([]))
    else:
        table = pa.concat_tables(parts, promote_options="permissive")
    return table.drop_columns([c for c in ("row",) if c in table.column_names])
