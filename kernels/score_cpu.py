"""CPU scoring kernel: the rules of :mod:`.rules` over every document of a token stream.

:func:`score_stream` is the public entry: it checks the stream and the lexicon, allocates the outputs
and runs :func:`_score_chunks`, a ``numba.njit(parallel=True, cache=True, nogil=True)`` kernel that
``prange``-s over chunks of documents and calls the compiled :func:`.rules.score_document` for each.
Documents are independent, so the results do not depend on the thread count or the chunking.
The first call of a process compiles (or loads) the kernels in a background thread and scores small
batches with the interpreted rules meanwhile (see "the first use" below).

The kernel releases the GIL and keeps no state between calls, so several Python threads may call
:func:`score_stream` at once (with Numba's ``omp`` or ``tbb`` threading layer; ``workqueue`` is not
thread-safe). Inputs are read in place when they already have the contract's dtype and are
C-contiguous (the tokenizer's and the lexicon compiler's arrays do): nothing is copied.
"""

from __future__ import annotations

import hashlib
import os
import threading
from types import FunctionType

import numba
import numpy as np

from . import evidence_rules, normalise, params, rules
from .contract import ScoreArrays, checked_stream, lexicon_arrays, readonly
from .evidence_rules import Evidence
from .rules import MAX_ASPECTS, scratch_size

__all__ = ["Evidence", "ScoreArrays", "explain_stream", "kernels_ready", "score_stream", "wait_for_kernels"]

# Upper bound of documents per chunk (score_stream aims at about 4 chunks per thread).
_MAX_CHUNK = 4096


# The rules allocate nothing, so they are compiled without Numba's reference counting (_nrt=False):
# no incref/decref of the ~30 arrays of their named tuples per document (atomic operations on cache
# lines shared by every thread, 1.5-2x the scoring time when they are left in). error_model="numpy":
# no exception paths. Numba's refcount pruning used to remove them, but it gives up on a function
# this size (llvmlite's refprune subgraph limit), so they are never emitted instead. The rule
# helpers are inlined (Numba IR), so the steps of the rules cost no call. rules_for_cpu is the
# rules as this target compiles them (tests inspect its IR).
RULES_OPTIONS = {"nogil": True, "error_model": "numpy", "_nrt": False}
rules_for_cpu = rules.for_target(numba.njit(inline="always", **RULES_OPTIONS))
_score_document = numba.njit(inline="always", **RULES_OPTIONS)(rules_for_cpu.score_document)
_document_aspects = numba.njit(inline="always", **RULES_OPTIONS)(rules_for_cpu.document_aspects)
# The same rules recording explanations (rules.EXPLAIN): a kernel of its own, compiled on first use, so
# scoring without them runs exactly the code above.
_explain_document = numba.njit(inline="always", **RULES_OPTIONS)(
    rules.for_target(numba.njit(inline="always", **RULES_OPTIONS), explain=True).score_document)


# The document loops are compiled functions of their own, called once per chunk: a call passes the
# named tuples' ~30 arrays as some 200 scalar arguments, too many to pay per document. ``ev``: None,
# or the explain kernels' rules.Evidence.
def _score_range(lo, hi, stream, lex, aspects, doc_aspects, scratch, out, ev):
    for d in range(lo, hi):
        _score_document(d, stream, lex, aspects, doc_aspects, scratch, out, ev)


def _aspect_range(lo, hi, stream, lex, aspects, out_doc_aspects):
    for d in range(lo, hi):
        _document_aspects(d, stream, lex, aspects, out_doc_aspects)


def _score_chunks(stream, lex, aspects, doc_aspects, out, ev, n_scratch, chunk):
    n_docs = out.valence.shape[0]
    n_chunks = (n_docs + chunk - 1) // chunk
    for c in numba.prange(n_chunks):
        # per-sentence emotion (and aspect) sums; Numba hoists this allocation to once per worker's
        # share of the chunks (each worker gets its own array: it is passed to a call, so never shared)
        scratch = np.empty(n_scratch, np.float64)
        lo = c * chunk
        _score_range(lo, min(lo + chunk, n_docs), stream, lex, aspects, doc_aspects, scratch, out, ev)


def _aspect_chunks(stream, lex, aspects, out_doc_aspects, chunk):
    n_docs = out_doc_aspects.shape[0]
    n_chunks = (n_docs + chunk - 1) // chunk
    for c in numba.prange(n_chunks):
        lo = c * chunk
        _aspect_range(lo, min(lo + chunk, n_docs), stream, lex, aspects, out_doc_aspects)


def _source_digest() -> str:
    """A digest of the rules' source: rules.py and the modules its helpers come from."""
    digest = hashlib.sha256()
    try:
        for module in (rules, params, evidence_rules, normalise):
            with open(module.__file__, "rb") as fh:
                digest.update(fh.read())
    except (OSError, TypeError):
        return "unknown"
    return digest.hexdigest()[:16]


