"""What every runner subcommand shares: exit statuses, the error sink, the record counters, signal
handling, the progress display and the final summary.

A :class:`Session` lives for one command. Readers count each record they consume (``read``), the
error sink counts rejections (``rejected``), writers count what reached the output (``written``);
a run that could not deliver some records it accepted (the output failed) counts them in
``not_written``. At every batch boundary ``read == written + rejected + not_written``; the summary
checks it and says so.

Signals: the first SIGINT / SIGTERM / SIGHUP stops the *input*. A read blocked on a pipe returns at
once as end of input (see :meth:`Session.interruptible`); the records already read are still scored
and written, the output is closed properly (a valid Arrow stream or Parquet file), the summary
printed, and the status is 128 + the signal number. A second signal aborts at once (same status,
the summary says ``aborted``).
"""

from __future__ import annotations

import base64
import contextlib
import enum
import errno
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import orjson

__all__ = [
    "ERROR_RECORD_BYTES",
    "Abort",
    "ErrorSink",
    "ExitStatus",
    "InputFailure",
    "OutputFailure",
    "Progress",
    "RunnerError",
    "Session",
    "StopReading",
    "UsageError",
]

#: An error line quotes at most this many bytes of the rejected record (``record_bytes`` gives the
#: full size and ``truncated`` says whether it was cut).
ERROR_RECORD_BYTES = 4096


class ExitStatus(enum.IntEnum):
    """The exit statuses of every ``emoscore`` command (the table in ``emoscore --help``)."""

    OK = 0  #: every record read was written
    REJECTED = 1  #: finished; some records were rejected (each one is a line in the error sink)
    USAGE = 2  #: bad command line or lexicon; nothing was read
    STOPPED_ON_ERROR = 3  #: --on-error fail: stopped at the first rejected record
    INPUT_ERROR = 4  #: the input cannot be read (on): missing, wrong format, no text column, cut short
    OUTPUT_ERROR = 5  #: the output or the error sink cannot be written (disk full, closed, ...)
    INTERNAL_ERROR = 70  #: a bug in emoscore (a traceback is printed; please report it)
    SIGHUP = 129
    SIGINT = 130
    BROKEN_PIPE = 141  #: the reader of stdout went away (``| head``); no traceback
    SIGTERM = 143


EXIT_TABLE = """\
exit status:
  0    every record read was written
  1    finished, but some records were rejected; each one is a JSON line in the error sink
  2    usage error (bad option or value, unreadable or malformed lexicon); nothing was read
  3    --on-error fail: stopped at the first rejected record; the records before it are written
  4    input error: the input cannot be read (on) — missing file, not the declared format, no text
       column, an Arrow stream or compressed file cut short, a corrupt Parquet file; the records
       before the point of failure are written
  5    output error: the output or the error sink cannot be written (disk full, closed, no
       permission); an output file given with --output is then not created
  70   internal error (a bug: a traceback is printed)
  129, 130, 143
       stopped by SIGHUP, SIGINT (Ctrl-C) or SIGTERM: reading stops, the records already read are
       written, the output is closed properly and the summary printed; a second signal aborts
  141  the reader of stdout went away before the end (e.g. `| head`); no traceback
"""


