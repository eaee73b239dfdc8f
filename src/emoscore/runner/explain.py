"""``emoscore explain``: each text with what its scores are made of, for people (or ``--json``).

On a terminal each text is printed with its scoring spans highlighted (green: positive contribution,
red: negative, yellow: emotion only, cyan: a rule word), the emotion and the rules next to each span,
then a contribution table; this uses ``rich`` (``pip install 'emoscore[explain]'``). When stdout is not
a terminal, or rich is not installed, the same content is written as plain text; ``--json`` writes one
JSON object per text (its scores and the ``evidence`` list, as ``emoscore score --explain`` does).
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
from typing import Any, BinaryIO

import orjson
import pyarrow as pa

from .arguments import add_input_arguments, add_lexicon_arguments, add_run_arguments
from .outputs import Output
from .score import make_scorer
from .session import EXIT_TABLE, ExitStatus, InputFailure, OutputFailure, Session, UsageError, signal_status
from .sources import open_records

__all__ = ["ExplainCommand", "render_plain", "render_rich"]

# rich styles of a span, by what it contributes
_STYLES = {"positive": "bold green", "negative": "bold red", "emotion": "bold yellow", "rule": "italic cyan"}


class ExplainCommand:
    name = "explain"
    help = "show why texts score as they do: the words, expressions and rules behind each score"
    description = (
        "Explain the scores of the texts given as arguments, or of the records read from stdin / --input "
        "(JSONL, CSV, Arrow, Parquet; the --text field). On a terminal the scoring spans are highlighted "
        "(needs the 'explain' extra: pip install 'emoscore[explain]'); plain text otherwise; --json for machines."
    )
    epilog = EXIT_TABLE
    summary = False

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("texts", nargs="*", metavar="TEXT", help="texts to explain (default: read records)")
        parser.add_argument("--json", action="store_true",
                            help="one JSON object per text: the text, its scores and its evidence")
        add_input_arguments(parser)
        add_run_arguments(parser, default_batch=256)
        add_lexicon_arguments(parser)

    def run(self, args: argparse.Namespace, session: Session, *, stdin: BinaryIO | None = None,
            stdout: BinaryIO | None = None) -> ExitStatus:  # fmt: skip
        from ..errors import EmoscoreError

        output = None
        try:
            session.open_sink(args.errors)
            scorer = make_scorer(args.lexicon, args.aspects, args.aspect_lexicon, explain=True, language=args.language)
            output = Output.open(None, stdout=stdout)
            render = _renderer(args.json, _is_terminal(stdout))
            for texts in self._texts(args, session, stdin):
                try:
                    scored = scorer.score(pa.table({"text": pa.array(texts, pa.string())}))
                except EmoscoreError as exc:
                    raise InputFailure(f"cannot score: {exc}") from None
                output.write(b"".join(render(row) for row in scored.to_pylist()))
                session.written += len(texts)
            output.commit()
        except (UsageError, InputFailure, OutputFailure) as exc:
            session.fail(exc)
            if output is not None:
                output.discard()
        if session.failure is not None:
            return session.failure.status
        if session.stop_signal:
            return signal_status(session.stop_signal)
        return ExitStatus.REJECTED if session.rejected else ExitStatus.OK

    def _texts(self, args, session: Session, stdin):
        """Batches of texts (lists of str or None): the arguments, else the records of the input."""
        if args.texts:
            session.read += len(args.texts)
            yield list(args.texts)
            return
        source = open_records(args, session, stdin, compare=[args.text])
        try:
            for chunk in source:
                yield chunk.texts().to_pylist()
        finally:
            source.close()


def _is_terminal(stdout: BinaryIO | None) -> bool:
    stream = stdout if stdout is not None else sys.stdout
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _renderer(as_json: bool, terminal: bool):
    """A function turning one scored row (a dict with ``text`` and ``evidence``) into output bytes."""
    if as_json:
        return lambda row: orjson.dumps(row) + b"\n"
    if terminal:
        try:
            from rich.console import Console
        except ImportError:
            pass
        else:
            width = shutil.get_terminal_size().columns

            def rich_bytes(row) -> bytes:
                text = io.StringIO()
                render_rich(row, Console(file=text, force_terminal=True, width=width, highlight=False))
                return text.getvalue().encode()

            return rich_bytes
    return lambda row: render_plain(row).encode()


def _kind(element: dict[str, Any]) -> str:
    if element["valence"] > 0:
        return "positive"
    if element["valence"] < 0:
        return "negative"
    return "emotion" if element["emotions"] else "rule"


def _note(element: dict[str, Any]) -> str:
    """What a span does, in a few words: its strongest emotion and its rules."""
    parts = []
    if element["emotions"]:
        top = max(element["emotions"], key=lambda pair: pair["weight"])
        parts.append(top["emotion"])
    parts.extend(element["rules"])
    return ", ".join(parts)


def _headline(row: dict[str, Any]) -> str:
    return (f"valence {row['valence']:+.2f}  intensity {row['intensity']:.2f}  emotion {row['emotion']}"
            f"  hits {row['hits']}")


def _rows(row: dict[str, Any]) -> list[tuple[str, ...]]:
    """The contribution table: span, term, valence, emotions, rules, aspects."""
    text = row["text"] or ""
    return [(text[x["start"]:x["end"]], x["term"], f"{x['valence']:+.3f}",
             " ".join(f"{pair['emotion']} {pair['weight']:.2f}" for pair in x["emotions"]),
             " ".join(x["rules"]), " ".join(x["aspect"])) for x in row["evidence"]]


_HEADER = ("span", "term", "valence", "emotions", "rules", "aspect")


def render_plain(row: dict[str, Any]) -> str:
    """One explained text as plain text: the text with each span marked ``[span]{note}``, the scores and
    the contribution table."""
    text = row["text"] or ""
    marked, at = [], 0
    for x in row["evidence"]:
        marked.append(text[at:x["start"]])
        marked.append(f"[{text[x['start']:x['end']]}]{{{_note(x)}}}")
        at = x["end"]
    marked.append(text[at:])
    lines = ["".join(marked), "  " + _headline(row)]
    table = [_HEADER, *_rows(row)]
    widths = [max(len(r[i]) for r in table) for i in range(len(_HEADER))]
    lines.extend("  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in table)
    return "\n".join(lines) + "\n\n"


def render_rich(row: dict[str, Any], console) -> None:
    """One explained text on a terminal: highlighted spans with their notes, the scores, a table."""
    from rich.table import Table
    from rich.text import Text

    text = row["text"] or ""
    shown = Text()
    at = 0
    for x in row["evidence"]:
        shown.append(text[at:x["start"]])
        shown.append(text[x["start"]:x["end"]], style=_STYLES[_kind(x)])
        shown.append(f" {_note(x)} ", style="dim")
        at = x["end"]
    shown.append(text[at:])
    console.print(shown)
    console.print(_headline(row), style="bold")
    if row["evidence"]:
        table = Table(*_HEADER, show_edge=False, pad_edge=False)
        for x, cells in zip(row["evidence"], _rows(row), strict=True):
            table.add_row(*cells, style=_STYLES[_kind(x)] if x["valence"] else None)
        console.print(table)
    console.print()
