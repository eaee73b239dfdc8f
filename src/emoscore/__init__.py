"""emoscore: high-throughput lexicon emotion scoring and customer-experience KPIs over Apache Arrow."""

from typing import TYPE_CHECKING

from . import _early_stop  # noqa: F401 - first: a Ctrl-C during the heavy imports below is a clean stop
from .api import ASPECTS_TYPE, SCORE_COLUMNS, Scorer, score
from .aspects import AspectEntry, AspectLexicon
from .errors import (
    BackendError,
    ColumnNotFoundError,
    EmoscoreError,
    IncompatibleStateError,
    InputError,
    LexiconError,
    StateFormatError,
)
from .lexicon import CompiledLexicon, Entry, Lexicon

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
