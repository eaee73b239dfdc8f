"""The command-line arguments the ``emoscore`` subcommands share: argument groups and value types.

- :func:`add_input_arguments`, :func:`add_output_arguments`, :func:`add_run_arguments`,
  :func:`add_lexicon_arguments` — the option groups of ``score``, ``kpi`` and ``run``;
- :func:`output_format` — the output format that ``--output-format`` and ``--output`` ask for;
- :func:`at_least` — an argparse type for whole numbers with a lower bound.
"""

from __future__ import annotations

import argparse

from .inputs import FORMATS, format_from_name
from .readers import DEFAULT_MAX_RECORD_BYTES
from .session import UsageError

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "add_input_arguments",
    "add_lexicon_arguments",
    "add_output_arguments",
    "add_run_arguments",
    "at_least",
    "output_format",
]

DEFAULT_BATCH_SIZE = 8192


def at_least(minimum: int):
    """An argparse type: a whole number no smaller than ``minimum``."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {number}")
        return number

    return parse


def _size(value: str) -> int:
    """Bytes, with an optional K, M or G suffix (powers of 1024)."""
    text = value.strip().upper().removesuffix("B").removesuffix("I")
    scale = 1
    if text[-1:] in ("K", "M", "G"):
        scale = 1024 ** ("KMG".index(text[-1]) + 1)
        text = text[:-1]
    try:
        number = int(text) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size in bytes such as 16M, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 byte, got {value!r}")
    return number


def _delimiter(value: str) -> str:
    named = {"\\t": "\t", "tab": "\t", "TAB": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
    value = named.get(value, value)
    if len(value) != 1 or value in ('"', "\n", "\r"):
        raise argparse.ArgumentTypeError(f"the delimiter is one character (or 'tab'), not {value!r}")
    return value


def _fields(value: str) -> list[str]:
    return [name for name in (part.strip() for part in value.split(",")) if name]


def add_input_arguments(parser: argparse.ArgumentParser, *, text: bool = True) -> None:
    """--input, --input-format, --delimiter, --text, --id, --max-record-bytes, --invalid-utf8."""
    group = parser.add_argument_group("input")
    group.add_argument("-i", "--input", metavar="PATH", help="read this file (default: stdin; Parquet needs a path)")
    group.add_argument("--input-format", choices=FORMATS, help="input format (default: detected, see below)")
    group.add_argument("--delimiter", type=_delimiter, metavar="CHAR",
                       help="CSV field delimiter, in and out (default: ',' or tab for .tsv; 'tab' for tab)")
    if text:
        group.add_argument("--text", default="text", metavar="FIELD", help="field holding the text (default: text)")
    group.add_argument("--id", dest="id_field", metavar="FIELD",
                       help="record id field: named in error lines, written first with --keep")
    group.add_argument("--max-record-bytes", type=_size, default=DEFAULT_MAX_RECORD_BYTES, metavar="N",
                       help="reject longer records without reading them into memory (default: 16M)")
    group.add_argument("--invalid-utf8", choices=("reject", "replace"), default="reject",
                       help="a record with invalid UTF-8: reject it (default) or write it with U+FFFD and "
                            "report it as repaired")  # fmt: skip


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """--output, --output-format, --keep."""
    group = parser.add_argument_group("output")
    group.add_argument("-o", "--output", metavar="PATH",
                       help="write this file (default: stdout); replaced only when the run ends cleanly")
    group.add_argument("--output-format", choices=FORMATS,
                       help="output format (default: from the --output extension, else jsonl)")
    group.add_argument("--keep", type=_fields, metavar="FIELDS",
                       help="comma-separated input fields to write with the scores (default: all)")


def add_run_arguments(parser: argparse.ArgumentParser, *, default_batch: int = DEFAULT_BATCH_SIZE) -> None:
    """--batch-size, --errors, --on-error, --progress, --quiet."""
    group = parser.add_argument_group("run")
    group.add_argument("--batch-size", type=at_least(1), default=default_batch, metavar="N",
                       help=f"records processed at a time; bounds memory (default: {default_batch})")
    group.add_argument("--errors", metavar="FILE",
                       help="write the error lines (rejected records) to FILE (default: stderr)")
    group.add_argument("--on-error", choices=("report", "fail"), default="report",
                       help="report: reject bad records and go on (exit 1); fail: stop at the first (exit 3)")
    group.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="records and records/s on stderr (default: when stderr is a terminal)")
    group.add_argument("-q", "--quiet", action="store_true", help="no summary or progress (error lines still)")


def add_lexicon_arguments(parser: argparse.ArgumentParser) -> None:
    """--lexicon, --aspects, --no-aspects."""
    parser.add_argument("--lexicon", metavar="PATH", help="score with this lexicon file (emoscore format)")
    parser.add_argument("--aspects", metavar="PATH", dest="aspect_lexicon",
                        help="find the aspects of this aspect lexicon file instead of the bundled one")
    parser.add_argument("--no-aspects", dest="aspects", action="store_false",
                        help="no 'aspects' field (what the feelings are about); a little faster")


def output_format(args: argparse.Namespace) -> str:
    """The output format: ``--output-format``, else the ``--output`` extension's, else jsonl."""
    if args.output_format:
        fmt = args.output_format
    else:
        fmt = format_from_name(args.output)[0] or "jsonl"
    if fmt == "parquet" and args.output in (None, "-"):
        raise UsageError("Parquet output needs a path: --output FILE.parquet")
    return fmt
