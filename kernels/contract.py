"""What the kernels take: the arrays every kernel argument must be, checked once for both targets.

Numba compiles a read-only and a writeable array as different types, and Arrow's buffers are
read-only, so every array handed to a kernel is read-only: one compiled signature per kernel.

The scoring kernels of both targets (``score_cpu``, ``score_cuda``) share the rest: the checked token
stream (:class:`TokenStream`, :func:`checked_stream`), the checked lexicon arrays with the tables the
rules derive from them (:class:`LexiconArrays`, :class:`AspectArrays`, :func:`lexicon_arrays`) and
what they return (:class:`ScoreArrays`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import InputError
from .params import N_PARAMS
from .rules import (
    CLASS_CONTRAST,
    CLASS_EXPECTATION,
    CLASS_EXPRESSION,
    CLASS_MODIFIER,
    CLASS_NEGATOR,
    CLASS_SCORES,
    ROLE_CONTRAST,
    ROLE_EXPECTATION,
    ROLE_MODIFIER,
    ROLE_NEGATOR,
    ROLE_NONE,
)

__all__ = ["MAX_BLOCKS", "THREADS_PER_BLOCK", "AspectArrays", "LexiconArrays", "ScoreArrays", "TokenStream",
           "checked_stream", "lexicon_arrays", "readonly"]

# How every CUDA kernel (score_cuda, kpi_cuda) is launched: blocks of THREADS_PER_BLOCK threads, at most
# MAX_BLOCKS of them (a grid-stride loop covers the rest; enough blocks to fill any current GPU).
THREADS_PER_BLOCK = 128
MAX_BLOCKS = 8192


def readonly(array, dtype=None, *, copy: bool = False) -> np.ndarray:
    """``array`` as a C-contiguous, read-only NumPy array of ``dtype`` (default: its own).

    A read-only view where no conversion is needed. ``copy=True`` copies a writeable array first,
    so that no writeable reference to the returned memory stays with the caller (arrays a user
    passed in, which must not change under a compiled lexicon).
    """
    array = np.ascontiguousarray(array, dtype=dtype)
    if array.flags.writeable:
        array = array.copy() if copy else array.view()
        array.setflags(write=False)
    return array


class ScoreArrays(NamedTuple):
    """Per-document scores of a token stream of D documents and E emotions."""

    valence: np.ndarray    #: float32[D], in [-1, 1]
    intensity: np.ndarray  #: float32[D], in [0, 1]
    emotions: np.ndarray   #: float32[E, D], in [0, 1]; row e is emotion e (contiguous)
    dominant: np.ndarray   #: int16[D], emotion index or -1 (neutral)
    tokens: np.ndarray     #: int32[D], tokens of the document
    hits: np.ndarray       #: int32[D], scoring lexicon matches (a multi-word expression counts once)
    # Aspects (CSR over documents; empty, with all-zero offsets, when the lexicon has none):
    # document d's aspects are entries aspect_offsets[d]:aspect_offsets[d+1], in first-mention order.
    aspect_offsets: np.ndarray | None = None    #: int64[D + 1]
    aspect: np.ndarray | None = None            #: int16[K], aspect index
    aspect_valence: np.ndarray | None = None    #: float32[K], in [-1, 1]
    aspect_intensity: np.ndarray | None = None  #: float32[K], in [0, 1]
    aspect_emotion: np.ndarray | None = None    #: int16[K], dominant emotion index or -1 (neutral)


class TokenStream(NamedTuple):
    """A CSR token stream of D documents and T tokens (see docs/internals.md)."""

    doc_offsets: np.ndarray  #: int64[D + 1], document d is tokens doc_offsets[d]:doc_offsets[d+1]
    term_ids: np.ndarray     #: int32[T], term id, -1 for a word not in the lexicon
    flags: np.ndarray        #: uint8[T], rules.FLAG_* bits


class LexiconArrays(NamedTuple):
    """A compiled lexicon's scoring arrays (N terms, E emotions, M expressions), as the rules read them."""

    valence: np.ndarray         #: float32[N]
    weights: np.ndarray         #: float32[N, E]
    role: np.ndarray            #: uint8[N], rules.ROLE_*
    modifier: np.ndarray        #: float32[N]
    mwe_first: np.ndarray       #: int32[N + 1], expressions starting with each term (CSR)
    mwe_term: np.ndarray        #: int32[M], the term each expression acts as
    mwe_parts: np.ndarray       #: int32[M + 1], its words (CSR into mwe_words)
    mwe_words: np.ndarray       #: int32[...]
    params: np.ndarray          #: float32[>= N_PARAMS]
    # derived here, not stored in the lexicon:
    term_class: np.ndarray      #: uint8[N + 1], rules.CLASS_* bits (the last: an unknown word, 0)
    emotion_first: np.ndarray   #: int32[N + 1], each term's non-zero weights (CSR) ...
    emotion_index: np.ndarray   #: int32[...], ... their emotions ...
    emotion_weight: np.ndarray  #: float32[...], ... and values
    mwe_next: np.ndarray        #: uint64[N], second words of each term's expressions (see next_words)


