"""The ``emoscore`` command line: subcommands over the shared runner machinery.

    emoscore score  [--input PATH] [--output PATH] [--input-format F] [--output-format F] ...
    emoscore kpi    [--by COLS] [--window day|week|month] [--level L] [--min-n N] [--state FILE] [--drivers TARGET] ...
    emoscore run    --kpi-out PATH [--alerts-out PATH] [--by COLS] ...   (score, KPIs and alerts in one pass)
    emoscore explain [TEXT ...] [--json]   (why texts score as they do; records from stdin without TEXT)
    emoscore report [-o report.html] [--by COLS] [--window W] [--target KPI] [--title T] [--state FILE]   (HTML page)
    emoscore sample [--n N] [--seed S] [--output-format jsonl|arrow]
    emoscore warm   [--lexicon PATH] [--aspects PATH | --no-aspects]
    emoscore --version

A subcommand is an object with ``name``, ``help``, ``description``, ``epilog``,
``configure(parser)`` and ``run(args, session, *, stdin, stdout) -> ExitStatus``, registered in
:data:`COMMANDS`. :func:`main` parses the command line, makes the :class:`~.runner.Session`
(error sink, counters, signal handling, progress), runs the command, maps every failure to the exit
status table (:data:`~.runner.EXIT_TABLE`) and prints the summary. The reading, writing and
error-reporting pieces live in :mod:`emoscore.runner` for other subcommands to reuse:
``add_input_arguments`` / ``open_input`` / ``READERS`` for input, ``add_output_arguments`` /
``Output`` / ``WRITERS`` for output, ``add_run_arguments`` and ``Session`` for the rest.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
import traceback
from typing import BinaryIO, Protocol, cast

import orjson

from . import __version__, _early_stop
from .runner import EXIT_TABLE, READERS, WRITERS, Abort, ExitStatus, Output, OutputFailure, Session, StopReading
from .runner.arguments import add_lexicon_arguments, at_least
from .runner.explain import ExplainCommand
from .runner.kpi import KpiCommand, RunCommand
from .runner.outputs import write_atomically
from .runner.report import ReportCommand
from .runner.score import ScoreCommand
from .runner.session import signal_status

__all__ = ["COMMANDS", "READERS", "WRITERS", "build_parser", "main"]

# Kept for callers of the first runner; the full table is ExitStatus / EXIT_TABLE.
EXIT_OK = ExitStatus.OK
EXIT_REJECTED = ExitStatus.REJECTED
EXIT_USAGE = ExitStatus.USAGE
EXIT_INTERRUPTED = ExitStatus.SIGINT
EXIT_BROKEN_PIPE = ExitStatus.BROKEN_PIPE


class Command(Protocol):
    """A subcommand, as :data:`COMMANDS` holds it (see the module docstring); an optional ``summary``
    attribute (default True) says whether :func:`main` prints the run summary after it."""

    name: str
    help: str
    description: str
    epilog: str

    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace, session: Session, *, stdin: BinaryIO | None = None,
            stdout: BinaryIO | None = None) -> ExitStatus: ...


class SampleCommand:
    """``emoscore sample``: the bundled sample, or freshly generated feedback."""

    name = "sample"
    help = "write generated customer feedback to stdout"
    description = (
        "Write customer feedback to stdout: the bundled 2,000-row sample when neither --n nor --seed is "
        "given, else freshly generated rows (deterministic for a seed)."
    )
    epilog = EXIT_TABLE
    summary = False

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--n", type=at_least(0), default=None, help="rows to generate (default: 2000)")
        parser.add_argument("--seed", type=at_least(0), default=None, help="random seed (default: 7)")
        parser.add_argument("--output-format", choices=("jsonl", "arrow"), default="jsonl",
                            help="output format (default: jsonl)")  # fmt: skip

    def run(self, args, session: Session, *, stdin=None, stdout=None) -> ExitStatus:
        import shutil

        import pyarrow as pa

        from . import sample

        output = Output.open(None, stdout=stdout)
        sink = output.sink
        try:
            if args.n is None and args.seed is None and args.output_format == "jsonl":
                with sample.bundled_sample_path().open("rb") as bundled:
                    shutil.copyfileobj(bundled, sink)
            else:
                n = sample.SAMPLE_N if args.n is None else args.n
                seed = sample.SAMPLE_SEED if args.seed is None else args.seed
                batches = sample.iter_batches(n, seed=seed, batch_size=65_536)
                if args.output_format == "jsonl":
                    sample.write_jsonl(batches, sink)
                else:
                    with pa.ipc.new_stream(sink, sample.SCHEMA) as writer:
                        for batch in batches:
                            writer.write_batch(batch)
                            if session.stopping:
                                break
            output.commit()
        except OutputFailure as exc:
            session.fail(exc)
            output.discard()
        except Exception as exc:  # noqa: BLE001 - pyarrow re-raises the sink's error its own way
            if sink.error is None:
                raise
            session.fail(output.failure(exc))
            output.discard()
        if session.failure is not None:
            return session.failure.status
        return signal_status(session.stop_signal) if session.stop_signal else ExitStatus.OK


class WarmCommand:
    """``emoscore warm``: pay the one-time compile cost now, for a container or executor image.

    Numba compiles each kernel on its first call for the argument types it meets and keeps the
    machine code in its cache; the compiled lexicon has a cache of its own. Rather than list the
    kernels (a list that would drift), this runs the real subcommands over a slice of the bundled
    sample in every input format and with the options that reach different kernels, so every
    kernel a command can use is compiled the way that command calls it.
    """

    name = "warm"
    help = "compile every kernel (and the lexicon) into the caches, for container and executor images"
    description = (
        "Run score, kpi and run over a slice of the bundled sample in every input format, so that every "
        "Numba kernel a command can use is compiled into the Numba cache (NUMBA_CACHE_DIR, else __pycache__ "
        "beside the kernels, else ~/.cache) and the lexicon into the compiled-lexicon cache "
        "(EMOSCORE_CACHE_DIR, else ~/.cache/emoscore). Run it once at image build time with the same cache "
        "variables, --lexicon and --aspects as the jobs will use; see the README, 'Deploying'."
    )
    epilog = EXIT_TABLE
    summary = False
    ROWS = 400
    FORMATS = ("jsonl", "csv", "arrow", "parquet")

    def configure(self, parser: argparse.ArgumentParser) -> None:
        add_lexicon_arguments(parser)

    def jobs(self, inputs: dict[str, str], out: str, lexicon_args: list[str]) -> list[list[str]]:
        """The command lines to run: every subcommand over every input format, and each option that
        changes which kernels run (aspects off, each time window, grouping by aspect, drivers, state)."""
        from .kpi import DRIVER_TARGETS

        # `kpi` reads scored records: it runs on score's output in each format
        scored = {fmt: f"{out}/scored.{fmt}" for fmt in inputs}
        jobs = [["score", "-i", path, "-o", scored[fmt], *lexicon_args] for fmt, path in inputs.items()]
        jobs.append(["score", "-i", inputs["jsonl"], "-o", f"{out}/plain.jsonl", "--no-aspects", *lexicon_args])
        jobs.append(["score", "-i", inputs["jsonl"], "-o", f"{out}/explained.jsonl", "--explain", *lexicon_args])
        for fmt, path in scored.items():
            jobs.append(["kpi", "-i", path, "--by", "touchpoint,channel", "--window", "week", "-o",
                         f"{out}/kpi-{fmt}.jsonl"])
        jobs.append(["kpi", "-i", scored["jsonl"], "-o", f"{out}/kpi-all.jsonl"])
        for window in ("day", "month"):
            jobs.append(["kpi", "-i", scored["jsonl"], "--by", "aspect", "--window", window, "-o",
                         f"{out}/kpi-{window}.jsonl"])
        for target in DRIVER_TARGETS:
            jobs.append(["kpi", "-i", scored["jsonl"], "--by", "touchpoint", "--drivers", target, "-o",
                         f"{out}/drivers-{target}.jsonl"])
        for fmt in self.FORMATS:  # twice: the second run reads and merges the saved state
            for _ in range(2):
                jobs.append(["run", "-i", inputs[fmt], "-o", f"{out}/run-{fmt}.jsonl", "--by", "touchpoint",
                             "--window", "week", "--kpi-out", f"{out}/run-kpi-{fmt}.jsonl", "--alerts-out",
                             f"{out}/run-alerts-{fmt}.jsonl", "--state", f"{out}/state-{fmt}", *lexicon_args])
        return jobs

    def run(self, args, session: Session, *, stdin=None, stdout=None) -> ExitStatus:
        import io
        import tempfile
        import time

        import pyarrow as pa
        import pyarrow.csv as pa_csv
        import pyarrow.json as pa_json
        import pyarrow.parquet as pq

        from . import sample

        lexicon_args = [*(["--lexicon", args.lexicon] if args.lexicon else []),
                        *(["--aspects", args.aspect_lexicon] if args.aspect_lexicon else []),
                        *([] if args.aspects else ["--no-aspects"])]  # fmt: skip
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="emoscore-warm-") as out:
            with sample.bundled_sample_path().open("rb") as bundled:
                lines = [next(bundled) for _ in range(self.ROWS)]
            inputs = {fmt: f"{out}/sample.{fmt}" for fmt in self.FORMATS}
            with open(inputs["jsonl"], "wb") as f:
                f.writelines(lines)
            table = pa_json.read_json(inputs["jsonl"])
            pa_csv.write_csv(table, inputs["csv"])
            with pa.OSFile(inputs["arrow"], "wb") as f, pa.ipc.new_stream(f, table.schema) as writer:
                writer.write_table(table)
            pq.write_table(table, inputs["parquet"])
            for job in self.jobs(inputs, out, lexicon_args):
                if session.stop_signal:
                    return signal_status(session.stop_signal)
                errors = io.BytesIO()
                status = main([*job, "--quiet", "--no-progress"], stdin=io.BytesIO(), stdout=io.BytesIO(),
                              stderr=errors)
                if status != ExitStatus.OK:
                    session.message(f"warm: `emoscore {' '.join(job)}` ended with status {status}:")
                    for line in errors.getvalue().decode("utf-8", "replace").splitlines():
                        session.message(line)
                    return ExitStatus(status)
        session.message(f"warm: kernels and lexicon compiled into the caches in {time.perf_counter() - started:.1f} s")
        return ExitStatus.OK


#: The subcommands, by name, in the order ``--help`` lists them.
COMMANDS: dict[str, Command] = {
    command.name: command for command in (ScoreCommand(), ExplainCommand(), KpiCommand(), RunCommand(), ReportCommand(),
                                          SampleCommand(), WarmCommand())
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of the ``emoscore`` command. ``only``: set up the options of that
    subcommand alone (the others are still listed); ``kpi`` and ``run`` import the KPI engine for
    theirs, which ``emoscore score`` should not wait for."""
    parser = argparse.ArgumentParser(
        prog="emoscore",
        description="Score the emotions in customer feedback: records in, records with scores out.",
        epilog=EXIT_TABLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"emoscore {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS.values():
        sub = subparsers.add_parser(
            command.name,
            help=command.help,
            description=command.description,
            epilog=command.epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if only is None or command.name == only:
            command.configure(sub)
    return parser


def _claim_standard_fds() -> dict[int, bool]:
    """Which of fds 0-2 were closed at start; a closed one is held on /dev/null so that no file
    opened later takes its number (and, say, receives the output meant for stdout)."""
    closed = {}
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            closed[fd] = False
        except OSError:
            closed[fd] = True
    for fd in (0, 1, 2):
        if closed[fd]:
            with contextlib.suppress(OSError):
                null = os.open(os.devnull, os.O_RDWR)
                if null != fd:
                    os.dup2(null, fd)
                    os.close(null)
    return closed


def main(
    argv: list[str] | None = None,
    *,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
    stderr: BinaryIO | None = None,
) -> int:
    """Entry point of the ``emoscore`` console script and ``python -m emoscore``; returns the exit
    status. ``stdin``/``stdout``/``stderr`` (binary streams) replace the process's own (tests).

    With ``argv=None`` (the process's own command line) the caller is taken to exit next: after a
    command that returned normally, the objects alive then are left out of the interpreter's final
    garbage collections (``gc.freeze``).
    """
    closed = _claim_standard_fds() if stdin is None or stdout is None or stderr is None else {}
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(words[0] if words and words[0] in COMMANDS else None)
    try:
        args = parser.parse_args(words)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else ExitStatus.USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return ExitStatus.USAGE
    command = COMMANDS[args.command]
    if stderr is None and not closed.get(2):
        stderr = getattr(sys.stderr, "buffer", None) or open(2, "wb", buffering=0, closefd=False)  # noqa: SIM115
    if stdout is None and closed.get(1):
        stdout = cast(BinaryIO, _ClosedStdout())  # stands in for it: writes fail as they would
    if stdin is None and closed.get(0):
        stdin = cast(BinaryIO, _ClosedStdin())  # stands in for it: reads fail as they would
    quiet = getattr(args, "quiet", False)
    progress = getattr(args, "progress", None)
    if progress is None:
        progress = stderr is not None and _isatty(stderr)
    session = Session(
        command.name, stderr=stderr, on_error=getattr(args, "on_error", "report"), quiet=quiet, progress=progress
    )
    aborted = returned = False
    try:
        with session.handling_signals():
            if _early_stop.RECEIVED and session.stop_signal is None:
                session.stop_signal = _early_stop.RECEIVED[0]  # a stop during the imports: nothing is read
            status = command.run(args, session, stdin=stdin, stdout=stdout)
        returned = True
    except (Abort, StopReading, KeyboardInterrupt) as exc:
        aborted = True
        signum = getattr(exc, "signum", None) or session.stop_signal or 2
        status = signal_status(signum)
        session.message(f"aborted by a second signal ({signum})")
    except Exception:  # noqa: BLE001 - a bug: say so loudly, but still account for the records
        session.message("internal error (a bug in emoscore; please report it with this traceback):")
        session.write_block(traceback.format_exc())
        status = ExitStatus.INTERNAL_ERROR
    finally:
        with contextlib.suppress(Exception):
            session.sink.close()
    if session.failure is not None and status != ExitStatus.BROKEN_PIPE:
        session.message(f"error: {session.failure}")
    if getattr(command, "summary", True):
        record = session.summary(status, aborted=aborted)
        written = _write_summary(args.summary, record, session) if getattr(args, "summary", None) else True
        if not written and status in (ExitStatus.OK, ExitStatus.REJECTED):
            status = ExitStatus.OUTPUT_ERROR  # asked for and not written: an output failure
    if argv is None and returned:
        # Interpreter shutdown runs full collections over every object that Numba, pyarrow (and
        # pandas) made: ~0.4 s of a one-line run. A command that returned has committed or closed
        # each output it opened (nothing waits for a finalizer to be flushed), so its objects can be
        # left to the OS. Freed by reference counting as before; only cycles are not collected.
        gc.freeze()
    return int(status)


def _write_summary(path: str, record: dict, session: Session) -> bool:
    """The JSON summary as the one line of ``path``, written whole or not at all; whether it was written
    (a failure is said on stderr)."""
    try:
        write_atomically(path, orjson.dumps(record) + b"\n", "write the summary")
    except OutputFailure as exc:
        session.message(f"error: {exc}")
        return False
    return True


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


class _ClosedStdout:
    """Stands for a stdout that was closed at start: every write fails as writing to it would."""

    closed_at_start = True

    def write(self, data):
        raise OSError(9, "stdout is closed (bad file descriptor)")

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class _ClosedStdin:
    def read(self, n: int = -1) -> bytes:
        raise OSError(9, "stdin is closed (bad file descriptor)")

    read1 = read


if __name__ == "__main__":
    sys.exit(main())
