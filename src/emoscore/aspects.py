"""Aspect lexicons: which words, expressions and stems name what a customer talks about.

An :class:`AspectLexicon` maps terms to *aspects* (touchpoints such as ``delivery`` or ``returns``).
It never scores anything itself: :meth:`emoscore.Lexicon.compile` merges its terms into the same
hash table as the emotion terms (one tokenizer pass), and the kernels attribute each emotion to the
aspects mentioned in its scope (the rules are in ``kernels/rules.py``). The file format is in
``lexicons/README.md`` ("Aspect lexicons"); the bundled default is ``lexicons/aspects.tsv``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

from .errors import LexiconError
from .kernels.rules import MAX_ASPECTS
from .lexicon._terms import (
    BadValue,
    TermTable,
    TextFormat,
    TextReader,
    check_emotion_name,
    decode,
    entry_keys,
)

__all__ = ["AspectEntry", "AspectLexicon"]

MAGIC = "#!emoscore-aspects"
FORMAT_VERSION = 1
COLUMN_LINE = "term\taspects"

_DESCRIPTION = re.compile(r"#\s*aspect\s+(\S+)\s*:\s*(.*?)\s*$")


def _check_aspect_name(name: str) -> None:
    try:
        check_emotion_name(name)
    except BadValue:
        raise BadValue(
            f"an aspect name is one word without '=', ',', '#' or '*' and not '-' or 'none' ({name!r})"
        ) from None


@dataclass(frozen=True, slots=True)
class AspectEntry:
    """One aspect-lexicon entry.

    Parameters
    ----------
    term : str
        A word, a multi-word expression (words separated by single spaces) or a stem ending in ``*``,
        matched as emotion terms are (``lexicons/README.md``).
    aspects : iterable of str
        The aspects the term names, or none: an entry without aspects *blocks* (a matched
        expression such as "in return" covers its words, so "return" there names no aspect; a word
        such as "feel" keeps a stem "fee*" from matching it).
    """

    term: str
    aspects: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.aspects, str):
            object.__setattr__(self, "aspects", (self.aspects,))
        names = tuple(self.aspects)
        try:
            if not isinstance(self.term, str):
                raise BadValue(f"the term is not a string ({self.term!r})")
            for name in names:
                _check_aspect_name(name)
            if len(set(names)) != len(names):
                raise BadValue(f"an aspect is named twice ({', '.join(names)})")
        except BadValue as exc:
            raise LexiconError(f"aspect entry {self.term!r}: {exc}") from None
        object.__setattr__(self, "aspects", names)

    def to_line(self) -> str:
        return f"{self.term}\t{','.join(self.aspects) or '-'}"


class AspectLexicon(TermTable):
    """An immutable aspect lexicon: the aspect names (in output order), entries and metadata.

    Parameters
    ----------
    entries : iterable of AspectEntry
        Two entries with the same folded term ("Refund" and "refund") are an error.
    aspects : iterable of str, optional
        The aspect names, in this order (bit ``i`` of the compiled masks is aspect ``i``); aspects
        named by entries but not listed are appended in order of first use. At most 64.
    descriptions : mapping of str to str, optional
        One line per aspect saying what it covers.
    name, sources, licences
        As for :class:`~emoscore.Lexicon`.

    Raises
    ------
    LexiconError
        An invalid term or name, a duplicate term, or more than 64 aspects.
    """

    __slots__ = ("_aspects", "_entries", "_keys", "_index", "_descriptions", "_name", "_sources", "_licences")

    def __init__(self, entries: Iterable[AspectEntry] = (), *, aspects: Iterable[str] = (),
                 descriptions: dict | None = None, name: str = "", sources: Iterable[str] = (),
                 licences: Iterable[str] = ()) -> None:  # fmt: skip
        entries = tuple(entries)
        keys = entry_keys(entries, AspectEntry, "aspect entry")
        self._init(entries, keys, aspects, descriptions or {}, name, sources, licences, replace=False)

    def _init(self, entries, keys, aspects, descriptions, name, sources, licences, *, replace) -> None:
        names = list(dict.fromkeys(aspects))
        try:
            for aspect in names:
                _check_aspect_name(aspect)
            for text in (name, *sources, *licences, *descriptions.values()):
                if not isinstance(text, str) or "\n" in text or "\r" in text:
                    raise BadValue(f"metadata is one line of text ({text!r})")
        except BadValue as exc:
            raise LexiconError(f"{name or 'aspect lexicon'}: {exc}") from None
        index: dict[tuple, int] = {}
        kept: list[AspectEntry] = []
        kept_keys: list[tuple] = []
        for i, (entry, key) in enumerate(zip(entries, keys, strict=True)):
            for aspect in entry.aspects:
                if aspect not in names:
                    names.append(aspect)
            at = index.get(key)
            if at is None:
                index[key] = len(kept)
                kept.append(entry)
                kept_keys.append(key)
            elif replace:  # later entries win, keeping the first one's position
                kept[at] = entry
            else:
                raise LexiconError(f"aspect entry {i}: duplicate term, same folded key as {kept[at].term!r} "
                                   f"({entry.term!r})")
        if len(names) > MAX_ASPECTS:
            raise LexiconError(f"{name or 'aspect lexicon'}: {len(names)} aspects, at most {MAX_ASPECTS} "
                               f"({names[MAX_ASPECTS]!r} is one too many)")
        unknown = [a for a in descriptions if a not in names]
        if unknown:
            raise LexiconError(f"{name or 'aspect lexicon'}: a description names an unknown aspect ({unknown[0]!r})")
        self._aspects = tuple(names)
        self._entries = tuple(kept)
        self._keys = tuple(kept_keys)
        self._index = index
        self._descriptions = MappingProxyType(dict(descriptions))
        self._name = name
        self._sources = tuple(dict.fromkeys(sources))
        self._licences = tuple(dict.fromkeys(licences))

    @classmethod
    def _make(cls, entries, keys, *, replace=False, aspects=(), descriptions=None, name="", sources=(),
              licences=()) -> AspectLexicon:  # fmt: skip
        self = cls.__new__(cls)
        self._init(entries, keys, aspects, descriptions or {}, name, sources, licences, replace=replace)
        return self

    # --- read access -----------------------------------------------------------------------------

    @property
    def aspects(self) -> tuple[str, ...]:
        """The aspect names; compiled, aspect ``i`` is bit ``i`` of a term's mask."""
        return self._aspects

    @property
    def descriptions(self):
        """What each aspect covers (read-only mapping; may be empty)."""
        return self._descriptions

    def _state(self) -> tuple:
        return (self._aspects, self._entries, tuple(sorted(self._descriptions.items())), self._name,
                self._sources, self._licences)

    def __reduce__(self):
        return (_rebuild, (self._entries, self._aspects, dict(self._descriptions), self._name, self._sources,
                           self._licences))

    def __repr__(self) -> str:
        return f"AspectLexicon({self._name or 'unnamed'!r}, {len(self)} entries, aspects={' '.join(self._aspects)!r})"

    # --- making new ones -------------------------------------------------------------------------

    def _meta(self) -> dict:
        return {"aspects": self._aspects, "descriptions": dict(self._descriptions), "name": self._name,
                "sources": self._sources, "licences": self._licences}

    def with_entries(self, entries: Iterable[AspectEntry]) -> AspectLexicon:
        """A copy with ``entries`` added; one with the same folded term as an existing entry replaces it.
        New aspect names are appended to :attr:`aspects`."""
        entries = tuple(entries)
        keys = entry_keys(entries, AspectEntry, "aspect entry")
        return AspectLexicon._make(self._entries + entries, self._keys + keys, replace=True, **self._meta())

    def merge(self, other: AspectLexicon) -> AspectLexicon:
        """Layer ``other`` over this lexicon: its entries replace those with the same folded term; its
        aspects that this one lacks are appended; descriptions of ``other`` win; sources and licences
        are concatenated. Typical use: ``AspectLexicon.default().merge(AspectLexicon.load(path))``."""
        if not isinstance(other, AspectLexicon):
            raise TypeError(f"merge takes an AspectLexicon, not {type(other).__name__}")
        meta = self._meta()
        meta["aspects"] = self._aspects + tuple(a for a in other._aspects if a not in self._aspects)
        meta["descriptions"].update(other._descriptions)
        meta["sources"] = self._sources + other._sources
        meta["licences"] = self._licences + other._licences
        return AspectLexicon._make(self._entries + other._entries, self._keys + other._keys, replace=True, **meta)

    # --- the text format -------------------------------------------------------------------------

    @classmethod
    def default(cls) -> AspectLexicon:
        """The bundled customer-journey aspects (``emoscore.lexicons/aspects.tsv``), loaded once."""
        return _default_aspects()

    @classmethod
    def from_text(cls, text: str, *, origin: str = "<text>") -> AspectLexicon:
        """Parse the text of an aspect lexicon file; ``origin`` names it in error messages."""
        return _parse(text, origin)

    def to_text(self) -> str:
        """The lexicon in the text format."""
        lines = [f"{MAGIC} {FORMAT_VERSION}"]
        if self._name:
            lines.append(f"# name: {self._name}")
        lines.append(f"# aspects: {' '.join(self._aspects)}".rstrip())
        lines += [f"# aspect {a}: {self._descriptions[a]}" for a in self._aspects if a in self._descriptions]
        lines += [f"# source: {s}" for s in self._sources] + [f"# licence: {s}" for s in self._licences]
        lines.append(COLUMN_LINE)
        lines += [entry.to_line() for entry in self._entries]
        return "\n".join(lines) + "\n"


