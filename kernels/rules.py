"""Per-document scoring rules, written once for every Numba target.

The functions here use scalar maths only (no allocation, no Python objects), so the same source is
compiled by ``numba.njit`` for the CPU kernel and by ``numba.cuda.jit(device=True)`` for the GPU twin.
:func:`score_document` is the whole rule set for one document; the kernels only loop over documents.
It is written as named steps (:data:`HELPERS`: matching an expression, the window's effect on a unit,
settling a sentence, attributing a scope to aspects, the normalisations) that mirror
``tests/reference_score.py``; :func:`for_target` binds them, compiled inline for the target, into the
functions each kernel compiles. They take the arrays as named tuples (``contract.TokenStream``,
``LexiconArrays``, ``AspectArrays``, ``ScoreArrays``).

The rules (this is the product's behaviour; ``tests/reference_score.py`` restates it in plain Python)
======================================================================================================

Parameters are named as in ``params.PARAM_NAMES`` and read from ``params`` (float32) by index ``P_*``.

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
outside ``[0, E)`` (-1 = none) transfers nothing. A negator also reaches past the window: a scoring
unit with no negator in its window is negated, with strength ``decay_3`` (and every booster in its
window softened), when its scope holds an odd number of negators since its last scoring unit with a
valence and the unit starts at most ``negation_reach`` tokens after the last of them ("I don't think the staff was
good", "not an airline I would call reliable"; ``negation_reach`` <= 3: the window only).

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
it by ``contrast_after`` ("good but slow" leans negative); when an *expectation* word (role
``expectation``: "expected", "thought", "hoped") stands before one of its contrast words, the contrast
denies what was expected: the contributions before the last contrast word are weighted ``contrast_before
* negation_scale`` and their emotions ``|contrast_before * negated_emotion_scale|`` ("I thought the
service would be great, but it was not" is negative, "I expected it to be awful, but it was fine" is
positive). The whole sentence is then multiplied by
the emphasis of its last token: ``1 + excl_boost * n!`` and, when ``n? >= 2``, by
``1 + quest_boost * n?`` (``n!``, ``n?`` saturate at 3).
A sentence whose first unit is a contrast word ("Fast delivery. However, the refund took weeks.")
also re-weights the sentence before it, as a whole, by ``contrast_before`` (its own contributions
are all "after" the contrast word already). Only the immediately preceding sentence is re-weighted.
A sentence that is one negator unit ("No.", "Never!") answering a sentence that ends with ``?``
negates that sentence as a whole: its valence by ``negation_scale``, its emotions by
``|negated_emotion_scale|`` ("Did we enjoy the flight? No.").

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
re-weighting of a sentence by the next (a contrast word, a "no" answer) apply to each contribution
exactly as for the document (by the position of the contributing unit, not of the mention).

**Per-aspect outputs** (from the aspect's sums ``S_a``, ``A_a``, ``X_a[e]`` and its hit count, with
the document formulas): ``valence = S'/sqrt(S'^2 + alpha)`` with ``S' = S_a / max(hits_a, 1) **
valence_hits_power``; ``intensity = A_a/sqrt(A_a^2 + alpha)``; emotion intensities
``1 - exp(-emotion_gain * X_a[e])`` rounded to float32, the dominant one by the document rule
(-1 = neutral). An aspect mentioned with no contribution scores 0, 0, neutral.

**Output layout.** The caller runs :func:`document_aspects` first (the document's aspect mask), sizes
document ``d``'s slots as ``aspect_offsets[d]:aspect_offsets[d+1]`` (the popcount of its mask) and
passes both to :func:`score_document`, which writes ``out.aspect`` (aspect id), ``out.aspect_valence``,
``out.aspect_intensity`` and ``out.aspect_emotion`` there, in first-mention order. With an empty
``aspect_mask`` (aspects off) no aspect work is done.
"""

from types import FunctionType, SimpleNamespace
from typing import NamedTuple

from numba import float64, int64, uint64  # explicit widths on every target (CUDA's float() keeps float32)

from . import evidence_rules, normalise, params
from .evidence_rules import (
    RULE_BOOSTED,
    RULE_CAPS,
    RULE_CONTRAST,
    RULE_CONTRAST_BEFORE,
    RULE_DAMPENED,
    RULE_EXPECTATION,
    RULE_EXPRESSION,
    RULE_NEGATED,
    RULE_WORD,
    attribute_evidence,
    close_evidence_sentence,
    record_evidence,
    record_unit,
    weigh_evidence,
)
from .normalise import add_sentence_emotions, aspect_dominant, document_emotions, normalised, weigh_sentence_emotions
from .params import read_params

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
ROLE_EXPECTATION = 4

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


