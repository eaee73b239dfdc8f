"""emoscore: high-throughput lexicon emotion scoring and customer-experience KPIs over Apache Arrow."""

from .alerts import AlertRules, AlertStream
from .api import SCORE_COLUMNS, Scorer, score
from .errors import (
    BackendError,
    ColumnNotFoundError,
    EmoscoreError,
    IncompatibleStateError,
    InputError,
    LexiconError,
    StateFormatError,
)
from .kpi import KpiAggregator
from .lexicon import CompiledLexicon, Entry, Lexicon

__version__ = "0.1.0"

__all__ = [
    "SCORE_COLUMNS",
    "AlertRules",
    "AlertStream",
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
