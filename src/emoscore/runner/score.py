"""``emoscore score``: records in, the same records with their scores out, streamed in batches."""

from __future__ import annotations

import argparse
import collections
import csv
import gc
from typing import Any, BinaryIO

import orjson
import pyarrow as pa

from .arguments import (
    add_input_arguments,
    add_lexicon_arguments,
    add_output_arguments,
    add_run_arguments,
    check_paths,
    output_format,
)
from .inputs import BOM, READ_BLOCK, Input, open_input
from .outputs import WRITERS, Output
from .readers import READERS
from .session import (
    EXIT_TABLE,
    ExitStatus,
    InputFailure,
    OutputFailure,
    Session,
    UsageError,
)

__all__ = ["ScoreCommand", "Scoring", "check_text_field", "make_scorer", "run_score"]

TEXT_PROBE_LINES = 8192  # JSONL: the lines (and at most the bytes) in which some record must have the text field
TEXT_PROBE_BYTES = 16 << 20

SCORE_EPILOG = """\
formats (--input-format / --output-format; input detected when not given):
  jsonl    one JSON object per line. Output: each input line unchanged (byte for byte) with the
           score fields added before its closing brace, floats at 4 decimals.
  csv      a header row, then one record per row (--delimiter, default "," or tab for .tsv);
           every input field is read as a string exactly as written.
  arrow    an Arrow IPC stream (an IPC file is read too).
  parquet  by path only (--input / --output), read and written batch by batch.
  Input compressed with gzip or zstd is detected by its magic bytes. Detection: the magic bytes
  (Arrow, Parquet), then the file extension, then the first line ("{" → jsonl; a CSV header naming
  the text field → csv), else jsonl. Output format: --output-format, else the --output extension,
  else jsonl. JSONL in and a columnar format out: the column types are inferred from the first
  batch; later records that do not fit them are rejected (reported, never dropped silently).

bad input (never lost, never altered silently):
  each rejected record is one JSON line in the error sink (--errors FILE, default stderr):
    {"event": "rejected", "line": N (JSONL, CSV) | "row": N (Arrow, Parquet), "field": ...,
     "reason": "...", "record": "<raw record, first 4096 bytes>", "record_bytes": B,
     "truncated": false}   ("record_base64" instead of "record" when the bytes are not UTF-8)
  Rejected: invalid JSON (NUL bytes included), a JSON value that is not an object, a missing text
  field, a text that is not a string or null, invalid UTF-8 (--invalid-utf8 reject, the default;
  with "replace" the record is written with U+FFFD and reported as "repaired"), a record longer
  than --max-record-bytes (skipped without being read into memory), a CSV row with the wrong
  number of fields or bad quoting. Skipped, not records: blank lines (counted). Dropped: a UTF-8
  BOM at the start of the input or of a line. CRLF line ends are fine. An Arrow stream cut short or
  a corrupt file ends the run (status 4) after the complete batches before it. A wrong --text ends it
  at once (status 4, nothing read): a CSV header, Arrow or Parquet schema without the text column, or
  JSONL where no object among the first 8,192 lines has the text field (the fields they have are named).
  The summary (stderr, also as one JSON line {"event": "summary", ...}) always reconciles:
  read = written + rejected + not_written (not_written: lost to an output failure).

""" + EXIT_TABLE


class Scoring:
    """The score columns of a chunk's texts (a Table of the scorer's columns). With languages
    detected, ``info["not_scored"]`` counts the texts per language that had no lexicon (null scores)."""

    def __init__(self, scorer, info: dict | None = None) -> None:
        self.scorer = scorer
        self.schema = scorer.score(pa.array([], pa.string())).schema
        self._info = info if scorer.language is not None else None

    def __call__(self, chunk) -> pa.Table:
        scores = self.scorer.score(chunk.texts())
        if self._info is not None:
            unscored = scores.column("language").filter(scores.column("valence").is_null())
            counts = self._info.setdefault("not_scored", {})
            for item in unscored.value_counts().to_pylist():
                counts[item["values"]] = counts.get(item["values"], 0) + item["counts"]
        return scores


