"""The floor of the scoring stage: the least work any lexicon scorer does on a token stream.

Per document: sum ``valence[t]`` and the dense row ``weights[t, :]`` of every token with a term id,
then one ``sqrt`` (valence normalised as VADER does) and one ``exp`` per emotion, written out so the
work is not optimised away. No rules, no expressions, no aspects: the scoring kernel's time over this
one's on the same stream is what the rules cost (bench/compare.py, target ``kernel_vs_floor_time``).
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _floor(doc_offsets, term_ids, valence, weights, out_valence, out_emotions):
    sums = np.zeros(weights.shape[1], np.float64)
    for d in range(out_valence.shape[0]):
        v = 0.0
        sums[:] = 0.0
        for i in range(doc_offsets[d], doc_offsets[d + 1]):
            t = term_ids[i]
            if t >= 0:
                v += valence[t]
                for e in range(sums.shape[0]):
                    sums[e] += weights[t, e]
        out_valence[d] = v / math.sqrt(v * v + 15.0)
        for e in range(sums.shape[0]):
            out_emotions[e, d] = 1.0 - math.exp(-sums[e])


def floor_kernel(doc_offsets, term_ids, lex) -> tuple[np.ndarray, np.ndarray]:
    """Valence (D) and emotions (E x D) of each document of a CSR token stream; one thread."""
    n_docs = max(len(doc_offsets) - 1, 0)
    out_valence = np.empty(n_docs, np.float32)
    out_emotions = np.empty((lex.weights.shape[1], n_docs), np.float32)
    _floor(doc_offsets, term_ids, lex.valence, lex.weights, out_valence, out_emotions)
    return out_valence, out_emotions
