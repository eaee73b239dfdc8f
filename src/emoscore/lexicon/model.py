"""Lexicons: the text format, loaders of public formats, and compilation into flat arrays.

A :class:`Lexicon` is an immutable value: an emotion taxonomy, a tuple of :class:`Entry` objects and
rule-parameter overrides, plus descriptive metadata. :meth:`Lexicon.compile` turns it into a
:class:`CompiledLexicon`, the read-only arrays that the tokenizer and the scoring kernels take as
arguments (layout in ``docs/internals.md``). The file format is specified in ``lexicons/README.md``.

Folding, hashing and hash-table building are done by :mod:`emoscore._tokenize` only, so a term is
looked up exactly as the tokenizer reads it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from importlib import resources
from types import MappingProxyType
from typing import cast

import numpy as np

from .. import _tokenize
from ..errors import LexiconError
from ..kernels import rules
from . import _terms, loaders
from ._terms import (
    MAX_STEM_BYTES,
    MWE,
    STEM,
    WORD,
    BadValue,
    PathLike,
    TermTable,
    TextFormat,
    TextReader,
    check_emotion_name,
    decode,
    finite,
    format_number,
    parse_number,
    term_key,
)
from .entry import Entry, EntryError

__all__ = ["CompiledLexicon", "Entry", "Lexicon", "cache_dir", "load_compiled"]

MAGIC = "#!emoscore-lexicon"
FORMAT_VERSION = 1
COLUMN_LINE = "term\tvalence\temotions\trole"
ParamValue = float | str | None

_PARAM = re.compile(r"#\s*param\s+(\S+)\s*:\s*(.*?)\s*$")
_PARAM_START = re.compile(r"#\s*param\b")


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
    elif role in ("negator", "contrast"):
        role_name = role
    else:
        role_name, eq, amount = role.partition("=")
        if role_name not in ("booster", "dampener") or not eq:
            raise BadValue(f"role is '-', 'negator', 'booster=X', 'dampener=X' or 'contrast' ({role!r})")
        strength = parse_number(amount, f"{role_name} strength")
    try:
        return Entry(term, value, tuple(weights), role_name, strength)
    except EntryError as exc:
        raise BadValue(exc.detail) from None


# --- the compiled form ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CompiledLexicon:
    """A lexicon as flat, read-only arrays (layout in ``docs/internals.md``), made by :meth:`Lexicon.compile`.

    Every array is C-contiguous and not writeable. Term ids index ``valence``, ``weights``, ``role``,
    ``modifier`` and ``terms``; ``fingerprint`` is the hex SHA-256 of everything that affects scoring
    (taxonomy, parameters, keys and per-term values), so two compiled lexicons score alike exactly when
    their fingerprints are equal.
    """

    emotions: tuple[str, ...]
    terms: tuple[str, ...]
    table_keys: np.ndarray
    table_ids: np.ndarray
    stem_mask: int
    valence: np.ndarray
    weights: np.ndarray
    role: np.ndarray
    modifier: np.ndarray
    mwe_first: np.ndarray
    mwe_term: np.ndarray
    mwe_parts: np.ndarray
    mwe_words: np.ndarray
    params: np.ndarray
    fingerprint: str
    # Aspects (empty when compiled without an aspect lexicon): the names, each term's aspect bitmask
    # and the aspect expressions in CSR form by first word (docs/internals.md).
    aspects: tuple[str, ...] = ()
    aspect_mask: np.ndarray | None = None
    amwe_first: np.ndarray | None = None
    amwe_parts: np.ndarray | None = None
    amwe_words: np.ndarray | None = None
    amwe_mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        # Every array C-contiguous, of its contract dtype and read-only, however the value was made.
        for name, dtype in ARRAY_DTYPES.items():
            value = getattr(self, name)
            object.__setattr__(self, name, _frozen(np.zeros(0, dtype) if value is None else value, dtype))
        object.__setattr__(self, "aspects", tuple(self.aspects))
        object.__setattr__(self, "emotions", tuple(self.emotions))
        object.__setattr__(self, "terms", tuple(self.terms))
        object.__setattr__(self, "stem_mask", int(self.stem_mask))

    def __reduce__(self):
        # Unpickling goes through __init__, so the arrays come back read-only (Spark ships these).
        return (CompiledLexicon, tuple(getattr(self, f.name) for f in fields(self)))

    @property
    def n_terms(self) -> int:
        return len(self.terms)

    def without_aspects(self) -> CompiledLexicon:
        """This lexicon with its aspect arrays dropped (the same emotion scores, no aspects)."""
        if not self.aspects:
            return self
        digest = hashlib.sha256(f"{self.fingerprint}\0without aspects".encode()).hexdigest()
        return replace(self, aspects=(), aspect_mask=None, amwe_first=None, amwe_parts=None, amwe_words=None,
                       amwe_mask=None, fingerprint=digest)

    @property
    def n_emotions(self) -> int:
        return len(self.emotions)

    def __repr__(self) -> str:
        aspects = f", aspects={' '.join(self.aspects)!r}" if self.aspects else ""
        return (
            f"CompiledLexicon({self.n_terms} terms, {len(self.mwe_term)} expressions, "
            f"emotions={' '.join(self.emotions)!r}{aspects}, fingerprint={self.fingerprint[:12]}…)"
        )


ARRAY_DTYPES = {
    "table_keys": np.uint64,
    "table_ids": np.int32,
    "valence": np.float32,
    "weights": np.float32,
    "role": np.uint8,
    "modifier": np.float32,
    "mwe_first": np.int32,
    "mwe_term": np.int32,
    "mwe_parts": np.int32,
    "mwe_words": np.int32,
    "params": np.float32,
    "aspect_mask": np.uint64,
    "amwe_first": np.int32,
    "amwe_parts": np.int32,
    "amwe_words": np.int32,
    "amwe_mask": np.uint64,
}


def _frozen(array, dtype) -> np.ndarray:
    """``array`` as a C-contiguous, read-only array of ``dtype``; a writeable one is copied first, so
    that nobody keeps a writeable reference to it."""
    array = np.ascontiguousarray(array, dtype=dtype)
    if array.flags.writeable:
        array = array.copy()
        array.setflags(write=False)
    return array


def _own(array, dtype) -> np.ndarray:
    """Like :func:`_frozen` for an array that nobody else references: no copy needed."""
    array = np.ascontiguousarray(array, dtype=dtype)
    array.setflags(write=False)
    return array


def _stem_of(word: bytes, stems: Mapping[bytes, int]) -> int | None:
    """The id of the longest stem that matches ``word`` as the tokenizer tries them, if any."""
    for length in range(min(len(word), MAX_STEM_BYTES), 0, -1):
        found = stems.get(word[:length])
        if found is not None:
            return found
    return None


def _compile(lexicon: Lexicon, aspect_lexicon=None) -> CompiledLexicon:
    emotions = lexicon.emotions
    column = {name: i for i, name in enumerate(emotions)}
    by_key = dict(zip(lexicon._keys, lexicon.entries, strict=True))
    # aspect terms share the table (one tokenizer pass); their expressions are kept apart
    aspect_of = {} if aspect_lexicon is None else dict(zip(aspect_lexicon._keys, aspect_lexicon.entries, strict=True))

    # Canonical id order (words, then stems, then expressions, each sorted by folded bytes), so the
    # arrays and the fingerprint do not depend on the order of the entries.
    words = {key[1] for key in by_key if key[0] == WORD} | {key[1] for key in aspect_of if key[0] == WORD}
    mwes = sorted(key[1] for key in by_key if key[0] == MWE)
    aspect_mwes = sorted(key[1] for key in aspect_of if key[0] == MWE)
    words.update(word for parts in mwes + aspect_mwes for word in parts)
    word_list = sorted(words)
    stem_list = sorted({key[1] for key in by_key if key[0] == STEM} | {key[1] for key in aspect_of if key[0] == STEM})
    n_words, n_stems = len(word_list), len(stem_list)
    n = n_words + n_stems + len(mwes)

    terms: list[str] = []
    sources: list[Entry | None] = []
    for word in word_list:
        entry = by_key.get((WORD, word))
        sources.append(entry)
        terms.append(entry.term if entry is not None else word.decode("utf-8", "replace"))
    for stem in stem_list:
        entry = by_key.get((STEM, stem))
        sources.append(entry)
        terms.append(entry.term if entry is not None else aspect_of[(STEM, stem)].term)
    for parts in mwes:
        entry = by_key[(MWE, parts)]
        sources.append(entry)
        terms.append(entry.term)

    # A term added for an expression or for the aspects must not hide a stem that would have matched
    # it on its own: it takes the values of the longest emotion stem that matches it (and, below,
    # the aspects of the longest aspect stem), as the tokenizer would have matched without it.
    stem_ids = {stem: n_words + i for i, stem in enumerate(stem_list) if sources[n_words + i] is not None}
    for i, word in enumerate(word_list + stem_list):
        if sources[i] is None:
            found = _stem_of(word, stem_ids)
            if found is not None:
                sources[i] = sources[found]

    valence = np.zeros(n, np.float32)
    weights = np.zeros((n, len(emotions)), np.float32)
    role = np.zeros(n, np.uint8)
    modifier = np.zeros(n, np.float32)
    role_codes = {
        None: rules.ROLE_NONE,
        "negator": rules.ROLE_NEGATOR,
        "booster": rules.ROLE_MODIFIER,
        "dampener": rules.ROLE_MODIFIER,
        "contrast": rules.ROLE_CONTRAST,
    }
    for i, entry in enumerate(sources):
        if entry is None:
            continue
        valence[i] = entry.valence or 0.0
        for name, weight in entry.emotions:
            weights[i, column[name]] = weight
        role[i] = role_codes[entry.role]
        modifier[i] = entry.modifier

    # Keys of the single-token terms; ids 0..n_words+n_stems-1 are exactly the table's contents.
    hashes = np.zeros(n, np.uint64)
    seen: dict[int, int] = {}
    stem_mask = 0
    word_key, stem_key = _tokenize.fnv1a64, _tokenize.stem_key
    for i, word in enumerate(word_list + stem_list):
        if i < n_words:
            h = int(word_key(word))
        else:
            h = int(stem_key(word))
            stem_mask |= 1 << len(word)
        if h in seen:
            raise LexiconError(
                f"{lexicon.name or 'lexicon'}: terms {terms[seen[h]]!r} and {terms[i]!r} have the same "
                f"64-bit hash ({h:#018x}); rename one"
            )
        seen[h] = i
        hashes[i] = h
    n_single = n_words + n_stems
    try:
        table_keys, table_ids = _tokenize.build_table(
            np.ascontiguousarray(hashes[:n_single]), np.arange(n_single, dtype=np.int32)
        )
    except ValueError as exc:
        raise LexiconError(f"{lexicon.name or 'lexicon'}: cannot build the hash table: {exc}") from None

    # Multi-word expressions in CSR form, grouped by first word id, longest first.
    word_ids = {word: i for i, word in enumerate(word_list)}
    candidates = sorted(
        ((tuple(word_ids[w] for w in parts), n_single + m) for m, parts in enumerate(mwes)),
        key=lambda item: (item[0][0], -len(item[0]), item[0]),
    )
    counts = np.zeros(n + 1, np.int64)
    for ids, _ in candidates:
        counts[ids[0] + 1] += 1
    mwe_first = np.cumsum(counts)
    mwe_term = np.array([term for _, term in candidates], np.int32)
    mwe_parts = np.zeros(len(candidates) + 1, np.int64)
    mwe_parts[1:] = np.cumsum([len(ids) for ids, _ in candidates])
    mwe_words = np.array([w for ids, _ in candidates for w in ids], np.int32)

    params = np.zeros(rules.N_PARAMS, np.float32)
    for name, value in lexicon.resolved_params().items():
        params[rules.PARAM_NAMES.index(name)] = value

    arrays: dict[str, np.ndarray] = {
        "valence": valence,
        "weights": weights,
        "role": role,
        "modifier": modifier,
        "mwe_first": mwe_first,
        "mwe_term": mwe_term,
        "mwe_parts": mwe_parts,
        "mwe_words": mwe_words,
        "params": params,
    }
    aspect_names: tuple[str, ...] = ()
    if aspect_lexicon is not None and aspect_lexicon.aspects:
        aspect_names = aspect_lexicon.aspects
        arrays.update(_aspect_arrays(aspect_lexicon, aspect_of, word_list, stem_list, aspect_mwes, n))
    arrays = {name: _own(array, ARRAY_DTYPES[name]) for name, array in arrays.items()}
    # The fingerprint covers everything that scoring reads: the taxonomy, each term id's table key
    # (0 for expressions), the per-term arrays, the expressions and the parameters (and the aspects).
    digest = hashlib.sha256()
    digest.update(f"{MAGIC} {FORMAT_VERSION}\0{' '.join(emotions)}\0".encode())
    if aspect_names:
        digest.update(f"aspects\0{' '.join(aspect_names)}\0".encode())
    for name, array in {"keys": hashes, **arrays}.items():
        little = np.ascontiguousarray(array, array.dtype.newbyteorder("<"))
        digest.update(f"{name}:{little.dtype.str}:{little.shape}\0".encode())
        digest.update(little.tobytes())

    return CompiledLexicon(
        emotions=emotions,
        terms=tuple(terms),
        table_keys=table_keys,
        table_ids=table_ids,
        stem_mask=stem_mask,
        fingerprint=digest.hexdigest(),
        aspects=aspect_names,
        **arrays,
    )


def _aspect_arrays(aspect_lexicon, aspect_of, word_list, stem_list, aspect_mwes, n) -> dict:
    """``aspect_mask`` per term id and the aspect expressions (CSR by first word, longest first)."""
    bit = {name: 1 << i for i, name in enumerate(aspect_lexicon.aspects)}

    def mask_of(entry) -> int:
        return sum(bit[name] for name in entry.aspects)

    n_words = len(word_list)
    aspect_mask = np.zeros(n, np.uint64)
    own: list[int | None] = []
    for key in [(WORD, w) for w in word_list] + [(STEM, s) for s in stem_list]:
        entry = aspect_of.get(key)
        own.append(None if entry is None else mask_of(entry))
    # a term without an aspect entry of its own takes the aspects of the longest aspect stem that
    # matches it (the tokenizer finds the term, so the stem never sees that token)
    aspect_stems = {stem: n_words + i for i, stem in enumerate(stem_list) if own[n_words + i] is not None}
    for i, word in enumerate(word_list + stem_list):
        value = own[i]
        if value is None:
            found = _stem_of(word, aspect_stems)
            value = own[found] if found is not None else 0
        aspect_mask[i] = value
    word_ids = {word: i for i, word in enumerate(word_list)}
    candidates = sorted(
        ((tuple(word_ids[w] for w in parts), mask_of(aspect_of[(MWE, parts)])) for parts in aspect_mwes),
        key=lambda item: (item[0][0], -len(item[0]), item[0]),
    )
    counts = np.zeros(n + 1, np.int64)
    for ids, _ in candidates:
        counts[ids[0] + 1] += 1
    parts = np.zeros(len(candidates) + 1, np.int64)
    parts[1:] = np.cumsum([len(ids) for ids, _ in candidates])
    return {
        "aspect_mask": aspect_mask,
        "amwe_first": np.cumsum(counts),
        "amwe_parts": parts,
        "amwe_words": np.array([w for ids, _ in candidates for w in ids], np.int32),
        "amwe_mask": np.array([mask for _, mask in candidates], np.uint64),
    }


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
        Overrides of ``kernels.rules.DEFAULT_PARAMS`` by name; emotion-valued ones take an emotion of
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
        keys = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, Entry):
                raise LexiconError(f"entry {i} is not an Entry ({entry!r})")
            try:
                keys.append(term_key(entry.term))
            except BadValue as exc:
                raise LexiconError(f"entry {i}: {exc} ({entry.term!r})") from None
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
        self._compiled_with: dict = {}  # aspect lexicon -> compiled (a few at most)

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
        for name in rules.PARAM_NAMES:
            value = self._params[name] if name in self._params else rules.DEFAULT_PARAMS[name]
            if name in rules.EMOTION_PARAMS:
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
        keys = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, Entry):
                raise LexiconError(f"entry {i} is not an Entry ({entry!r})")
            try:
                keys.append(term_key(entry.term))
            except BadValue as exc:
                raise LexiconError(f"entry {i}: {exc} ({entry.term!r})") from None
        return Lexicon._make(self._entries + entries, self._keys + tuple(keys), duplicates="replace",
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

    def compile(self, *, aspects=None) -> CompiledLexicon:
        """The flat arrays of this lexicon (computed once, then cached on this immutable value).

        ``aspects``, an :class:`~emoscore.AspectLexicon`, merges its terms into the same hash table
        (one tokenizer pass) and adds the aspect arrays. The emotion scores are the same with or
        without it: aspect-only terms have no valence, weights or role, and a term added for the
        aspects takes the values of the emotion stem that would otherwise have matched it.
        """
        if aspects is None:
            if self._compiled is None:
                self._compiled = _compile(self)
            return self._compiled
        compiled = self._compiled_with.get(aspects)
        if compiled is None:
            if len(self._compiled_with) >= 4:
                self._compiled_with.clear()
            compiled = self._compiled_with[aspects] = _compile(self, aspects)
        return compiled

    # --- the text format -------------------------------------------------------------------------

    @classmethod
    def default(cls) -> Lexicon:
        """The bundled customer-experience lexicon (``emoscore.lexicons/default.tsv``), loaded once."""
        return _default_lexicon()

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
        for name in rules.PARAM_NAMES:
            if name in self._params:
                value = self._params[name]
                if name in rules.EMOTION_PARAMS:
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


# --- checks -------------------------------------------------------------------------------------------


def _check_taxonomy(emotions: tuple[str, ...]) -> None:
    for emotion in emotions:
        check_emotion_name(emotion)
    if len(set(emotions)) != len(emotions):
        dup = next(e for e in emotions if emotions.count(e) > 1)
        raise BadValue(f"emotion named twice in the taxonomy ({dup!r})")


def _check_param(name: str, value: ParamValue, emotions: tuple[str, ...]) -> ParamValue:
    if name not in rules.PARAM_NAMES:
        raise BadValue(f"unknown param, expected one of {', '.join(rules.PARAM_NAMES)} ({name!r})")
    if name in rules.EMOTION_PARAMS:
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
def _default_lexicon() -> Lexicon:
    origin = "emoscore.lexicons/default.tsv"
    resource = resources.files("emoscore.lexicons").joinpath("default.tsv")
    return _parse(decode(resource.read_bytes(), origin), origin)


# --- the on-disk cache of compiled lexicons ---------------------------------------------------------
# Parsing and compiling the bundled emotion and aspect lexicons takes ~0.3 s, a third of a warm
# `emoscore score` start; loading the arrays back takes milliseconds. An entry is one uncompressed .npz
# named after a digest of the source files' bytes and of the code that turns them into arrays, so an
# edited lexicon or compiler never reuses a stale entry. Entries are written under a temporary name and
# renamed into place (concurrent processes see a whole entry or none); any problem with the cache
# (not writable, unreadable, corrupt) means compiling as without it.

_CACHE_FORMAT = 1
_CACHE_KEEP = 16  # entries kept in the directory; writing a new one removes the oldest beyond this


def cache_dir() -> str:
    """Where compiled lexicons are cached: ``$EMOSCORE_CACHE_DIR``, else the user's cache directory
    (``$XDG_CACHE_HOME/emoscore`` or ``~/.cache/emoscore``; ``~/Library/Caches/emoscore`` on macOS,
    ``%LOCALAPPDATA%\\emoscore\\Cache`` on Windows)."""
    configured = os.environ.get("EMOSCORE_CACHE_DIR")
    if configured:
        return configured
    if sys.platform == "win32":
        return os.path.join(os.environ.get("LOCALAPPDATA") or os.path.expanduser("~"), "emoscore", "Cache")
    if sys.platform == "darwin":
        return os.path.join(os.path.expanduser("~"), "Library", "Caches", "emoscore")
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
                        "emoscore")


@functools.cache
def _compiler_digest() -> bytes | None:
    """SHA-256 of the code that makes a compiled lexicon from the text files: the parsers and the
    compiler (this module, the shared reader and term keys of :mod:`._terms`, :class:`Entry`'s checks,
    :mod:`emoscore.aspects`), the rule constants (``kernels/rules.py``) and the tokenizer's folding,
    hashing and table building (the built extension). None when one cannot be read (then nothing is
    cached)."""
    from .. import aspects

    digest = hashlib.sha256(f"emoscore compiled lexicon cache {_CACHE_FORMAT}\0".encode())
    for module in (sys.modules[__name__], _terms, sys.modules[Entry.__module__], aspects, rules, _tokenize):
        try:
            path: str | None = module.__file__
            if path is None:
                return None
            with open(path, "rb") as file:
                digest.update(hashlib.file_digest(file, "sha256").digest())
        except (OSError, TypeError, AttributeError):
            return None
    return digest.digest()


def _source(path: PathLike | None, bundled: str) -> tuple[str, bytes]:
    """(origin for error messages, bytes) of a lexicon file, or of the bundled one when ``path`` is None."""
    if path is None:
        return f"emoscore.lexicons/{bundled}", resources.files("emoscore.lexicons").joinpath(bundled).read_bytes()
    with open(path, "rb") as file:
        return os.fspath(path), file.read()


def load_compiled(lexicon: PathLike | None = None, aspects: PathLike | bool | None = None) -> CompiledLexicon:
    """The compiled lexicon of lexicon files, read from the on-disk cache when it holds them.

    Equal to ``Lexicon.load(lexicon).compile(aspects=AspectLexicon.load(aspects))`` (same arrays, same
    fingerprint). ``lexicon``: a lexicon file, None for the bundled one. ``aspects``: an aspect lexicon
    file, True for the bundled one, None or False for none. The cache (:func:`cache_dir`) is keyed by
    the files' bytes and the compiler's code; a cache that cannot be read or written is skipped.

    Raises
    ------
    LexiconError
        A file is malformed (``file:line: what is wrong``), as its loader raises it.
    OSError
        A file cannot be read.
    """
    from ..aspects import AspectLexicon

    # read the aspects first: a bad pair of files reports the aspect lexicon, as the loaders did
    aspect_source = None
    if aspects is not None and aspects is not False:
        aspect_source = _source(None if aspects is True else aspects, "aspects.tsv")
    origin, data = _source(lexicon, "default.tsv")
    compiler = _compiler_digest()
    key: str | None = None
    entry: str | None = None
    if compiler is not None:
        digest = hashlib.sha256(compiler)
        for source in (data, None if aspect_source is None else aspect_source[1]):
            digest.update(b"-\0" if source is None else f"{len(source)}\0".encode() + source)
        key = digest.hexdigest()
        entry = os.path.join(cache_dir(), "lexicons", f"{key}.npz")
        cached = _cache_read(entry, key)
        if cached is not None:
            return cached
    aspect_lexicon = None
    if aspects is True:
        aspect_lexicon = AspectLexicon.default()
    elif aspect_source is not None:
        aspect_lexicon = AspectLexicon.from_text(decode(aspect_source[1], aspect_source[0]), origin=aspect_source[0])
    parsed = _default_lexicon() if lexicon is None else Lexicon.from_text(decode(data, origin), origin=origin)
    compiled = parsed.compile(aspects=aspect_lexicon)
    if entry is not None and key is not None:
        _cache_write(entry, key, compiled)
    return compiled


def _cache_read(path: str, key: str) -> CompiledLexicon | None:
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(stored["meta"].tobytes())
            if meta.get("format") != _CACHE_FORMAT or meta.get("key") != key:
                return None
            arrays = {name: stored[name] for name in ARRAY_DTYPES}
            terms = stored["terms"].tobytes().decode("utf-8", "surrogatepass").split("\0")
    except Exception:  # noqa: BLE001 - missing, cut short, corrupt (zip CRC) or foreign: compile instead
        return None
    if len(terms) != meta["n_terms"] or len(terms) != arrays["valence"].shape[0]:
        return None
    for array in arrays.values():
        array.setflags(write=False)  # freshly read and ours alone: CompiledLexicon keeps them uncopied
    return CompiledLexicon(emotions=tuple(meta["emotions"]), terms=tuple(terms), stem_mask=meta["stem_mask"],
                           fingerprint=meta["fingerprint"], aspects=tuple(meta["aspects"]), **arrays)


def _cache_write(path: str, key: str, compiled: CompiledLexicon) -> None:
    if any("\0" in term for term in compiled.terms):
        return  # the separator of the stored terms (the tokenizer never makes a term with it)
    meta = {"format": _CACHE_FORMAT, "key": key, "emotions": list(compiled.emotions),
            "aspects": list(compiled.aspects), "stem_mask": compiled.stem_mask,
            "fingerprint": compiled.fingerprint, "n_terms": compiled.n_terms}
    arrays = {name: getattr(compiled, name) for name in ARRAY_DTYPES}
    arrays["terms"] = np.frombuffer("\0".join(compiled.terms).encode("utf-8", "surrogatepass"), np.uint8)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    directory = os.path.dirname(path)
    temp = None
    try:
        os.makedirs(directory, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=directory)
        with os.fdopen(fd, "wb") as file:
            np.savez(file, **arrays)
        os.chmod(temp, 0o644)  # derived from public files; readable by whoever shares the directory
        os.replace(temp, path)
        temp = None
        _cache_prune(directory)
    except OSError:
        pass  # not writable (read-only home, full disk): the next start compiles again
    finally:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)


def _cache_prune(directory: str) -> None:
    """Remove the oldest entries beyond :data:`_CACHE_KEEP`, and temporary files an hour old (a
    process killed while writing)."""
    now = time.time()
    entries = []
    with os.scandir(directory) as scan:
        for item in scan:
            with contextlib.suppress(OSError):
                if item.name.startswith(".tmp-") and now - item.stat().st_mtime > 3600:
                    os.unlink(item.path)
                elif item.name.endswith(".npz") and not item.name.startswith("."):
                    entries.append((item.stat().st_mtime, item.path))
    for _, stale in sorted(entries, reverse=True)[_CACHE_KEEP:]:
        with contextlib.suppress(OSError):
            os.unlink(stale)
