"""CPU kernels of the language detector (:mod:`emoscore.language`): per-document language scores.

Two passes, both ``numba.njit(parallel=True, cache=True, nogil=True)`` over documents:

* :func:`cue_scores` reads a document's UTF-8 bytes once and adds, for each listed byte pair (a
  two-byte character such as "ß", or two ASCII letters such as "ij"), that pair's weight per language;
* :func:`detect_stream` reads a document's tokens once (the tokenizer's CSR stream), adds each listed
  term's weight per language, adds the document's character cues and decides: the best language's
  index, or -1 (``und``) when the evidence is below ``min_evidence``, the best two are less than
  ``margin`` apart, or a document of at least :data:`COVERAGE_MIN_TOKENS` word tokens has fewer than
  ``min_coverage`` of them listed.

Documents are independent: the results do not depend on the thread count or the chunking. Inputs are
trusted (``emoscore.language`` checks them); ``tests/test_language.py`` restates both in plain Python.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["COVERAGE_MIN_TOKENS", "FLAG_EMOJI", "cue_scores", "detect_stream"]

FLAG_EMOJI = 8  # the tokenizer's emoji flag (kernels/rules.py): emoji tokens are not words
COVERAGE_MIN_TOKENS = 6  # the coverage rule applies from this many word tokens on
_CHUNK = 2048  # documents per parallel work item


@numba.njit(parallel=True, cache=True, nogil=True)
def _cue_chunks(offsets, data, lead, pair_index, cue_weights, out):
    n_docs = out.shape[0]
    n_lang = out.shape[1]
    n_chunks = (n_docs + _CHUNK - 1) // _CHUNK
    for c in numba.prange(n_chunks):
        for d in range(c * _CHUNK, min((c + 1) * _CHUNK, n_docs)):
            for i in range(offsets[d], offsets[d + 1] - 1):
                b = data[i]
                if lead[b]:
                    k = pair_index[(np.int64(b) << 8) | data[i + 1]]
                    if k >= 0:
                        for lang in range(n_lang):
                            out[d, lang] += cue_weights[k, lang]


def cue_scores(offsets, data, lead, pair_index, cue_weights):
    """float32[D, L]: each document's character-cue score per language.

    ``offsets`` int64[D+1] into ``data`` uint8 (a document's bytes are ``data[offsets[d]:offsets[d+1]]``);
    ``lead`` uint8[256] (non-zero: some listed pair starts with this byte), ``pair_index`` int16[65536]
    (``(first << 8) | second`` -> cue row or -1), ``cue_weights`` float32[K, L].
    """
    out = np.zeros((offsets.shape[0] - 1, cue_weights.shape[1]), np.float32)
    _cue_chunks(offsets, data, lead, pair_index, cue_weights, out)
    return out


@numba.njit(parallel=True, cache=True, nogil=True)
def _detect_chunks(doc_offsets, term_ids, flags, term_weights, listed, cues, min_evidence, margin,
                   min_coverage, out):
    n_docs = out.shape[0]
    n_lang = term_weights.shape[1]
    n_chunks = (n_docs + _CHUNK - 1) // _CHUNK
    for c in numba.prange(n_chunks):
        score = np.empty(n_lang, np.float32)
        for d in range(c * _CHUNK, min((c + 1) * _CHUNK, n_docs)):
            for lang in range(n_lang):
                score[lang] = cues[d, lang]
            words = 0
            hits = 0
            for t in range(doc_offsets[d], doc_offsets[d + 1]):
                if (flags[t] & FLAG_EMOJI) == 0:
                    words += 1
                tid = term_ids[t]
                if tid >= 0 and listed[tid]:
                    hits += 1
                    for lang in range(n_lang):
                        score[lang] += term_weights[tid, lang]
            best = 0
            for lang in range(1, n_lang):
                if score[lang] > score[best]:
                    best = lang
            second = np.float32(0.0)
            for lang in range(n_lang):
                if lang != best and score[lang] > second:
                    second = score[lang]
            top = score[best]
            if top < min_evidence or top - second < margin:
                out[d] = -1
            elif words >= COVERAGE_MIN_TOKENS and hits < min_coverage * words:
                out[d] = -1
            else:
                out[d] = best


def detect_stream(doc_offsets, term_ids, flags, term_weights, listed, cues, min_evidence, margin, min_coverage):
    """int8[D]: each document's language index (into the table's languages), or -1 for ``und``.

    ``doc_offsets`` int64[D+1], ``term_ids`` int32[T], ``flags`` uint8[T] (the tokenizer's stream);
    ``term_weights`` float32[N, L] and ``listed`` uint8[N] (non-zero: the term has a language weight)
    indexed by term id; ``cues`` float32[D, L] (:func:`cue_scores`, or zeros).
    """
    out = np.empty(doc_offsets.shape[0] - 1, np.int8)
    _detect_chunks(doc_offsets, term_ids, flags, term_weights, listed, cues, np.float32(min_evidence),
                   np.float32(margin), np.float32(min_coverage), out)
    return out
