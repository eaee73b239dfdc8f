"""What the rules record when they explain a score (``Scorer(explain=True)``).

:func:`.rules.score_document`, compiled with EXPLAIN (see :func:`.rules.for_target`), writes one
*evidence element* per scoring unit and per rule word into an :class:`Evidence`, through the helpers
here (inlined like the rules' own). An element's contributions are recorded as the unit scores and then
weighted as its sentence's sums are (:func:`close_evidence_sentence`), so they add up to the document's
sums; :func:`attribute_evidence` records the aspects each contribution went to. The Arrow column is
built from these arrays by ``emoscore.evidence``.
"""

from typing import NamedTuple

from numba import uint64

# An element's rules are bits; bit k is named RULE_NAMES[k]. RULE_WORD marks a rule word's element.
RULE_NEGATED = 1            # a scoring unit under negation / a negator
RULE_BOOSTED = 2            # ... with a booster in its window / a booster
RULE_DAMPENED = 4           # ... with a dampener in its window / a dampener
RULE_CONTRAST_BEFORE = 8    # before its sentence's last contrast word, or in a sentence the next one contrasts
RULE_CONTRAST_AFTER = 16    # after its sentence's last contrast word
RULE_CAPS = 32              # ALL CAPS in mixed-case text (the unit or a modifier acting on it)
RULE_EMPHASIS = 64          # its sentence ends with emphasis (! or ??)
RULE_EXPRESSION = 128       # a multi-word expression
RULE_CONTRAST = 256         # a contrast word
RULE_EXPECTATION = 512      # an expectation that the sentence's last contrast word denies / an expectation word
RULE_NAMES = ("negated", "boosted", "dampened", "contrast_before", "contrast_after", "caps", "emphasis",
              "expression", "contrast", "expectation")
RULE_WORD = 1 << 15         # a rule word (no contribution); not a name


class Evidence(NamedTuple):
    """Evidence elements of every document: document d's are the ``count[d]`` elements from index
    ``doc_offsets[d]`` (a unit covers at least one token, so they fit), in text order. An element's
    emotion contributions are ``weights[term, e] * emotion_mult``, plus ``transfer`` on emotion
    ``target`` (>= 0); its contributions include every rule (window, sentence weights, emphasis, the next
    sentence's contrast)."""

    count: object           # int32[D]
    first: object           # int32[T] (int64 for streams of 2**31 tokens or more), the unit's first token
    last: object            # ... and last (stream indices)
    term: object            # int32[T], the term it acts as (an expression's own term)
    valence: object         # float32[T], its signed valence contribution (as the column holds it)
    emotion_mult: object    # float32[T]
    transfer: object        # float32[T], emotion moved by negation ...
    target: object          # int16[T], ... to this emotion (-1: none)
    rules: object           # uint16[T], RULE_* bits
    aspects: object         # uint64[T], the aspects it was attributed to (bit a = aspect a)


def record_evidence(ev, k, i, last, t, c, emotion_mult, transfer, target, applied):
    """Evidence element ``k``: the unit at tokens ``i..last`` acting as term ``t``, with its contributions
    before the sentence weights and no aspect yet."""
    ev.first[k] = i
    ev.last[k] = last
    ev.term[k] = t
    ev.valence[k] = c
    ev.emotion_mult[k] = emotion_mult
    ev.transfer[k] = transfer
    ev.target[k] = target
    ev.rules[k] = applied
    ev.aspects[k] = uint64(0)


def record_unit(ev, k, i, last, t, c, emotion_mult, transfer, target, applied):
    """:func:`record_evidence` for a scoring unit (an expression when it spans several tokens): the next
    element's index."""
    if last > i:
        applied |= RULE_EXPRESSION
    record_evidence(ev, k, i, last, t, c, emotion_mult, transfer, target, applied)
    return k + 1


def weigh_evidence(ev, lo, hi, w, w_emotions, applied):
    """The scoring units among elements ``lo..hi-1`` weighted as their sentence's sums are: valence by ``w``,
    emotions by ``w_emotions``; ``applied`` joins their rules."""
    for k in range(lo, hi):
        if (ev.rules[k] & RULE_WORD) == 0:
            ev.valence[k] *= w
            ev.emotion_mult[k] *= w_emotions
            ev.transfer[k] *= w_emotions
            ev.rules[k] |= applied


def attribute_evidence(ev, lo, hi, mask):
    """The scoring units among elements ``lo..hi-1`` not attributed yet go to the aspects of ``mask``."""
    for k in range(lo, hi):
        if ev.aspects[k] == 0 and (ev.rules[k] & RULE_WORD) == 0:
            ev.aspects[k] = mask


def close_evidence_sentence(ev, first, pre_end, end, has_contrast, expected, w_pre, w_pre_emotions, w_post, emphasis,
                            aspects_on, target):
    """At a sentence's end (its elements ``first..end-1``, those before its last contrast word ending at
    ``pre_end``; ``expected``: the contrast denies an expectation): its contrast weights and emphasis, and
    its uniform part's aspects (``target``) for what has none yet: (the previous sentence's first element,
    the next one's first element)."""
    applied = 0
    if emphasis != 1.0:
        applied = RULE_EMPHASIS
    if has_contrast:
        denied = RULE_EXPECTATION if expected else 0
        weigh_evidence(ev, first, pre_end, w_pre * emphasis, w_pre_emotions * abs(emphasis),
                       applied | RULE_CONTRAST_BEFORE | denied)
        applied |= RULE_CONTRAST_AFTER
    weigh_evidence(ev, pre_end, end, w_post * emphasis, abs(w_post * emphasis), applied)
    if aspects_on:
        attribute_evidence(ev, first, end, target)
    return first, end
