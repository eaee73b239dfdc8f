"""CPU kernels of the language detector (:mod:`emoscore.language`): per-document language scores.

Two passes, both ``numba.njit(parallel=True, cache=True, nogil=True)`` over documents:

* :func:`cue_scores` reads the documents' UTF-8 bytes once and adds, for each listed byte pair (a
  two-byte character such as "ß", or two ASCII letters), that pair's weight per language; when no
  pair starts with an ASCII byte it skips aligned 8-byte words of ASCII text at once;
* :func:`detect_stream` reads a document's tokens once (the tokenizer's CSR stream), adds each listed
  term's weight per language (packed: seven 16-bit sums and a count of listed words in two 64-bit
  words, so a token costs two loads and two additions), adds the document's character cues and
  decides: the best language's index, or -1 (``und``) when the evidence is below ``min_evidence``,
  the best two are less than ``margin`` apart, or a document of at least :data:`COVERAGE_MIN_TOKENS`
  word tokens has fewer than ``min_coverage`` of them listed.

Documents are independent: the results do not depend on the thread count or the chunking. Inputs are
trusted (``emoscore.language`` checks them); ``tests/test_language.py`` restates both in plain Python.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["BLOCK", "COVERAGE_MIN_TOKENS", "FLAG_EMOJI", "HITS_LANE", "MAX_UNITS", "UNITS", "cue_scores",
           "detect_stream"]

FLAG_EMOJI = 8  # the tokenizer's emoji flag (kernels/rules.py): emoji tokens are not words
COVERAGE_MIN_TOKENS = 6  # the coverage rule applies from this many word tokens on
_CHUNK = 2048  # documents per parallel work item
HITS_LANE = 7  # the lane of a packed row that counts listed terms; lanes 0-6 hold up to 7 languages
UNITS = 4  # term weights are counted in quarters ...
MAX_UNITS = 64  # ... of at most 16
BLOCK = 65535 // MAX_UNITS  # tokens whose packed sums cannot carry out of a 16-bit lane


_HIGH = np.uint64(0x8080808080808080)


@numba.njit(parallel=True, cache=True, nogil=True)
def _cue_chunks(offsets, data, words, skip_ascii, lead, pair_index, cue_weights, out):
    n_docs = out.shape[0]
    n_lang = out.shape[1]
    n_chunks = (n_docs + _CHUNK - 1) // _CHUNK
    for c in numba.prange(n_chunks):
        # the chunk's documents are one run of bytes: scan it whole, and find the document of a pair
        # with a pointer that only moves forward (offsets never decrease)
        first = c * _CHUNK
        last = min(first + _CHUNK, n_docs)
        d = first
        i = offsets[first]
        end = offsets[last]
        while i < end:
            if skip_ascii and (i & 7) == 0:
                # no listed pair starts with an ASCII byte: skip aligned words of 8 ASCII bytes
                while i + 8 <= end and (words[i >> 3] & _HIGH) == 0:
                    i += 8
                if i >= end:
                    break
            b = data[i]
            if lead[b]:
                while offsets[d + 1] <= i:
                    d += 1
                if i + 1 < offsets[d + 1]:
                    k = pair_index[(np.int64(b) << 8) | data[i + 1]]
                    if k >= 0:
                        for lang in range(n_lang):
                            out[d, lang] += cue_weights[k, lang]
            i += 1


def cue_scores(offsets, data, lead, pair_index, cue_weights):
    """float32[D, L]: each document's character-cue score per language.

    ``offsets`` int64[D+1] into ``data`` uint8 (a document's bytes are ``data[offsets[d]:offsets[d+1]]``);
    ``lead`` uint8[256] (non-zero: some listed pair starts with this byte), ``pair_index`` int16[65536]
    (``(first << 8) | second`` -> cue row or -1), ``cue_weights`` float32[K, L].
    """
    out = np.zeros((offsets.shape[0] - 1, cue_weights.shape[1]), np.float32)
    words = data[: data.shape[0] // 8 * 8].view(np.uint64)
    skip_ascii = not lead[:128].any()
    _cue_chunks(offsets, data, words, skip_ascii, lead, pair_index, cue_weights, out)
    return out


@numba.njit(inline="always", nogil=True)
def _lane(word, lane):
    return np.int64((word >> np.uint64(16 * lane)) & np.uint64(0xFFFF))


@numba.njit(parallel=True, cache=True, nogil=True)
def _detect_chunks(doc_offsets, term_ids, flags, packed, cues, min_evidence, margin, min_coverage, out):
    n_docs = out.shape[0]
    n_lang = cues.shape[1]
    n_chunks = (n_docs + _CHUNK - 1) // _CHUNK
    scale = np.float32(1.0 / UNITS)
    for c in numba.prange(n_chunks):
        carried = np.zeros(8, np.int64)  # lane sums of documents longer than BLOCK tokens
        for d in range(c * _CHUNK, min((c + 1) * _CHUNK, n_docs)):
            start = doc_offsets[d]
            end = doc_offsets[d + 1]
            emoji = 0
            low = np.uint64(0)
            high = np.uint64(0)
            # 16-bit lanes, 4 per word: a term adds at most MAX_UNITS to a lane, so BLOCK tokens cannot
            # carry into the next lane; longer documents move the lanes into `carried` every BLOCK tokens
            long_doc = end - start > BLOCK
            t = start
            while True:
                block_end = min(t + BLOCK, end)
                for i in range(t, block_end):
                    emoji += flags[i] & FLAG_EMOJI
                    r = term_ids[i] + 1
                    low += packed[r, 0]
                    high += packed[r, 1]
                if block_end == end:
                    break
                for lane in range(4):
                    carried[lane] += _lane(low, lane)
                    carried[lane + 4] += _lane(high, lane)
                low = np.uint64(0)
                high = np.uint64(0)
                t = block_end
            if long_doc:
                for lane in range(4):
                    carried[lane] += _lane(low, lane)
                    carried[lane + 4] += _lane(high, lane)
            best = 0
            top = np.float32(-1.0)
            second = np.float32(0.0)
            for lang in range(n_lang):
                if long_doc:
                    units = carried[lang]
                else:
                    units = _lane(low if lang < 4 else high, lang & 3)
                value = np.float32(units) * scale + cues[d, lang]
                # branch-free: the best (the first of equals) and the second best so far
                best = lang if value > top else best
                second = max(second, min(value, top))
                top = max(top, value)
            words = end - start - emoji // FLAG_EMOJI
            hits = carried[HITS_LANE] if long_doc else _lane(high, HITS_LANE - 4)
            if long_doc:
                carried[:] = 0
            if top < min_evidence or top - second < margin:
                out[d] = -1
            elif words >= COVERAGE_MIN_TOKENS and hits < min_coverage * words:
                out[d] = -1
            else:
                out[d] = best


def detect_stream(doc_offsets, term_ids, flags, packed, cues, min_evidence, margin, min_coverage):
    """int8[D]: each document's language index (into the table's languages), or -1 for ``und``.

    ``doc_offsets`` int64[D+1], ``term_ids`` int32[T], ``flags`` uint8[T] (the tokenizer's stream);
    ``packed`` uint64[N+1, 2]: row ``t + 1`` is term t (row 0, id -1, zeros): 16-bit lanes, lanes 0-3 in
    column 0 and 4-7 in column 1; lane l < L is the term's weight for language l in units of 1/UNITS
    (at most MAX_UNITS), lane HITS_LANE is 1 when the term has a weight; ``cues`` float32[D, L] with
    L <= HITS_LANE (:func:`cue_scores`, or zeros). A document's score per language is its terms' sum plus
    its cue. Ties go to the lower language index; the second best is at least 0.
    """
    out = np.empty(doc_offsets.shape[0] - 1, np.int8)
    _detect_chunks(doc_offsets, term_ids, flags, packed, cues, np.float32(min_evidence),
                   np.float32(margin), np.float32(min_coverage), out)
    return out