class ScoreCommand:
    name = "score"
    help = "score records (JSONL, CSV, Arrow, Parquet) and write them with the scores"
    description = (
        "Read records (stdin or --input), add the score fields, write them (stdout or --output), "
        "streaming in batches. Rejected records are reported, never dropped silently."
    )
    epilog = SCORE_EPILOG

    def configure(self, parser: argparse.ArgumentParser) -> None:
        add_input_arguments(parser)
        add_output_arguments(parser)
        add_run_arguments(parser)
        add_lexicon_arguments(parser)
        parser.add_argument("--explain", action="store_true",
                            help="add the 'evidence' field: the words, expressions and rules behind each score "
                                 "(JSONL: a JSON array; Arrow, Parquet: a list column; CSV: JSON text)")

    def run(self, args: argparse.Namespace, session: Session, *, stdin: BinaryIO | None = None,
            stdout: BinaryIO | None = None) -> ExitStatus:  # fmt: skip
        return run_score(args, session, stdin=stdin, stdout=stdout)


def make_scorer(lexicon: str | None, aspects: bool = True, aspect_lexicon: str | None = None, *,
                explain: bool = False, language: str | list[str] | None = None):
    from ..api import Scorer
    from ..errors import EmoscoreError

    try:
        return Scorer(lexicon, aspects=(aspect_lexicon or True) if aspects else False, explain=explain,
                      language=language)
    except (EmoscoreError, OSError) as exc:
        named = (("lexicon", lexicon), ("aspect lexicon", aspect_lexicon))
        what = " and ".join(f"{kind} {path}" for kind, path in named if path)
        raise UsageError(f"cannot use the {what}: {exc}" if what else str(exc)) from None


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


def run_score(args: argparse.Namespace, session: Session, *, stdin: BinaryIO | None = None,
              stdout: BinaryIO | None = None) -> ExitStatus:  # fmt: skip
    """The score pipeline; returns the exit status (the summary is the caller's)."""
    from ..errors import EmoscoreError

    source = output = writer = None
    info: dict[str, Any] = session.info
    thresholds = gc.get_threshold()
    # Parsed records are many small dicts that live for one batch: collecting the youngest
    # generation every 700 allocations costs a quarter of the JSONL reading time for nothing.
    gc.set_threshold(max(thresholds[0], 100_000), *thresholds[1:])
    try:
        check_paths(args, stdin=stdin, stdout=stdout)  # before anything is opened: no file hurts another
        out_format = output_format(args)
        session.open_sink(args.errors)
        scorer = make_scorer(args.lexicon, args.aspects, args.aspect_lexicon, explain=args.explain,
                             language=args.language)
        scoring = Scoring(scorer, info)
        source = open_input(
            args.input, session, input_format=args.input_format, text_field=args.text,
            delimiter=args.delimiter, stdin=stdin,
        )  # fmt: skip
        info.update(input=source.name, input_format=source.format, compression=source.compression)
        check_text_field(source, args.text, session, declared=args.input_format is not None)
        options = dict(
            text=args.text, batch_size=args.batch_size, session=session, max_record_bytes=args.max_record_bytes,
            invalid_utf8=args.invalid_utf8, id_field=args.id_field,
        )  # fmt: skip
        if source.format == "parquet" and args.keep is not None:
            options["columns"] = list(dict.fromkeys(([args.id_field] if args.id_field else []) + args.keep))
        reader = READERS[source.format](source, **options)
        output = Output.open(args.output, stdout=stdout)
        info.update(output=output.name, output_format=out_format)
        writer = WRITERS[out_format](
            output, text=args.text, session=session, score_schema=scoring.schema, keep=args.keep,
            id_field=args.id_field, input_name=source.name, delimiter=args.delimiter or source.delimiter,
        )  # fmt: skip
        writer.open(reader.schema)
        try:
            for chunk in reader:
                try:
                    chunk = writer.prepare(chunk)
                    if len(chunk):
                        try:
                            scores = scoring(chunk)
                        except EmoscoreError as exc:
                            session.read -= len(chunk)  # not processed: given back as never read
                            raise InputFailure(f"cannot score the records of {source.name}: {exc}") from None
                        writer.write(chunk, scores)
                except OutputFailure:
                    session.not_written += len(chunk)  # read (and not rejected), but not delivered
                    raise
                session.sink.flush()
                session.progress.update(session.read)
        except InputFailure as exc:  # what was written stays valid: close the output properly
            session.fail(exc)
        writer.close()
        output.commit()
    except (UsageError, InputFailure) as exc:  # before the first batch: no output is made
        session.fail(exc)
        if output is not None:
            output.discard()
    except OutputFailure as exc:
        session.fail(exc)
        if output is not None and output.discard():
            session.not_written += session.written  # the partial file is removed
            session.written = 0
    except BaseException:  # a second signal, a bug: no half-written output file is left behind
        if output is not None:
            output.discard()
        raise
    finally:
        gc.set_threshold(*thresholds)
        if source is not None:
            source.close()
    return session.status()

