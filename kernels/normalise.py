"""From sums to scores: the normalisations of the rules (``kernels/rules.py``'s module docstring, "Outputs"),
and the sentence emotion rows that feed them.

Helpers of :func:`.rules.score_document`, inlined like the rules' own (listed in ``rules.HELPERS``); they
use scalar maths only, on every Numba target.
"""

import math

from numba import float32, float64


def normalised(total_s, total_a, hits, rp):
    """(valence, intensity) from a valence sum, an absolute sum and a hit count."""
    val = 0.0
    if total_s != 0.0:
        if hits > 1.0 and rp.hits_power != 0.0:
            total_s = total_s / math.pow(hits, rp.hits_power)
        val = total_s / math.sqrt(total_s * total_s + rp.alpha)
    inten = 0.0
    if total_a != 0.0:
        inten = total_a / math.sqrt(total_a * total_a + rp.alpha)
    return val, inten


def aspect_dominant(scratch, row, n_emo, rp):
    """The dominant emotion of an aspect's emotion sums ``scratch[row:row+E]`` by the document rule
    (the largest float32 intensity, the lowest index on ties), with one exp instead of E: the
    intensity rises with the sum, so only sums that round to the same float32 as the largest one
    can tie with it."""
    x_max = 0.0
    e_max = -1
    for e in range(n_emo):
        x = scratch[row + e]
        if x > x_max:
            x_max = x
            e_max = e
    best = -1
    if e_max >= 0 and rp.gain > 0.0:
        f_max = float64(float32(1.0 - math.exp(-rp.gain * x_max)))
        if f_max > 0.0 and f_max >= rp.dominant_min:
            best = e_max
            if f_max >= 1.0:
                bound = 17.0 / rp.gain          # 1 - exp(-y) rounds to 1.0f only for y > 25 ln 2
            else:
                bound = x_max - 2.4e-7 / (rp.gain * (1.0 - f_max))   # within a few ulp of f_max
            for e in range(e_max):
                x = scratch[row + e]
                if x >= bound and float64(float32(1.0 - math.exp(-rp.gain * x))) == f_max:
                    best = e
                    break
    return best


def weigh_sentence_emotions(scratch, pre, post, prev, n_emo, w_pre, w_post, emphasis):
    """The sentence's emotion rows (before / after its last contrast word), weighted as the sentence,
    into the previous-sentence row; they are left zero."""
    for e in range(n_emo):
        scratch[prev + e] = (scratch[pre + e] * abs(w_pre) + scratch[post + e] * abs(w_post)) * abs(emphasis)
        scratch[pre + e] = 0.0
        scratch[post + e] = 0.0


def add_sentence_emotions(emotions, d, doc_emotions, scratch, row, n_emo, w):
    """Add a sentence's emotion sums ``scratch[row:row+E]`` times ``w`` to document ``d``'s (the
    first sentence's are assigned: ``doc_emotions`` is False)."""
    for e in range(n_emo):
        if doc_emotions:
            emotions[e, d] += scratch[row + e] * w
        else:
            emotions[e, d] = scratch[row + e] * w


def document_emotions(emotions, d, doc_emotions, last_emotions, scratch, prev, n_emo, rp):
    """Document ``d``'s emotion intensities from its sums (column ``d`` when ``doc_emotions``, plus
    the last sentence's row ``prev`` when ``last_emotions``), in place: its dominant emotion."""
    best = -1
    best_value = 0.0
    for e in range(n_emo):
        x = 0.0
        if doc_emotions:
            x = float64(emotions[e, d])
        if last_emotions:
            x += scratch[prev + e]
        if x != 0.0:
            x = 1.0 - math.exp(-rp.gain * x)
            if x < 0.0:
                x = 0.0
        emotions[e, d] = x
        stored = float64(emotions[e, d])   # compare what the caller sees (float32)
        if stored > best_value:
            best_value = stored
            best = e
    if best_value < rp.dominant_min:
        best = -1
    return best