def _with_globals(function, **names):
    """A copy of ``function`` that reads ``names`` instead of its module's globals of those names."""
    rebound = FunctionType(function.__code__, {**function.__globals__, **names}, function.__name__)
    rebound.__qualname__ = function.__qualname__
    return rebound


# Numba's on-disk cache checks the timestamp of *this* file only, so an edit to the rules would leave
# stale kernels in the cache. Naming the cache entry after a digest of the rules' source gives every
# version of the rules its own entry. The explain loops are the same source over _explain_document.
_explain_range = _with_globals(_score_range, _score_document=_explain_document)
_explain_range.__qualname__ = f"_explain_range_{_source_digest()}"
_explain_range = numba.njit(cache=True, **RULES_OPTIONS)(_explain_range)
_explain_chunks = _with_globals(_score_chunks, _score_range=_explain_range)
_explain_chunks.__qualname__ = f"_explain_chunks_{_source_digest()}"
_explain_chunks = numba.njit(parallel=True, cache=True, nogil=True, error_model="numpy")(_explain_chunks)
_score_range.__qualname__ = f"_score_range_{_source_digest()}"
_score_range = numba.njit(cache=True, **RULES_OPTIONS)(_score_range)
_aspect_range.__qualname__ = f"_aspect_range_{_source_digest()}"
_aspect_range = numba.njit(cache=True, **RULES_OPTIONS)(_aspect_range)
_score_chunks.__qualname__ = f"_score_chunks_{_source_digest()}"
_score_chunks = numba.njit(parallel=True, cache=True, nogil=True, error_model="numpy")(_score_chunks)
_aspect_chunks.__qualname__ = f"_aspect_chunks_{_source_digest()}"
_aspect_chunks = numba.njit(parallel=True, cache=True, nogil=True, error_model="numpy")(_aspect_chunks)


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
    lexicon, aspects = lexicon_arrays(lex)
    stream = checked_stream(doc_offsets, term_ids, flags, lexicon.valence.shape[0])
    n_docs = max(stream.doc_offsets.shape[0] - 1, 0)
    if n_docs > _INTERPRETED_MAX_DOCS or (n_docs > 0 and _kernels_ready(stream, lexicon, aspects)):
        out = _run(stream, lexicon, aspects, compiled=True)
        _compiled.set()     # (compiled here when a large batch came first)
        return out
    return _run(stream, lexicon, aspects, compiled=False)


def explain_stream(doc_offsets, term_ids, flags, lex) -> tuple[ScoreArrays, Evidence]:
    """:func:`score_stream`'s scores and, from the same pass of the rules, each document's evidence
    (:class:`.rules.Evidence`: one element per scoring unit and per rule word, with its contributions).

    Takes and checks what :func:`score_stream` does; always runs the compiled explain kernel (its first
    use in a process compiles it, or loads it from Numba's cache).
    """
    lexicon, aspects = lexicon_arrays(lex)
    stream = checked_stream(doc_offsets, term_ids, flags, lexicon.valence.shape[0])
    n_docs = max(stream.doc_offsets.shape[0] - 1, 0)
    n_tokens = stream.term_ids.shape[0]
    # Sized by tokens (a document's elements start at its first token) but touched only where written:
    # narrow types, since first touches of these pages are most of what explaining costs the kernel.
    position = np.int32 if n_tokens < 2**31 else np.int64
    ev = Evidence(count=np.zeros(n_docs, np.int32), first=np.empty(n_tokens, position),
                  last=np.empty(n_tokens, position), term=np.empty(n_tokens, np.int32),
                  valence=np.empty(n_tokens, np.float32), emotion_mult=np.empty(n_tokens, np.float32),
                  transfer=np.empty(n_tokens, np.float32), target=np.empty(n_tokens, np.int16),
                  rules=np.empty(n_tokens, np.uint16), aspects=np.empty(n_tokens, np.uint64))
    return _run(stream, lexicon, aspects, compiled=True, ev=ev), ev