# Term classes: what a term does for the rules, one byte per term (``contract.lexicon_arrays`` derives
# them), so that a token which only serves aspects or does nothing ("the", "my") costs a load and a
# branch, not the scoring path.
CLASS_SCORES = 1        # no role, and a non-zero valence or a positive emotion weight
CLASS_NEGATOR = 2
CLASS_MODIFIER = 4
CLASS_CONTRAST = 8
CLASS_EXPRESSION = 16   # the first word of an emotion expression
CLASS_EXPECTATION = 32
CLASS_RULES = CLASS_SCORES | CLASS_NEGATOR | CLASS_MODIFIER | CLASS_CONTRAST | CLASS_EXPRESSION | CLASS_EXPECTATION

# Explanations (``Scorer(explain=True)``): :func:`for_target` with ``explain=True`` compiles the rules with
# EXPLAIN set, and :func:`score_document` then records evidence in ``ev`` (``evidence_rules``); with EXPLAIN
# False (every other build) those blocks are constant-false branches that Numba removes before typing, so
# the scoring path is unchanged and ``ev`` may be None.
EXPLAIN = False

# Window slots hold term ids; this marks an empty slot or an unknown word. The roles of the 3 slots
# are also kept as 3 bits each (slot 1 lowest), so a unit with no role word before it skips the
# window scan.
_NO_TERM = -1
_ROLE_BITS = 511


class Window(NamedTuple):
    """The (at most) 3 units before the current one in its scope, nearest first."""

    term1: int      # term ids (_NO_TERM: none); read only where the role is ROLE_MODIFIER
    term2: int
    term3: int
    caps1: bool     # ALL CAPS
    caps2: bool
    caps3: bool
    roles: int      # ROLE_* of each, 3 bits per unit (unit 1 lowest)


class AspectSlots(NamedTuple):
    """Where a document's aspect sums live in the scratch (see ASPECT_SLOT_ROWS) and its outputs."""

    base: int       # its first output slot ...
    end: int        # ... and the end of its slots
    cur: int        # scratch row of the current scope
    first: int      # scratch row of slot 0; slot k's rows start at first + ASPECT_SLOT_ROWS * width * k
    width: int      # row width: valence sum, hits, absolute sum, E emotion sums


# ---- helpers: one step of the rules each, named as in tests/reference_score.py ---------------------
# Plain functions: the CPU kernel compiles them with numba.njit(inline="always") and the GPU kernel with
# cuda.jit(device=True, inline="always") (see for_target), so they cost no call.


def match_expression(term_ids, flags, p, end, first, parts, words, next_words, t):
    """The first (longest) expression of term ``t``'s candidates ``first[t]:first[t+1]`` whose words
    are the tokens from ``p`` on, none but the last ending a sentence or clause: (its index, its
    word count), or (-1, 1). ``next_words[t]``: the candidates' second words (contract.next_words)."""
    if p + 1 < end and ((next_words[t] >> uint64(term_ids[p + 1] & 63)) & uint64(1)) == 0:
        return -1, 1
    for m in range(first[t], first[t + 1]):
        q0 = parts[m]
        n_words = parts[m + 1] - q0
        if n_words < 1 or p + n_words > end:
            continue
        matched = True
        for k in range(n_words):
            if term_ids[p + k] != words[q0 + k]:
                matched = False
                break
            if k < n_words - 1 and (flags[p + k] & (FLAG_SENT_END | FLAG_CLAUSE)) != 0:
                matched = False
                break
        if matched:
            return m, n_words
    return -1, 1


def read_unit(stream, lex, i, end):
    """The unit at token ``i``: (its term, its last token, ALL CAPS) -- an expression or one token."""
    t = stream.term_ids[i]
    last = i
    unit_caps = (stream.flags[i] & FLAG_CAPS) != 0
    if t >= 0 and (lex.term_class[t] & CLASS_EXPRESSION) != 0:
        m, n_words = match_expression(stream.term_ids, stream.flags, i, end, lex.mwe_first, lex.mwe_parts,
                                      lex.mwe_words, lex.mwe_next, t)
        if m >= 0:
            t = lex.mwe_term[m]
            last = i + n_words - 1
            for k in range(1, n_words):
                if (stream.flags[i + k] & FLAG_CAPS) == 0:
                    unit_caps = False
    return t, last, unit_caps


def mention_at(stream, aspects, p, end):
    """The aspect mention at token ``p`` (a term): (its mask, 0 for no aspect, and the token after it)."""
    t = stream.term_ids[p]
    m, n_words = match_expression(stream.term_ids, stream.flags, p, end, aspects.amwe_first, aspects.amwe_parts,
                                  aspects.amwe_words, aspects.amwe_next, t)
    if m >= 0:
        return aspects.amwe_mask[m], p + n_words
    return aspects.aspect_mask[t], p + 1


def empty_window():
    """The window at the start of a scope."""
    return Window(_NO_TERM, _NO_TERM, _NO_TERM, False, False, False, 0)


