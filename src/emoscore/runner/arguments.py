"""The command-line arguments the ``emoscore`` subcommands share: argument groups and value types.

- :func:`add_input_arguments`, :func:`add_output_arguments`, :func:`add_run_arguments`,
  :func:`add_lexicon_arguments` — the option groups of ``score``, ``kpi`` and ``run``;
- :func:`output_format` — the output format that ``--output-format`` and ``--output`` ask for;
- :func:`at_least` — an argparse type for whole numbers with a lower bound;
- :func:`check_paths` — the files a command reads and writes, checked against each other before
  anything is opened.
"""

from __future__ import annotations

import argparse
import os
import re
import stat
from typing import BinaryIO

from .inputs import FORMATS, format_from_name
from .outputs import is_descriptor_path
from .readers import DEFAULT_MAX_RECORD_BYTES
from .session import OutputFailure, UsageError

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "add_alert_arguments",
    "add_input_arguments",
    "add_lexicon_arguments",
    "add_output_arguments",
    "add_run_arguments",
    "at_least",
    "check_paths",
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
    group.add_argument("-i", "--input", metavar="PATH", action="append",
                       help="read this file, every file under this directory (hive KEY=VALUE directories become "
                            "columns) or every file this glob matches ('data/*.jsonl.gz', 'logs/**/*.csv'); give it "
                            "again for more inputs, read in turn as one (default: stdin; Parquet needs a path)")
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
    resume = group.add_mutually_exclusive_group()
    resume.add_argument("--resume", metavar="SUMMARY",
                        help="go on after a stopped run: pass over the inputs and records that the run whose "
                             "--summary FILE this is has read (its output, KPIs and alerts are kept apart)")
    resume.add_argument("--skip-records", type=at_least(0), metavar="N",
                        help="pass over the input's records up to number N (line N of JSONL or CSV, row N of Arrow "
                             "or Parquet: the numbering of the error lines and of the summary's last_line/last_row)")


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """--output, --output-format, --keep."""
    group = parser.add_argument_group("output")
    group.add_argument("-o", "--output", metavar="PATH",
                       help="write this file (default: stdout); replaced only when the run ends cleanly")
    group.add_argument("--output-format", choices=FORMATS,
                       help="output format (default: from the --output extension, else jsonl)")
    group.add_argument("--keep", type=_fields, metavar="FIELDS",
                       help="comma-separated input fields to write with the scores (default: all)")
    group.add_argument("--partition-by", type=_fields, metavar="COLS",
                       help="write a Parquet dataset into the directory --output, one KEY=VALUE directory level per "
                            "column (input or score columns such as emotion); the directory is new or empty, or "
                            "with --resume the dataset to add to; the files appear when the run ends")


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
    group.add_argument("--summary", metavar="FILE",
                       help="also write the JSON summary to FILE (written with -q too; replaced at the end)")


def add_alert_arguments(parser: argparse.ArgumentParser) -> None:
    """The kpi_shift alert rule's options: --shift-window, --shift-by, --shift-level, --shift-min-n."""
    group = parser.add_argument_group("kpi_shift alerts")
    group.add_argument("--shift-window", choices=("day", "week", "month"),
                       help="alert when a group's NPS, CSAT or an emotion share moves significantly from one "
                            "such window of --time to the next (default: off)")
    group.add_argument("--shift-by", type=_fields, metavar="COLS", help="the groups of those alerts (default: --by)")
    group.add_argument("--shift-level", type=float, default=0.99, metavar="L",
                       help="an alert needs p < 1 - L (default: 0.99)")
    group.add_argument("--shift-min-n", type=at_least(0), default=30, metavar="N",
                       help="and at least N observations in both windows (default: 30)")


def _language(value: str) -> str | list[str]:
    return value if value == "auto" or "," not in value else [code.strip() for code in value.split(",")]