def _rebuild(entries, aspects, descriptions, name, sources, licences) -> AspectLexicon:
    return AspectLexicon(entries, aspects=aspects, descriptions=descriptions, name=name, sources=sources,
                         licences=licences)


class _AspectReader(TextReader):
    """The aspect format's own part of reading a file: ``# aspect NAME:`` descriptions and the rows."""

    format = TextFormat(MAGIC, FORMAT_VERSION, tuple(COLUMN_LINE.split("\t")), "aspects", single_name=False)

    def __init__(self, origin: str) -> None:
        super().__init__(origin)
        self.descriptions: dict[str, str] = {}

    def check_taxonomy(self, names: tuple[str, ...]) -> None:
        for aspect in names:
            _check_aspect_name(aspect)
        if len(set(names)) != len(names):
            raise BadValue(f"aspect named twice ({next(a for a in names if names.count(a) > 1)!r})")

    def header_line(self, lineno: int, line: str) -> bool:
        described = _DESCRIPTION.fullmatch(line)
        if described:
            self.descriptions[described.group(1)] = described.group(2)
        return described is not None

    def end_header(self, column_line: int) -> None:
        for described in self.descriptions:
            if described not in self.taxonomy:
                raise self.fail(column_line, "a '# aspect NAME:' line names an aspect not in '# aspects:' "
                                             f"({described!r})")

    def row(self, fields: list[str]) -> tuple[tuple, AspectEntry]:
        term, names = fields
        key = self.term_key(term)
        named = () if names == "-" else tuple(part.strip() for part in names.split(","))
        for name in named:
            if name not in self.taxonomy:
                raise BadValue(f"unknown aspect, not in '# aspects:' ({name!r})")
        if len(set(named)) != len(named):
            raise BadValue(f"an aspect is named twice ({names!r})")
        return key, AspectEntry(term, named)


def _parse(text: str, origin: str) -> AspectLexicon:
    read = _AspectReader(origin).read(text)
    try:
        return AspectLexicon._make(read.entries, read.keys, aspects=read.taxonomy, descriptions=read.descriptions,
                                   name=read.name, sources=read.sources, licences=read.licences)
    except LexiconError as exc:
        raise LexiconError(f"{origin}: {exc}") from None


@functools.lru_cache(maxsize=1)
def _default_aspects() -> AspectLexicon:
    origin = "emoscore.lexicons/aspects.tsv"
    resource = resources.files("emoscore.lexicons").joinpath("aspects.tsv")
    return _parse(decode(resource.read_bytes(), origin), origin)
