"""A stop signal that arrives while ``emoscore`` is still importing (numpy, numba, pyarrow: about
half a second) is kept for the runner instead of raising ``KeyboardInterrupt`` mid-import.

Imported first by the package (importing it installs the handlers), and active only when the
process is the ``emoscore`` command (the console script or ``python -m emoscore``): a library import
never touches signal handlers.
``cli.main`` reads :data:`RECEIVED` when it installs its own handlers and stops cleanly (status
128 + signal, a summary); a second signal during the imports ends the process at once.
"""

from __future__ import annotations

import os
import signal
import sys

#: The stop signals received before the runner took over, in order.
RECEIVED: list[int] = []


def _keep(signum, frame) -> None:
    if RECEIVED:
        raise SystemExit(128 + signum)
    RECEIVED.append(signum)


def _is_the_command() -> bool:
    if os.path.basename(sys.argv[0] if sys.argv else "") in ("emoscore", "emoscore.exe"):
        return True
    argv = getattr(sys, "orig_argv", [])
    return "-m" in argv and argv[argv.index("-m") + 1 :][:1] == ["emoscore"]


def install() -> None:
    if not _is_the_command():
        return
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            try:
                signal.signal(getattr(signal, name), _keep)
            except (OSError, ValueError):  # not the main thread
                return


install()