class AspectArrays(NamedTuple):
    """A compiled lexicon's aspect arrays (all empty: aspects off)."""

    aspect_mask: np.ndarray  #: uint64[N], aspects of each term (bit a = aspect a)
    amwe_first: np.ndarray   #: int32[N + 1], aspect expressions starting with each term (CSR)
    amwe_parts: np.ndarray   #: int32[K + 1], their words (CSR into amwe_words)
    amwe_words: np.ndarray   #: int32[...]
    amwe_mask: np.ndarray    #: uint64[K], aspects of each expression (0: a blocker)
    # derived for the rules
    amwe_next: np.ndarray    #: uint64[N], second words of each term's aspect expressions (see next_words)


_ROLE_CLASS = {ROLE_NEGATOR: CLASS_NEGATOR, ROLE_MODIFIER: CLASS_MODIFIER, ROLE_CONTRAST: CLASS_CONTRAST,
               ROLE_EXPECTATION: CLASS_EXPECTATION}


def next_words(first, parts, words) -> np.ndarray:
    """For each term, a 64-bit set of the second words of the expressions it starts (bit ``id % 64``;
    every bit when one of them has a single word): the rules try the candidates only when the next
    token's bit is set, so a first word followed by anything else costs one test."""
    n_terms = first.shape[0] - 1
    owner = np.repeat(np.arange(n_terms), np.diff(first))   # the first word of each expression
    n_words = np.diff(parts)
    bits = np.full(owner.shape[0], np.iinfo(np.uint64).max, np.uint64)
    longer = n_words >= 2
    bits[longer] = np.left_shift(np.uint64(1), (words[parts[:-1][longer] + 1] % 64).astype(np.uint64))
    table = np.zeros(n_terms, np.uint64)
    np.bitwise_or.at(table, owner, bits)
    return readonly(table)


def _rule_tables(valence, weights, role, mwe_first, mwe_parts, mwe_words):
    """The term classes, the sparse emotion weights (CSR of the non-zero ones) and the expressions'
    second-word sets the rules read."""
    term_class = np.zeros(valence.shape[0] + 1, np.uint8)   # the last: an unknown word's (id -1)
    scores = (role == ROLE_NONE) & ((valence != 0) | (weights > 0).any(axis=1))
    term_class[:-1][scores] |= CLASS_SCORES
    for value, bit in _ROLE_CLASS.items():
        term_class[:-1][role == value] |= bit
    term_class[:-1][np.diff(mwe_first) > 0] |= CLASS_EXPRESSION
    rows, emotions = np.nonzero(weights)
    emotion_first = np.zeros(valence.shape[0] + 1, np.int32)
    np.cumsum(np.bincount(rows, minlength=valence.shape[0]), out=emotion_first[1:])
    return (readonly(term_class), readonly(emotion_first), readonly(emotions.astype(np.int32)),
            readonly(weights[rows, emotions]), next_words(mwe_first, mwe_parts, mwe_words))