def window_after(win, t, caps, role):
    """The window once the unit (term ``t``, ALL CAPS ``caps``, ``role``) joins it."""
    return Window(int64(t), win.term1, win.term2, caps, win.caps1, win.caps2,
                  ((win.roles << 3) | int64(role)) & _ROLE_BITS)


def window_after_plain(win, n):
    """The window after ``n`` units that have no role (their terms and caps are never read)."""
    if n >= 3:
        return empty_window()
    if n == 2:
        return Window(_NO_TERM, _NO_TERM, win.term1, False, False, win.caps1, (win.roles << 6) & _ROLE_BITS)
    if n == 1:
        return Window(_NO_TERM, win.term1, win.term2, False, win.caps1, win.caps2, (win.roles << 3) & _ROLE_BITS)
    return win


def skip_plain_tokens(stream, lex, aspects, read_mentions, i, end, win, cur_mask, seen, n_seen, next_mention,
                      slots, scratch, out_aspect):
    """The run of tokens from ``i`` that only take window positions: unknown words, and terms with no
    role that neither score nor start an expression (most tokens); an aspect mention starting in it
    is read on the way when ``read_mentions`` (aspects on, and they still matter). The run stops before a
    token that ends a sentence or clause and before the document's last token, which the general
    path handles: (the token after the run, the window after it, and the mentions as in
    :func:`scope_mentions`)."""
    j = i
    while j < end - 1 and (stream.flags[j] & (FLAG_SENT_END | FLAG_CLAUSE)) == 0:
        t = stream.term_ids[j]
        if (lex.term_class[max(t, -1)] & CLASS_RULES) != 0:   # (-1: the unknown word's class, 0)
            break
        if read_mentions and t >= 0 and j >= next_mention:   # (any term: its mask is 0 if it is no aspect)
            cur_mask, seen, n_seen, next_mention = read_mention(stream, aspects, j, end, cur_mask, seen, n_seen,
                                                                slots, scratch, out_aspect)
        j += 1
    return j, window_after_plain(win, j - i), cur_mask, seen, n_seen, next_mention


def mixed_case(flags, start, end):
    """Some token is neither ALL CAPS nor an emoji (usually the first one: cheap)."""
    for i in range(start, end):
        if (flags[i] & (FLAG_CAPS | FLAG_EMOJI)) == 0:
            return True
    return False


def window_effect(rp, modifier, win, unit_caps, mixed, v, far_negated):
    """What the window does to a scoring unit of valence ``v`` (``far_negated``: the scope holds an odd
    number of negators since its last scoring unit with a valence, the last of them within reach):
    (valence multiplier, emotion multiplier, emotion transferred by negation, the emotion it goes to or
    -1, the RULE_* bits that applied -- for explanations; the scoring path drops them)."""
    applied = 0
    negated = False
    nearest = 0
    farthest = 0
    mult = 1.0
    role_bits = win.roles
    if role_bits != 0:
        # negators in the window: parity decides, the nearest one sets the strength
        n_neg = 0
        for k in range(1, 4):
            if ((role_bits >> (3 * k - 3)) & 7) == ROLE_NEGATOR:
                n_neg += 1
                if nearest == 0:
                    nearest = k
                farthest = k
        negated = (n_neg % 2) == 1
    if far_negated and nearest == 0:    # no negator in the window: one beyond it reaches this unit
        negated = True
        nearest = farthest = 4
    if role_bits != 0:
        # modifiers in the window
        for k in range(1, 4):
            if ((role_bits >> (3 * k - 3)) & 7) != ROLE_MODIFIER:
                continue
            wt = win.term1
            wcaps = win.caps1
            strength = 1.0
            if k == 2:
                wt = win.term2
                wcaps = win.caps2
                strength = rp.decay_2
            elif k == 3:
                wt = win.term3
                wcaps = win.caps3
                strength = rp.decay_3
            x = float64(modifier[wt])
            if x > 0.0:
                applied |= RULE_BOOSTED
            elif x < 0.0:
                applied |= RULE_DAMPENED
            if wcaps and mixed:
                x *= 1.0 + rp.caps_boost
                applied |= RULE_CAPS
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
        f = 1.0 + rp.caps_boost
        if f < 0.0:
            f = 0.0
        mult *= f
        applied |= RULE_CAPS
    valence_mult = mult
    emotion_mult = abs(mult)
    transfer = 0.0
    target = -1
    if negated:
        applied |= RULE_NEGATED
        strength = 1.0
        if nearest == 2:
            strength = rp.decay_2
        elif nearest >= 3:
            strength = rp.decay_3
        valence_mult = mult * (1.0 + (rp.negation_scale - 1.0) * strength)
        emotion_mult = abs(mult * (1.0 + (rp.negated_emotion_scale - 1.0) * strength))
        transfer = abs(rp.negated_transfer * strength * v) / 4.0 * abs(mult)
        if v > 0.0:
            target = rp.negated_positive
        elif v < 0.0:
            target = rp.negated_negative
    return valence_mult, emotion_mult, transfer, target, applied


