"""Compilation of a lexicon into flat arrays: :class:`CompiledLexicon` and :func:`compile_lexicon`.

The arrays are what the tokenizer and the scoring kernels take as arguments (layout in
``docs/internals.md``). Hashing and hash-table building are done by :mod:`emoscore._tokenize` only,
so a term is looked up exactly as the tokenizer reads it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .._tokenize import build_table, fnv1a64, stem_key
from ..errors import LexiconError
from ..kernels import params as rule_params
from ..kernels import rules
from ..kernels.contract import readonly
from ._terms import MAX_STEM_BYTES, MWE, STEM, WORD

if TYPE_CHECKING:
    from ..aspects import AspectLexicon
    from .entry import Entry

__all__ = ["ARRAY_DTYPES", "CompiledLexicon", "compile_lexicon"]

# What a fingerprint digests first: it tags the fingerprint scheme. Its value is the first line of the
# lexicon text format, version 1, and stays so if the file format changes: a new value would change
# every fingerprint without any change in scoring.
_FINGERPRINT_TAG = "#!emoscore-lexicon 1"


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
            object.__setattr__(self, name, readonly(np.zeros(0, dtype) if value is None else value, dtype, copy=True))
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


#: The dtype of each array of a :class:`CompiledLexicon` (the kernels' contract).
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


def _stem_of(word: bytes, stems: Mapping[bytes, int]) -> int | None:
    """The id of the longest stem that matches ``word`` as the tokenizer tries them, if any."""
    for length in range(min(len(word), MAX_STEM_BYTES), 0, -1):
        found = stems.get(word[:length])
        if found is not None:
            return found
    return None


def _expressions_csr(expressions: list[tuple[tuple[int, ...], int]], n_terms: int,
                     value_dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Multi-word expressions, given as (term ids of their words, value) pairs, in CSR form by first word.

    Returns ``first`` (``n_terms + 1`` offsets: the expressions that start with term ``t`` are
    ``first[t]:first[t + 1]``, the longest first), ``parts`` (offsets of each expression's words in
    ``words``), ``words`` (term ids) and ``values`` (of ``value_dtype``, in the same order). Used for the
    emotion expressions (value: the expression's term id) and the aspect ones (value: its aspect mask).
    """
    ordered = sorted(expressions, key=lambda item: (item[0][0], -len(item[0]), item[0]))
    counts = np.zeros(n_terms + 1, np.int64)
    for ids, _ in ordered:
        counts[ids[0] + 1] += 1
    parts = np.zeros(len(ordered) + 1, np.int64)
    parts[1:] = np.cumsum([len(ids) for ids, _ in ordered])
    words = np.array([w for ids, _ in ordered for w in ids], np.int32)
    values = np.array([value for _, value in ordered], value_dtype)
    return np.cumsum(counts), parts, words, values


class Compilable(Protocol):
    """What the compiler reads of a lexicon (an :class:`emoscore.Lexicon`); stated here so that the
    compiler need not import the model, which imports the compiler."""

    @property
    def name(self) -> str: ...

    @property
    def entries(self) -> tuple: ...

    @property
    def folded_keys(self) -> tuple[tuple, ...]: ...

    @property
    def emotions(self) -> tuple[str, ...]: ...

    def resolved_params(self) -> dict[str, float]: ...


def compile_lexicon(lexicon: Compilable, aspect_lexicon: AspectLexicon | None = None,
                    extra_words: tuple[bytes, ...] = ()) -> CompiledLexicon:
    """The flat arrays of ``lexicon``, with the terms and arrays of ``aspect_lexicon`` when given
    (what :meth:`Lexicon.compile <emoscore.Lexicon.compile>` returns and caches), and ``extra_words`` (folded
    bytes) in the table as terms of their own that score nothing (the language detector's words)."""
    emotions = lexicon.emotions
    column = {name: i for i, name in enumerate(emotions)}
    by_key = dict(zip(lexicon.folded_keys, lexicon.entries, strict=True))
    # aspect terms share the table (one tokenizer pass); their expressions are kept apart
    aspect_of = {} if aspect_lexicon is None else dict(zip(aspect_lexicon.folded_keys, aspect_lexicon.entries,
                                                           strict=True))

    # Canonical id order (words, then stems, then expressions, each sorted by folded bytes), so the
    # arrays and the fingerprint do not depend on the order of the entries.
    words = {key[1] for key in by_key if key[0] == WORD} | {key[1] for key in aspect_of if key[0] == WORD}
    words |= set(extra_words)
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
        "expectation": rules.ROLE_EXPECTATION,
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
    for i, word in enumerate(word_list + stem_list):
        if i < n_words:
            h = int(fnv1a64(word))
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
        table_keys, table_ids = build_table(
            np.ascontiguousarray(hashes[:n_single]), np.arange(n_single, dtype=np.int32)
        )
    except ValueError as exc:
        raise LexiconError(f"{lexicon.name or 'lexicon'}: cannot build the hash table: {exc}") from None

    # Multi-word expressions in CSR form by first word; each stands for its own term id.
    word_ids = {word: i for i, word in enumerate(word_list)}
    mwe_first, mwe_parts, mwe_words, mwe_term = _expressions_csr(
        [(tuple(word_ids[w] for w in parts), n_single + m) for m, parts in enumerate(mwes)], n, np.int32)

    params = np.zeros(rule_params.N_PARAMS, np.float32)
    for name, value in lexicon.resolved_params().items():
        params[rule_params.PARAM_NAMES.index(name)] = value

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
    arrays = {name: readonly(array, ARRAY_DTYPES[name]) for name, array in arrays.items()}
    # The fingerprint covers everything that scoring reads: the taxonomy, each term id's table key
    # (0 for expressions), the per-term arrays, the expressions and the parameters (and the aspects).
    digest = hashlib.sha256()
    digest.update(f"{_FINGERPRINT_TAG}\0{' '.join(emotions)}\0".encode())
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
    # the aspect expressions in CSR form by first word; each stands for its aspect mask
    word_ids = {word: i for i, word in enumerate(word_list)}
    amwe_first, amwe_parts, amwe_words, amwe_mask = _expressions_csr(
        [(tuple(word_ids[w] for w in parts), mask_of(aspect_of[(MWE, parts)])) for parts in aspect_mwes], n,
        np.uint64)
    return {"aspect_mask": aspect_mask, "amwe_first": amwe_first, "amwe_parts": amwe_parts, "amwe_words": amwe_words,
            "amwe_mask": amwe_mask}
