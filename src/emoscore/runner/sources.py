"""The inputs of a command, read one after another as one stream of records.

``-i`` may be given many times; each is a file, ``-`` (stdin, alone), a directory or a glob
pattern (``*``, ``?``, ``[...]``, ``**`` across directories). A directory stands for every file
under it, in name order, but those whose names start with ``.`` or ``_`` (``_SUCCESS``, hidden
files), as ``pyarrow.dataset`` discovers a dataset; the ``KEY=VALUE`` directories on a file's path
below it (hive partitioning, decoded by ``pyarrow.dataset``) become string columns of its records,
unless the records have a field of that name (theirs is kept). Every file is read by the reader of
its own format (detected per file, as for one input) with the same checks and error lines: the lines
of a run over several files name the ``file`` as well as the ``line`` or ``row``. All files of a run
have one format, and files with a schema (CSV, Arrow, Parquet) have the columns of the first one.

Accounting: :meth:`~.session.Session.begin_input` starts each file's share of the counters; the
summary's ``files`` lists them, each reconciled, with its ``last_line`` / ``last_row`` and whether
it was read to its end, which is what ``--resume SUMMARY`` needs to go on after a stop.
"""

from __future__ import annotations

import collections
import csv
import glob
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import orjson
import pyarrow as pa

from .inputs import BOM, READ_BLOCK, Input, open_input
from .readers import READERS, ArrowChunk, JsonlChunk
from .session import InputFailure, Session, UsageError

__all__ = ["InputFile", "Records", "check_text_field", "expand_inputs", "open_records", "resume_points"]

TEXT_PROBE_LINES = 8192  # JSONL: the lines (and at most the bytes) in which some record must have the text field
TEXT_PROBE_BYTES = 16 << 20
_PATTERN = frozenset("*?[")


@dataclass(frozen=True)
class InputFile:
    """One input: ``path`` (``None``: stdin) and the hive partition values of the directories it was
    found under."""

    path: str | None
    partitions: dict[str, str | None] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return "<stdin>" if self.path is None else self.path


def expand_inputs(patterns: Sequence[str] | None) -> list[InputFile]:
    """The files the ``-i`` values stand for, in order (see the module docstring). A pattern that
    matches nothing, or an empty directory, is an :class:`InputFailure`; a file named twice, or
    stdin with other inputs, a :class:`UsageError`."""
    if not patterns:
        return [InputFile(None)]
    if "-" in patterns and len(patterns) > 1:
        raise UsageError("stdin (-i -) is read alone: give the files as paths")
    files: list[InputFile] = []
    for pattern in patterns:
        if pattern == "-":
            files.append(InputFile(None))
        elif os.path.isdir(pattern):
            files += _directory(pattern)
        elif _PATTERN.intersection(pattern) and not os.path.exists(pattern):
            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                raise InputFailure(f"-i {pattern}: no file matches")
            for match in matches:
                files += _directory(match) if os.path.isdir(match) else [InputFile(match)]
        else:
            files.append(InputFile(pattern))  # a missing file fails when it is opened, as one input does
    seen: dict[str, str] = {}
    for file in files:
        if file.path is None:
            continue
        key = os.path.realpath(file.path)
        if key in seen:
            raise UsageError(f"-i names the file {file.path} twice (also as {seen[key]}): each input is read once")
        seen[key] = file.path
    return files


def _directory(root: str) -> list[InputFile]:
    """The files under ``root`` with the hive partition values of their directories."""
    import pyarrow.dataset as ds

    paths = []
    for directory, subdirectories, names in os.walk(root, followlinks=True):
        subdirectories[:] = sorted(d for d in subdirectories if not d.startswith((".", "_")))
        paths += [os.path.join(directory, n) for n in sorted(names) if not n.startswith((".", "_"))]
    if not paths:
        raise InputFailure(f"-i {root}: the directory holds no file to read")
    relative = [os.path.relpath(path, root) for path in paths]
    keys = [[part.split("=", 1)[0] for part in os.path.dirname(rel).split(os.sep) if "=" in part] for rel in relative]
    if any(k != keys[0] for k in keys):
        odd = next(i for i, k in enumerate(keys) if k != keys[0])
        raise InputFailure(f"-i {root}: the files are partitioned by different keys: {paths[0]} by {keys[0]}, "
                           f"{paths[odd]} by {keys[odd]}")  # fmt: skip
    if not keys[0]:
        return [InputFile(path) for path in paths]
    partitioning = ds.partitioning(pa.schema([(key, pa.string()) for key in keys[0]]), flavor="hive")
    files = []
    for path, rel in zip(paths, relative, strict=True):
        values = ds.get_partition_keys(partitioning.parse("/" + rel.replace(os.sep, "/")))
        files.append(InputFile(path, {key: values.get(key) for key in keys[0]}))
    return files


