"""Lexicons: the text format, loaders of public formats, and compilation into flat arrays.

A :class:`Lexicon` is an immutable value: an emotion taxonomy, a tuple of :class:`Entry` objects and
rule-parameter overrides, plus descriptive metadata. :meth:`Lexicon.compile` turns it into a
:class:`CompiledLexicon`, the read-only arrays that the tokenizer and the scoring kernels take as
arguments (layout in ``docs/internals.md``). The file format is specified in ``lexicons/README.md``.
"""

from typing import TYPE_CHECKING

# The public names, and (``X as X``) the constants of the module this package replaced
# (emoscore/lexicon.py), importable from here as before.
from ._terms import MAX_STEM_BYTES as MAX_STEM_BYTES
from ._terms import MWE as MWE
from ._terms import STEM as STEM
from ._terms import WORD as WORD
from ._terms import PathLike as PathLike
from .compiler import ARRAY_DTYPES as ARRAY_DTYPES
from .compiler import CompiledLexicon
from .entry import MAX_BOOSTER as MAX_BOOSTER
from .entry import MAX_DAMPENER as MAX_DAMPENER
from .entry import MAX_VALENCE as MAX_VALENCE
from .entry import ROLES as ROLES
from .entry import Entry
from .model import COLUMN_LINE as COLUMN_LINE
from .model import FORMAT_VERSION as FORMAT_VERSION
from .model import MAGIC as MAGIC
from .model import Lexicon
from .model import ParamValue as ParamValue

if TYPE_CHECKING:  # what __getattr__ loads, for type checkers and IDEs
    from .cache import cache_dir, load_compiled

__all__ = ["CompiledLexicon", "Entry", "Lexicon", "cache_dir", "load_compiled"]

# The cache's names load emoscore.lexicon.cache on first use. The cache reads aspect files through
# emoscore.aspects, which builds on this package (._terms): importing the cache here would re-enter
# emoscore.aspects half-initialised whenever it is imported before this package.
_LAZY = {"cache_dir": ".cache", "load_compiled": ".cache"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