def _new_outputs(n_docs: int, n_emo: int) -> ScoreArrays:
    """The outputs of ``n_docs`` documents, before the aspect slots are counted."""
    return ScoreArrays(             # the kernel writes every element
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


def _run(stream, lexicon, aspects, *, compiled: bool, ev: Evidence | None = None) -> ScoreArrays:
    """Allocate the outputs and run both passes, compiled or (``compiled=False``) interpreted; with
    ``ev``, the explain kernel (compiled) records evidence there."""
    n_emo = lexicon.weights.shape[1]
    n_docs = max(stream.doc_offsets.shape[0] - 1, 0)
    out = _new_outputs(n_docs, n_emo)
    if n_docs == 0:
        return out

    # about 4 chunks per thread (static scheduling), at most _MAX_CHUNK documents each
    chunk = min(max(-(-n_docs // (4 * numba.get_num_threads())), 1), _MAX_CHUNK)
    n_slots = 0
    doc_aspects = np.empty(0, np.uint64)
    if aspects.aspect_mask.size:
        # count, then fill: each document's aspect mask sizes its output slots
        doc_aspects = np.empty(n_docs, np.uint64)
        if compiled:
            _aspect_chunks(stream, lexicon, aspects, doc_aspects, chunk)
        else:
            for d in range(n_docs):
                rules.document_aspects(d, stream, lexicon, aspects, doc_aspects)
        counts = np.bitwise_count(doc_aspects)
        np.cumsum(counts, out=out.aspect_offsets[1:])
        n_slots = int(counts.max())
        n_out = int(out.aspect_offsets[-1])
        out = out._replace(aspect=np.empty(n_out, np.int16), aspect_valence=np.empty(n_out, np.float32),
                           aspect_intensity=np.empty(n_out, np.float32),
                           aspect_emotion=np.empty(n_out, np.int16))
    arguments, kernel_out = _score_arguments(stream, lexicon, aspects, doc_aspects, out)
    n_scratch = scratch_size(n_emo, min(n_slots, MAX_ASPECTS))
    if ev is not None:
        _explain_chunks(*arguments, kernel_out, ev, n_scratch, chunk)
    elif compiled:
        _score_chunks(*arguments, kernel_out, None, n_scratch, chunk)
    else:
        scratch = np.empty(n_scratch, np.float64)
        for d in range(n_docs):
            rules.score_document(d, *arguments, scratch, kernel_out, None)
    return out


def _score_arguments(stream, lexicon, aspects, doc_aspects, out):
    """The scoring pass's arguments before the scratch, and its outputs: the documents' aspect masks
    and slot offsets as read-only arrays, as every caller passes them (one compiled signature)."""
    return (stream, lexicon, aspects, readonly(doc_aspects)), out._replace(aspect_offsets=readonly(out.aspect_offsets))


# ---- the first use ----------------------------------------------------------------------------------
# Compiling the two kernels takes ~10 s with an empty Numba cache (mostly Numba's own passes over the
# rules), once per machine: the cache keeps them. So that a first small request does not wait for it,
# the first call of a process starts compiling (or loading from the cache) in a background thread and,
# until that has finished, batches of at most _INTERPRETED_MAX_DOCS documents are scored by the same
# rules run by the Python interpreter (bit-identical to the compiled kernel, tests/test_kernels.py;
# ~0.2 ms per document). Larger batches wait for the compile. The thread only compiles (it never runs
# a kernel, nor reads the caller's arrays); it is not a daemon, so a short-lived process still caches
# the kernels at exit, and a fork waits for it (a child would inherit Numba's compile lock held by a
# thread it does not have).
_INTERPRETED_MAX_DOCS = 256
_compile_lock = threading.Lock()
_compile_thread: threading.Thread | None = None
_compiled = threading.Event()


def kernels_ready() -> bool:
    """Whether the compiled kernels are in use (False until the first batch's compile has finished)."""
    return _compiled.is_set()


def wait_for_kernels(timeout: float | None = None) -> bool:
    """Wait until the background compile started by the first call has finished (at once when none
    was started): whether the compiled kernels are ready."""
    with _compile_lock:
        thread = _compile_thread
    if thread is not None:
        thread.join(timeout)
    return _compiled.is_set()


def _kernels_ready(stream, lexicon, aspects) -> bool:
    """:func:`kernels_ready`; the first call starts compiling the kernels in a background thread, for
    the argument types of this call (the contract's: every call has the same)."""
    global _compile_thread
    if _compiled.is_set():
        return True
    with _compile_lock:
        if _compile_thread is None:
            _compile_thread = threading.Thread(target=_compile_kernels, name="emoscore-compile",
                                               args=_kernel_signatures(stream, lexicon, aspects))
            _compile_thread.start()
    return _compiled.is_set()


def _kernel_signatures(stream, lexicon, aspects) -> tuple[tuple | None, tuple]:
    """The argument types :func:`_run` passes the aspect kernel (None: the lexicon has no aspects)
    and the scoring kernel, from the types of this call's arrays (the sizes are ints)."""
    doc_aspects = np.empty(0, np.uint64)
    arguments, kernel_out = _score_arguments(stream, lexicon, aspects, doc_aspects,
                                             _new_outputs(0, lexicon.weights.shape[1]))
    aspect_signature = None
    if aspects.aspect_mask.size:
        aspect_signature = tuple(numba.typeof(a) for a in (stream, lexicon, aspects, doc_aspects, 1))
    return aspect_signature, tuple(numba.typeof(a) for a in (*arguments, kernel_out, None, 1, 1))


def _compile_kernels(aspect_signature, score_signature) -> None:
    try:
        if aspect_signature is not None:
            _aspect_chunks.compile(aspect_signature)   # compiled, or loaded from the cache
        _score_chunks.compile(score_signature)
    except Exception:   # noqa: BLE001 -- the next call then compiles in its own thread and raises there
        pass
    finally:
        _compiled.set()


os.register_at_fork(before=wait_for_kernels)