def resume_points(path: str) -> dict[str, tuple[bool, int]]:
    """``--resume SUMMARY``: for each input of the stopped run, (read to its end, the number of its last
    record read). A run whose output was lost, or that was aborted, cannot be resumed: its records were
    not all delivered (:class:`UsageError`)."""
    try:
        with open(path, "rb") as f:
            summary = orjson.loads(f.read())
    except OSError as exc:
        raise UsageError(f"--resume {path}: cannot read it: {exc.strerror or exc}") from None
    except orjson.JSONDecodeError:
        raise UsageError(f"--resume {path}: not a JSON summary (write one with --summary FILE)") from None
    if not isinstance(summary, dict) or summary.get("event") != "summary":
        raise UsageError(f"--resume {path}: not a JSON summary (write one with --summary FILE)")
    files = summary.get("files")
    if not isinstance(files, list):
        raise UsageError(f"--resume {path}: the summary lists no inputs (it was written by an older emoscore)")
    lost = [entry["input"] for entry in files if entry.get("not_written")]
    if summary.get("status") == "aborted" or lost:
        raise UsageError(f"--resume {path}: that run lost records it had read (status {summary.get('status')}"
                         f"{', not written: ' + ', '.join(lost) if lost else ''}); run it again from the start")
    points = {}
    for entry in files:
        last = entry.get("last_line", entry.get("last_row", 0))
        points[entry["input"]] = (bool(entry.get("complete")), int(last))
    return points


def open_records(args, session: Session, stdin: BinaryIO | None, *, columns: list[str] | None = None,
                 compare: Sequence[str] | None = None) -> Records:
    """The records of the inputs that ``-i`` names (stdin without it), read as the input options say,
    from where ``--resume`` / ``--skip-records`` say when given. The first file to read is opened
    now, so a missing file, a wrong format or a wrong ``--text`` fails before anything is written.
    ``columns``: read only these (Parquet); ``compare``: the columns in which every later file with a
    schema must equal the first (``None``: all of them)."""
    files = expand_inputs(args.input)
    resume = getattr(args, "resume", None)
    skip = getattr(args, "skip_records", None)
    if resume and skip:
        raise UsageError("give --resume SUMMARY or --skip-records N, not both")
    points: dict[str, tuple[bool, int]] = {}
    if skip:
        if len(files) > 1:
            raise UsageError("--skip-records passes over records of one input; with several, resume with "
                             "--resume SUMMARY (the --summary FILE of the stopped run)")
        points[files[0].name] = (False, skip)
    elif resume:
        points = resume_points(resume)
        names = {file.name for file in files}
        unknown = [name for name in points if name not in names]
        if unknown:
            raise UsageError(f"--resume {resume}: the stopped run read {unknown[0]}, which is not among the "
                             "inputs of this one; give the same -i")
    return Records(files, session, args, stdin, points=points, columns=columns, compare=compare)


