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

Aspects: what the feelings are about
====================================

An aspect lexicon (``emoscore.aspects``) gives each term an aspect bitmask (``aspect_mask``, uint64,
bit ``a`` = aspect ``a``, at most 64 aspects) and its own multi-word expressions (``amwe_*``, CSR by
first word, longest first, each with a mask; a mask of 0 is a *blocker* such as "in return").
Aspect data never changes the emotion scores above: aspect-only terms have no valence, weights or
role, and aspect expressions are matched apart from the emotion expressions (they share the words'
term ids, not the units).

**Mentions.** Independently of the emotion units, the tokens are read left to right: at a token with
term id ``t >= 0``, the first (longest) aspect expression starting at ``t`` whose word ids equal the
following tokens' ids, none of its words but the last ending a sentence or clause, is a mention of
its mask covering its tokens (the tokens it covers mention nothing else); otherwise the token
mentions ``aspect_mask[t]``. A document's aspects are the union of its mentions
(:func:`document_aspects`), listed in order of first mention (several new aspects in one mention:
by ascending aspect id).

**Scopes.** The attribution unit is the negation scope of the rules above: a scope ends at a sentence
end, after a contrast word and (``clause_scope`` non-zero) after a unit followed by ``,`` ``;``
``:``. A mention belongs to the scope of the unit holding its first token. So "The delivery was fast
but the refund took three weeks" has two scopes: "The delivery was fast but" and "the refund took
three weeks".

**Attribution.** Each scoring unit's contributions (valence ``c``, ``|c|``, emotion contributions, one
hit) go to every aspect mentioned in its scope (each such aspect gets the whole contribution). A scope
with contributions but no mention falls back to the aspects of the nearest *preceding* scope of the
same sentence that has a mention; when no earlier scope of the sentence has one, to the first
*following* scope of the sentence that has one; when the sentence has no mention at all, to no
aspect (the document scores still count it). The contrast weights, the sentence emphasis and the
re-weighting of a sentence followed by one opening with a contrast word apply to each contribution
exactly as for the document (by the position of the contributing unit, not of the mention).

**Per-aspect outputs** (from the aspect's sums ``S_a``, ``A_a``, ``X_a[e]`` and its hit count, with
the document formulas): ``valence = S'/sqrt(S'^2 + alpha)`` with ``S' = S_a / max(hits_a, 1) **
valence_hits_power``; ``intensity = A_a/sqrt(A_a^2 + alpha)``; emotion intensities
``1 - exp(-emotion_gain * X_a[e])`` rounded to float32, the dominant one by the document rule
(-1 = neutral). An aspect mentioned with no contribution scores 0, 0, neutral.

