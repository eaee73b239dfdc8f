"""The emotion lexicon value and its text format.

A :class:`Lexicon` is an immutable value: an emotion taxonomy, a tuple of :class:`Entry` objects and
rule-parameter overrides, plus descriptive metadata. :meth:`Lexicon.compile` turns it into a
:class:`CompiledLexicon` (:mod:`.compiler`); the loaders of other formats are in :mod:`.loaders`. The
file format is specified in ``lexicons/README.md``; its reader is shared with the aspect lexicons
(:mod:`._terms`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from importlib import resources
from types import MappingProxyType
from typing import cast

from ..errors import LexiconError
from ..kernels import params as rule_params
from . import loaders
from ._terms import (
    BadValue,
    PathLike,
    TermTable,
    TextFormat,
    TextReader,
    check_emotion_name,
    decode,
    entry_keys,
    finite,
    format_number,
    parse_number,
)
from .compiler import CompiledLexicon, compile_lexicon
from .entry import Entry, EntryError

__all__ = ["Lexicon", "default_lexicon"]

MAGIC = "#!emoscore-lexicon"
FORMAT_VERSION = 1
COLUMN_LINE = "term\tvalence\temotions\trole"
ParamValue = float | str | None

_PARAM = re.compile(r"#\s*param\s+(\S+)\s*:\s*(.*?)\s*$")
_PARAM_START = re.compile(r"#\s*param\b")


# --- the lexicon value ------------------------------------------------------------------------------



class Lexicon(TermTable):
    """An immutable lexicon: an emotion taxonomy, entries, rule-parameter overrides and metadata.

    Parameters
    ----------
    entries : iterable of Entry
        The entries; two entries with the same folded key ("Great" and "great") are an error.
    emotions : iterable of str
        The emotion taxonomy, in column order (may be empty: valence only).
    params : mapping, optional
        Overrides of ``kernels.rule_params.DEFAULT_PARAMS`` by name; emotion-valued ones take an emotion of
        the taxonomy or ``None``.
    name : str
        A short name.
    sources, licences : iterable of str
        Where the data came from and under which licences (one line each).

    Raises
    ------
    LexiconError
        When an entry, emotion name or parameter is invalid (the message names the entry).
    """

    __slots__ = ("_emotions", "_entries", "_keys", "_index", "_params", "_name", "_sources", "_licences",
                 "_compiled", "_compiled_with")

    def __init__(
        self,
        entries: Iterable[Entry] = (),
        *,
        emotions: Iterable[str] = (),
        params: Mapping[str, ParamValue] | None = None,
        name: str = "",
        sources: Iterable[str] = (),
        licences: Iterable[str] = (),
    ) -> None:
        entries = tuple(entries)
        keys = entry_keys(entries, Entry)
        self._init(entries, keys, emotions, params or {}, name, sources, licences, duplicates="error")

    def _init(self, entries, keys, emotions, params, name, sources, licences, *, duplicates) -> None:
        """Validate and store; ``keys`` are the entries' folded keys, already computed."""
        emotions, sources, licences = tuple(emotions), tuple(sources), tuple(licences)
        try:
            _check_taxonomy(emotions)
            texts = [("name", name)] + [("source", s) for s in sources] + [("licence", s) for s in licences]
            for label, text in texts:
                if not isinstance(text, str) or "\n" in text or "\r" in text:
                    raise BadValue(f"the {label} is one line of text ({text!r})")
            checked = {key: _check_param(key, value, emotions) for key, value in params.items()}
        except BadValue as exc:
            raise LexiconError(f"{name or 'lexicon'}: {exc}") from None
        known = set(emotions)
        index: dict[tuple, int] = {}
        kept_entries: list[Entry] = []
        kept_keys: list[tuple] = []
        for i, (entry, key) in enumerate(zip(entries, keys, strict=True)):
            for emotion, _ in entry.emotions:
                if emotion not in known:
                    raise LexiconError(
                        f"entry {i}: unknown emotion, not in the taxonomy {' '.join(emotions)!r} "
                        f"({entry.term!r}: {emotion!r})"
                    )
            at = index.get(key)
            if at is None:
                index[key] = len(kept_entries)
                kept_entries.append(entry)
                kept_keys.append(key)
            elif duplicates == "error":
                raise LexiconError(
                    f"entry {i}: duplicate term, same folded key as {kept_entries[at].term!r} "
                    f"({entry.term!r})"
                )
            else:  # "replace": later entries win, keeping the first one's position
                kept_entries[at] = entry
        self._emotions = emotions
        self._entries = tuple(kept_entries)
        self._keys = tuple(kept_keys)
        self._index = index
        self._params = MappingProxyType(checked)
        self._name = name
        self._sources = tuple(dict.fromkeys(sources))
        self._licences = tuple(dict.fromkeys(licences))
        self._compiled: CompiledLexicon | None = None
        self._compiled_with: dict = {}  # (aspect lexicon, extra words) -> compiled (a few at most)

    @classmethod
    def _make(cls, entries, keys, *, duplicates="error", **kwargs) -> Lexicon:
        self = cls.__new__(cls)
        self._init(entries, keys, kwargs.pop("emotions", ()), kwargs.pop("params", {}),
                   kwargs.pop("name", ""), kwargs.pop("sources", ()), kwargs.pop("licences", ()),
                   duplicates=duplicates)
        return self

    # --- read access -----------------------------------------------------------------------------

    @property
    def emotions(self) -> tuple[str, ...]:
        """The emotion taxonomy, in column order."""
        return self._emotions

    @property
    def params(self) -> Mapping[str, ParamValue]:
        """The parameter overrides of this lexicon (read-only); see :meth:`resolved_params`."""
        return self._params

    @property
    def fingerprint(self) -> str:
        """The fingerprint of the compiled lexicon (see :class:`CompiledLexicon`)."""
        return self.compile().fingerprint

    def __reduce__(self):
        return (_rebuild, (self._entries, self._emotions, dict(self._params), self._name, self._sources,
                           self._licences))

    def _state(self) -> tuple:
        return (self._emotions, self._entries, tuple(sorted(self._params.items(), key=lambda kv: kv[0])),
                self._name, self._sources, self._licences)

    def __repr__(self) -> str:
        emotions = " ".join(self._emotions)
        return f"Lexicon({self._name or 'unnamed'!r}, {len(self)} entries, emotions={emotions!r})"

    def resolved_params(self) -> dict[str, float]:
        """Every rule parameter as a number: defaults, overridden, emotions as their index (-1 = none)."""
        resolved = {}
        for name in rule_params.PARAM_NAMES:
            value = self._params[name] if name in self._params else rule_params.DEFAULT_PARAMS[name]
            if name in rule_params.EMOTION_PARAMS:
                resolved[name] = float(self._emotions.index(value)) if value in self._emotions else -1.0
            else:
                resolved[name] = float(cast(float, value))  # a number: _check_param made sure
        return resolved

    # --- making new lexicons ---------------------------------------------------------------------

    def with_entries(self, entries: Iterable[Entry]) -> Lexicon:
        """A copy with ``entries`` added; an entry with the same folded key as an existing one replaces it.

        The entries must use this lexicon's taxonomy; among ``entries`` themselves, later ones win.
        """
        entries = tuple(entries)
        keys = entry_keys(entries, Entry)
        return Lexicon._make(self._entries + entries, self._keys + keys, duplicates="replace",
                             **self._meta())

    def with_params(self, **params: ParamValue) -> Lexicon:
        """A copy with these parameter overrides added (``name=None`` for "no emotion")."""
        meta = self._meta()
        meta["params"].update(params)
        return Lexicon._make(self._entries, self._keys, **meta)

    def merge(self, other: Lexicon) -> Lexicon:
        """Layer ``other`` over this lexicon: its entries replace entries with the same folded key.

        The taxonomy is this one's followed by the emotions of ``other`` that it lacks (weights are
        matched by emotion name), parameter overrides of ``other`` win, and sources and licences are
        concatenated. The name stays this lexicon's. Typical use: put a lexicon of another format over
        the default one's rule words, ``Lexicon.default().merge(Lexicon.from_nrc(path))``.
        """
        if not isinstance(other, Lexicon):
            raise TypeError(f"merge takes a Lexicon, not {type(other).__name__}")
        emotions = self._emotions + tuple(e for e in other._emotions if e not in self._emotions)
        return Lexicon._make(
            self._entries + other._entries,
            self._keys + other._keys,
            duplicates="replace",
            emotions=emotions,
            params={**self._params, **other._params},
            name=self._name,
            sources=self._sources + other._sources,
            licences=self._licences + other._licences,
        )

    def _meta(self) -> dict:
        return {"emotions": self._emotions, "params": dict(self._params), "name": self._name,
                "sources": self._sources, "licences": self._licences}

    def compile(self, *, aspects=None, words: tuple[bytes, ...] = ()) -> CompiledLexicon:
        """The flat arrays of this lexicon (computed once, then cached on this immutable value).

        ``aspects``, an :class:`~emoscore.AspectLexicon`, merges its terms into the same hash table
        (one tokenizer pass) and adds the aspect arrays. The emotion scores are the same with or
        without it: aspect-only terms have no valence, weights or role, and a term added for the
        aspects takes the values of the emotion stem that would otherwise have matched it. ``words``
        (folded bytes, e.g. :attr:`LanguageTable.words <emoscore.language.LanguageTable>`) join the
        table the same way, scoring nothing, so that one tokenizer pass also finds them.
        """
        if aspects is None and not words:
            if self._compiled is None:
                self._compiled = compile_lexicon(self)
            return self._compiled
        compiled = self._compiled_with.get((aspects, words))
        if compiled is None:
            if len(self._compiled_with) >= 4:
                self._compiled_with.clear()
            compiled = self._compiled_with[(aspects, words)] = compile_lexicon(self, aspects, words)
        return compiled

    # --- the text format -------------------------------------------------------------------------

    @classmethod
    def default(cls) -> Lexicon:
        """The bundled customer-experience lexicon (``emoscore.lexicons/default.tsv``), loaded once."""
        return default_lexicon()

    @classmethod
    def from_text(cls, text: str, *, origin: str = "<text>") -> Lexicon:
        """Parse the text of a lexicon file; ``origin`` names it in error messages."""
        return _parse(text, origin)

    def to_text(self, *, comments: Iterable[str] = ()) -> str:
        """The lexicon in the text format; ``comments`` become ``#`` lines after the header."""
        lines = [f"{MAGIC} {FORMAT_VERSION}"]
        if self._name:
            lines.append(f"# name: {self._name}")
        lines.append(f"# emotions: {' '.join(self._emotions)}".rstrip())
        lines += [f"# source: {source}" for source in self._sources]
        lines += [f"# licence: {licence}" for licence in self._licences]
        for name in rule_params.PARAM_NAMES:
            if name in self._params:
                value = self._params[name]
                if name in rule_params.EMOTION_PARAMS:
                    text = "none" if value is None else value
                else:
                    text = format_number(cast(float, value))  # a number: _check_param made sure
                lines.append(f"# param {name}: {text}")
        for comment in comments:
            lines += [f"# {line}".rstrip() for line in comment.splitlines() or [""]]
        lines.append(COLUMN_LINE)
        lines += [entry.to_line() for entry in self._entries]
        return "\n".join(lines) + "\n"

    # --- other formats ---------------------------------------------------------------------------

    @classmethod
    def from_vader(cls, path: PathLike, *, emotions: Iterable[str] = (), name: str | None = None) -> Lexicon:
        """Read a VADER-style lexicon: ``token<TAB>mean valence[<TAB>…]`` per line (valence only).

        Hyphenated or spaced tokens become multi-word expressions; tokens the tokenizer can never
        produce (emoticons such as ``:)``) are skipped; a token listed twice (same folded key) takes
        its later valence, as in VADER itself. ``emotions`` sets the (unused) taxonomy.
        """
        return cls._from_loaded(loaders.read_vader(path, emotions=emotions, name=name))

    @classmethod
    def from_nrc(cls, path: PathLike, *, name: str | None = None) -> Lexicon:
        """Read the NRC Emotion Lexicon, word-level: ``word<TAB>emotion<TAB>0|1`` per line.

        Its emotions become the taxonomy (in order of first appearance) with weight 1.0 for each
        association; ``positive`` and ``negative`` become valence +2.0 and -2.0 (both: 0). Words with no
        association are left out, so that layering this lexicon over another one does not erase it.
        """
        return cls._from_loaded(loaders.read_nrc(path, name=name))

    @classmethod
    def from_liwc(
        cls, path: PathLike, *, categories: Iterable[str] | None = None, name: str | None = None
    ) -> Lexicon:
        """Read a LIWC dictionary (``.dic``): a ``%``-delimited block of ``id<TAB>category`` lines, then
        ``word<TAB>id<TAB>id…`` lines; ``word*`` is a stem.

        Categories become emotions with weight 1.0, except ``posemo``/``negemo`` (LIWC-22:
        ``emo_pos``/``emo_neg``), which give valence +2.0 / -2.0. ``categories`` restricts the
        taxonomy to the named categories (default: all). Words left with no category or valence are
        left out; a word listed twice gets the union of its categories.
        """
        return cls._from_loaded(loaders.read_liwc(path, categories=categories, name=name))

    @classmethod
    def _from_loaded(cls, loaded: loaders.Loaded) -> Lexicon:
        return cls._make(loaded.entries, loaded.keys, duplicates=loaded.duplicates, emotions=loaded.emotions,
                         name=loaded.name, sources=(loaded.source,))