class RunnerError(Exception):
    """A failure that ends a command with ``status`` and a one-line message."""

    status = ExitStatus.INTERNAL_ERROR

    def __init__(self, message: str, *, status: ExitStatus | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class UsageError(RunnerError):
    status = ExitStatus.USAGE


class InputFailure(RunnerError):
    """The input as a whole cannot be read (on); ``where``/``number`` locate it when known."""

    status = ExitStatus.INPUT_ERROR

    def __init__(self, message: str, *, where: str | None = None, number: int | None = None) -> None:
        super().__init__(message)
        self.where = where
        self.number = number


class OutputFailure(RunnerError):
    status = ExitStatus.OUTPUT_ERROR


class StopReading(BaseException):
    """Raised by the signal handler inside :meth:`Session.interruptible`: the read ends as EOF."""


class Abort(BaseException):
    """A second stop signal: give up at once."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def is_broken_pipe(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what pyarrow made of it) means the reader of a pipe went away."""
    while exc is not None:
        if isinstance(exc, BrokenPipeError) or getattr(exc, "errno", None) == errno.EPIPE:
            return True
        if "Broken pipe" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def describe_os_error(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror + (f" ({exc.filename})" if exc.filename else "")
    return str(exc) or type(exc).__name__


def quote_record(raw: bytes | str | None, size: int | None = None, limit: int = ERROR_RECORD_BYTES) -> dict:
    """The ``record`` part of an error line: the raw record as text when it is UTF-8 (else
    ``record_base64``), cut to ``limit`` bytes, with its full size."""
    if raw is None:
        return {}
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    total = len(raw) if size is None else size
    head = raw[:limit]
    truncated = total > len(head)
    try:
        quoted: dict[str, Any] = {"record": head.decode("utf-8")}
    except UnicodeDecodeError as exc:
        if truncated and exc.reason == "unexpected end of data" and exc.start >= len(head) - 3:
            quoted = {"record": head[: exc.start].decode("utf-8", "replace")}  # cut inside a character
            if "\ufffd" in quoted["record"]:
                quoted = {"record_base64": base64.b64encode(head).decode()}
        else:
            quoted = {"record_base64": base64.b64encode(head).decode()}
    quoted["record_bytes"] = total
    quoted["truncated"] = truncated
    return quoted


class Progress:
    """``records, records/s`` on one self-overwriting stderr line, at most twice a second; only
    when enabled (stderr is a terminal and the run is not quiet)."""

    def __init__(self, write: Callable[[str], None] | None, enabled: bool, *, unit: str = "records") -> None:
        self._write = write
        self.enabled = bool(enabled and write is not None)
        self.unit = unit
        self._started = time.perf_counter()
        self._last = self._started
        self._shown = False

    def update(self, done: int) -> None:
        if not self.enabled or self._write is None:  # enabled implies a write function
            return
        now = time.perf_counter()
        if now - self._last < 0.5:
            return
        self._last = now
        rate = done / (now - self._started) if now > self._started else 0.0
        self._write(f"\r\x1b[Kemoscore: {done:,} {self.unit} ({rate:,.0f}/s)")
        self._shown = True

    def clear(self) -> None:
        if self._shown and self._write is not None:  # shown implies a write function
            self._shown = False
            self._write("\r\x1b[K")


class ErrorSink:
    """One JSON line per rejected record (and per input failure or repaired record).

    Lines: ``{"event": "rejected", "line"|"row": N, "field": F|null, "reason": "...", "id": ...,
    "record": "...", "record_bytes": B, "truncated": false}``; ``event`` is ``repaired`` for a
    record written with invalid UTF-8 replaced, ``input_error`` when the input cannot be read on.
    """

    def __init__(self, stream: BinaryIO | _NullStream, name: str, session: Session, *, owned: bool = False) -> None:
        self.stream = stream
        self.name = name
        self.session = session
        self.owned = owned
        self.lines = 0

    def emit(self, record: dict) -> None:
        self.session.progress.clear()
        try:
            self.stream.write(orjson.dumps(record, default=str) + b"\n")
            self.lines += 1
            if not self.owned:
                self.stream.flush()  # stderr: interleaves correctly with the other messages
        except (OSError, ValueError) as exc:
            raise OutputFailure(f"cannot write the error sink {self.name}: {describe_os_error(exc)}") from None

    def flush(self) -> None:
        try:
            self.stream.flush()
        except (OSError, ValueError) as exc:
            raise OutputFailure(f"cannot write the error sink {self.name}: {describe_os_error(exc)}") from None

    def close(self) -> None:
        if self.owned:
            try:
                self.stream.close()
            except (OSError, ValueError) as exc:
                raise OutputFailure(
                    f"cannot write the error sink {self.name}: {describe_os_error(exc)}"
                ) from None


class _NullStream:
    def write(self, data) -> int:
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class Session:
    """Counters, stop state, error sink, progress and summary of one command run.

    The counters are the run's totals. A command reading several inputs calls :meth:`begin_input`
    before each one; the summary's ``files`` then gives each input's share of the counters, its
    ``last_line``/``last_row`` and whether it was read to its end (what ``--resume`` reads).
    """

    #: The counters an input's entry in ``files`` takes its share of (as the summary names them).
    COUNTERS = {"read": "read", "written": "written", "rejected": "rejected", "not_written": "not_written",
                "repaired": "repaired", "blank": "blank_lines"}

    def __init__(
        self,
        command: str,
        *,
        stderr: BinaryIO | None,
        on_error: str = "report",
        quiet: bool = False,
        progress: bool = False,
    ) -> None:
        self.command = command
        self._stderr = stderr if stderr is not None else _NullStream()
        self.on_error = on_error
        self.quiet = quiet
        self.read = 0
        self.written = 0
        self.rejected = 0
        self.repaired = 0
        self.not_written = 0
        self.blank = 0
        self.where = "line"  # how the input numbers its records: "line" (JSONL, CSV) or "row"
        self.last = 0  # number of the last record read (for resuming after a stop)
        self.halt = False  # stop now: --on-error fail hit, or the output failed
        self.stop_signal: int | None = None  # a signal stopped the input
        self.failure: RunnerError | None = None
        self.info: dict[str, Any] = {}
        self.files: list[dict[str, Any]] = []  # one entry per input begun (see begin_input)
        self._input_start: dict[str, int] | None = None  # the counters when the current input began
        self.name_inputs = False  # error lines name the input (a run over several)
        self.started = time.perf_counter()
        self.progress = Progress(self._text_write, progress and not quiet)
        self.sink = ErrorSink(self._stderr, "<stderr>", self)
        self._armed = False
        self._warned: set[str] = set()

    # -- stderr --------------------------------------------------------------------------------
    def _text_write(self, text: str) -> None:
        try:
            self._stderr.write(text.encode("utf-8", "replace"))
            self._stderr.flush()
        except (OSError, ValueError):
            pass  # stderr is gone: nothing left to tell anyone

    def message(self, text: str) -> None:
        """A human-readable line on stderr (never data)."""
        self.progress.clear()
        self._text_write(f"emoscore: {text}\n")

    def write_block(self, text: str) -> None:
        """``text`` on stderr as it is (a traceback, several lines): unlike :meth:`message`, no
        ``emoscore:`` prefix and no newline added."""
        self.progress.clear()
        self._text_write(text)

    def warn_once(self, key: str, text: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.message(f"warning: {text}")

    def open_sink(self, path: str | None) -> None:
        """Send error lines to ``path`` (``None`` or ``-``: stderr)."""
        if path in (None, "-"):
            return
        try:
            # /dev/stderr, /proc/self/fd/N: the file behind a descriptor is appended to, never truncated
            stream = open(path, "ab" if path.startswith(("/dev/", "/proc/")) else "wb")  # noqa: SIM115
        except OSError as exc:
            raise OutputFailure(f"cannot open the error file {path}: {describe_os_error(exc)}") from None
        self.sink = ErrorSink(stream, path, self, owned=True)

    # -- state ---------------------------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        """No more input should be read (a signal arrived, or the run must halt)."""
        return self.halt or self.stop_signal is not None

    def _event(self, event: str, **fields: Any) -> dict[str, Any]:
        """An error line's start: the event and, in a run over several inputs, the input it is about."""
        entry: dict[str, Any] = {"event": event}
        if self.name_inputs and self._input_start is not None:
            entry["input"] = self.files[-1]["input"]
        entry.update(fields)
        return entry

    def reject(
        self,
        number: int | None,
        reason: str,
        *,
        field: str | None = None,
        raw: bytes | str | None = None,
        size: int | None = None,
        record_id: Any = None,
        counted: bool = False,
    ) -> None:
        """Report one rejected record. ``counted``: the reader already counted it as read (a
        writer rejects records of a batch); otherwise this counts it as read too."""
        entry = self._event("rejected", **{self.where: number, "field": field, "reason": reason})
        if record_id is not None:
            entry["id"] = record_id
        entry.update(quote_record(raw, size))
        self.sink.emit(entry)  # first: a record is counted as rejected only once it is reported
        if not counted:
            self.read += 1
            if number is not None:
                self.last = number
        self.rejected += 1
        if self.on_error == "fail":
            self.halt = True

    def repair(self, number: int | None, reason: str, *, raw: bytes | None = None, record_id: Any = None) -> None:
        """Report a record that is written with invalid UTF-8 replaced by U+FFFD."""
        self.repaired += 1
        entry = self._event("repaired", **{self.where: number, "field": None, "reason": reason})
        if record_id is not None:
            entry["id"] = record_id
        entry.update(quote_record(raw))
        self.sink.emit(entry)

    def fail(self, failure: RunnerError) -> None:
        """Record the failure that ends the run (the first one wins)."""
        if self.failure is None:
            self.failure = failure
        if isinstance(failure, InputFailure):
            entry = self._event("input_error", reason=str(failure))
            if failure.where:
                entry[failure.where] = failure.number
            with contextlib.suppress(OutputFailure):
                self.sink.emit(entry)

    # -- inputs --------------------------------------------------------------------------------
    def begin_input(self, name: str, *, after: int = 0, **details: Any) -> None:
        """The records counted from now on are those of input ``name`` (the one before is ended, not
        complete, unless :meth:`end_input` ended it); ``after``: its records up to this number are
        passed over (a resumed run), so its ``last_line``/``last_row`` starts there."""
        self.end_input(complete=False)
        self._input_start = {counter: getattr(self, counter) for counter in self.COUNTERS}
        self.files.append({"input": name, **details})
        self.last = after

    def end_input(self, *, complete: bool) -> None:
        """Close the current input's entry with its share of the counters; ``complete``: it was read
        to its end."""
        if self._input_start is None:
            return
        entry = self.files[-1]
        for counter, key in self.COUNTERS.items():
            entry[key] = getattr(self, counter) - self._input_start[counter]
        entry[f"last_{self.where}"] = self.last
        entry["complete"] = complete
        self._input_start = None

    def output_lost(self) -> None:
        """The output was removed after a failure: every record written counts as not written."""
        self.end_input(complete=False)
        for entry in self.files:
            entry["not_written"] += entry["written"]
            entry["written"] = 0
        self.not_written += self.written
        self.written = 0

    # -- signals -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def handling_signals(self) -> Iterator[None]:
        """Install the stop handlers (main thread only) for the duration of the block."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {}
        for name in ("SIGINT", "SIGTERM", "SIGHUP"):
            signum = getattr(signal, name, None)
            if signum is not None:
                with contextlib.suppress(OSError, ValueError):
                    previous[signum] = signal.signal(signum, self._on_signal)
        try:
            yield
        finally:
            for signum, handler in previous.items():
                with contextlib.suppress(OSError, ValueError, TypeError):
                    signal.signal(signum, handler)

    def _on_signal(self, signum: int, frame) -> None:
        if self.stop_signal is not None:
            raise Abort(signum)
        self.stop_signal = signum
        if self._armed:
            raise StopReading()

    def interruptible(self, read: Callable[..., Any], *args) -> Any:
        """``read(*args)``, or ``None`` (end of input) when a stop signal arrives before or during
        it: the one place where a signal may interrupt a blocking call."""
        if self.stopping:
            return None
        self._armed = True
        try:
            return read(*args)
        except StopReading:
            return None
        finally:
            self._armed = False

    # -- the end -------------------------------------------------------------------------------
    def status(self) -> ExitStatus:
        if self.failure is not None:
            return self.failure.status
        if self.stop_signal is not None:
            return signal_status(self.stop_signal)
        if self.halt and self.rejected:
            return ExitStatus.STOPPED_ON_ERROR
        return ExitStatus.REJECTED if self.rejected else ExitStatus.OK

    def summary(self, status: ExitStatus, *, aborted: bool = False) -> dict:
        """Print the human summary line and the JSON summary line (unless quiet); return the latter."""
        seconds = time.perf_counter() - self.started
        self.end_input(complete=False)
        for entry in self.files:  # every entry was ended, so it has its counters
            entry["reconciled"] = entry["read"] == entry["written"] + entry["rejected"] + entry["not_written"]
        reconciled = self.read == self.written + self.rejected + self.not_written and all(
            entry["reconciled"] for entry in self.files)
        names = {
            ExitStatus.OK: "ok",
            ExitStatus.REJECTED: "rejected",
            ExitStatus.USAGE: "usage_error",
            ExitStatus.STOPPED_ON_ERROR: "stopped_on_error",
            ExitStatus.INPUT_ERROR: "input_error",
            ExitStatus.OUTPUT_ERROR: "output_error",
            ExitStatus.INTERNAL_ERROR: "internal_error",
            ExitStatus.BROKEN_PIPE: "output_closed",
        }
        state = names.get(status) or (
            f"stopped_by_{signal.Signals(status - 128).name}" if status > 128 else str(status)
        )
        if aborted:
            state = "aborted"
        record = {
            "event": "summary",
            "command": self.command,
            "status": state,
            "exit_status": int(status),
            "read": self.read,
            "written": self.written,
            "rejected": self.rejected,
            "not_written": self.not_written,
            "repaired": self.repaired,
            "blank_lines": self.blank,
            "reconciled": reconciled,
            f"last_{self.where}": self.last,
            "seconds": round(seconds, 3),
            "records_per_s": round(self.read / seconds) if seconds > 0 else None,
        }
        if self.failure is not None and status != ExitStatus.BROKEN_PIPE:  # a closed pipe is no error
            record["error"] = str(self.failure)
        record.update(self.info)
        if self.files:
            record["files"] = self.files
        self.progress.clear()
        if not self.quiet:
            rate = f", {self.read / seconds:,.0f} rows/s" if seconds > 0 and self.read >= 10_000 else ""
            extra = ""
            if self.not_written:
                extra += f", not written {self.not_written}"
            if self.repaired:
                extra += f", repaired {self.repaired}"
            if self.blank:
                extra += f", blank lines {self.blank}"
            self.message(
                f"read {self.read}, written {self.written}, rejected {self.rejected}{extra} ({seconds:.2f} s{rate})"
            )
            if self.stop_signal is not None:
                name = signal.Signals(self.stop_signal).name
                self.message(
                    f"stopped by {name} after input {self.where} {self.last}"
                    + ("; aborted" if aborted else "; every record read was written")
                )
            if not reconciled and not aborted:
                self.message(
                    "error: the counts do not add up (read != written + rejected + not written); please report this"
                )
            self._text_write(orjson.dumps(record).decode() + "\n")
        return record


def signal_status(signum: int) -> ExitStatus:
    try:
        return ExitStatus(128 + signum)
    except ValueError:
        return ExitStatus.SIGTERM


def fd_is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True