def _stream_array(value, name: str, dtype, kind: str) -> np.ndarray:
    """``value`` as a C-contiguous, read-only 1-D array of ``dtype`` (no copy when it is one)."""
    array = np.asarray(value)
    if array.ndim != 1:
        raise InputError(f"{name} must be 1-dimensional, got shape {array.shape}")
    if array.dtype != dtype:
        if array.dtype.kind not in kind and array.size:
            raise InputError(f"{name} must hold {np.dtype(dtype)} values, got dtype {array.dtype}")
        if np.dtype(dtype).kind in "iu" and array.size:
            bounds = np.iinfo(dtype)
            if array.min() < bounds.min or array.max() > bounds.max:
                raise InputError(f"{name} holds values outside the range of {np.dtype(dtype)}")
        array = array.astype(dtype)
    return readonly(array)


def lexicon_arrays(lex) -> tuple[LexiconArrays, AspectArrays]:
    """The lexicon's scoring and aspect arrays as contract dtypes, their shapes and index ranges
    checked, with the tables the rules derive from them."""
    try:
        raw = {name: getattr(lex, name) for name in (
            "valence", "weights", "role", "modifier", "mwe_first", "mwe_term", "mwe_parts",
            "mwe_words", "params")}
    except AttributeError as exc:
        raise InputError(f"lexicon {type(lex).__name__} lacks a CompiledLexicon array: {exc}") from None
    valence = _stream_array(raw["valence"], "lexicon valence", np.float32, "fiu")
    n_terms = valence.shape[0]
    weights = np.asarray(raw["weights"])
    if weights.ndim != 2 or weights.shape[0] != n_terms:
        raise InputError(f"lexicon weights must have shape ({n_terms}, E), got {weights.shape}")
    weights = readonly(weights, np.float32)
    role = _stream_array(raw["role"], "lexicon role", np.uint8, "iu")
    modifier = _stream_array(raw["modifier"], "lexicon modifier", np.float32, "fiu")
    mwe_first = _stream_array(raw["mwe_first"], "lexicon mwe_first", np.int32, "iu")
    mwe_term = _stream_array(raw["mwe_term"], "lexicon mwe_term", np.int32, "iu")
    mwe_parts = _stream_array(raw["mwe_parts"], "lexicon mwe_parts", np.int32, "iu")
    mwe_words = _stream_array(raw["mwe_words"], "lexicon mwe_words", np.int32, "iu")
    params = _stream_array(raw["params"], "lexicon params", np.float32, "fiu")
    n_mwe = mwe_term.shape[0]
    for name, array, size in (("role", role, n_terms), ("modifier", modifier, n_terms),
                              ("mwe_first", mwe_first, n_terms + 1),
                              ("mwe_parts", mwe_parts, n_mwe + 1)):
        if array.shape[0] != size:
            raise InputError(f"lexicon {name} must have {size} entries, got {array.shape[0]}")
    if params.shape[0] < N_PARAMS:
        raise InputError(f"lexicon params must have at least {N_PARAMS} entries, got {params.shape[0]}")
    # index ranges the kernel relies on (small arrays: M + N, not the token stream)
    for name, array, low, high in (("role", role, ROLE_NONE, ROLE_EXPECTATION), ("mwe_first", mwe_first, 0, n_mwe),
                                   ("mwe_term", mwe_term, 0, n_terms - 1),
                                   ("mwe_parts", mwe_parts, 0, mwe_words.shape[0]),
                                   ("mwe_words", mwe_words, 0, n_terms - 1)):
        if array.size and (array.min() < low or array.max() > high):
            bad = array[(array < low) | (array > high)][0]
            raise InputError(f"lexicon {name} holds {bad}, outside [{low}, {high}]")
    aspects = _aspect_arrays(lex, n_terms)
    return LexiconArrays(valence, weights, role, modifier, mwe_first, mwe_term, mwe_parts, mwe_words, params,
                         *_rule_tables(valence, weights, role, mwe_first, mwe_parts, mwe_words)), aspects


