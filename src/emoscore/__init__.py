"""emoscore: high-throughput lexicon emotion scoring and customer-experience KPIs over Apache Arrow."""

import os as _os
import signal as _signal
import sys as _sys
from typing import TYPE_CHECKING


def _keep_early_stop(signum, frame) -> None:
    """Run as the ``emoscore`` command, a stop signal during the imports (half a second) is kept
    here for the runner (``cli.main`` takes it: a clean stop, status 128 + signal, a summary); a
    second one ends the process at once."""
    if _keep_early_stop.received:  # type: ignore[attr-defined]
        raise SystemExit(128 + signum)
    _keep_early_stop.received.append(signum)  # type: ignore[attr-defined]


_keep_early_stop.received = []  # type: ignore[attr-defined]
if _os.path.basename(_sys.argv[0] if _sys.argv else "") in ("emoscore", "emoscore.exe") or (
    "-m" in _sys.orig_argv and _sys.orig_argv[_sys.orig_argv.index("-m") + 1 :][:1] == ["emoscore"]
):
    for _name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(_signal, _name):
            try:
                _signal.signal(getattr(_signal, _name), _keep_early_stop)
            except (OSError, ValueError):  # not the main thread
                break

from .api import ASPECTS_TYPE, SCORE_COLUMNS, Scorer, score  # noqa: E402 - after the early stop handler
from .aspects import AspectEntry, AspectLexicon  # noqa: E402
from .errors import (  # noqa: E402
    BackendError,
    ColumnNotFoundError,
    EmoscoreError,
    IncompatibleStateError,
    InputError,
    LexiconError,
    StateFormatError,
)
from .lexicon import CompiledLexicon, Entry, Lexicon  # noqa: E402

__version__ = "0.1.0"

# The KPI and alert engines (and their Numba kernel module) load on first use: `emoscore score`
# never needs them, and importing them costs ~0.1 s of every process start.
_LAZY = {"AlertRules": ".alerts", "AlertStream": ".alerts", "KpiAggregator": ".kpi", "alerts": ".alerts",
         "kpi": ".kpi", "sketch": ".sketch"}

if TYPE_CHECKING:  # what __getattr__ loads, for type checkers and IDEs (never imported here at run time)
    from . import alerts as alerts  # re-exported submodules
    from . import kpi as kpi
    from . import sketch as sketch
    from .alerts import AlertRules, AlertStream
    from .kpi import KpiAggregator


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name], __name__)
        return module if name == _LAZY[name][1:] else getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ASPECTS_TYPE",
    "SCORE_COLUMNS",
    "AlertRules",
    "AlertStream",
    "AspectEntry",
    "AspectLexicon",
    "BackendError",
    "ColumnNotFoundError",
    "CompiledLexicon",
    "EmoscoreError",
    "Entry",
    "IncompatibleStateError",
    "InputError",
    "KpiAggregator",
    "Lexicon",
    "LexiconError",
    "Scorer",
    "StateFormatError",
    "score",
]
