"""Per-document scoring rules, written once for every Numba target.

The functions here use scalar maths only (no allocation, no Python objects), so the same source is
compiled by ``numba.njit`` for the CPU kernel and by ``numba.cuda.jit(device=True)`` for the GPU twin.
:func:`score_document` is the whole rule set for one document; the kernels only loop over documents.

The rules (this is the product's behaviour; ``tests/reference_score.py`` restates it in plain Python)
======================================================================================================

Parameters are named as in :data:`PARAM_NAMES` and read from ``params`` (float32) by index ``P_*``.

**Units.** A document is read left to right as a sequence of *units*. At each token whose term id
``t >= 0`` has multi-word candidates (``mwe_first[t]:mwe_first[t+1]``, stored longest first), the
first candidate whose word ids (``mwe_words[mwe_parts[m]:mwe_parts[m+1]]``) equal the ids of the
following tokens is taken, provided none of its words but the last ends a sentence (``SENT_END``) or
a clause (``CLAUSE``): "well, done" is not "well done". A matched expression is one unit that acts as
term ``mwe_term[m]``; it is ALL CAPS only if every one of its words is, and the flags of its last word
close it (sentence end, clause end, ``!``/``?``). Every other token is a unit of its own, unknown
words (id -1) included, so that windows count real words. A term with a role never scores itself.

**Scoring terms.** A unit *scores* when its term has no role and its valence is non-zero or one of
its emotion weights is positive. Each scoring unit adds a signed valence contribution ``v * m`` and
emotion contributions ``w[e] * |m|`` to its sentence, where ``m`` is the product of the multipliers
below. ``hits`` counts the scoring units (an expression counts once); ``tokens`` counts every token.

**Window.** The window of a unit is the (at most) 3 units before it in the same *scope*. A scope ends
at a sentence end, after a contrast word, and -- when ``clause_scope`` is non-zero (default) -- after
a unit followed by ``,`` ``;`` or ``:``, so "I don't know, it's good" is not negated.

**Negation.** A negator at window position k (1 = the unit just before) has strength ``s_k``: 1,
``decay_2``, ``decay_3``. The unit is negated when the window holds an odd number of negators
("never not good" is not negated); the nearest negator sets the strength ``s``. A negated unit's
valence is multiplied by ``1 + (negation_scale - 1) * s`` (= ``negation_scale`` right after the
negator), its emotion weights by ``|1 + (negated_emotion_scale - 1) * s|``, and it adds
``|negated_transfer * s * v| / 4`` (times the other multipliers) to emotion
``negated_positive_emotion`` when ``v > 0`` ("not happy" -> frustration) or
``negated_negative_emotion`` when ``v < 0`` ("no problems", "not bad" -> satisfaction); an index
outside ``[0, E)`` (-1 = none) transfers nothing.

**Modifiers.** A booster (``modifier > 0``) or dampener (``< 0``) at window position k multiplies the
unit by ``max(0, 1 + x * s_k)``, where ``x`` is its modifier, times ``1 + caps_boost`` when the
modifier word itself is ALL CAPS in a mixed-case document ("VERY good"). Several modifiers multiply.
Under negation a *booster* that stands after the farthest negator ("not very good", "not too bad")
softens the unit instead: its factor is ``1 / (1 + x * s_k)`` (0 if ``1 + x * s_k <= 0``).

**CAPS.** A scoring unit in ALL CAPS in a *mixed-case* document is multiplied by
``max(0, 1 + caps_boost)``. A document is mixed-case when it has a token that is neither ALL CAPS nor
an emoji. (The token flags cannot tell "I" or "2024" from a lower-case word, so those count as
lower case.)

**Sentences: contrast and emphasis.** Contributions are summed per sentence (a sentence ends at a
token flagged ``SENT_END`` or at the end of the document). If the sentence contains a contrast word,
the contributions before its *last* contrast word are multiplied by ``contrast_before`` and those after
it by ``contrast_after`` ("good but slow" leans negative). The whole sentence is then multiplied by
the emphasis of its last token: ``1 + excl_boost * n!`` and, when ``n? >= 2``, by
``1 + quest_boost * n?`` (``n!``, ``n?`` saturate at 3).
A sentence whose first unit is a contrast word ("Fast delivery. However, the refund took weeks.")
also re-weights the sentence before it, as a whole, by ``contrast_before`` (its own contributions
are all "after" the contrast word already). Only the immediately preceding sentence is re-weighted.

**Outputs.** Signed totals: ``S`` = sum of the sentences' valence contributions, ``A`` = sum of their
absolute values, ``X[e]`` = sum of the emotion contributions. (The valence multipliers apply to
``S``; their absolute values to ``A`` and ``X``, so emotions are never negative.)

* ``valence = S' / sqrt(S'^2 + alpha)`` in [-1, 1] with ``S' = S / max(hits, 1) ** valence_hits_power``
  (power 0 is VADER's plain sum; a positive power keeps long reviews from saturating on word count),
  ``intensity = A / sqrt(A^2 + alpha)`` in [0, 1], with ``alpha = max(valence_alpha, 0)``; 0 when
  ``S`` (``A``) is 0.
* ``emotions[e] = max(0, 1 - exp(-emotion_gain * X[e]))`` in [0, 1].
* ``dominant`` = the emotion with the largest (float32) intensity, the lowest index on ties, if that
  intensity is positive and ``>= dominant_min``; otherwise -1 (neutral).
* A null or empty document: every output 0, ``dominant`` -1.

Arithmetic is in float64 (the document's emotion sums are kept in its float32 output column between
sentences); results are rounded to the float32/int outputs at the end. The rules are deterministic: a
document's scores depend on nothing but its tokens, the lexicon and the params.
"""