def add_emotions(scratch, row, lex, t, emotion_mult, transfer, target, n_emo):
    """Add term ``t``'s emotion contributions (its non-zero weights only) to ``scratch[row:row+E]``."""
    for j in range(lex.emotion_first[t], lex.emotion_first[t + 1]):
        scratch[row + lex.emotion_index[j]] += float64(lex.emotion_weight[j]) * emotion_mult
    if target >= 0 and target < n_emo:
        scratch[row + target] += transfer


def register_aspects(mention, seen, n_seen, slots, scratch, out_aspect):
    """Give the aspects of ``mention`` not ``seen`` yet their slots, in first-mention order (several
    at once: by ascending id): (slots used, aspects seen)."""
    a_base, a_slots, aw = slots.base, slots.first, slots.width
    new = mention & ~seen
    a = 0
    while new != 0:
        if (new & uint64(1)) != 0 and a_base + n_seen < slots.end:
            out_aspect[a_base + n_seen] = a
            n_seen += 1
            row = a_slots + ASPECT_SLOT_ROWS * aw * n_seen
            clear(scratch, row, 2 * aw)     # pre, post and total start zero (prev is assigned before
            clear(scratch, row + 3 * aw, aw)  # it is read)
        new = new >> uint64(1)
        a += 1
    return n_seen, seen | mention


def settle_aspects(w, w_emotions, prev_s, prev_a, prev_hits, prev_emotions, prev_target, prev_touched, n_seen,
                   slots, prev, n_emo, scratch, out_aspect):
    """Add the previous sentence, weighted ``w`` (its emotions ``w_emotions``), to the totals of the aspects
    it went to: a uniform sentence's own sums to its target's aspects, a mixed one's per-aspect rows to
    theirs."""
    a_base, a_slots, aw = slots.base, slots.first, slots.width
    for k in range(1, n_seen + 1):
        row = a_slots + ASPECT_SLOT_ROWS * aw * k + 2 * aw
        if ((prev_target >> uint64(out_aspect[a_base + k - 1])) & uint64(1)) != 0:
            scratch[row + aw] += prev_s * w
            scratch[row + aw + 1] += float64(prev_hits)
            scratch[row + aw + 2] += prev_a * abs(w)
            if prev_emotions:
                for e in range(n_emo):
                    scratch[row + aw + 3 + e] += scratch[prev + e] * w_emotions
        elif ((prev_touched >> uint64(min(k, 63))) & uint64(1)) != 0:
            scratch[row + aw] += scratch[row] * w
            scratch[row + aw + 1] += scratch[row + 1]
            scratch[row + aw + 2] += scratch[row + 2] * abs(w)
            for e in range(3, aw):
                scratch[row + aw + e] += scratch[row + e] * w_emotions


def end_scope(contrast, cur_mask, last_mask, cur_any, u_target, u_any, u_mixed, touched, n_seen, slots, scratch,
              out_aspect):
    """At the end of an aspect scope, its contributions go to its aspects (or wait in the sentence's
    uniform rows): (u_target, u_any, u_mixed, touched, last_mask)."""
    a_base, a_cur, a_slots, aw = slots.base, slots.cur, slots.first, slots.width
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
        clear(scratch, a_cur, aw)
    if u_target == 0:           # the first scope with a mention sets the sentence's target
        u_target = target
    if cur_mask != 0:
        last_mask = cur_mask
    if contrast:
        # everything so far in the sentence now stands before the (last) contrast word
        if u_any and not u_mixed:
            move_row(scratch, a_slots + aw, a_slots, aw)
        for k in range(1, n_seen + 1):
            if ((touched >> uint64(min(k, 63))) & uint64(1)) != 0:   # (only when mixed)
                row = a_slots + ASPECT_SLOT_ROWS * aw * k
                move_row(scratch, row + aw, row, aw)
    return u_target, u_any, u_mixed, touched, last_mask


def sentence_weights(rp, has_contrast, expected, unit_flags):
    """A sentence's contrast weights and emphasis: (before its last contrast word, for its emotions, after
    it, emphasis). ``expected``: an expectation word stands before a contrast word, which denies it."""
    w_pre = w_pre_emotions = 0.0
    w_post = 1.0
    if has_contrast:
        w_pre = rp.contrast_before
        w_pre_emotions = abs(w_pre)
        w_post = rp.contrast_after
        if expected:
            w_pre *= rp.negation_scale
            w_pre_emotions *= abs(rp.negated_emotion_scale)
    n_excl = (unit_flags >> EXCL_SHIFT) & 3
    n_quest = (unit_flags >> QUEST_SHIFT) & 3
    emphasis = 1.0 + rp.excl_boost * n_excl
    if n_quest >= 2:
        emphasis *= 1.0 + rp.quest_boost * n_quest
    return w_pre, w_pre_emotions, w_post, emphasis