# --- checks ---------------------------------------------------------------------------------------


def _check_taxonomy(emotions: tuple[str, ...]) -> None:
    for emotion in emotions:
        check_emotion_name(emotion)
    if len(set(emotions)) != len(emotions):
        dup = next(e for e in emotions if emotions.count(e) > 1)
        raise BadValue(f"emotion named twice in the taxonomy ({dup!r})")


def _check_param(name: str, value: ParamValue, emotions: tuple[str, ...]) -> ParamValue:
    if name not in rule_params.PARAM_NAMES:
        raise BadValue(f"unknown param, expected one of {', '.join(rule_params.PARAM_NAMES)} ({name!r})")
    if name in rule_params.EMOTION_PARAMS:
        if value is None or value == "none":
            return None
        if value not in emotions:
            raise BadValue(f"param {name} takes an emotion of the taxonomy or 'none' ({value!r})")
        return value
    if isinstance(value, str):
        return parse_number(value, f"param {name}")
    if isinstance(value, bool):
        raise BadValue(f"param {name} is not a number ({value!r})")
    return finite(value, f"param {name}")


# --- the text format ------------------------------------------------------------------------------


def _parse_fields(term: str, valence: str, emotions: str, role: str) -> Entry:
    value = None if valence == "-" else parse_number(valence, "valence")
    weights = []
    if emotions != "-":
        for pair in emotions.split(","):
            name, eq, weight = pair.strip().partition("=")
            if not eq or not name or not weight:
                raise BadValue(f"emotions are name=weight pairs separated by commas, or '-' ({pair!r})")
            weights.append((name.strip(), parse_number(weight.strip(), f"the weight of {name.strip()!r}")))
    strength = None
    if role == "-":
        role_name = None
    elif role in ("negator", "contrast", "expectation"):
        role_name = role
    else:
        role_name, eq, amount = role.partition("=")
        if role_name not in ("booster", "dampener") or not eq:
            raise BadValue(f"role is '-', 'negator', 'booster=X', 'dampener=X', 'contrast' or 'expectation' "
                           f"({role!r})")
        strength = parse_number(amount, f"{role_name} strength")
    try:
        return Entry(term, value, tuple(weights), role_name, strength)
    except EntryError as exc:
        raise BadValue(exc.detail) from None