import math

from numba import float64   # float64(x) widens on every target (CUDA's float() keeps float32)

# Rule constants travel in ``CompiledLexicon.params`` (float32[P]); a lexicon header may override them
# with ``# param NAME: VALUE``. Emotion-valued params are stored as the emotion's index (-1 = none).
P_NEGATION_SCALE = 0           # valence multiplier of a negated term (VADER's N_SCALAR)
P_NEGATED_EMOTION_SCALE = 1    # emotion-weight multiplier of a negated term
P_NEGATED_TRANSFER = 2         # share of |valence| / 4 of a negated term given to the target emotion
P_NEGATED_POSITIVE_EMOTION = 3  # emotion that "not happy" expresses (index, -1 = none)
P_NEGATED_NEGATIVE_EMOTION = 4  # emotion that "no problems" expresses (index, -1 = none)
P_DECAY_2 = 5                  # booster/negator strength two words back
P_DECAY_3 = 6                  # ... three words back
P_CAPS_BOOST = 7               # relative boost of an ALL CAPS term in mixed-case text
P_EXCL_BOOST = 8               # relative boost of a sentence per "!" (at most 3)
P_QUEST_BOOST = 9              # relative boost of a sentence per "?" when there are two or more
P_CONTRAST_BEFORE = 10         # weight of a sentence's words before "but"
P_CONTRAST_AFTER = 11          # ... and after it
P_VALENCE_ALPHA = 12           # valence = S / sqrt(S^2 + alpha), as VADER's compound
P_EMOTION_GAIN = 13            # emotion = 1 - exp(-gain * weighted sum)
P_DOMINANT_MIN = 14            # below this top intensity the dominant emotion is "neutral"
P_CLAUSE_SCOPE = 15            # non-zero: "," ";" ":" end negation and modifier scope
P_VALENCE_HITS_POWER = 16      # S is divided by hits ** power before normalising (0 = VADER's sum)
N_PARAMS = 17

PARAM_NAMES = (
    "negation_scale",
    "negated_emotion_scale",
    "negated_transfer",
    "negated_positive_emotion",
    "negated_negative_emotion",
    "decay_2",
    "decay_3",
    "caps_boost",
    "excl_boost",
    "quest_boost",
    "contrast_before",
    "contrast_after",
    "valence_alpha",
    "emotion_gain",
    "dominant_min",
    "clause_scope",
    "valence_hits_power",
)
EMOTION_PARAMS = frozenset({"negated_positive_emotion", "negated_negative_emotion"})

# Defaults; emotion-valued ones are names, resolved against the lexicon's taxonomy (absent -> -1).
DEFAULT_PARAMS = {
    "negation_scale": -0.74,
    "negated_emotion_scale": 0.3,
    "negated_transfer": 0.5,
    "negated_positive_emotion": "frustration",
    "negated_negative_emotion": "satisfaction",
    "decay_2": 0.95,
    "decay_3": 0.9,
    "caps_boost": 0.35,
    "excl_boost": 0.15,
    "quest_boost": 0.1,
    "contrast_before": 0.5,
    "contrast_after": 1.5,
    "valence_alpha": 15.0,
    "emotion_gain": 1.0,
    "dominant_min": 0.1,
    "clause_scope": 1.0,
    "valence_hits_power": 0.0,
}

# Token flag bits (see docs/internals.md); the tokenizer defines the same values.
FLAG_CAPS = 1
FLAG_SENT_END = 2
FLAG_CLAUSE = 4
FLAG_EMOJI = 8
EXCL_SHIFT = 4
QUEST_SHIFT = 6