class Records:
    """The records of every input as one reader: ``schema`` (the first file's, with its partition
    columns; ``None`` for JSONL), ``format``, ``name`` and ``delimiter`` (the first file's); iterating
    yields the chunks of each file in turn. ``close()`` closes the file being read."""

    def __init__(self, files: list[InputFile], session: Session, args, stdin: BinaryIO | None, *,
                 points: dict[str, tuple[bool, int]], columns: list[str] | None,
                 compare: Sequence[str] | None) -> None:  # fmt: skip
        self.files = files
        self.session = session
        self._args = args
        self._stdin = stdin
        self._points = points
        self._columns = columns
        self._compare = compare
        self._open_now: tuple[int, Input, Any] | None = None
        self._source: Input | None = None
        self._listed = 0  # the files before this one are in the session's list (or were not read)
        todo = [i for i, file in enumerate(files) if not self._point(file)[0]]
        self.schema: pa.Schema | None = None
        self.name = files[todo[0]].name if todo else files[0].name
        self.format: str | None = None
        self.delimiter = ","
        self.current = self.name  # the input being read
        if todo:
            self._passed_over(todo[0])
            source, reader = self._open(todo[0])
            self._open_now = (todo[0], source, reader)
            self.format, self.delimiter = source.format, source.delimiter
            self.schema = _with_partitions(reader.schema, files[todo[0]].partitions)
            session.name_inputs = len(files) > 1
            if session.name_inputs:
                session.info.update(inputs=len(files), input_format=source.format)
            else:
                session.info.update(input=source.name, input_format=source.format, compression=source.compression)

    def _point(self, file: InputFile) -> tuple[bool, int]:
        """Where the stopped run left ``file``: (read to its end, the number of its last record read)."""
        return self._points.get(file.name, (False, 0))

    def _passed_over(self, upto: int) -> None:
        """The files not yet listed before ``upto`` that the stopped run read to their end: listed as
        complete, so that a resume of this run passes over them too."""
        for file in self.files[self._listed:upto]:
            complete, last = self._point(file)
            if complete:
                self.session.begin_input(file.name, after=last)
                self.session.end_input(complete=True)
        self._listed = max(self._listed, upto)

    def _open(self, index: int) -> tuple[Input, Any]:
        file, args, session = self.files[index], self._args, self.session
        self._listed = index + 1
        self.current = file.name
        after = self._point(file)[1]
        session.begin_input(file.name, after=after,
                            **({"partitions": file.partitions} if file.partitions else {}))  # fmt: skip
        source = open_input(file.path, session, input_format=args.input_format, text_field=args.text,
                            delimiter=args.delimiter, stdin=self._stdin)  # fmt: skip
        self._source = source
        try:
            check_text_field(source, args.text, session, declared=args.input_format is not None)
            columns = self._columns and [c for c in self._columns if c not in file.partitions]
            reader = READERS[source.format](
                source, text=args.text, batch_size=args.batch_size, session=session,
                max_record_bytes=args.max_record_bytes, invalid_utf8=args.invalid_utf8, id_field=args.id_field,
                after=after, columns=columns or None,
            )  # fmt: skip
        except BaseException:
            source.close()
            raise
        return source, reader

    def _check(self, index: int, source: Input, reader) -> None:
        """A later file must have the first one's format and, where both have a schema, its columns."""
        file = self.files[index]
        if source.format != self.format:
            raise InputFailure(f"{file.name} is {source.format}, but {self.name} is {self.format}: the inputs of "
                               "one run have one format")  # fmt: skip
        schema = _with_partitions(reader.schema, file.partitions)
        if schema is None or self.schema is None:
            return
        names = self._compare if self._compare is not None else list(dict.fromkeys([*self.schema.names, *schema.names]))
        differ = [n for n in names if (n in schema.names) != (n in self.schema.names)
                  or n in schema.names and schema.field(n).type != self.schema.field(n).type]  # fmt: skip

        def shown(s: pa.Schema) -> str:
            return ", ".join(f"{n}: {s.field(n).type}" if n in s.names else f"{n}: absent" for n in differ)

        if differ:
            raise InputFailure(
                f"the columns of {file.name} differ from those of {self.name}: {shown(schema)} there, "
                f"{shown(self.schema)} here; one output holds one set of columns (read such files in separate runs, "
                "or leave the other columns out with --keep)"
            )

    def __iter__(self) -> Iterator[JsonlChunk | ArrowChunk]:
        session = self.session
        for index, file in enumerate(self.files):
            if self._point(file)[0]:
                continue
            if self._open_now is not None and self._open_now[0] == index:
                _, source, reader = self._open_now
                self._open_now = None
            else:
                if session.stopping:
                    break
                self._passed_over(index)
                source, reader = self._open(index)
                try:
                    self._check(index, source, reader)
                except BaseException:
                    source.close()
                    raise
            try:
                if file.partitions:
                    self._warn_shadowed(file, reader.schema)
                    for chunk in reader:
                        yield _chunk_with_partitions(chunk, file.partitions)
                else:
                    yield from reader
            finally:
                source.close()
                self._source = None
            session.end_input(complete=not session.stopping)
        self._passed_over(len(self.files))

    def _warn_shadowed(self, file: InputFile, schema: pa.Schema | None) -> None:
        shadowed = [key for key in file.partitions if schema is not None and key in schema.names]
        if shadowed:
            self.session.warn_once(f"partition {shadowed}", f"{file.name} has a column named like its partition "
                                   f"key(s) {shadowed}: the column's values are kept")  # fmt: skip

    def close(self) -> None:
        if self._open_now is not None:
            self._open_now[1].close()
            self._open_now = None
        if self._source is not None:
            self._source.close()
            self._source = None


def _with_partitions(schema: pa.Schema | None, partitions: dict[str, str | None]) -> pa.Schema | None:
    """The schema of a file's records with its partition columns (those it does not have itself)."""
    if schema is None or not partitions:
        return schema
    return pa.schema([*schema, *((key, pa.string()) for key in partitions if key not in schema.names)],
                     metadata=schema.metadata)  # fmt: skip


def _chunk_with_partitions(chunk: JsonlChunk | ArrowChunk, partitions: dict[str, str | None]):
    """The chunk's records with the partition values as fields (where a record has no such field)."""
    if isinstance(chunk, JsonlChunk):
        raw = list(chunk.raw)
        for i, obj in enumerate(chunk.objects):
            missing = {key: value for key, value in partitions.items() if key not in obj}
            if missing:
                obj.update(missing)
                body = raw[i].rstrip()[:-1].rstrip()  # the object without its closing brace
                raw[i] = body + (b"" if body.endswith(b"{") else b",") + orjson.dumps(missing)[1:]
        return JsonlChunk(raw, chunk.objects, chunk.text_values, chunk.lines)
    batch = chunk.batch
    for key, value in partitions.items():
        if key not in batch.schema.names:
            batch = batch.append_column(key, pa.array([value] * batch.num_rows, pa.string()))
    return ArrowChunk(batch, chunk.text, chunk.numbers, chunk.where)