class _LexiconReader(TextReader):
    """The lexicon format's own part of reading a file: ``# param`` lines and the entry rows."""

    format = TextFormat(MAGIC, FORMAT_VERSION, tuple(COLUMN_LINE.split("\t")), "emotions")

    def __init__(self, origin: str) -> None:
        super().__init__(origin)
        self.raw_params: dict[str, tuple[int, str]] = {}  # name -> (line number, value as written)
        self.params: dict[str, ParamValue] = {}

    def check_taxonomy(self, names: tuple[str, ...]) -> None:
        _check_taxonomy(names)

    def header_line(self, lineno: int, line: str) -> bool:
        param = _PARAM.fullmatch(line)
        if param:
            key, value = param.groups()
            if key in self.raw_params:
                raise BadValue(f"param given twice, first on line {self.raw_params[key][0]} ({key!r})")
            self.raw_params[key] = (lineno, value)
            return True
        if _PARAM_START.match(line):
            raise BadValue(f"a param line is '# param NAME: VALUE' ({line!r})")
        return False

    def end_header(self, column_line: int) -> None:
        for key, (at, value) in self.raw_params.items():
            try:
                self.params[key] = _check_param(key, value, self.taxonomy)
            except BadValue as exc:
                raise self.fail(at, str(exc)) from None

    def row(self, fields: list[str]) -> tuple[tuple, Entry]:
        entry = _parse_fields(*fields)
        key = self.term_key(entry.term)
        for emotion, _ in entry.emotions:
            if emotion not in self.taxonomy:
                raise BadValue(f"unknown emotion, not in '# emotions:' ({emotion!r})")
        return key, entry


def _parse(text: str, origin: str) -> Lexicon:
    read = _LexiconReader(origin).read(text)
    return Lexicon._make(read.entries, read.keys, emotions=read.taxonomy, params=read.params, name=read.name,
                         sources=read.sources, licences=read.licences)


def _rebuild(entries, emotions, params, name, sources, licences) -> Lexicon:
    return Lexicon(entries, emotions=emotions, params=params, name=name, sources=sources, licences=licences)


@functools.lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    """The bundled lexicon (``emoscore.lexicons/default.tsv``), parsed once (:meth:`Lexicon.default`)."""
    origin = "emoscore.lexicons/default.tsv"
    resource = resources.files("emoscore.lexicons").joinpath("default.tsv")
    return _parse(decode(resource.read_bytes(), origin), origin)