def add_lexicon_arguments(parser: argparse.ArgumentParser) -> None:
    """--lexicon, --aspects, --no-aspects, --language."""
    parser.add_argument("--lexicon", metavar="PATH", help="score with this lexicon file (emoscore format)")
    parser.add_argument("--aspects", metavar="PATH", dest="aspect_lexicon",
                        help="find the aspects of this aspect lexicon file instead of the bundled one")
    parser.add_argument("--no-aspects", dest="aspects", action="store_false",
                        help="no 'aspects' field (what the feelings are about); a little faster")
    parser.add_argument("--language", type=_language, metavar="LANG",
                        help="auto: detect each text's language and score it with that language's lexicon "
                             "(en, fr; other languages get null scores, counted in the summary's not_scored); "
                             "en or fr: score every text in that language; en,fr: detect, score only those. "
                             "Adds the 'language' field (default: none of this, the --lexicon for all)")


def output_format(args: argparse.Namespace) -> str:
    """The output format: ``--output-format``, else the ``--output`` extension's, else jsonl."""
    if getattr(args, "partition_by", None):
        if args.output_format not in (None, "parquet"):
            raise UsageError(f"--partition-by writes a Parquet dataset, not {args.output_format}")
        if args.output in (None, "-"):
            raise UsageError("--partition-by writes a dataset directory: give it with --output DIR")
        return "parquet"
    if args.output_format:
        fmt = args.output_format
    else:
        fmt = format_from_name(args.output)[0] or "jsonl"
    if fmt == "parquet" and args.output in (None, "-"):
        raise UsageError("Parquet output needs a path: --output FILE.parquet")
    return fmt


# The options naming files, as the command line spells them; (option, attribute, read, written).
_FILE_OPTIONS = (
    ("-i/--input", "input", True, False),
    ("--lexicon", "lexicon", True, False),
    ("--aspects", "aspect_lexicon", True, False),
    ("--state", "state", True, True),  # read and rewritten by the same option: that is its job
    ("-o/--output", "output", False, True),
    ("--kpi-out", "kpi_out", False, True),
    ("--alerts-out", "alerts_out", False, True),
    ("--errors", "errors", False, True),
)


def _named_paths(args: argparse.Namespace):
    """(option, attribute, read, written, path) of each path the options name (``-i`` may name many)."""
    for option, attribute, read, written in _FILE_OPTIONS:
        value = getattr(args, attribute, None)
        for path in value if isinstance(value, list) else [value]:
            yield option, attribute, read, written, path


def _check_dataset_directory(path: str, args: argparse.Namespace) -> None:
    """``--output DIR`` with ``--partition-by``: a new or empty directory (with ``--resume``, the
    dataset to add to) that no input is read from, in a directory that can be written."""
    target = os.path.realpath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputFailure(f"cannot write --output {path}: --partition-by writes a directory, and it is a file")
    if os.path.isdir(path) and os.listdir(path) and not getattr(args, "resume", None):
        raise UsageError(f"--output {path} already holds files: --partition-by writes a new dataset into a new or "
                         "empty directory (or, with --resume, adds the rest of a stopped run to its dataset)")
    for pattern in args.input or []:
        if pattern == "-":
            continue
        base = os.path.realpath(re.split(r"[*?[]", pattern)[0] or ".")  # a glob: the part before its first wildcard
        if base == target or base.startswith(target + os.sep) or (
                os.path.isdir(pattern) and target.startswith(base + os.sep)):
            raise UsageError(f"-i {pattern} and --output {path} overlap: the dataset written would be read")
    parent = os.path.dirname(target)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise OutputFailure(f"cannot write --output {path}: cannot create files in {parent}")


