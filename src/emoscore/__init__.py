"""emoscore: high-throughput lexicon emotion scoring and customer-experience KPIs over Apache Arrow."""

from .api import SCORE_COLUMNS, Scorer, score
from .errors import BackendError, ColumnNotFoundError, EmoscoreError, InputError, LexiconError
from .lexicon import CompiledLexicon, Lexicon

__version__ = "0.1.0"

__all__ = [
    "SCORE_COLUMNS",
    "BackendError",
    "ColumnNotFoundError",
    "CompiledLexicon",
    "EmoscoreError",
    "InputError",
    "Lexicon",
    "LexiconError",
    "Scorer",
    "score",
]