def sentence_weights_after(rp, role, question, alone):
    """How the previous sentence counts, given the first unit of the next (its ``role``; ``alone``: the
    unit is the whole sentence): (valence weight, emotion weight, RULE_* applied). A contrast word weighs
    it by ``contrast_before``; a lone negator answering a question ("Did we enjoy it? No.") negates it."""
    if role == ROLE_CONTRAST:
        return rp.contrast_before, abs(rp.contrast_before), RULE_CONTRAST_BEFORE
    if role == ROLE_NEGATOR and question and alone:
        return rp.negation_scale, abs(rp.negated_emotion_scale), RULE_NEGATED
    return 1.0, 1.0, 0


def close_aspect_sentence(touched, u_any, u_mixed, u_target, n_seen, slots, w_pre, w_pre_emotions, w_post, emphasis,
                          scratch):
    """At the end of a sentence: a mixed one's per-aspect rows, weighted as the sentence, into each
    aspect's prev row; the uniform rows cleared: the target the sentence settles to as a whole
    (uniform: from the document's sentence sums), or 0."""
    a_slots, aw = slots.first, slots.width
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
            w = abs(w_pre) if e == 2 else w_pre_emotions
            scratch[row + 2 * aw + e] = (scratch[row + e] * w + scratch[row + aw + e] * abs(w_post)) * abs(emphasis)
            scratch[row + e] = 0.0
            scratch[row + aw + e] = 0.0
    if u_any:
        clear(scratch, a_slots, 2 * aw)
    if u_mixed:
        return uint64(0)
    return u_target


def scope_mentions(stream, lex, aspects, p, last, end, cur_mask, seen, n_seen, slots, scratch, out_aspect):
    """The aspect mentions starting at tokens ``p..last`` join the scope's (``cur_mask``) and get
    their slots: (cur_mask, seen, n_seen, the token after the last one read)."""
    while p <= last:
        if stream.term_ids[p] >= 0:
            cur_mask, seen, n_seen, p = read_mention(stream, aspects, p, end, cur_mask, seen, n_seen, slots,
                                                     scratch, out_aspect)
        else:
            p += 1
    return cur_mask, seen, n_seen, p


def read_mention(stream, aspects, p, end, cur_mask, seen, n_seen, slots, scratch, out_aspect):
    """The mention at token ``p`` (a term) joins the scope's aspects (``cur_mask``) and its new aspects
    get their slots: (cur_mask, seen, n_seen, the token after the mention)."""
    mention, after = mention_at(stream, aspects, p, end)
    n_seen, seen = register_aspects(mention, seen, n_seen, slots, scratch, out_aspect)
    return cur_mask | mention, seen, n_seen, after


def clear(scratch, start, n):   # scratch[start:start+n] = 0
    for k in range(n):
        scratch[start + k] = 0.0


def move_row(scratch, src, dst, n):
    """Add the ``n`` values at ``src`` to those at ``dst``; ``src`` is left zero."""
    for e in range(n):
        scratch[dst + e] += scratch[src + e]
        scratch[src + e] = 0.0


def aspect_scores(out, slots, n_seen, scratch, n_emo, rp):
    """Each aspect's outputs: the document formulas over its total sums."""
    for k in range(n_seen):
        row = slots.first + ASPECT_SLOT_ROWS * slots.width * (k + 1) + 3 * slots.width
        a_val, a_int = normalised(scratch[row], scratch[row + 2], scratch[row + 1], rp)
        out.aspect_valence[slots.base + k] = a_val
        out.aspect_intensity[slots.base + k] = a_int
        out.aspect_emotion[slots.base + k] = aspect_dominant(scratch, row + 3, n_emo, rp)


def record_rule_word(ev, lex, k, pre_end, i, last, t, role):
    """Evidence element ``k`` for a rule word (tokens ``i..last``, term ``t``): no contribution, the rule
    it applies: (the next element, where the elements before the sentence's last contrast word end)."""
    applied = RULE_WORD | (RULE_EXPRESSION if last > i else 0)
    if role == ROLE_NEGATOR:
        applied |= RULE_NEGATED
    elif role == ROLE_CONTRAST:
        applied |= RULE_CONTRAST
        pre_end = k + 1
    elif role == ROLE_EXPECTATION:
        applied |= RULE_EXPECTATION
    elif lex.modifier[t] > 0.0:
        applied |= RULE_BOOSTED
    elif lex.modifier[t] < 0.0:
        applied |= RULE_DAMPENED
    record_evidence(ev, k, i, last, t, 0.0, 0.0, 0.0, -1, applied)
    return k + 1, pre_end


# ---- the rules of one document ----------------------------------------------------------------------


