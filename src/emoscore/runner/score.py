"""``emoscore score``: records in, the same records with their scores out, streamed in batches."""

from __future__ import annotations

import argparse
import gc
from typing import Any, BinaryIO

import pyarrow as pa

from .arguments import (
    add_input_arguments,
    add_lexicon_arguments,
    add_output_arguments,
    add_run_arguments,
    check_paths,
    output_format,
)
from .outputs import record_output, record_writer
from .session import (
    EXIT_TABLE,
    ExitStatus,
    InputFailure,
    OutputFailure,
    Session,
    UsageError,
)
from .sources import open_records

__all__ = ["ScoreCommand", "Scoring", "make_scorer", "run_score"]


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
        kept = None if args.keep is None else list(dict.fromkeys([*([args.id_field] if args.id_field else []),
                                                                   *args.keep]))  # fmt: skip
        source = open_records(args, session, stdin, columns=kept, compare=kept)
        output = record_output(args, stdout)
        info.update(output=output.name, output_format=out_format)
        writer = record_writer(
            args, out_format, output, text=args.text, session=session, score_schema=scoring.schema, keep=args.keep,
            id_field=args.id_field, input_name=source.name, delimiter=args.delimiter or source.delimiter,
        )  # fmt: skip
        writer.open(source.schema)
        try:
            for chunk in source:
                try:
                    chunk = writer.prepare(chunk)
                    if len(chunk):
                        try:
                            scores = scoring(chunk)
                        except EmoscoreError as exc:
                            session.read -= len(chunk)  # not processed: given back as never read
                            raise InputFailure(f"cannot score the records of {source.current}: {exc}") from None
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
            session.output_lost()  # the partial file is removed
    except BaseException:  # a second signal, a bug: no half-written output file is left behind
        if output is not None:
            output.discard()
        raise
    finally:
        gc.set_threshold(*thresholds)
        if source is not None:
            source.close()
    return session.status()