def _identity(path: str) -> tuple[tuple, int | None]:
    """(what identifies the file, its mode): device and inode when it exists (links, ``..`` and
    ``/dev/stdout`` all see through to the file), else the absolute path with links resolved."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return ("path", os.path.realpath(path)), None
    return ("file", st.st_dev, st.st_ino), st.st_mode


def _fd_identity(fd: int) -> tuple[tuple, int | None] | None:
    """The identity of a standard stream, when it is a regular file (a pipe or a terminal is not
    a file anything could truncate or read back)."""
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return ("file", st.st_dev, st.st_ino), st.st_mode


def check_paths(args: argparse.Namespace, *, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
    """Refuse, before anything is opened, a command whose files would hurt each other.

    The files are the ones named by ``-i``, ``--lexicon``, ``--aspects`` (read), ``--state`` (read
    and rewritten; its lock ``FILE.lock`` written), ``-o``, ``--kpi-out``, ``--alerts-out`` and
    ``--errors`` (written), and the files behind stdin and stdout when the input or an output is
    ``-`` or absent and the process's own stream is a regular file (``stdin``/``stdout`` given:
    streams of the caller, not files). Two outputs on stdout are a :class:`UsageError` too.
    A file written under one option and read or written under another, whatever the spelling
    (``./``, ``..``, a symbolic or hard link, ``/dev/stdout``, ``/proc/self/fd/1``), is a
    :class:`UsageError` naming both options and the path. Devices (``/dev/null``, a terminal) may
    be shared. A written path that is a directory, or whose directory does not exist or cannot be
    written, is an :class:`OutputFailure` (status 5), so that no input is read for an output that
    cannot be made.
    """
    entries: list[tuple[str, str, tuple, int | None, bool, bool]] = []  # option, path, identity, mode, read, written
    to_stdout: list[str] = []  # the outputs written to stdout
    for option, attribute, read, written, path in _named_paths(args):
        if attribute == "output" and getattr(args, "partition_by", None) and path not in (None, "-"):
            _check_dataset_directory(path, args)
            continue
        if path in (None, "-"):
            if attribute == "input" and stdin is None:
                found = _fd_identity(0)
                if found is not None:
                    entries.append(("stdin (the input)", "<stdin>", *found, True, False))
            elif attribute in ("output", "kpi_out", "alerts_out") and (path == "-" or attribute == "output"):
                to_stdout.append(f"{option} -" if path == "-" else f"{option} (not given: stdout)")
            continue
        entries.append((option, path, *_identity(path), read, written))
        if attribute == "state":  # the lock a concurrent run waits on (runner/kpi.py)
            entries.append(("--state (its lock file)", path + ".lock", *_identity(path + ".lock"), False, True))
    if len(to_stdout) > 1:  # run: the scored records and a table (or two tables) one after the other
        raise UsageError(f"{to_stdout[-1]} and {to_stdout[0]} would both write to stdout; give one of them a path")
    if to_stdout and stdout is None:
        found = _fd_identity(1)
        if found is not None:
            entries.append(("stdout (the output)", "<stdout>", *found, False, True))
    for i, (option, path, identity, mode, _, written) in enumerate(entries):
        if mode is not None and (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)):
            continue  # /dev/null, a terminal: writing there together hurts nothing
        for other, other_path, other_identity, _, _, other_written in entries[:i]:
            if identity != other_identity or not (written or other_written):
                continue
            named = other_path if other.startswith("-") else path  # the path as the user gave it
            first, second = (option, other) if option.startswith("-") else (other, option)  # a path first
            raise UsageError(f"{first} and {second} are the same file ({named}); nothing was read or written")
    for option, path, _, mode, _, written in entries:
        if not written or not option.startswith("-"):  # stdin, stdout: not paths
            continue
        if mode is not None and stat.S_ISDIR(mode):
            raise OutputFailure(f"cannot write {option} {path}: it is a directory")
        if mode is not None and (not stat.S_ISREG(mode) or is_descriptor_path(path)):
            continue  # a FIFO, a device, /dev/stdout: written in place, opening it tells
        if mode is not None and option == "--errors":  # written in place
            if not os.access(path, os.W_OK):
                raise OutputFailure(f"cannot write {option} {path}: Permission denied")
            continue
        directory = os.path.dirname(os.path.realpath(path))  # a link: its target's directory is written
        if not os.path.isdir(directory):
            raise OutputFailure(
                f"cannot write {option} {path}: No such file or directory (the directory {directory} does not exist)"
            )
        if not os.access(directory, os.W_OK | os.X_OK):  # a new file, or a temporary one renamed into place
            raise OutputFailure(f"cannot write {option} {path}: Permission denied (cannot create files in {directory})")