def document_aspects(d, stream, lex, aspects, out_doc_aspects):
    """The aspect mask of document ``d`` (the union of its mentions) into ``out_doc_aspects[d]``."""
    end = stream.doc_offsets[d + 1]
    found = uint64(0)
    p = stream.doc_offsets[d]
    while p < end:
        t = stream.term_ids[p]
        if t >= 0:      # (every term: a test of its class would be as dear as the mention's)
            mention, p = mention_at(stream, aspects, p, end)
            found |= mention
        else:
            p += 1
    out_doc_aspects[d] = found


# Performance: one exit, no exceptions (compile with error_model="numpy") and no allocation, so the CPU
# kernel compiles score_document without reference counting (score_cpu.RULES_OPTIONS). An empty (or null)
# document falls through every loop and scores all zeros.
# Aspects are on when the lexicon has aspect data and the document mentions one. With one aspect, a
# sentence's contributions go to it iff the sentence mentions it: scope rows only for several. A sentence
# whose contributions all go to one target (the usual case) is "uniform": its scopes add into the first
# two rows of slot 0 (kept only in case it stops being uniform) and it is settled from the document's own
# sentence sums, once per aspect. A scope whose target differs makes the sentence "mixed": from then on
# scopes add into the slots' rows.
# Scratch rows: [0, E) before the last contrast word, [E, 2E) after it, [2E, 3E) the previous sentence
# (kept until we know whether the next one opens with a contrast word). The emotion loops run only when
# a row holds something: most sentences of a review score nothing.
def score_document(d, stream, lex, aspects, doc_aspects, scratch, out, ev):
    """Score document ``d`` of a CSR token stream into element ``d`` of the output arrays: ``stream``,
    ``lex``, ``aspects``, ``out`` are ``contract.TokenStream``, ``LexiconArrays``, ``AspectArrays`` (an
    empty ``aspect_mask``: aspects off) and ``ScoreArrays`` (``aspect_offsets`` is read: each document's
    slots); ``doc_aspects`` u64[D] from :func:`document_aspects`; ``scratch`` float64[>= scratch_size(E,
    aspects)], overwritten; ids are trusted to be ``< N``. ``ev``: an ``evidence_rules.Evidence`` to
    explain the scores in when compiled with EXPLAIN (:func:`for_target`), else unused (None)."""
    flags = stream.flags
    term_class = lex.term_class
    n_emo = lex.weights.shape[1]
    start = stream.doc_offsets[d]
    end = stream.doc_offsets[d + 1]
    rp = read_params(lex.params)
    out.tokens[d] = max(end - start, 0)

    aspects_on = aspects.aspect_mask.shape[0] > 0 and doc_aspects[d] != 0
    several = aspects_on and (doc_aspects[d] & (doc_aspects[d] - uint64(1))) != 0
    aw = n_emo + 3
    slots = AspectSlots(0, 0, SCRATCH_ROWS * n_emo, SCRATCH_ROWS * n_emo + aw, aw)
    read_mentions = aspects_on
    if aspects_on:
        slots = AspectSlots(out.aspect_offsets[d], out.aspect_offsets[d + 1], slots.cur, slots.first, aw)
    if several:
        clear(scratch, slots.cur, 3 * aw)
    n_seen, seen = 0, uint64(0)  # slots used, and the aspects registered so far
    cur_mask = uint64(0)        # aspects mentioned in the current scope
    last_mask = uint64(0)       # ... in the nearest preceding scope of the sentence that has one
    cur_any = False             # the current scope has contributions (row slots.cur)
    u_target = uint64(0)        # target of the sentence so far (0: no mention yet)
    u_any = u_mixed = False     # slot 0's rows hold something; the sentence is mixed
    prev_target = uint64(0)     # the previous sentence, if uniform with a mention
    sent_hits = prev_hits = 0   # hits before the current sentence, and of the previous one
    dropped = False             # some sentence with hits had no mention
    touched = prev_touched = uint64(0)  # slots with sums in this (mixed) sentence (bit min(k, 63)), the last
    next_mention = start        # tokens before this one are covered by a mention already

    pre, post, prev = 0, n_emo, 2 * n_emo
    clear(scratch, 0, 2 * n_emo)    # the sentence rows start (and are left) zero
    # the sentence rows hold something; the previous-sentence row does; out.emotions[:, d] holds the sums
    sentence_emotions = prev_emotions = doc_emotions = False
    mixed = mixed_case(flags, start, end)

    total_s = total_a = 0.0     # document sums S and A (emotion sums accumulate in out.emotions[:, d])
    pre_s = pre_a = 0.0     # sentence sums before the last contrast word ...
    post_s = post_a = 0.0   # ... and after it (all of the sentence when it has none)
    prev_s = prev_a = 0.0  # the previous sentence, weighted, not yet added to the totals
    has_prev = has_contrast = prev_question = far_negated = False   # (far_negated: see window_effect)
    expecting = expected = False    # the sentence has an expectation word; one before a contrast word
    negator_end = start     # the last token of the scope's last negator
    sentence_start = True
    win = empty_window()
    hits = 0
    ev_n = ev_sentence = ev_pre_end = ev_scope = ev_prev = start   # EXPLAIN: elements (see evidence_rules)

    i = start
    while i < end:
        if not sentence_start:
            i, win, cur_mask, seen, n_seen, next_mention = skip_plain_tokens(
                stream, lex, aspects, read_mentions, i, end, win, cur_mask, seen, n_seen, next_mention, slots, scratch,
                out.aspect)

        # ---- the unit at i: a multi-word expression or one token, and the mentions starting in it
        t, last, unit_caps = read_unit(stream, lex, i, end)
        unit_flags = flags[last]
        unit_role = ROLE_NONE
        if t >= 0:
            unit_role = lex.role[t]
        if read_mentions:
            cur_mask, seen, n_seen, next_mention = scope_mentions(
                stream, lex, aspects, max(i, next_mention), last, end, cur_mask, seen, n_seen, slots, scratch,
                out.aspect)
            if cur_mask != 0 and not several:
                read_mentions = False   # the one aspect is mentioned: the sentence's other mentions add nothing

        # ---- a new sentence: settle the previous one -------------------------------------------
        if sentence_start and has_prev:
            w, w_emotions, weighed_by = sentence_weights_after(rp, unit_role, prev_question,
                                                               (unit_flags & FLAG_SENT_END) != 0 or last + 1 >= end)
            if EXPLAIN and weighed_by != 0:
                weigh_evidence(ev, ev_prev, ev_sentence, w, w_emotions, weighed_by)
            total_s += prev_s * w
            total_a += prev_a * abs(w)
            if prev_emotions:
                add_sentence_emotions(out.emotions, d, doc_emotions, scratch, prev, n_emo, w_emotions)
                doc_emotions = True
            if aspects_on and (prev_target | prev_touched) != 0:   # its aspects', weighted alike
                settle_aspects(w, w_emotions, prev_s, prev_a, prev_hits, prev_emotions, prev_target, prev_touched,
                               n_seen, slots, prev, n_emo, scratch, out.aspect)
            has_prev = False
        sentence_start = False

        # ---- score the unit, or apply its role --------------------------------------------------
        if t >= 0 and (term_class[t] & CLASS_SCORES) != 0:
            hits += 1
            v = float64(lex.valence[t])
            valence_mult, emotion_mult, transfer, target, applied = window_effect(
                rp, lex.modifier, win, unit_caps, mixed, v, far_negated and i - negator_end <= rp.negation_reach)
            far_negated = far_negated and v == 0.0     # (an emotion-only unit does not take the negator)
            c = v * valence_mult
            if EXPLAIN:
                ev_n = record_unit(ev, ev_n, i, last, t, c, emotion_mult, transfer, target, applied)
            post_s += c
            post_a += abs(c)
            add_emotions(scratch, post, lex, t, emotion_mult, transfer, target, n_emo)
            sentence_emotions = True
            if several:                 # the same contribution, kept for the scope's aspects
                scratch[slots.cur] += c
                scratch[slots.cur + 1] += 1.0
                scratch[slots.cur + 2] += abs(c)
                add_emotions(scratch, slots.cur + 3, lex, t, emotion_mult, transfer, target, n_emo)
                cur_any = True
        elif unit_role == ROLE_CONTRAST:
            # everything so far in the sentence now stands before the (last) contrast word
            pre_s, pre_a, post_s, post_a = pre_s + post_s, pre_a + post_a, 0.0, 0.0
            if sentence_emotions:
                move_row(scratch, post, pre, n_emo)
            has_contrast = True
            expected = expected or expecting
        elif unit_role == ROLE_NEGATOR:
            far_negated = not far_negated
            negator_end = last
        elif unit_role == ROLE_EXPECTATION:
            expecting = True
        if EXPLAIN and unit_role != ROLE_NONE:
            ev_n, ev_pre_end = record_rule_word(ev, lex, ev_n, ev_pre_end, i, last, t, unit_role)

        scope_end = unit_role == ROLE_CONTRAST or (rp.clause_scope and (unit_flags & FLAG_CLAUSE) != 0)
        if scope_end:
            win = empty_window()
            far_negated = False
        else:
            win = window_after(win, t, unit_caps, unit_role)
        i = last + 1
        sentence_end = (unit_flags & FLAG_SENT_END) != 0 or i >= end

        if aspects_on and (sentence_end or scope_end):   # the scope's contributions go to its aspects
            if several:
                u_target, u_any, u_mixed, touched, last_mask = end_scope(
                    unit_role == ROLE_CONTRAST, cur_mask, last_mask, cur_any, u_target, u_any, u_mixed, touched,
                    n_seen, slots, scratch, out.aspect)
                if EXPLAIN and u_mixed:     # the scope went to its target, now last_mask (uniform: below)
                    attribute_evidence(ev, ev_scope, ev_n, last_mask)
            else:                       # one aspect: the sentence's target, once it mentions it
                u_target |= cur_mask
            cur_any = False
            cur_mask = uint64(0)
        if EXPLAIN and (sentence_end or scope_end):
            ev_scope = ev_n

        # ---- end of sentence: contrast weights, emphasis; keep it as the previous sentence ------
        if sentence_end:
            w_pre, w_pre_emotions, w_post, emphasis = sentence_weights(rp, has_contrast, expected, unit_flags)
            if EXPLAIN:
                ev_prev, ev_sentence = close_evidence_sentence(ev, ev_sentence, ev_pre_end, ev_n, has_contrast,
                                                               expected, w_pre, w_pre_emotions, w_post, emphasis,
                                                               aspects_on, u_target)
                ev_pre_end = ev_scope = ev_n
            prev_s = (pre_s * w_pre + post_s * w_post) * emphasis
            prev_a = (pre_a * abs(w_pre) + post_a * abs(w_post)) * abs(emphasis)
            prev_emotions = sentence_emotions
            if sentence_emotions:
                weigh_sentence_emotions(scratch, pre, post, prev, n_emo, w_pre_emotions, w_post, emphasis)
            if aspects_on:
                read_mentions = True
                prev_target = close_aspect_sentence(touched, u_any, u_mixed, u_target, n_seen, slots, w_pre,
                                                    w_pre_emotions, w_post, emphasis, scratch)
                if not u_mixed and u_target == 0 and hits > sent_hits:
                    dropped = True      # (no mention in the sentence: its contributions go nowhere)
                prev_hits, sent_hits = hits - sent_hits, hits
                prev_touched = touched
                touched = u_target = last_mask = uint64(0)
                u_any = u_mixed = False
            sentence_emotions, has_prev = False, True
            pre_s = pre_a = post_s = post_a = 0.0
            has_contrast = far_negated = expecting = expected = False
            prev_question = ((unit_flags >> QUEST_SHIFT) & 3) != 0
            sentence_start = True
            win = empty_window()

    if has_prev:                    # the last sentence (its emotions are added below)
        total_s += prev_s
        total_a += prev_a
    val, inten = normalised(total_s, total_a, float64(hits), rp)
    best = document_emotions(out.emotions, d, doc_emotions, has_prev and prev_emotions, scratch, prev, n_emo, rp)
    if aspects_on:
        if has_prev and (prev_target | prev_touched) != 0:   # the last sentence (weight 1)
            settle_aspects(1.0, 1.0, prev_s, prev_a, prev_hits, prev_emotions, prev_target, prev_touched, n_seen,
                           slots, prev, n_emo, scratch, out.aspect)
        if n_seen == 1 and not dropped and not doc_emotions:
            # One aspect that every contribution went to, with the emotion sums of the last sentence
            # only: its sums are the document's, added in the same order, so its scores are too.
            out.aspect_valence[slots.base] = val
            out.aspect_intensity[slots.base] = inten
            out.aspect_emotion[slots.base] = best
        else:
            aspect_scores(out, slots, n_seen, scratch, n_emo, rp)
    out.valence[d], out.intensity[d], out.dominant[d] = val, inten, best
    out.hits[d] = hits
    if EXPLAIN:
        ev.count[d] = ev_n - start


