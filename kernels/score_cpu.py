"""CPU scoring kernel: the rules of :mod:`.rules` over every document of a token stream.

:func:`score_stream` is the public entry: it checks the stream and the lexicon, allocates the outputs
and runs :func:`_score_chunks`, a ``numba.njit(parallel=True, cache=True, nogil=True)`` kernel that
``prange``-s over chunks of documents and calls the compiled :func:`.rules.score_document` for each.
Documents are independent, so the results do not depend on the thread count or the chunking.

The kernel releases the GIL and keeps no state between calls, so several Python threads may call
:func:`score_stream` at once (with Numba's ``omp`` or ``tbb`` threading layer; ``workqueue`` is not
thread-safe). Inputs are read in place when they already have the contract's dtype and are
C-contiguous (the tokenizer's and the lexicon compiler's arrays do): nothing is copied.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

import numba
import numpy as np

from ..errors import InputError
from . import rules
from .rules import MAX_ASPECTS, N_PARAMS, scratch_size

__all__ = ["ScoreArrays", "checked_stream", "score_stream"]

# Upper bound of documents per chunk (score_stream aims at about 4 chunks per thread).
_MAX_CHUNK = 4096


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


# The rules allocate nothing, so they are compiled without Numba's reference counting (_nrt=False):
# no incref/decref of the ~30 array arguments per document (atomic operations on cache lines shared
# by every thread, 1.5-2x the scoring time when they are left in). error_model="numpy": no
# exception paths. Numba's refcount pruning used to remove them, but it gives up on a function
# this size (llvmlite's refprune subgraph limit), so they are never emitted instead.
RULES_OPTIONS = {"nogil": True, "error_model": "numpy", "_nrt": False}
_score_document = numba.njit(cache=True, **RULES_OPTIONS)(rules.score_document)


_document_aspects = numba.njit(cache=True, **RULES_OPTIONS)(rules.document_aspects)


def _score_chunks(doc_offsets, term_ids, flags, valence, weights, role, modifier,
                  mwe_first, mwe_term, mwe_parts, mwe_words, params,
                  aspect_mask, amwe_first, amwe_parts, amwe_words, amwe_mask, doc_aspects, aspect_offsets,
                  out_valence, out_intensity, out_emotions, out_dominant, out_tokens, out_hits,
                  out_aspect, out_aspect_valence, out_aspect_intensity, out_aspect_emotion,
                  n_scratch, chunk):
    n_docs = out_valence.shape[0]
    n_chunks = (n_docs + chunk - 1) // chunk
    for c in numba.prange(n_chunks):
        # per-sentence emotion (and aspect) sums; Numba hoists this allocation to once per worker's
        # share of the chunks (each worker gets its own array: it is passed to a call, so never shared)
        scratch = np.empty(n_scratch, np.float64)
        lo = c * chunk
        hi = min(lo + chunk, n_docs)
        for d in range(lo, hi):
            _score_document(d, doc_offsets, term_ids, flags, valence, weights, role, modifier,
                            mwe_first, mwe_term, mwe_parts, mwe_words, params,
                            aspect_mask, amwe_first, amwe_parts, amwe_words, amwe_mask, doc_aspects,
                            aspect_offsets, scratch,
                            out_valence, out_intensity, out_emotions, out_dominant, out_tokens,
                            out_hits, out_aspect, out_aspect_valence, out_aspect_intensity,
                            out_aspect_emotion)


def _aspect_chunks(doc_offsets, term_ids, flags, aspect_mask, amwe_first, amwe_parts, amwe_words,
                   amwe_mask, out_doc_aspects, chunk):
    n_docs = out_doc_aspects.shape[0]
    n_chunks = (n_docs + chunk - 1) // chunk
    for c in numba.prange(n_chunks):
        lo = c * chunk
        hi = min(lo + chunk, n_docs)
        for d in range(lo, hi):
            _document_aspects(d, doc_offsets, term_ids, flags, aspect_mask, amwe_first, amwe_parts,
                              amwe_words, amwe_mask, out_doc_aspects)


def _source_digest() -> str:
    try:
        with open(rules.__file__, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()[:16]
    except (OSError, TypeError):
        return "unknown"


# Numba's on-disk cache checks the timestamp of *this* file only, so an edit to rules.py would leave
# a stale kernel in the cache. Naming the cache entry after a digest of rules.py's source gives every
# version of the rules its own entry.
_score_chunks.__qualname__ = f"_score_chunks_{_source_digest()}"
_score_chunks = numba.njit(parallel=True, cache=True, nogil=True, error_model="numpy")(_score_chunks)
_aspect_chunks.__qualname__ = f"_aspect_chunks_{_source_digest()}"
_aspect_chunks = numba.njit(parallel=True, cache=True, nogil=True, error_model="numpy")(_aspect_chunks)


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
    return _readonly(np.ascontiguousarray(array))


def _readonly(array: np.ndarray) -> np.ndarray:
    # One compiled signature for every call: Numba types read-only and writable arrays differently,
    # and the lexicon's arrays are read-only, so every input is passed read-only.
    if array.flags.writeable:
        array = array.view()
        array.flags.writeable = False
    return array


def _lexicon_arrays(lex):
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
    weights = _readonly(np.ascontiguousarray(weights, dtype=np.float32))
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
    for name, array, low, high in (("mwe_first", mwe_first, 0, n_mwe),
                                   ("mwe_term", mwe_term, 0, n_terms - 1),
                                   ("mwe_parts", mwe_parts, 0, mwe_words.shape[0]),
                                   ("mwe_words", mwe_words, 0, n_terms - 1)):
        if array.size and (array.min() < low or array.max() > high):
            bad = array[(array < low) | (array > high)][0]
            raise InputError(f"lexicon {name} holds {bad}, outside [{low}, {high}]")
    return (valence, weights, role, modifier, mwe_first, mwe_term, mwe_parts, mwe_words, params)


_EMPTY = {np.uint64: np.zeros(0, np.uint64), np.int32: np.zeros(0, np.int32)}


def _aspect_arrays(lex, n_terms: int):
    """The lexicon's aspect arrays (``aspect_mask, amwe_first, amwe_parts, amwe_words, amwe_mask``)
    checked; all empty when it has none (a lexicon object without them, or zero aspects)."""
    mask = getattr(lex, "aspect_mask", None)
    if mask is None or np.asarray(mask).size == 0:
        return (_readonly(_EMPTY[np.uint64]), _readonly(_EMPTY[np.int32]), _readonly(_EMPTY[np.int32]),
                _readonly(_EMPTY[np.int32]), _readonly(_EMPTY[np.uint64]))
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
    return mask, first, parts, words, amwe_mask


def checked_stream(doc_offsets, term_ids, flags, n_terms: int):
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
    return offsets, ids, token_flags


def score_stream(doc_offsets, term_ids, flags, lex) -> ScoreArrays:
    """Score every document of a CSR token stream with a compiled lexicon.

    Parameters
    ----------
    doc_offsets : int64[D + 1]
        Document ``d`` is tokens ``doc_offsets[d]:doc_offsets[d + 1]`` (non-decreasing; an empty
        range is a null or empty document). An empty array means no documents.
    term_ids : int32[T]
        Term id of each token, -1 (any negative value) for a word not in the lexicon.
    flags : uint8[T]
        Token flags (``rules.FLAG_*``, see docs/internals.md).
    lex : CompiledLexicon or any object with its arrays
        ``valence, weights, role, modifier, mwe_first, mwe_term, mwe_parts, mwe_words, params``;
        with ``aspect_mask, amwe_first, amwe_parts, amwe_words, amwe_mask`` (non-empty) also the
        aspects of each document (``ScoreArrays.aspect*``, see :mod:`.rules`).

    Returns
    -------
    ScoreArrays
        Newly allocated ``valence``, ``intensity``, ``emotions`` (E × D), ``dominant``, ``tokens``
        and ``hits``, and the aspect CSR (empty without aspect arrays); the rules are documented
        in :mod:`emoscore.kernels.rules`. Aspects cost a second, lighter pass over the tokens
        (each document's aspect mask, to size its output slots) before the scoring pass.

    Raises
    ------
    InputError
        An array has the wrong shape or dtype, the offsets are not a valid CSR index into
        ``term_ids``, a term id is not a term of ``lex``, or ``lex`` is inconsistent.

    Notes
    -----
    Zero-copy: arrays that already have the listed dtype and are C-contiguous are read in place
    (never written). Thread-safe; the work is spread over ``numba.get_num_threads()`` threads.
    """
    lexicon = _lexicon_arrays(lex)
    n_terms = lexicon[0].shape[0]
    n_emo = lexicon[1].shape[1]
    aspect = _aspect_arrays(lex, n_terms)
    offsets, ids, token_flags = checked_stream(doc_offsets, term_ids, flags, n_terms)
    n_docs = max(offsets.shape[0] - 1, 0)

    out = ScoreArrays(             # the kernel writes every element
        valence=np.empty(n_docs, np.float32),
        intensity=np.empty(n_docs, np.float32),
        emotions=np.empty((n_emo, n_docs), np.float32),
        dominant=np.empty(n_docs, np.int16),
        tokens=np.empty(n_docs, np.int32),
        hits=np.empty(n_docs, np.int32),
        aspect_offsets=np.zeros(n_docs + 1, np.int64),
        aspect=np.empty(0, np.int16),
        aspect_valence=np.empty(0, np.float32),
        aspect_intensity=np.empty(0, np.float32),
        aspect_emotion=np.empty(0, np.int16),
    )
    if n_docs == 0:
        return out

    # about 4 chunks per thread (static scheduling), at most _MAX_CHUNK documents each
    chunk = min(max(-(-n_docs // (4 * numba.get_num_threads())), 1), _MAX_CHUNK)
    n_slots = 0
    doc_aspects = _EMPTY[np.uint64]
    if aspect[0].size:
        # count, then fill: each document's aspect mask sizes its output slots
        doc_aspects = np.empty(n_docs, np.uint64)
        _aspect_chunks(offsets, ids, token_flags, *aspect, doc_aspects, chunk)
        counts = np.bitwise_count(doc_aspects)
        np.cumsum(counts, out=out.aspect_offsets[1:])
        n_slots = int(counts.max())
        n_out = int(out.aspect_offsets[-1])
        out = out._replace(aspect=np.empty(n_out, np.int16), aspect_valence=np.empty(n_out, np.float32),
                           aspect_intensity=np.empty(n_out, np.float32),
                           aspect_emotion=np.empty(n_out, np.int16))
    _score_chunks(offsets, ids, token_flags, *lexicon, *aspect, _readonly(doc_aspects),
                  _readonly(out.aspect_offsets), *out[:6], *out[7:],
                  scratch_size(n_emo, min(n_slots, MAX_ASPECTS)), chunk)
    return out
