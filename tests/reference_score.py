"""Reference scorer: the rules of ``emoscore.kernels.rules`` restated in plain Python.

This is the oracle the fast kernels are tested against, so it is written for reading, not speed, and
shares no code with them (only the constants: param indices, flag bits, roles). Where the kernel walks
a document once with running sums, this module builds the intermediate structures a person would
draw on paper:

1. ``units(ids, flags, lex)`` -- the document as a list of :class:`Unit` (multi-word expressions
   matched first, longest candidate first, never across a sentence or clause end);
2. ``sentences(units)`` -- the units cut at sentence ends;
3. per sentence, every scoring unit's contribution, computed from the list of the (at most 3) units
   before it in its scope (and the scope's negators since its last scoring unit); then the sentence's
   contrast weights (by position relative to its last contrast word, denying an expectation before it)
   and its emphasis (``!``/``?`` of its last token);
4. sentence weights for a sentence followed by one that opens with a contrast word, or by a lone
   negator answering it, a question;
5. the normalisations;
6. aspects (when the lexicon has aspect arrays): ``aspect_mentions`` lists the mentions (greedy,
   left to right, longest aspect expression first, apart from the emotion units); each sentence is
   cut into scopes (after a contrast word or, with ``clause_scope``, a clause end); every scoring
   unit's final weighted contribution goes to the aspects mentioned in its scope, else to those of
   the nearest preceding scope of its sentence with a mention, else to the first following one,
   else to none; each aspect's sums are normalised like the document's.

See the module docstring of ``emoscore.kernels.rules`` for the rules in words.

Entry points: :func:`score_document` (one document given as Python lists) and :func:`score_stream`
(a CSR token stream, like ``emoscore.kernels.score_cpu.score_stream``; returns a
:class:`types.SimpleNamespace` with the same arrays, aspect CSR included).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from emoscore.kernels.params import (
    P_CAPS_BOOST,
    P_CLAUSE_SCOPE,
    P_CONTRAST_AFTER,
    P_CONTRAST_BEFORE,
    P_DECAY_2,
    P_DECAY_3,
    P_DOMINANT_MIN,
    P_EMOTION_GAIN,
    P_EXCL_BOOST,
    P_NEGATED_EMOTION_SCALE,
    P_NEGATED_NEGATIVE_EMOTION,
    P_NEGATED_POSITIVE_EMOTION,
    P_NEGATED_TRANSFER,
    P_NEGATION_REACH,
    P_NEGATION_SCALE,
    P_QUEST_BOOST,
    P_VALENCE_ALPHA,
    P_VALENCE_HITS_POWER,
)
from emoscore.kernels.rules import (
    EXCL_SHIFT,
    FLAG_CAPS,
    FLAG_CLAUSE,
    FLAG_EMOJI,
    FLAG_SENT_END,
    QUEST_SHIFT,
    ROLE_CONTRAST,
    ROLE_EXPECTATION,
    ROLE_MODIFIER,
    ROLE_NEGATOR,
    ROLE_NONE,
)


@dataclass
class Unit:
    """One position of a document: a single token or a matched multi-word expression."""

    term: int        # term id, -1 for an unknown word
    caps: bool       # ALL CAPS (every word, for an expression)
    flags: int       # flags of its last token
    start: int = 0   # position of its first token in the document


@dataclass
class DocScore:
    valence: float
    intensity: float
    emotions: list = field(default_factory=list)   # float32-rounded values, as the kernel returns
    dominant: int = -1
    tokens: int = 0
    hits: int = 0
    # (aspect, valence, intensity, dominant, emotions), first-mention order
    aspects: list = field(default_factory=list)


class _Lex:
    """The lexicon arrays as plain Python lists."""

    def __init__(self, lex):
        self.valence = [float(v) for v in np.asarray(lex.valence).tolist()]
        weights = np.asarray(lex.weights, dtype=np.float32)
        self.n_emotions = weights.shape[1]
        self.weights = [[float(w) for w in row] for row in weights.tolist()]
        self.role = [int(r) for r in np.asarray(lex.role).tolist()]
        self.modifier = [float(m) for m in np.asarray(lex.modifier).tolist()]
        self.mwe_first = [int(x) for x in np.asarray(lex.mwe_first).tolist()]
        self.mwe_term = [int(x) for x in np.asarray(lex.mwe_term).tolist()]
        self.mwe_parts = [int(x) for x in np.asarray(lex.mwe_parts).tolist()]
        self.mwe_words = [int(x) for x in np.asarray(lex.mwe_words).tolist()]
        self.params = [float(p) for p in np.asarray(lex.params, dtype=np.float32).tolist()]
        mask = getattr(lex, "aspect_mask", None)
        self.aspect_mask = [int(x) for x in np.asarray(mask).tolist()] if mask is not None else []
        self.has_aspects = len(self.aspect_mask) > 0
        if self.has_aspects:
            self.amwe_first = [int(x) for x in np.asarray(lex.amwe_first).tolist()]
            self.amwe_parts = [int(x) for x in np.asarray(lex.amwe_parts).tolist()]
            self.amwe_words = [int(x) for x in np.asarray(lex.amwe_words).tolist()]
            self.amwe_mask = [int(x) for x in np.asarray(lex.amwe_mask).tolist()]

    def expressions_starting_with(self, term):
        """(term the expression scores as, its word ids) for each candidate, in lexicon order."""
        found = []
        for m in range(self.mwe_first[term], self.mwe_first[term + 1]):
            words = self.mwe_words[self.mwe_parts[m]:self.mwe_parts[m + 1]]
            found.append((self.mwe_term[m], words))
        return found

    def role_of(self, term):
        return ROLE_NONE if term < 0 else self.role[term]

    def scores(self, term):
        """Does this term contribute anything by itself?"""
        if term < 0 or self.role[term] != ROLE_NONE:
            return False
        return self.valence[term] != 0.0 or any(w > 0.0 for w in self.weights[term])


def units(ids, flags, lex):
    """Cut a document into units, matching multi-word expressions first."""
    out = []
    i = 0
    while i < len(ids):
        unit = Unit(term=ids[i], caps=bool(flags[i] & FLAG_CAPS), flags=flags[i], start=i)
        length = 1
        if ids[i] >= 0:
            for term, words in lex.expressions_starting_with(ids[i]):
                n = len(words)
                if n == 0 or i + n > len(ids):
                    continue
                if list(ids[i:i + n]) != list(words):
                    continue
                inner_breaks = [f for f in flags[i:i + n - 1] if f & (FLAG_SENT_END | FLAG_CLAUSE)]
                if inner_breaks:
                    continue
                unit = Unit(term=term,
                            caps=all(f & FLAG_CAPS for f in flags[i:i + n]),
                            flags=flags[i + n - 1], start=i)
                length = n
                break
        out.append(unit)
        i += length
    return out


def sentences(unit_list):
    """Cut units into sentences; the last sentence ends with the document."""
    out = [[]]
    for unit in unit_list:
        out[-1].append(unit)
        if unit.flags & FLAG_SENT_END:
            out.append([])
    if not out[-1]:
        out.pop()
    return out


def _strength(k, p):
    """Strength of a rule word k units back (1 = just before; 4: a negator beyond the window)."""
    return {1: 1.0, 2: p[P_DECAY_2], 3: p[P_DECAY_3], 4: p[P_DECAY_3]}[k]


def _contribution(unit, window, mixed, lex, far_negators=0):
    """(valence contribution, list of emotion contributions) of one scoring unit.

    ``window`` holds the units before it in its scope, nearest last; ``far_negators`` counts the
    negators of the scope since its last scoring unit when they reach it (0 otherwise).
    """
    p = lex.params
    v = lex.valence[unit.term]
    back = list(reversed(window[-3:]))                 # back[0] is 1 unit back
    negator_distances = [k + 1 for k, u in enumerate(back) if lex.role_of(u.term) == ROLE_NEGATOR]
    if not negator_distances and far_negators % 2 == 1:
        negator_distances = [4]                        # reaching past the window, as strong as 3 back
    negated = len(negator_distances) % 2 == 1

    multiplier = 1.0
    for k, u in enumerate(back, start=1):
        if lex.role_of(u.term) != ROLE_MODIFIER:
            continue
        x = lex.modifier[u.term]
        if u.caps and mixed:
            x = x * (1.0 + p[P_CAPS_BOOST])
        factor = 1.0 + x * _strength(k, p)
        softened = negated and x > 0 and max(negator_distances) > k
        if softened:
            factor = 1.0 / factor if factor > 0 else 0.0
        multiplier *= max(factor, 0.0)
    if unit.caps and mixed:
        multiplier *= max(1.0 + p[P_CAPS_BOOST], 0.0)

    weights = lex.weights[unit.term]
    if not negated:
        return v * multiplier, [w * abs(multiplier) for w in weights]

    s = _strength(min(negator_distances), p)
    valence_scale = 1.0 + (p[P_NEGATION_SCALE] - 1.0) * s
    emotion_scale = abs(1.0 + (p[P_NEGATED_EMOTION_SCALE] - 1.0) * s)
    emotions = [w * abs(multiplier * emotion_scale) for w in weights]
    target = -1
    if v > 0:
        target = int(p[P_NEGATED_POSITIVE_EMOTION])
    elif v < 0:
        target = int(p[P_NEGATED_NEGATIVE_EMOTION])
    if 0 <= target < len(emotions):
        emotions[target] += abs(p[P_NEGATED_TRANSFER] * s * v) / 4.0 * abs(multiplier)
    return v * valence_scale * multiplier, emotions


def _sentence(sentence, mixed, lex):
    """(signed sum, absolute sum, emotion sums, hits) of one sentence, contrast and emphasis applied."""
    p = lex.params
    scored = []      # (position in the sentence, valence contribution, emotion contributions)
    window = []
    far_negators = []    # last tokens of the scope's negators since its last unit with a valence (reach: the
                         # number of them when the unit starts at most negation_reach tokens after the last)
    for j, unit in enumerate(sentence):
        if lex.scores(unit.term):
            near = far_negators and unit.start - far_negators[-1] <= p[P_NEGATION_REACH]
            scored.append((j,) + _contribution(unit, window, mixed, lex, len(far_negators) if near else 0))
            if lex.valence[unit.term] != 0:     # an emotion-only unit leaves them to the next one
                far_negators = []
        elif lex.role_of(unit.term) == ROLE_NEGATOR:
            far_negators.append(sentence[j + 1].start - 1 if j + 1 < len(sentence) else unit.start)
        ends_scope = lex.role_of(unit.term) == ROLE_CONTRAST or (
            p[P_CLAUSE_SCOPE] != 0 and unit.flags & FLAG_CLAUSE)
        if ends_scope:
            window = []
            far_negators = []
        else:
            window.append(unit)

    contrasts = [j for j, u in enumerate(sentence) if lex.role_of(u.term) == ROLE_CONTRAST]
    # an expectation word before a contrast word: the contrast denies what was expected
    denied = bool(contrasts) and any(lex.role_of(u.term) == ROLE_EXPECTATION for u in sentence[:contrasts[-1]])
    last_flags = sentence[-1].flags
    emphasis = 1.0 + p[P_EXCL_BOOST] * ((last_flags >> EXCL_SHIFT) & 3)
    n_quest = (last_flags >> QUEST_SHIFT) & 3
    if n_quest >= 2:
        emphasis *= 1.0 + p[P_QUEST_BOOST] * n_quest

    signed = 0.0
    absolute = 0.0
    emotions = [0.0] * lex.n_emotions
    weighted = []    # per scoring unit: (position, signed, absolute, emotions), weights applied
    for j, c, ce in scored:
        weight = emotion_weight = 1.0
        if contrasts:
            weight = p[P_CONTRAST_BEFORE] if j < contrasts[-1] else p[P_CONTRAST_AFTER]
            emotion_weight = abs(weight)
            if denied and j < contrasts[-1]:
                weight *= p[P_NEGATION_SCALE]
                emotion_weight *= abs(p[P_NEGATED_EMOTION_SCALE])
        signed += c * weight * emphasis
        absolute += abs(c) * abs(weight) * abs(emphasis)
        for e in range(lex.n_emotions):
            emotions[e] += ce[e] * emotion_weight * abs(emphasis)
        weighted.append((j, c * weight * emphasis, abs(c) * abs(weight) * abs(emphasis),
                         [x * emotion_weight * abs(emphasis) for x in ce]))
    return signed, absolute, emotions, len(scored), weighted


def _sentence_weights(parts, n, lex):
    """(valence weight, emotion weight) of sentence ``n`` as a whole, set by the sentence after it: one
    opening with a contrast word weighs it by ``contrast_before``; one that is a single negator
    answering it, a question ("Did we enjoy the flight? No."), negates it: its valence by
    ``negation_scale``, its emotions by ``|negated_emotion_scale|``."""
    p = lex.params
    if n + 1 >= len(parts):
        return 1.0, 1.0
    following = parts[n + 1]
    if lex.role_of(following[0].term) == ROLE_CONTRAST:
        return p[P_CONTRAST_BEFORE], abs(p[P_CONTRAST_BEFORE])
    question = (parts[n][-1].flags >> QUEST_SHIFT) & 3
    if question and len(following) == 1 and lex.role_of(following[0].term) == ROLE_NEGATOR:
        return p[P_NEGATION_SCALE], abs(p[P_NEGATED_EMOTION_SCALE])
    return 1.0, 1.0


def aspect_mentions(ids, flags, lex):
    """[(position of the mention's first token, aspect mask)]: greedy, left to right, the longest
    matching aspect expression first (not across a sentence or clause end), else the word's mask."""
    out = []
    p = 0
    while p < len(ids):
        t = ids[p]
        length = 1
        mask = 0
        if t >= 0:
            mask = lex.aspect_mask[t]
            for m in range(lex.amwe_first[t], lex.amwe_first[t + 1]):
                words = lex.amwe_words[lex.amwe_parts[m]:lex.amwe_parts[m + 1]]
                n = len(words)
                if n == 0 or p + n > len(ids) or list(ids[p:p + n]) != words:
                    continue
                if any(f & (FLAG_SENT_END | FLAG_CLAUSE) for f in flags[p:p + n - 1]):
                    continue
                mask, length = lex.amwe_mask[m], n
                break
        if mask:
            out.append((p, mask))
        p += length
    return out


def _scopes(sentence, lex):
    """The scope number of each unit of a sentence (a scope ends after a contrast word or, with
    clause_scope, after a unit followed by , ; :)."""
    out = []
    scope = 0
    for unit in sentence:
        out.append(scope)
        if lex.role_of(unit.term) == ROLE_CONTRAST or (lex.params[P_CLAUSE_SCOPE] != 0
                                                        and unit.flags & FLAG_CLAUSE):
            scope += 1
    return out


def _aspects(ids, flags, parts, results, lex):
    """[(aspect, valence, intensity, dominant emotion, emotion intensities)] of one document, in
    first-mention order."""
    p = lex.params
    mentions = aspect_mentions(ids, flags, lex)
    order = []
    for _, mask in mentions:
        for a in range(64):
            if mask >> a & 1 and a not in order:
                order.append(a)
    if not order:
        return []
    # where each token sits: (sentence, scope)
    place = {}
    for n, sentence in enumerate(parts):
        scopes = _scopes(sentence, lex)
        for j, unit in enumerate(sentence):
            end = sentence[j + 1].start if j + 1 < len(sentence) else (
                parts[n + 1][0].start if n + 1 < len(parts) else len(ids))
            for pos in range(unit.start, end):
                place[pos] = (n, scopes[j])
    scope_mask = {}
    for pos, mask in mentions:
        scope_mask[place[pos]] = scope_mask.get(place[pos], 0) | mask
    sums = {a: [0.0, 0.0, 0, [0.0] * lex.n_emotions] for a in order}
    for n, sentence in enumerate(parts):
        scopes = _scopes(sentence, lex)
        w, w_emotions = _sentence_weights(parts, n, lex)
        with_mention = sorted(s for (m, s) in scope_mask if m == n)
        for j, c, ca, ce in results[n][4]:
            s = scopes[j]
            if (n, s) in scope_mask:
                target = s
            else:
                before = [x for x in with_mention if x < s]
                after = [x for x in with_mention if x > s]
                target = before[-1] if before else (after[0] if after else None)
            if target is None:
                continue
            for a in order:
                if scope_mask[(n, target)] >> a & 1:
                    total = sums[a]
                    total[0] += c * w
                    total[1] += ca * abs(w)
                    total[2] += 1
                    total[3] = [x + y * w_emotions for x, y in zip(total[3], ce, strict=True)]
    alpha = max(p[P_VALENCE_ALPHA], 0.0)
    out = []
    for a in order:
        s_a, a_a, hits, x = sums[a]
        s_a /= max(hits, 1) ** p[P_VALENCE_HITS_POWER]
        valence = s_a / math.sqrt(s_a ** 2 + alpha) if s_a != 0 else 0.0
        intensity = a_a / math.sqrt(a_a ** 2 + alpha) if a_a != 0 else 0.0
        emotions = [float(np.float32(max(0.0, 1.0 - math.exp(-p[P_EMOTION_GAIN] * v)))) for v in x]
        dominant = -1
        if emotions and max(emotions) > 0 and max(emotions) >= p[P_DOMINANT_MIN]:
            dominant = emotions.index(max(emotions))
        out.append((a, valence, intensity, dominant, emotions))
    return out


def score_document(ids, flags, lex) -> DocScore:
    """Score one document given as lists of term ids and flags; ``lex`` as in :func:`score_stream`."""
    if not isinstance(lex, _Lex):
        lex = _Lex(lex)
    ids = [int(t) for t in ids]
    flags = [int(f) for f in flags]
    n_emo = lex.n_emotions
    if not ids:
        return DocScore(0.0, 0.0, [0.0] * n_emo, -1, 0, 0)
    p = lex.params

    mixed = any(not (f & FLAG_CAPS) and not (f & FLAG_EMOJI) for f in flags)
    parts = sentences(units(ids, flags, lex))
    results = [_sentence(s, mixed, lex) for s in parts]

    total_s = 0.0
    total_a = 0.0
    totals = [0.0] * n_emo
    for n, (signed, absolute, emotions, _, _) in enumerate(results):
        w, w_emotions = _sentence_weights(parts, n, lex)
        total_s += signed * w
        total_a += absolute * abs(w)
        for e in range(n_emo):
            totals[e] += emotions[e] * w_emotions

    alpha = max(p[P_VALENCE_ALPHA], 0.0)
    hits = sum(r[3] for r in results)
    total_s /= max(hits, 1) ** p[P_VALENCE_HITS_POWER]
    valence = total_s / math.sqrt(total_s ** 2 + alpha) if total_s != 0 else 0.0
    intensity = total_a / math.sqrt(total_a ** 2 + alpha) if total_a != 0 else 0.0
    emotions = [float(np.float32(max(0.0, 1.0 - math.exp(-p[P_EMOTION_GAIN] * x)))) for x in totals]

    dominant = -1
    if emotions and max(emotions) > 0 and max(emotions) >= p[P_DOMINANT_MIN]:
        dominant = emotions.index(max(emotions))
    aspects = _aspects(ids, flags, parts, results, lex) if lex.has_aspects else []
    return DocScore(valence, intensity, emotions, dominant, len(ids), hits, aspects)


def score_stream(doc_offsets, term_ids, flags, lex) -> SimpleNamespace:
    """Score a CSR token stream; returns ``valence, intensity, emotions (E x D), dominant, tokens,
    hits`` arrays with the dtypes of ``ScoreArrays``."""
    plain = _Lex(lex)
    offsets = [int(o) for o in np.asarray(doc_offsets).tolist()]
    ids = np.asarray(term_ids).tolist()
    fl = np.asarray(flags).tolist()
    docs = [score_document(ids[a:b], fl[a:b], plain) for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    n_emo = plain.n_emotions
    return SimpleNamespace(
        valence=np.array([s.valence for s in docs], np.float32),
        intensity=np.array([s.intensity for s in docs], np.float32),
        emotions=np.array([[s.emotions[e] for s in docs] for e in range(n_emo)],
                          np.float32).reshape(n_emo, len(docs)),
        dominant=np.array([s.dominant for s in docs], np.int16),
        tokens=np.array([s.tokens for s in docs], np.int32),
        hits=np.array([s.hits for s in docs], np.int32),
        aspect_offsets=np.cumsum([0] + [len(s.aspects) for s in docs]).astype(np.int64),
        aspect=np.array([a[0] for s in docs for a in s.aspects], np.int16),
        aspect_valence=np.array([a[1] for s in docs for a in s.aspects], np.float32),
        aspect_intensity=np.array([a[2] for s in docs for a in s.aspects], np.float32),
        aspect_emotion=np.array([a[3] for s in docs for a in s.aspects], np.int16),
        aspect_emotions=[a[4] for s in docs for a in s.aspects],
        docs=docs,
    )