# ---- compiling the rules for a target -------------------------------------------------------------

HELPERS = ("read_params", "match_expression", "read_unit", "mention_at", "empty_window", "window_after",
           "window_after_plain", "skip_plain_tokens", "mixed_case", "window_effect", "add_emotions",
           "register_aspects", "settle_aspects", "end_scope", "sentence_weights", "sentence_weights_after",
           "close_aspect_sentence",
           "normalised", "aspect_dominant", "scope_mentions", "read_mention", "clear", "move_row",
           "weigh_sentence_emotions", "add_sentence_emotions", "document_emotions", "aspect_scores",
           "record_rule_word", "record_evidence", "record_unit", "weigh_evidence", "attribute_evidence",
           "close_evidence_sentence")


def for_target(compile_helper, *, explain=False):
    """:func:`score_document` and :func:`document_aspects` for one Numba target: plain functions (to
    compile with the target's decorator) whose helpers are ``compile_helper(helper)`` -- e.g.
    ``numba.njit(inline="always")`` or ``cuda.jit(device=True, inline="always")``; with ``explain``,
    :func:`score_document` records evidence (EXPLAIN)."""
    # the helpers' names, and those their bodies read, from the modules they come from
    namespace = {**vars(params), **vars(normalise), **vars(evidence_rules), **globals(), "EXPLAIN": explain}
    for name in HELPERS:
        namespace[name] = compile_helper(_rebound(namespace[name], namespace))
    return SimpleNamespace(score_document=_rebound(score_document, namespace),
                           document_aspects=_rebound(document_aspects, namespace))


def _rebound(function, namespace):
    """``function`` reading its globals from ``namespace``."""
    return FunctionType(function.__code__, namespace, function.__name__, function.__defaults__)
