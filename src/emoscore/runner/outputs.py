"""Outputs and writers.

:class:`Output` is stdout or ``--output PATH``. A regular file is written under a temporary name
beside it (``.NAME.emoscore-PID.partial``) and renamed into place only when the run ends with a
well-formed file (also after a stop signal or an input error: the complete batches before it are
in it); after an output error it is removed and PATH is left as it was. A symbolic link is followed
(its target is written, the link stays). A FIFO, a device, or a path to an open descriptor
(``/dev/stdout``, ``/proc/self/fd/1``) is written in place (a regular file behind a descriptor path
is appended to, as the shell's ``>`` or ``>>`` left it). Every write goes through :class:`_Sink`,
which remembers the first OS error, so a failure is classified (disk full, broken pipe) whatever
the library that met it re-raised.

Writers: ``open(input_schema)``, ``prepare(chunk)`` (may reject records the format cannot hold),
``write(chunk, scores)`` (adds ``len(chunk)`` to ``session.written``), ``close()``. Output fields:
every input field (``--keep``: the ``--id`` field and the listed ones, in that order) then the
score columns; an input field named like a score column is replaced by the score.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import io
import os
import shutil
import stat
import time
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from .convert import JsonlArrowChunk, JsonlToArrow
from .jsontext import json_column, json_default, splice_lines
from .readers import ArrowChunk, JsonlChunk
from .session import ExitStatus, InputFailure, OutputFailure, Session, describe_os_error, is_broken_pipe

__all__ = [
    "WRITERS", "ArrowStreamWriter", "CsvWriter", "DatasetOutput", "JsonlWriter", "Output", "ParquetWriter",
    "PartitionedParquetWriter", "is_descriptor_path", "record_output", "record_writer",
]

PARQUET_ROW_GROUP_ROWS = 1 << 17  # small batches are gathered into row groups of about this many rows
PARTITION_BUFFER_BYTES = 1 << 26  # --partition-by: scored data held, then sorted (a copy) and written out
PARTITION_FILES_OPEN = 256  # --partition-by: files open at once (a partition beyond goes on in a new file)


class _Sink(io.RawIOBase):
    """A binary stream that remembers the first error of the stream it writes to."""

    def __init__(self, stream: BinaryIO, name: str) -> None:
        self._stream = stream
        self.name = name
        self.error: BaseException | None = None
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self.error is not None:
            raise self.error
        size = memoryview(data).nbytes
        try:
            self._stream.write(data)
        except (OSError, ValueError) as exc:
            self.error = exc
            raise
        self.position += size
        return size

    def flush(self) -> None:
        if self.error is not None:
            raise self.error
        try:
            self._stream.flush()
        except (OSError, ValueError) as exc:
            self.error = exc
            raise

    def tell(self) -> int:
        return self.position

    def close_stream(self) -> None:
        self._stream.close()


def write_atomically(path: str, data: bytes, what: str) -> None:
    """Write ``data`` to ``path`` as a whole or not at all: a temporary file beside it, fsync, rename.
    On failure no temporary file is left, and an OSError becomes ``OutputFailure("cannot <what> <path>: ...")``."""
    directory, base = os.path.split(os.path.abspath(path))
    temp = os.path.join(directory, f".{base}.emoscore-{os.getpid()}.partial")
    try:
        with open(temp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException as exc:  # a full disk, a second signal: no partial file is left behind
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise OutputFailure(f"cannot {what} {path}: {exc}") from None
        raise


def is_descriptor_path(path: str) -> bool:
    """Whether ``path`` names an open file descriptor (``/dev/stdout``, ``/dev/fd/N``,
    ``/proc/self/fd/N``, or a link to one) rather than a file in a directory: such a path is written
    in place (a temporary file renamed over it would replace the link, not write the file)."""
    current = os.path.abspath(path)
    for _ in range(40):  # the links followed one by one: the last one (into /proc) points at the file itself
        directory = os.path.realpath(os.path.dirname(current))
        name = os.path.join(directory, os.path.basename(current))
        if directory.startswith("/proc/") or name in ("/dev/stdin", "/dev/stdout", "/dev/stderr"):
            return True
        try:
            current = os.path.join(directory, os.readlink(name))
        except OSError:  # not a link (or none there)
            return False
    return False


class Output:
    """stdout or a path; see the module docstring."""

    def __init__(self, name: str, stream: BinaryIO, *, final: str | None = None, temp: str | None = None,
                 owned: bool = False, stdout_fd: bool = False) -> None:  # fmt: skip
        self.name = name
        self.sink = _Sink(stream, name)
        self.final = final
        self.temp = temp
        self.owned = owned
        self.stdout_fd = stdout_fd
        self.done = False

    @classmethod
    def open(cls, path: str | None, *, stdout: BinaryIO | None = None) -> Output:
        if path in (None, "-"):
            if getattr(stdout, "closed_at_start", False):
                raise OutputFailure("stdout is closed; give --output PATH or redirect stdout")
            if stdout is not None:
                return cls("<stdout>", stdout)
            try:
                os.fstat(1)
            except OSError:
                raise OutputFailure("stdout is closed; give --output PATH or redirect stdout") from None
            return cls("<stdout>", open(1, "wb", buffering=1 << 16, closefd=False), stdout_fd=True)  # noqa: SIM115
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            mode = None
        except OSError as exc:
            raise OutputFailure(f"cannot write the output {path}: {describe_os_error(exc)}") from None
        try:
            if mode is not None and not stat.S_ISREG(mode):  # a device or a FIFO: write in place
                return cls(path, open(path, "wb"), owned=True)  # noqa: SIM115
            if mode is not None and is_descriptor_path(path):  # /dev/stdout to a file: that file, appended to
                return cls(path, open(path, "ab"), owned=True)  # noqa: SIM115
            # a link: its target is written (as the shell's `> link` does) and the link stays
            final = os.path.realpath(path) if os.path.islink(path) else path
            directory, base = os.path.split(os.path.abspath(final))
            temp = os.path.join(directory, f".{base}.emoscore-{os.getpid()}.partial")
            return cls(path, open(temp, "wb"), final=final, temp=temp, owned=True)  # noqa: SIM115
        except OSError as exc:
            raise OutputFailure(f"cannot write the output {path}: {describe_os_error(exc)}") from None

    def failure(self, exc: BaseException | None = None) -> OutputFailure:
        """The OutputFailure for an exception met while writing (the sink's own error first)."""
        cause = self.sink.error or exc
        if cause is not None and is_broken_pipe(cause):
            return OutputFailure("the reader of the output went away", status=ExitStatus.BROKEN_PIPE)
        return OutputFailure(f"cannot write the output {self.name}: {describe_os_error(cause) if cause else exc}")

    def write(self, data) -> None:
        try:
            self.sink.write(data)
        except (OSError, ValueError) as exc:
            raise self.failure(exc) from None

    def flush(self) -> None:
        try:
            self.sink.flush()
        except (OSError, ValueError) as exc:
            raise self.failure(exc) from None

    def commit(self) -> None:
        """Flush; close a file and rename a temporary one into place."""
        self.flush()
        if self.owned:
            try:
                self.sink.close_stream()
            except OSError as exc:
                raise self.failure(exc) from None
        if self.temp is not None and self.final is not None:  # set together by open()
            try:
                os.replace(self.temp, self.final)
            except OSError as exc:
                raise OutputFailure(f"cannot rename {self.temp} to {self.final}: {describe_os_error(exc)}") from None
        self.done = True

    def discard(self) -> bool:
        """After a failure: close, remove a temporary file. True when the records written are gone."""
        if self.done:
            return False
        self.done = True
        if self.owned:
            with contextlib.suppress(OSError, ValueError):
                self.sink.close_stream()
        if self.temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.temp)
            return True
        if self.stdout_fd and self.sink.error is not None:
            # Keep the interpreter's final flush of stdout from raising again at exit.
            with contextlib.suppress(OSError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.close(devnull)
        return False


class DatasetOutput:
    """``--output DIR`` with ``--partition-by``: a Parquet dataset written into a temporary directory
    beside DIR (``.DIR.emoscore-PID.partial``) whose files are moved into DIR (made if need be) only
    when the run ends with them complete; after an output error it is removed and DIR is left as it
    was. Each run's files have names of their own, so a resumed run adds to the dataset."""

    def __init__(self, path: str) -> None:
        self.name = path
        self.final = os.path.realpath(path)
        directory, base = os.path.split(self.final)
        self.temp = os.path.join(directory, f".{base}.emoscore-{os.getpid()}.partial")
        self.done = False
        self.stop_writing: Callable[[], None] | None = None  # set by the writer: closes its files

    @classmethod
    def open(cls, path: str) -> DatasetOutput:
        output = cls(path)
        try:
            shutil.rmtree(output.temp, ignore_errors=True)  # left by a process of the same id that was killed
            os.mkdir(output.temp)
        except OSError as exc:
            raise OutputFailure(f"cannot write the dataset {path}: {describe_os_error(exc)}") from None
        return output

    def failure(self, exc: BaseException | None = None) -> OutputFailure:
        return OutputFailure(f"cannot write the dataset {self.name}: {describe_os_error(exc) if exc else 'failed'}")

    def flush(self) -> None:
        pass  # the writer writes each partition's files itself

    def commit(self) -> None:
        """Move the files written into DIR, each partition directory made as needed."""
        try:
            for directory, _, names in os.walk(self.temp):
                into = os.path.normpath(os.path.join(self.final, os.path.relpath(directory, self.temp)))
                os.makedirs(into, exist_ok=True)
                for name in names:
                    os.replace(os.path.join(directory, name), os.path.join(into, name))
            shutil.rmtree(self.temp)
        except OSError as exc:
            raise self.failure(exc) from None
        self.done = True

    def discard(self) -> bool:
        """After a failure: stop the writing and remove the temporary directory (the records written are gone)."""
        if self.done:
            return False
        self.done = True
        if self.stop_writing is not None:
            self.stop_writing()
        shutil.rmtree(self.temp, ignore_errors=True)
        return True


# -------------------------------------------------------------------------------------------------
# Field selection
# -------------------------------------------------------------------------------------------------
def selected_names(names: list[str], keep: list[str] | None, id_field: str | None) -> list[str]:
    """The input fields to write, in order."""
    if keep is None:
        return list(names)
    wanted = list(dict.fromkeys(([id_field] if id_field else []) + keep))
    return [name for name in wanted if name in names]


def check_selection(schema: pa.Schema, keep: list[str] | None, id_field: str | None, name: str) -> None:
    wanted = ([id_field] if id_field else []) + (keep or [])
    missing = [c for c in wanted if c not in schema.names]
    if missing:
        raise InputFailure(f"column(s) {missing} not found in {name}; its columns are {schema.names}")


class _Writer:
    def __init__(
        self,
        output: Output,
        *,
        text: str,
        session: Session,
        score_schema: pa.Schema,
        keep: list[str] | None = None,
        id_field: str | None = None,
        input_name: str = "the input",
        delimiter: str = ",",
    ) -> None:
        self.output = output
        self.text = text
        self.session = session
        self.score_schema = score_schema
        self.score_names = frozenset(score_schema.names)
        self.keep = keep
        self.id_field = id_field
        self.input_name = input_name
        self.delimiter = delimiter

    def _clashes(self, names: list[str]) -> list[str]:
        clash = [name for name in names if name in self.score_names]
        if clash:
            self.session.warn_once("clash", f"input field(s) {clash} replaced by the score(s) of the same name")
        return clash

    def open(self, input_schema: pa.Schema | None) -> None:
        if input_schema is not None:
            check_selection(input_schema, self.keep, self.id_field, self.input_name)

    def prepare(self, chunk):
        return chunk

    def _selected(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        names = [n for n in selected_names(batch.schema.names, self.keep, self.id_field) if n not in self.score_names]
        if names != batch.schema.names:
            self._clashes(batch.schema.names)
            batch = batch.select(names)
        return batch


# -------------------------------------------------------------------------------------------------
# JSON Lines
# -------------------------------------------------------------------------------------------------
class JsonlWriter(_Writer):
    """JSON Lines: the input object text with the score fields spliced in before its closing brace
    (byte for byte as read when every field is kept); other inputs: one object per row."""

    def write(self, chunk, scores: pa.Table) -> None:
        if isinstance(chunk, JsonlChunk):
            objects = self._jsonl_objects(chunk)
        else:
            objects = self._arrow_objects(chunk)
        data = splice_lines(objects, scores, may_be_empty=self.keep is not None)
        self.output.write(data)
        self.output.flush()
        self.session.written += len(chunk)

    def _jsonl_objects(self, chunk: JsonlChunk) -> list[bytes]:
        raw, objects, names = chunk.raw, chunk.objects, self.score_names
        if self.keep is not None:
            fields = list(dict.fromkeys(([self.id_field] if self.id_field else []) + self.keep))
            fields = [f for f in fields if f not in names]
            dumps = orjson.dumps
            return [dumps({k: obj[k] for k in fields if k in obj}) for obj in objects]
        for i in [i for i, obj in enumerate(objects) if not names.isdisjoint(obj)]:
            clash = [key for key in objects[i] if key in names]
            self.session.warn_once(
                "clash",
                f"input field(s) {clash} on line {chunk.lines[i]} replaced by the score(s) of the same name "
                "(reported once)",
            )
            if raw is chunk.raw:
                raw = list(raw)
            raw[i] = orjson.dumps({key: value for key, value in objects[i].items() if key not in names})
        return raw

    def _arrow_objects(self, chunk: ArrowChunk) -> list[bytes]:
        batch = self._selected(chunk.batch)
        dumps, default, option = orjson.dumps, json_default, orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
        return [dumps(row, default=default, option=option) for row in batch.to_pylist()]

    def close(self) -> None:
        self.output.flush()


# -------------------------------------------------------------------------------------------------
# Columnar outputs: Arrow IPC stream, Parquet, CSV
# -------------------------------------------------------------------------------------------------
class _ColumnarWriter(_Writer):
    """Writes scored record batches; JSONL records are first converted to the schema inferred from
    the first batch (records that do not fit it are rejected, never dropped silently)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._input_schema: pa.Schema | None = None  # the selected input fields
        self._converter: JsonlToArrow | None = None  # JSONL input: records to batches
        self.schema: pa.Schema | None = None  # the output: selected input fields, then the scores

    def open(self, input_schema: pa.Schema | None) -> None:
        super().open(input_schema)
        if input_schema is not None:
            self._start(input_schema)

    def _start(self, input_schema: pa.Schema) -> None:
        names = [n for n in selected_names(input_schema.names, self.keep, self.id_field) if n not in self.score_names]
        self._clashes(input_schema.names)
        self._input_schema = pa.schema([input_schema.field(n) for n in names])
        self.schema = pa.schema(list(self._input_schema) + list(self.score_schema))
        self._open_format(self.schema)

    def _open_format(self, schema: pa.Schema) -> None:
        raise NotImplementedError

    def prepare(self, chunk):
        if isinstance(chunk, JsonlChunk):
            return self._from_jsonl(chunk)
        return chunk

    def _fields(self) -> list[str] | None:
        if self.keep is None:
            return None
        return list(dict.fromkeys(([self.id_field] if self.id_field else []) + self.keep))

    def _from_jsonl(self, chunk: JsonlChunk) -> ArrowChunk:
        """JSONL records as a batch of the schema inferred from the first batch."""
        if self._converter is None:
            self._converter = JsonlToArrow(self.session, text=self.text, fields=self._fields(),
                                           exclude=self.score_names)  # fmt: skip
        if self.schema is None:
            self._start(self._converter.infer(chunk))
        return self._converter(chunk)

    def write(self, chunk, scores: pa.Table) -> None:
        if self.schema is None:
            self._start(chunk.batch.schema)
        if isinstance(chunk, JsonlArrowChunk):
            selected = chunk.batch
        else:
            selected = self._selected(chunk.batch)
        columns = list(selected.columns) + [column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
                                            for column in scores.columns]  # fmt: skip
        batch = pa.RecordBatch.from_arrays(columns, schema=self.schema)
        try:
            self._write_batch(batch)
            self.output.flush()
        except OutputFailure:
            raise
        except Exception as exc:  # noqa: BLE001 - pyarrow re-raises the sink's error in its own way
            raise self.output.failure(exc) from None
        self.session.written += len(chunk)

    def _write_batch(self, batch: pa.RecordBatch) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if self.schema is None:  # no record at all: the text column and the scores
            self._start(pa.schema([(self.text, pa.string())]) if self.keep is None else pa.schema([]))
        try:
            self._close_format()
            self.output.flush()
        except OutputFailure:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self.output.failure(exc) from None

    def _close_format(self) -> None:
        raise NotImplementedError


class ArrowStreamWriter(_ColumnarWriter):
    """An Arrow IPC stream of the scored batches: the (selected) input columns, then the scores."""

    def _open_format(self, schema: pa.Schema) -> None:
        try:
            self._writer = pa.ipc.new_stream(self.output.sink, schema)
        except Exception as exc:  # noqa: BLE001
            raise self.output.failure(exc) from None

    def _write_batch(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)

    def _close_format(self) -> None:
        self._writer.close()


class ParquetWriter(_ColumnarWriter):
    """A Parquet file written incrementally (``pyarrow.parquet.ParquetWriter``); small batches are
    gathered into row groups of about 128 Ki rows."""

    def _open_format(self, schema: pa.Schema) -> None:
        import pyarrow.parquet as pq

        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        try:
            self._writer = pq.ParquetWriter(self.output.sink, schema)
        except Exception as exc:  # noqa: BLE001
            raise self.output.failure(exc) from None

    def _write_batch(self, batch: pa.RecordBatch) -> None:
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        if self._pending_rows >= PARQUET_ROW_GROUP_ROWS:
            self._flush_group()

    def _flush_group(self) -> None:
        if self._pending:
            self._writer.write_table(pa.Table.from_batches(self._pending, schema=self.schema))
            self._pending, self._pending_rows = [], 0

    def _close_format(self) -> None:
        self._flush_group()
        self._writer.close()


class CsvWriter(_ColumnarWriter):
    """CSV with a header row (``--delimiter``); strings quoted when needed, an empty field is a
    null and ``""`` the empty string; nested values and binary as JSON text; scores at 4 decimals."""

    def _open_format(self, schema: pa.Schema) -> None:
        import pyarrow.csv as pcsv

        self._plain = pa.schema([pa.field(f.name, _csv_type(f.type)) for f in schema])
        options = pcsv.WriteOptions(include_header=True, delimiter=self.delimiter, quoting_style="needed")
        try:
            self._writer = pcsv.CSVWriter(self.output.sink, self._plain, write_options=options)
        except Exception as exc:  # noqa: BLE001
            raise self.output.failure(exc) from None

    def _write_batch(self, batch: pa.RecordBatch) -> None:
        columns = []
        for field, column in zip(batch.schema, batch.columns, strict=True):
            if field.name in self.score_names and pa.types.is_floating(field.type):
                column = pc.round(column, 4)
            else:
                column = _csv_column(column)
            columns.append(column)
        self._writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=self._plain))

    def _close_format(self) -> None:
        self._writer.close()


def _csv_column(column: pa.Array) -> pa.Array:
    """A column as pyarrow's CSV writer can write it (see :func:`_csv_type`)."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        return _csv_column(column.cast(kind.value_type))
    if pa.types.is_string_view(kind) or pa.types.is_large_string(kind):
        return column.cast(pa.string())
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind) \
            or pa.types.is_binary_view(kind):
        values = [None if v is None else base64.b64encode(v).decode() for v in column.to_pylist()]
        return pa.array(values, pa.string())
    if pa.types.is_nested(kind):
        return pc.if_else(pc.is_null(column), pa.scalar(None, pa.string()), json_column(column))
    return column


def _csv_type(kind: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(kind):
        return _csv_type(kind.value_type) if not pa.types.is_nested(kind.value_type) else pa.string()
    if (
        pa.types.is_nested(kind) or pa.types.is_binary(kind) or pa.types.is_large_binary(kind)
        or pa.types.is_fixed_size_binary(kind) or pa.types.is_binary_view(kind)
    ):  # fmt: skip
        return pa.string()
    if pa.types.is_string_view(kind) or pa.types.is_large_string(kind):
        return pa.string()
    return kind


class PartitionedParquetWriter(_ColumnarWriter):
    """A hive-partitioned Parquet dataset into a :class:`DatasetOutput`: one ``KEY=VALUE`` directory
    level per ``--partition-by`` column (named as ``pyarrow.dataset`` names them; the files leave the
    columns out), one file per partition, kept open.

    Memory is bounded whatever the number of partitions and rows: the scored batches are held until
    they take :data:`PARTITION_BUFFER_BYTES`, then sorted by partition (one copy) and each partition's
    rows among them written as one row group of its file; a partition's row groups are its share of
    that many bytes. At most :data:`PARTITION_FILES_OPEN` files are open; a partition whose file was
    closed goes on in a new one."""

    def __init__(self, output: DatasetOutput, *, partition_by: list[str], **kwargs) -> None:
        super().__init__(output, **kwargs)
        self.dataset = output
        self.partition_by = partition_by
        self._held: list[pa.RecordBatch] = []  # scored batches not yet written
        self._held_bytes = 0
        self._files: dict[str, Any] = {}  # directory: its open pyarrow.parquet.ParquetWriter, least recent first
        self._file_count: dict[str, int] = {}  # directory: files begun in it by this run
        self._stamp = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
        # Rows held are written in a thread while the next are scored; one such write at a time.
        self._writing = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="emoscore-dataset-writer")
        self._written: concurrent.futures.Future | None = None

    def _open_format(self, schema: pa.Schema) -> None:
        import pyarrow.dataset as ds

        missing = [c for c in self.partition_by if c not in schema.names]
        if missing:
            raise OutputFailure(f"--partition-by {','.join(missing)}: no such column in the output; its columns are "
                                f"{schema.names}", status=ExitStatus.USAGE)  # fmt: skip
        types = {c: schema.field(c).type for c in self.partition_by}
        unfit = [f"{c} ({kind})" for c, kind in types.items() if not _names_directories(kind)]
        if unfit:
            raise OutputFailure(f"--partition-by: {', '.join(unfit)} cannot name directories; partition by "
                                "strings, whole numbers, booleans or dates", status=ExitStatus.USAGE)  # fmt: skip
        plain = {c: kind.value_type if pa.types.is_dictionary(kind) else kind for c, kind in types.items()}
        self._partitioning = ds.partitioning(pa.schema(list(plain.items())), flavor="hive")
        self._file_schema = pa.schema([field for field in schema if field.name not in types])
        self.dataset.stop_writing = self._close_files

    def _write_batch(self, batch: pa.RecordBatch) -> None:
        self._held.append(batch)
        self._held_bytes += batch.get_total_buffer_size()
        if self._held_bytes >= PARTITION_BUFFER_BYTES:
            self._write_held()

    def _write_held(self) -> None:
        """Hand the rows held to the writing thread, once it has written the rows before."""
        self._wait_written()
        if self._held:
            held = pa.Table.from_batches(self._held, schema=self.schema)
            self._held, self._held_bytes = [], 0
            self._written = self._writing.submit(self._write_sorted, held)

    def _wait_written(self) -> None:
        if self._written is not None:
            written, self._written = self._written, None
            written.result()  # the writing thread's error, if any, is raised here

    def _write_sorted(self, held: pa.Table) -> None:
        """Sort ``held`` by partition (one copy) and write one row group per partition among them."""
        if held.num_rows == 0:
            return
        keys = held.select(self.partition_by).combine_chunks().to_batches()[0]
        order, starts = _partition_order(keys, self.partition_by)
        rows = held.select(self._file_schema.names)
        del held
        if order is not None:
            rows = rows.take(order)
        for start, end in zip(starts, [*starts[1:], rows.num_rows], strict=True):
            part = rows.slice(start, end - start)
            first = start if order is None else order[start]
            self._file(self._directory(keys, first)).write_table(part, row_group_size=max(1, part.num_rows))

    def _directory(self, keys: pa.RecordBatch, row: int) -> str:
        """The ``KEY=VALUE/...`` directory of row ``row``."""
        import pyarrow.dataset as ds

        where = None
        for name in self.partition_by:
            value = keys.column(name)[row]
            if isinstance(value, pa.DictionaryScalar):
                value = value.value if value.is_valid else pa.scalar(None, value.type.value_type)
            test = ds.field(name).is_null() if not value.is_valid else ds.field(name) == value
            where = test if where is None else where & test
        return self._partitioning.format(where)[0]

    def _file(self, directory: str):
        """The open writer of ``directory``'s file: a new file when it has none."""
        import pyarrow.parquet as pq

        writer = self._files.pop(directory, None)
        if writer is None:
            if len(self._files) >= PARTITION_FILES_OPEN:
                self._close_least_recent()
            number = self._file_count.get(directory, 0)
            self._file_count[directory] = number + 1
            folder = os.path.join(self.dataset.temp, directory)
            os.makedirs(folder, exist_ok=True)
            writer = pq.ParquetWriter(os.path.join(folder, f"part-{self._stamp}-{number}.parquet"), self._file_schema)
        self._files[directory] = writer  # now the most recent
        return writer

    def _close_format(self) -> None:
        self._write_held()
        self._wait_written()
        self._writing.shutdown()
        while self._files:
            self._close_least_recent()

    def _close_least_recent(self) -> None:
        self._files.pop(next(iter(self._files))).close()

    def _close_files(self) -> None:
        """After a failure: close what is open (the directory is then removed)."""
        self._writing.shutdown(cancel_futures=True)
        if self._written is not None:
            concurrent.futures.wait([self._written])
        for writer in self._files.values():
            with contextlib.suppress(Exception):
                writer.close()
        self._files.clear()
        self._held.clear()


def _partition_order(keys: pa.RecordBatch, columns: list[str]) -> tuple[np.ndarray | None, list[int]]:
    """The rows of ``keys`` ordered by their values of ``columns`` (stable; None when all rows have the
    same values) and where each run of equal values starts in that order."""
    group = np.zeros(keys.num_rows, dtype=np.int64)
    for name in columns:
        column = keys.column(name)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        codes = pc.dictionary_encode(column, null_encoding="encode").indices.to_numpy(zero_copy_only=False)
        # combined with the groups so far, then renumbered from 0 so that the numbers stay small
        group = np.unique(group * (int(codes.max(initial=0)) + 1) + codes, return_inverse=True)[1].ravel()
    if not group.any():
        return None, [0]
    order = np.argsort(group, kind="stable")
    return order, np.flatnonzero(np.diff(group[order], prepend=-1)).tolist()


def _names_directories(kind: pa.DataType) -> bool:
    """Whether values of this type make plain directory names."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind)
            or pa.types.is_boolean(kind) or pa.types.is_date(kind))  # fmt: skip


def record_output(args, stdout: BinaryIO | None) -> Output | DatasetOutput:
    """Where the scored records go: ``--output`` (stdout without it), a dataset with ``--partition-by``."""
    if getattr(args, "partition_by", None):
        return DatasetOutput.open(args.output)
    return Output.open(args.output, stdout=stdout)


def record_writer(args, fmt: str, output: Output | DatasetOutput, **options: Any):
    """The writer of the scored records to ``output`` (see :func:`record_output`)."""
    if isinstance(output, DatasetOutput):
        return PartitionedParquetWriter(output, partition_by=args.partition_by, **options)
    return WRITERS[fmt](output, **options)


WRITERS: dict[str, Callable[..., Any]] = {
    "jsonl": JsonlWriter,
    "csv": CsvWriter,
    "arrow": ArrowStreamWriter,
    "parquet": ParquetWriter,
}
