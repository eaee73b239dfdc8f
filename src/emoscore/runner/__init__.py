"""The runner's machinery, shared by the ``emoscore`` subcommands (see :mod:`emoscore.cli`).

- :mod:`.session` — :class:`ExitStatus` and :data:`EXIT_TABLE`, :class:`Session` (counters, error
  sink, signals, progress, summary), the failure classes;
- :mod:`.inputs` — :func:`open_input` (stdin or path, gzip/zstd, format detection), the bounded
  line splitter;
- :mod:`.sources` — :func:`open_records`: the inputs ``-i`` names (files, globs, hive-partitioned
  directories) read in turn as one stream of chunks, each counted apart; ``--resume``;
- :mod:`.readers` — :data:`READERS`: JSONL, CSV, Arrow IPC, Parquet → chunks of records;
- :mod:`.convert` — :class:`JsonlToArrow`, :func:`arrow_chunks`: JSONL records as typed batches
  (for subcommands that need columns, e.g. KPIs);
- :mod:`.outputs` — :class:`Output` (stdout or path, temporary file renamed at the end) and
  :data:`WRITERS`;
- :mod:`.jsontext` — score columns as JSON text, column-wise;
- :mod:`.arguments` — the argument groups the subcommands share (input, output, run, lexicon),
  :func:`at_least`;
- :mod:`.score` — the ``score`` subcommand.
"""

from .arguments import (
    add_input_arguments,
    add_lexicon_arguments,
    add_output_arguments,
    add_run_arguments,
    at_least,
    output_format,
)
from .convert import JsonlToArrow, arrow_chunks
from .inputs import FORMATS, Input, open_input
from .outputs import WRITERS, Output
from .readers import READERS, ArrowChunk, JsonlChunk, check_text_column
from .session import (
    EXIT_TABLE,
    Abort,
    ErrorSink,
    ExitStatus,
    InputFailure,
    OutputFailure,
    RunnerError,
    Session,
    StopReading,
    UsageError,
)

__all__ = [
    "EXIT_TABLE",
    "FORMATS",
    "READERS",
    "WRITERS",
    "Abort",
    "ArrowChunk",
    "ErrorSink",
    "ExitStatus",
    "Input",
    "InputFailure",
    "JsonlChunk",
    "JsonlToArrow",
    "Output",
    "OutputFailure",
    "RunnerError",
    "Session",
    "StopReading",
    "UsageError",
    "add_input_arguments",
    "add_lexicon_arguments",
    "add_output_arguments",
    "add_run_arguments",
    "arrow_chunks",
    "at_least",
    "check_text_column",
    "open_input",
    "output_format",
]