def check_text_field(source: Input, text: str, session: Session, *, declared: bool = False) -> None:
    """JSONL: a wrong ``--text`` fails fast, like a CSV, Arrow or Parquet input without the column.

    Reads ahead until a record with the ``text`` field turns up (usually the first line), at most
    :data:`TEXT_PROBE_LINES` lines or :data:`TEXT_PROBE_BYTES` bytes; when the objects among them
    have none, raises :class:`InputFailure` (status 4) naming the field and the fields they have,
    before any record is read or reported. Otherwise the bytes read ahead are handed to the reader
    first (``source.read_block`` is wrapped), so nothing is lost, and damage met while reading ahead
    is raised where the reader reaches it. Lines that are not JSON objects do not count either way.
    A detected (not ``declared``) JSONL input whose first lines read as a CSV header without the text
    field is a CSV input meant for another ``--text``: also status 4. A declared ``--input-format
    jsonl`` is taken at its word: such lines are rejected as invalid JSON, one by one.
    """
    read = source.read_block
    if source.format != "jsonl" or read is None:
        return
    blocks: list[bytes] = []
    failure: InputFailure | None = None
    ended = found = False
    size = lines = objects = 0
    fields: dict[str, None] = {}
    partial: list[bytes] = []
    firsts: list[bytes] = []  # the first two lines that are not blank (is it CSV?)

    def look(line: bytes) -> bool:
        nonlocal objects
        line = line.strip()
        if line.startswith(BOM):
            line = line[len(BOM) :].strip()
        if line and len(firsts) < 2:
            firsts.append(line)
        if not line.startswith(b"{"):
            return False
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            return False
        if type(obj) is not dict:
            return False
        if text in obj:
            return True
        objects += 1
        fields.update(dict.fromkeys(obj))
        return False

    while not found and size < TEXT_PROBE_BYTES and lines < TEXT_PROBE_LINES:
        try:
            block = read(READ_BLOCK)
        except InputFailure as exc:  # damage: raised again where the reader meets it
            failure = exc
            break
        if not block:
            ended = True
            break
        blocks.append(block)
        size += len(block)
        start = 0
        while not found and lines < TEXT_PROBE_LINES and (end := block.find(b"\n", start)) >= 0:
            line = b"".join([*partial, block[start:end]]) if partial else block[start:end]
            partial, start, lines = [], end + 1, lines + 1
            found = look(line)
        if start < len(block):
            partial.append(block[start:])
    if ended and partial and not found:
        found = look(b"".join(partial))
    del partial
    if blocks or failure is not None or ended:
        replay = collections.deque(blocks)

        def read_block(n: int) -> bytes:
            if replay:
                block = replay.popleft()
                if len(block) > n:
                    replay.appendleft(block[n:])
                    block = block[:n]
                return block
            if failure is not None:
                raise failure
            if ended:
                return b""  # read again, a terminal would wait for a second end of input
            return read(n)

        source.read_block = read_block
    if not found and objects and session.stop_signal is None:
        names = list(fields)
        shown = repr(names[:30])[:-1] + (", ...]" if len(names) > 30 else "]")
        raise InputFailure(
            f"none of the first {objects:,} records of {source.name} has the text field {text!r}; their fields "
            f"are {shown} (name the text field with --text FIELD)"
        )
    columns = _csv_header(firsts) if not (found or objects or declared or session.stop_signal) else None
    if columns is not None:
        fix = "give --input-format csv" if text in columns else \
            f"none is the text field {text!r}: name it with --text FIELD"  # fmt: skip
        raise InputFailure(
            f"{source.name} looks like CSV, not JSON Lines: its first line has the columns {columns[:30]}; {fix}"
        )


def _csv_header(lines: list[bytes]) -> list[str] | None:
    """The columns of a CSV header, when the first two lines read as CSV rows of the same number
    (at least two) of fields with one of the usual delimiters; else None."""
    if not lines or lines[0].startswith((b"{", b"[")):
        return None
    best: list[str] | None = None
    for delimiter in (",", "\t", ";", "|"):
        try:
            rows = list(csv.reader([line.decode("utf-8", "replace") for line in lines], delimiter=delimiter))
        except csv.Error:
            continue
        if len(rows[0]) >= 2 and all(len(row) == len(rows[0]) for row in rows):
            if best is None or len(rows[0]) > len(best):
                best = rows[0]
    return best