**Output layout.** The caller runs :func:`document_aspects` first (the document's aspect mask), sizes
document ``d``'s slots as ``aspect_offsets[d]:aspect_offsets[d+1]`` (the popcount of its mask) and
passes both to :func:`score_document`, which writes ``out_aspect`` (aspect id), ``out_aspect_valence``,
``out_aspect_intensity`` and ``out_aspect_emotion`` there, in first-mention order. With an empty
``aspect_mask`` (aspects off) no aspect work is done.
"""

import math

from numba import float32, float64, uint64  # explicit widths on every target (CUDA's float() keeps float32)

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

# With aspects, the scratch also holds per-aspect sums after those rows, in rows of E + 3 float64
# (valence sum, hits, absolute sum, E emotion sums): the current scope, then ASPECT_SLOT_ROWS rows
# per slot -- sums before / after the last contrast word of the sentence, of the previous sentence
# and of the document. Slot k >= 1 is the document's k-th aspect in first-mention order; the first
# two rows of slot 0 hold the current sentence while all its contributions go to one target (see
# "uniform" in score_document). (Few loops on purpose: see the performance note in score_document.)
ASPECT_SLOT_ROWS = 4
MAX_ASPECTS = 64            # aspects are bits of a uint64 mask


def scratch_size(n_emotions, n_aspects):
    """float64 elements of the scratch that :func:`score_document` needs for documents of at most
    ``n_aspects`` distinct aspects (0: aspects off)."""
    size = SCRATCH_ROWS * n_emotions
    if n_aspects > 0:
        size += (1 + ASPECT_SLOT_ROWS * (n_aspects + 1)) * (n_emotions + 3)
    return size


# Window slots hold term ids; this marks an empty slot or an unknown word.
_NO_TERM = -1


def document_aspects(d, doc_offsets, term_ids, flags, aspect_mask, amwe_first, amwe_parts, amwe_words,
                     amwe_mask, out_doc_aspects):
    """The aspect mask of document ``d`` (the union of its mentions) into ``out_doc_aspects[d]``.

    The mention rule (see the module docstring) is restated inline in :func:`score_document`: rules
    functions call no other function, so that every target compiles each of them on its own.
    """
    start = doc_offsets[d]
    end = doc_offsets[d + 1]
    found = uint64(0)
    p = start
    while p < end:
        t = term_ids[p]
        nxt = p + 1
        if t >= 0:
            mention = aspect_mask[t]
            for m in range(amwe_first[t], amwe_first[t + 1]):
                q0 = amwe_parts[m]
                n_words = amwe_parts[m + 1] - q0
                if n_words < 1 or p + n_words > end:
                    continue
                matched = True
                for k in range(n_words):
                    if term_ids[p + k] != amwe_words[q0 + k]:
                        matched = False
                        break
                    if k < n_words - 1 and (flags[p + k] & (FLAG_SENT_END | FLAG_CLAUSE)) != 0:
                        matched = False
                        break
                if matched:
                    mention = amwe_mask[m]
                    nxt = p + n_words
                    break
            found |= mention
        p = nxt
    out_doc_aspects[d] = found


def score_document(d, doc_offsets, term_ids, flags, valence, weights, role, modifier,
                   mwe_first, mwe_term, mwe_parts, mwe_words, params,
                   aspect_mask, amwe_first, amwe_parts, amwe_words, amwe_mask, doc_aspects,
                   aspect_offsets, scratch,
                   out_valence, out_intensity, out_emotions, out_dominant, out_tokens, out_hits,
                   out_aspect, out_aspect_valence, out_aspect_intensity, out_aspect_emotion):
    """Score document ``d`` of a CSR token stream into element ``d`` of the output arrays.

    ``doc_offsets``, ``term_ids``, ``flags``: the token stream (see docs/internals.md); ``valence`` …
    ``params``: the CompiledLexicon arrays; ``aspect_mask`` … ``amwe_mask``: its aspect arrays (empty
    ``aspect_mask``: aspects off, and the other aspect arrays are not read); ``doc_aspects`` u64[D]
    (:func:`document_aspects`) and ``aspect_offsets`` int64[D+1] (the output slots of each
    document); ``scratch``: float64[>= scratch_size(E, aspects)], overwritten; outputs:
    ``out_valence`` f32[D], ``out_intensity`` f32[D], ``out_emotions`` f32[E, D] (column ``d`` is
    written, used as the document's accumulator first), ``out_dominant`` int16[D], ``out_tokens``
    int32[D], ``out_hits`` int32[D]; per aspect slot ``out_aspect`` int16, ``out_aspect_valence``
    f32, ``out_aspect_intensity`` f32, ``out_aspect_emotion`` int16 (-1 = neutral). Ids are trusted
    to be ``< N``; negative = unknown.
    """
    n_emo = weights.shape[1]
    start = doc_offsets[d]
    end = doc_offsets[d + 1]

    # aspects: on when the lexicon has aspect data and the document mentions one
    aspects_on = aspect_mask.shape[0] > 0 and doc_aspects[d] != 0
    aw = n_emo + 3                          # aspect row width: S, hits, A, E emotion sums
    a_cur = SCRATCH_ROWS * n_emo            # the current scope
    a_slots = a_cur + aw                    # slot s: rows a_slots + 4*aw*s + (0 pre, aw post, 2aw prev, 3aw total)
    a_base = 0
    n_seen = 0                              # slots used (aspects registered so far)
    seen = uint64(0)
    cur_mask = uint64(0)                    # aspects mentioned in the current scope
    last_mask = uint64(0)                   # ... in the nearest preceding scope of the sentence that has one
    cur_any = False                         # the current scope has contributions (row a_cur)
    # A sentence whose contributions all go to one target (the usual case) is "uniform": its scopes
    # add into the sentence rows of slot 0 (u_pre, u_post: kept only in case it stops being uniform)
    # and the sentence is settled from the document's own sentence sums, once per aspect. A scope
    # whose target differs makes the sentence "mixed": from then on scopes add into the slots' rows.
    u_target = uint64(0)                    # target of the sentence so far (0: no mention yet)
    u_any = False                           # u_pre / u_post hold something
    u_mixed = False
    prev_target = uint64(0)                 # the previous sentence, if uniform with a mention
    sent_hits = 0                           # hits before the current sentence
    prev_hits = 0                           # hits of the previous sentence
    dropped = False                         # some sentence with hits had no mention
    touched = uint64(0)                     # slots with sums in this (mixed) sentence (bit min(k, 63))
    prev_touched = uint64(0)                # slots with sums in the previous (mixed) sentence
    next_mention = start                    # tokens before this one are covered by a mention already
    if aspects_on:
        a_base = aspect_offsets[d]
        for k in range(3 * aw):
            scratch[a_cur + k] = 0.0

    # Performance note: one exit and no exceptions (compile with error_model="numpy"). The CPU kernel
    # compiles this function without reference counting (score_cpu.RULES_OPTIONS: it allocates
    # nothing), so its ~30 array arguments cost no incref/decref -- otherwise ~36 atomic operations
    # per document, on cache lines shared by all threads. tests/test_kernels.py checks none are left.
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

        # ---- aspect mentions starting in this unit ------------------------------------------------
        if aspects_on:
            p = i
            if next_mention > p:
                p = next_mention
            while p <= last:
                tp = term_ids[p]
                nxt = p + 1
                mention = uint64(0)
                if tp >= 0:
                    mention = aspect_mask[tp]
                    for m in range(amwe_first[tp], amwe_first[tp + 1]):
                        q0 = amwe_parts[m]
                        n_words = amwe_parts[m + 1] - q0
                        if n_words < 1 or p + n_words > end:
                            continue
                        matched = True
                        for k in range(n_words):
                            if term_ids[p + k] != amwe_words[q0 + k]:
                                matched = False
                                break
                            if k < n_words - 1 and (flags[p + k] & (FLAG_SENT_END | FLAG_CLAUSE)) != 0:
                                matched = False
                                break
                        if matched:
                            mention = amwe_mask[m]
                            nxt = p + n_words
                            break
                if mention != 0:
                    cur_mask |= mention
                    new = mention & ~seen
                    a = 0
                    while new != 0:             # register new aspects in first-mention order
                        if (new & uint64(1)) != 0 and a_base + n_seen < aspect_offsets[d + 1]:
                            out_aspect[a_base + n_seen] = a
                            n_seen += 1
                            row = a_slots + ASPECT_SLOT_ROWS * aw * n_seen
                            for k in range(2 * aw):     # pre, post and total start zero (prev
                                scratch[row + k] = 0.0  # is assigned before it is read)
                            for k in range(aw):
                                scratch[row + 3 * aw + k] = 0.0
                        new = new >> uint64(1)
                        a += 1
                    seen |= mention
                p = nxt
                next_mention = nxt

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
                if aspects_on and (prev_target | prev_touched) != 0:   # its aspects', weighted alike
                    for k in range(1, n_seen + 1):
                        row = a_slots + ASPECT_SLOT_ROWS * aw * k + 2 * aw
                        if ((prev_target >> uint64(out_aspect[a_base + k - 1])) & uint64(1)) != 0:
                            scratch[row + aw] += prev_s * w     # uniform: the sentence's own sums
                            scratch[row + aw + 1] += float64(prev_hits)
                            scratch[row + aw + 2] += prev_a * abs(w)
                            if prev_emotions:
                                for e in range(n_emo):
                                    scratch[row + aw + 3 + e] += scratch[prev + e] * abs(w)
                        elif ((prev_touched >> uint64(min(k, 63))) & uint64(1)) != 0:
                            scratch[row + aw] += scratch[row] * w
                            scratch[row + aw + 1] += scratch[row + 1]
                            for e in range(2, aw):
                                scratch[row + aw + e] += scratch[row + e] * abs(w)
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
                if aspects_on:              # the same contribution, kept for the scope's aspects
                    scratch[a_cur] += c
                    scratch[a_cur + 1] += 1.0
                    scratch[a_cur + 2] += abs(c)
                    for e in range(n_emo):
                        scratch[a_cur + 3 + e] += float64(weights[t, e]) * emotion_mult
                    if target >= 0 and target < n_emo:
                        scratch[a_cur + 3 + target] += transfer
                    cur_any = True
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
        sentence_end = (unit_flags & FLAG_SENT_END) != 0 or i >= end

        # ---- end of an aspect scope: its contributions go to its aspects (or wait for them) --------
        if aspects_on and (sentence_end or unit_role == ROLE_CONTRAST
                           or (clause_scope and (unit_flags & FLAG_CLAUSE) != 0)):
            target = cur_mask
            if cur_mask == 0:
                target = last_mask
            if cur_any and not u_mixed and target != 0 and u_target != 0 and target != u_target:
                # the sentence stops being uniform: what it held so far goes to its target's slots
                u_mixed = True
                for k in range(1, n_seen + 1):
                    if ((u_target >> uint64(out_aspect[a_base + k - 1])) & uint64(1)) != 0:
                        row = a_slots + ASPECT_SLOT_ROWS * aw * k
                        touched |= uint64(1) << uint64(min(k, 63))
                        for e in range(2 * aw):
                            scratch[row + e] += scratch[a_slots + e]
            if cur_any:
                if u_mixed:               # (a mixed sentence has a mention, so target != 0)
                    for k in range(1, n_seen + 1):
                        if ((target >> uint64(out_aspect[a_base + k - 1])) & uint64(1)) != 0:
                            row = a_slots + ASPECT_SLOT_ROWS * aw * k + aw
                            touched |= uint64(1) << uint64(min(k, 63))
                            for e in range(aw):
                                scratch[row + e] += scratch[a_cur + e]
                else:                   # scopes before the first mention wait in u_post alike
                    for e in range(aw):
                        scratch[a_slots + aw + e] += scratch[a_cur + e]
                    u_any = True
                for e in range(aw):
                    scratch[a_cur + e] = 0.0
            if u_target == 0:           # the first scope with a mention sets the sentence's target
                u_target = target
            if cur_mask != 0:
                last_mask = cur_mask
            cur_any = False
            cur_mask = uint64(0)
            if unit_role == ROLE_CONTRAST:
                # everything so far in the sentence now stands before the (last) contrast word
                if u_any and not u_mixed:
                    for e in range(aw):
                        scratch[a_slots + e] += scratch[a_slots + aw + e]
                        scratch[a_slots + aw + e] = 0.0
                for k in range(1, n_seen + 1):
                    if ((touched >> uint64(min(k, 63))) & uint64(1)) == 0:   # (only when mixed)
                        continue
                    row = a_slots + ASPECT_SLOT_ROWS * aw * k
                    for e in range(aw):
                        scratch[row + e] += scratch[row + aw + e]
                        scratch[row + aw + e] = 0.0

        # ---- end of sentence: contrast weights, emphasis; keep it as the previous sentence ------
        if sentence_end:
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
            if aspects_on and touched != 0:     # a mixed sentence: each aspect's, weighted alike
                for k in range(1, n_seen + 1):
                    if ((touched >> uint64(min(k, 63))) & uint64(1)) == 0:
                        continue
                    row = a_slots + ASPECT_SLOT_ROWS * aw * k
                    scratch[row + 2 * aw] = (scratch[row] * w_pre + scratch[row + aw] * w_post) * emphasis
                    scratch[row + 2 * aw + 1] = scratch[row + 1] + scratch[row + aw + 1]
                    scratch[row] = 0.0
                    scratch[row + aw] = 0.0
                    scratch[row + 1] = 0.0
                    scratch[row + aw + 1] = 0.0
                    for e in range(2, aw):
                        scratch[row + 2 * aw + e] = (scratch[row + e] * abs(w_pre)
                                                     + scratch[row + aw + e] * abs(w_post)) * abs(emphasis)
                        scratch[row + e] = 0.0
                        scratch[row + aw + e] = 0.0
            if aspects_on:
                prev_target = uint64(0)
                if not u_mixed:           # uniform: settled from the document's sentence sums
                    prev_target = u_target
                    if u_target == 0 and hits > sent_hits:
                        dropped = True  # (no mention in the sentence: its contributions go nowhere)
                if u_any:
                    for e in range(2 * aw):
                        scratch[a_slots + e] = 0.0
                prev_hits = hits - sent_hits
                sent_hits = hits
                prev_touched = touched
                touched = uint64(0)
                u_target = uint64(0)
                u_any = False
                u_mixed = False
                last_mask = uint64(0)
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
    # ---- per-aspect outputs (the document formulas over each aspect's sums) -----------------------
    if aspects_on and has_prev and (prev_target | prev_touched) != 0:   # the last sentence (weight 1)
        for k in range(1, n_seen + 1):
            row = a_slots + ASPECT_SLOT_ROWS * aw * k + 2 * aw
            if ((prev_target >> uint64(out_aspect[a_base + k - 1])) & uint64(1)) != 0:
                scratch[row + aw] += prev_s
                scratch[row + aw + 1] += float64(prev_hits)
                scratch[row + aw + 2] += prev_a
                if prev_emotions:
                    for e in range(n_emo):
                        scratch[row + aw + 3 + e] += scratch[prev + e]
            elif ((prev_touched >> uint64(min(k, 63))) & uint64(1)) != 0:
                for e in range(aw):
                    scratch[row + aw + e] += scratch[row + e]
    if aspects_on and n_seen == 1 and not dropped and not doc_emotions:
        # One aspect that every contribution went to, with the emotion sums of the last sentence
        # only: its sums are the document's, added in the same order, so its scores are too.
        out_aspect_valence[a_base] = val
        out_aspect_intensity[a_base] = inten
        out_aspect_emotion[a_base] = best
    elif aspects_on:
        for k in range(n_seen):
            row = a_slots + ASPECT_SLOT_ROWS * aw * (k + 1)
            a_s = scratch[row + 3 * aw]
            a_hits = scratch[row + 3 * aw + 1]
            a_a = scratch[row + 3 * aw + 2]
            a_val = 0.0
            if a_s != 0.0:
                if a_hits > 1.0 and hits_power != 0.0:
                    a_s = a_s / math.pow(a_hits, hits_power)
                a_val = a_s / math.sqrt(a_s * a_s + alpha)
            a_int = 0.0
            if a_a != 0.0:
                a_int = a_a / math.sqrt(a_a * a_a + alpha)
            # The dominant emotion by the document rule (the largest float32 intensity, the lowest
            # index on ties), with one exp instead of E: the intensity rises with the sum, so only
            # sums that round to the same float32 as the largest one can tie with it.
            x_max = 0.0
            e_max = -1
            for e in range(n_emo):
                x = scratch[row + 3 * aw + 3 + e]
                if x > x_max:
                    x_max = x
                    e_max = e
            a_best = -1
            if e_max >= 0 and gain > 0.0:
                f_max = float64(float32(1.0 - math.exp(-gain * x_max)))
                if f_max > 0.0 and f_max >= dominant_min:
                    a_best = e_max
                    if f_max >= 1.0:
                        bound = 17.0 / gain          # 1 - exp(-y) rounds to 1.0f only for y > 25 ln 2
                    else:
                        bound = x_max - 2.4e-7 / (gain * (1.0 - f_max))   # within a few ulp of f_max
                    for e in range(e_max):
                        x = scratch[row + 3 * aw + 3 + e]
                        if x >= bound and float64(float32(1.0 - math.exp(-gain * x))) == f_max:
                            a_best = e
                            break
            out_aspect_valence[a_base + k] = a_val
            out_aspect_intensity[a_base + k] = a_int
            out_aspect_emotion[a_base + k] = a_best

    # the last use of every array argument is here, in one block (see the note at the top)
    out_valence[d] = val
    out_intensity[d] = inten
    out_dominant[d] = best
    out_hits[d] = hits