_EMPTY = {np.uint64: np.zeros(0, np.uint64), np.int32: np.zeros(0, np.int32)}


def _aspect_arrays(lex, n_terms: int) -> AspectArrays:
    """The lexicon's aspect arrays (``aspect_mask, amwe_first, amwe_parts, amwe_words, amwe_mask``)
    checked; all empty when it has none (a lexicon object without them, or zero aspects)."""
    mask = getattr(lex, "aspect_mask", None)
    if mask is None or np.asarray(mask).size == 0:
        return AspectArrays(readonly(_EMPTY[np.uint64]), readonly(_EMPTY[np.int32]), readonly(_EMPTY[np.int32]),
                            readonly(_EMPTY[np.int32]), readonly(_EMPTY[np.uint64]), readonly(_EMPTY[np.uint64]))
    try:
        raw = [getattr(lex, name) for name in ("amwe_first", "amwe_parts", "amwe_words", "amwe_mask")]
    except AttributeError as exc:
        raise InputError(f"lexicon {type(lex).__name__} has aspect_mask but lacks an aspect array: {exc}") from None
    mask = _stream_array(mask, "lexicon aspect_mask", np.uint64, "iu")
    first = _stream_array(raw[0], "lexicon amwe_first", np.int32, "iu")
    parts = _stream_array(raw[1], "lexicon amwe_parts", np.int32, "iu")
    words = _stream_array(raw[2], "lexicon amwe_words", np.int32, "iu")
    amwe_mask = _stream_array(raw[3], "lexicon amwe_mask", np.uint64, "iu")
    n_amwe = amwe_mask.shape[0]
    for name, array, size in (("aspect_mask", mask, n_terms), ("amwe_first", first, n_terms + 1),
                              ("amwe_parts", parts, n_amwe + 1)):
        if array.shape[0] != size:
            raise InputError(f"lexicon {name} must have {size} entries, got {array.shape[0]}")
    for name, array, low, high in (("amwe_first", first, 0, n_amwe), ("amwe_parts", parts, 0, words.shape[0]),
                                   ("amwe_words", words, 0, n_terms - 1)):
        if array.size and (array.min() < low or array.max() > high):
            bad = array[(array < low) | (array > high)][0]
            raise InputError(f"lexicon {name} holds {bad}, outside [{low}, {high}]")
    return AspectArrays(mask, first, parts, words, amwe_mask, next_words(first, parts, words))


def checked_stream(doc_offsets, term_ids, flags, n_terms: int) -> TokenStream:
    """The token stream as contract dtypes, checked before any kernel reads them: the
    kernels trust offsets and ids, so a bad one would read outside the (device) buffers."""
    offsets = _stream_array(doc_offsets, "doc_offsets", np.int64, "iu")
    ids = _stream_array(term_ids, "term_ids", np.int32, "iu")
    token_flags = _stream_array(flags, "flags", np.uint8, "iu")
    n_tokens = ids.shape[0]
    if token_flags.shape[0] != n_tokens:
        raise InputError(f"flags has {token_flags.shape[0]} entries but term_ids has {n_tokens}")
    if offsets.shape[0] > 1:
        if offsets[0] < 0 or offsets[-1] > n_tokens:
            raise InputError(
                f"doc_offsets run from {offsets[0]} to {offsets[-1]}, outside the {n_tokens} tokens")
        backwards = np.flatnonzero(offsets[1:] < offsets[:-1])
        if backwards.size:
            d = int(backwards[0])
            raise InputError(f"doc_offsets decrease at document {d}: {offsets[d]} then {offsets[d + 1]}")
        if n_tokens and ids.max() >= n_terms:
            pos = int(np.argmax(ids >= n_terms))
            raise InputError(f"term_ids[{pos}] = {ids[pos]} is not a term of the lexicon ({n_terms} terms)")
    return TokenStream(offsets, ids, token_flags)