# Term roles.
ROLE_NONE = 0
ROLE_NEGATOR = 1
ROLE_MODIFIER = 2
ROLE_CONTRAST = 3

# score_document needs a float64 scratch array of at least SCRATCH_ROWS * E elements (E emotions):
# the per-sentence emotion sums before / after the contrast word and of the previous sentence.
SCRATCH_ROWS = 3

# Window slots hold term ids; this marks an empty slot or an unknown word.
_NO_TERM = -1


def score_document(d, doc_offsets, term_ids, flags, valence, weights, role, modifier,
                   mwe_first, mwe_term, mwe_parts, mwe_words, params, scratch,
                   out_valence, out_intensity, out_emotions, out_dominant, out_tokens, out_hits):
    """Score document ``d`` of a CSR token stream into element ``d`` of the output arrays.

    ``doc_offsets``, ``term_ids``, ``flags``: the token stream (see docs/internals.md); ``valence`` …
    ``params``: the CompiledLexicon arrays; ``scratch``: float64[>= SCRATCH_ROWS * E], overwritten;
    outputs: ``out_valence`` f32[D], ``out_intensity`` f32[D], ``out_emotions`` f32[E, D] (column
    ``d`` is written, used as the document's accumulator first), ``out_dominant`` int16[D],
    ``out_tokens`` int32[D], ``out_hits`` int32[D]. Ids are trusted to be ``< N``; negative = unknown.
    """
    n_emo = weights.shape[1]
    start = doc_offsets[d]
    end = doc_offsets[d + 1]

    # Performance note: one exit, no exceptions (compile with error_model="numpy") and the last use of
    # every array argument in the final block let Numba's reference-count pruning remove the
    # incref/decref of all 19 array arguments -- otherwise ~36 atomic operations per document, on
    # cache lines shared by all threads. tests/test_kernels.py checks that none are left.
    # An empty (or null) document falls through every loop below and scores all zeros.
    n_tokens = end - start
    if n_tokens < 0:
        n_tokens = 0
    out_tokens[d] = n_tokens

    negation_scale = float64(params[P_NEGATION_SCALE])
    negated_emotion_scale = float64(params[P_NEGATED_EMOTION_SCALE])
    negated_transfer = float64(params[P_NEGATED_TRANSFER])
    negated_positive = int(params[P_NEGATED_POSITIVE_EMOTION])
    negated_negative = int(params[P_NEGATED_NEGATIVE_EMOTION])
    decay_2 = float64(params[P_DECAY_2])
    decay_3 = float64(params[P_DECAY_3])
    caps_boost = float64(params[P_CAPS_BOOST])
    excl_boost = float64(params[P_EXCL_BOOST])
    quest_boost = float64(params[P_QUEST_BOOST])
    contrast_before = float64(params[P_CONTRAST_BEFORE])
    contrast_after = float64(params[P_CONTRAST_AFTER])
    alpha = float64(params[P_VALENCE_ALPHA])
    if alpha < 0.0:
        alpha = 0.0
    gain = float64(params[P_EMOTION_GAIN])
    dominant_min = float64(params[P_DOMINANT_MIN])
    clause_scope = params[P_CLAUSE_SCOPE] != 0
    hits_power = float64(params[P_VALENCE_HITS_POWER])

    # scratch rows: [0, E) before the last contrast word, [E, 2E) after it, [2E, 3E) the previous
    # sentence (kept until we know whether the next one opens with a contrast word). The emotion
    # loops run only when a row holds something: most sentences of a review score nothing.
    pre = 0
    post = n_emo
    prev = 2 * n_emo
    for e in range(2 * n_emo):      # the sentence rows start (and are left) zero
        scratch[e] = 0.0
    sentence_emotions = False       # the sentence rows hold something
    prev_emotions = False           # the previous-sentence row holds something
    doc_emotions = False            # out_emotions[:, d] holds the document's sums

    # Mixed case: some token is neither ALL CAPS nor an emoji (usually the first one: cheap).
    mixed = False
    for i in range(start, end):
        if (flags[i] & (FLAG_CAPS | FLAG_EMOJI)) == 0:
            mixed = True
            break

    total_s = 0.0       # document valence sum S
    total_a = 0.0       # document absolute sum A (emotion sums accumulate in out_emotions[:, d])
    pre_s = 0.0         # sentence sums before the last contrast word ...
    pre_a = 0.0
    post_s = 0.0        # ... and after it (all of the sentence when it has none)
    post_a = 0.0
    prev_s = 0.0        # the previous sentence, weighted, not yet added to the totals
    prev_a = 0.0
    has_prev = False
    has_contrast = False
    sentence_start = True
    win1 = _NO_TERM     # window: term ids of the 1st, 2nd, 3rd unit back in the scope
    win2 = _NO_TERM
    win3 = _NO_TERM
    caps1 = False
    caps2 = False
    caps3 = False
    hits = 0

    i = start
    while i < end:
        # ---- fast path: a run of unknown words inside a sentence -------------------------------
        # (most tokens). They only take window positions; the run stops before a word that ends a
        # sentence or clause and before the document's last token, which the general path handles.
        if not sentence_start:
            j = i
            while j < end - 1 and term_ids[j] < 0 and (flags[j] & (FLAG_SENT_END | FLAG_CLAUSE)) == 0:
                j += 1
            if j - i >= 3:
                win1 = _NO_TERM
                win2 = _NO_TERM
                win3 = _NO_TERM
            elif j - i == 2:
                win3 = win1
                caps3 = caps1
                win2 = _NO_TERM
                win1 = _NO_TERM
            elif j - i == 1:
                win3 = win2
                caps3 = caps2
                win2 = win1
                caps2 = caps1
                win1 = _NO_TERM
            i = j

        # ---- the unit at i: a multi-word expression or one token -------------------------------
        t = term_ids[i]
        last = i
        unit_caps = (flags[i] & FLAG_CAPS) != 0
        if t >= 0:
            for m in range(mwe_first[t], mwe_first[t + 1]):
                p0 = mwe_parts[m]
                n_words = mwe_parts[m + 1] - p0
                if n_words < 1 or i + n_words > end:
                    continue
                matched = True
                for k in range(n_words):
                    if term_ids[i + k] != mwe_words[p0 + k]:
                        matched = False
                        break
                    if k < n_words - 1 and (flags[i + k] & (FLAG_SENT_END | FLAG_CLAUSE)) != 0:
                        matched = False
                        break
                if matched:
                    t = mwe_term[m]
                    last = i + n_words - 1
                    for k in range(1, n_words):
                        if (flags[i + k] & FLAG_CAPS) == 0:
                            unit_caps = False
                    break
        unit_flags = flags[last]
        unit_role = ROLE_NONE
        if t >= 0:
            unit_role = role[t]

        # ---- a new sentence: settle the previous one -------------------------------------------
        if sentence_start:
            if has_prev:
                w = 1.0
                if unit_role == ROLE_CONTRAST:
                    w = contrast_before
                total_s += prev_s * w
                total_a += prev_a * abs(w)
                if prev_emotions:
                    for e in range(n_emo):
                        if doc_emotions:
                            out_emotions[e, d] += scratch[prev + e] * abs(w)
                        else:
                            out_emotions[e, d] = scratch[prev + e] * abs(w)
                    doc_emotions = True
                has_prev = False
            sentence_start = False

        # ---- score the unit, or apply its role --------------------------------------------------
        if t >= 0 and unit_role == ROLE_NONE:
            v = float64(valence[t])
            scores = v != 0.0
            if not scores:
                for e in range(n_emo):
                    if weights[t, e] > 0:
                        scores = True
                        break
            if scores:
                hits += 1
                # negators in the window: parity decides, the nearest one sets the strength
                n_neg = 0
                nearest = 0
                farthest = 0
                for k in range(1, 4):
                    wt = win1
                    if k == 2:
                        wt = win2
                    elif k == 3:
                        wt = win3
                    if wt >= 0 and role[wt] == ROLE_NEGATOR:
                        n_neg += 1
                        if nearest == 0:
                            nearest = k
                        farthest = k
                negated = (n_neg % 2) == 1
                # modifiers in the window
                mult = 1.0
                for k in range(1, 4):
                    wt = win1
                    wcaps = caps1
                    strength = 1.0
                    if k == 2:
                        wt = win2
                        wcaps = caps2
                        strength = decay_2
                    elif k == 3:
                        wt = win3
                        wcaps = caps3
                        strength = decay_3
                    if wt >= 0 and role[wt] == ROLE_MODIFIER:
                        x = float64(modifier[wt])
                        if wcaps and mixed:
                            x *= 1.0 + caps_boost
                        f = 1.0 + x * strength
                        if negated and x > 0.0 and farthest > k:
                            if f > 0.0:
                                f = 1.0 / f
                            else:
                                f = 0.0
                        if f < 0.0:
                            f = 0.0
                        mult *= f
                if unit_caps and mixed:
                    f = 1.0 + caps_boost
                    if f < 0.0:
                        f = 0.0
                    mult *= f
                valence_mult = mult
                emotion_mult = abs(mult)
                transfer = 0.0
                target = -1
                if negated:
                    strength = 1.0
                    if nearest == 2:
                        strength = decay_2
                    elif nearest == 3:
                        strength = decay_3
                    valence_mult = mult * (1.0 + (negation_scale - 1.0) * strength)
                    emotion_mult = abs(mult * (1.0 + (negated_emotion_scale - 1.0) * strength))
                    transfer = abs(negated_transfer * strength * v) / 4.0 * abs(mult)
                    if v > 0.0:
                        target = negated_positive
                    elif v < 0.0:
                        target = negated_negative
                c = v * valence_mult
                post_s += c
                post_a += abs(c)
                for e in range(n_emo):
                    scratch[post + e] += float64(weights[t, e]) * emotion_mult
                sentence_emotions = True
                if target >= 0 and target < n_emo:
                    scratch[post + target] += transfer
        elif unit_role == ROLE_CONTRAST:
            # everything so far in the sentence now stands before the (last) contrast word
            pre_s += post_s
            pre_a += post_a
            post_s = 0.0
            post_a = 0.0
            if sentence_emotions:
                for e in range(n_emo):
                    scratch[pre + e] += scratch[post + e]
                    scratch[post + e] = 0.0
            has_contrast = True

        # ---- move the window ---------------------------------------------------------------------
        if unit_role == ROLE_CONTRAST or (clause_scope and (unit_flags & FLAG_CLAUSE) != 0):
            win1 = _NO_TERM
            win2 = _NO_TERM
            win3 = _NO_TERM
            caps1 = False
            caps2 = False
            caps3 = False
        else:
            win3 = win2
            win2 = win1
            win1 = t
            caps3 = caps2
            caps2 = caps1
            caps1 = unit_caps

        i = last + 1

        # ---- end of sentence: contrast weights, emphasis; keep it as the previous sentence ------
        if (unit_flags & FLAG_SENT_END) != 0 or i >= end:
            w_pre = 0.0
            w_post = 1.0
            if has_contrast:
                w_pre = contrast_before
                w_post = contrast_after
            n_excl = (unit_flags >> EXCL_SHIFT) & 3
            n_quest = (unit_flags >> QUEST_SHIFT) & 3
            emphasis = 1.0 + excl_boost * n_excl
            if n_quest >= 2:
                emphasis *= 1.0 + quest_boost * n_quest
            prev_s = (pre_s * w_pre + post_s * w_post) * emphasis
            prev_a = (pre_a * abs(w_pre) + post_a * abs(w_post)) * abs(emphasis)
            prev_emotions = sentence_emotions
            if sentence_emotions:
                for e in range(n_emo):
                    scratch[prev + e] = (scratch[pre + e] * abs(w_pre)
                                         + scratch[post + e] * abs(w_post)) * abs(emphasis)
                    scratch[pre + e] = 0.0
                    scratch[post + e] = 0.0
                sentence_emotions = False
            has_prev = True
            pre_s = 0.0
            pre_a = 0.0
            post_s = 0.0
            post_a = 0.0
            has_contrast = False
            sentence_start = True
            win1 = _NO_TERM
            win2 = _NO_TERM
            win3 = _NO_TERM
            caps1 = False
            caps2 = False
            caps3 = False

    if has_prev:                    # the last sentence (its emotions are added below)
        total_s += prev_s
        total_a += prev_a
    last_emotions = has_prev and prev_emotions

    # ---- normalise ---------------------------------------------------------------------------------
    val = 0.0
    if total_s != 0.0:
        if hits > 1 and hits_power != 0.0:
            total_s = total_s / math.pow(float64(hits), hits_power)
        val = total_s / math.sqrt(total_s * total_s + alpha)
    inten = 0.0
    if total_a != 0.0:
        inten = total_a / math.sqrt(total_a * total_a + alpha)
    best = -1
    best_value = 0.0
    for e in range(n_emo):
        x = 0.0
        if doc_emotions:
            x = float64(out_emotions[e, d])
        if last_emotions:
            x += scratch[prev + e]
        if x != 0.0:
            x = 1.0 - math.exp(-gain * x)
            if x < 0.0:
                x = 0.0
        out_emotions[e, d] = x
        stored = float64(out_emotions[e, d])   # compare what the caller sees (float32)
        if stored > best_value:
            best_value = stored
            best = e
    if best_value < dominant_min:
        best = -1
    # the last use of every array argument is here, in one block (see the note at the top)
    out_valence[d] = val
    out_intensity[d] = inten
    out_dominant[d] = best
    out_hits[d] = hits
