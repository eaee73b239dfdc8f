"""The scoring kernel against the plain-Python reference, and each rule on hand-built token streams.

Lexicons are built by hand here (``LexBuilder``) so these tests depend on neither the lexicon
compiler nor the tokenizer; ``stream`` is a deliberately tiny test tokenizer that sets the flags of
docs/internals.md from punctuation and case.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reference_score
from emoscore.errors import InputError
from emoscore.kernels import params as rule_params
from emoscore.kernels import rules, score_cpu
from emoscore.kernels.contract import ScoreArrays, checked_stream, lexicon_arrays, next_words
from emoscore.kernels.params import (
    DEFAULT_PARAMS,
    EMOTION_PARAMS,
    N_PARAMS,
    PARAM_NAMES,
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
from emoscore.kernels.score_cpu import score_stream

EMOTIONS = ("joy", "frustration", "satisfaction", "anger")
JOY, FRUSTRATION, SATISFACTION, ANGER = range(4)
ALPHA = DEFAULT_PARAMS["valence_alpha"]
FIELDS = ("valence", "intensity", "emotions", "dominant", "tokens", "hits")


# --- building lexicons and streams by hand ------------------------------------------------------------


def _ro(array, dtype):
    array = np.ascontiguousarray(np.asarray(array, dtype=dtype))
    array.flags.writeable = False
    return array


def make_params(emotions=EMOTIONS, **overrides):
    """float32[N_PARAMS] from DEFAULT_PARAMS, emotion names resolved against ``emotions``."""
    values = dict(DEFAULT_PARAMS, **overrides)
    out = np.empty(N_PARAMS, np.float32)
    for i, name in enumerate(PARAM_NAMES):
        value = values[name]
        if name in EMOTION_PARAMS and isinstance(value, str):
            value = emotions.index(value) if value in emotions else -1
        out[i] = value
    return out


class LexBuilder:
    """Collects terms and multi-word expressions; ``build()`` returns CompiledLexicon-like arrays."""

    def __init__(self, emotions=EMOTIONS):
        self.emotions = tuple(emotions)
        self.words = {}          # word or expression text -> term id
        self.rows = []           # (valence, weights, role, modifier)
        self.expressions = []    # (word ids, term id)

    def term(self, word, valence=0.0, role=ROLE_NONE, modifier=0.0, **emotions):
        weights = [0.0] * len(self.emotions)
        for name, weight in emotions.items():
            weights[self.emotions.index(name)] = weight
        if word in self.words:
            self.rows[self.words[word]] = (valence, weights, role, modifier)
        else:
            self.words[word] = len(self.rows)
            self.rows.append((valence, weights, role, modifier))
        return self.words[word]

    def negator(self, word):
        return self.term(word, role=ROLE_NEGATOR)

    def modifier(self, word, x):
        return self.term(word, role=ROLE_MODIFIER, modifier=x)

    def contrast(self, word):
        return self.term(word, role=ROLE_CONTRAST)

    def mwe(self, text, valence=0.0, role=ROLE_NONE, modifier=0.0, **emotions):
        ids = [self.words[w] if w in self.words else self.term(w) for w in text.split()]
        term = self.term(text, valence, role, modifier, **emotions)
        self.expressions.append((ids, term))
        return term

    def build(self, **params):
        n = len(self.rows)
        # candidates grouped by first word, longest first (stable for equal lengths)
        order = sorted(range(len(self.expressions)),
                       key=lambda m: (self.expressions[m][0][0], -len(self.expressions[m][0])))
        first = np.zeros(n + 1, np.int32)
        for m in order:
            first[self.expressions[m][0][0] + 1] += 1
        first = np.cumsum(first).astype(np.int32)
        parts = [0]
        words = []
        for m in order:
            words.extend(self.expressions[m][0])
            parts.append(len(words))
        lex = SimpleNamespace(
            valence=_ro([r[0] for r in self.rows], np.float32),
            weights=_ro(np.array([r[1] for r in self.rows], np.float32).reshape(n, len(self.emotions)),
                        np.float32),
            role=_ro([r[2] for r in self.rows], np.uint8),
            modifier=_ro([r[3] for r in self.rows], np.float32),
            mwe_first=_ro(first, np.int32),
            mwe_term=_ro([self.expressions[m][1] for m in order], np.int32),
            mwe_parts=_ro(parts, np.int32),
            mwe_words=_ro(words, np.int32),
            params=_ro(make_params(self.emotions, **params), np.float32),
        )
        lex.emotions = self.emotions
        lex.ids = dict(self.words)
        return lex


def cx_lexicon(**params):
    """A small customer-experience lexicon for the hand-written cases."""
    b = LexBuilder()
    b.term("good", 1.9, joy=0.6, satisfaction=0.5)
    b.term("great", 3.1, joy=0.8)
    b.term("happy", 2.7, joy=1.0)
    b.term("bad", -2.5, frustration=0.5)
    b.term("problems", -1.7, frustration=0.6)
    b.term("slow", -1.2, frustration=0.4)
    b.term("fast", 1.5, satisfaction=0.6)
    b.term("waiting", -0.8, frustration=0.5)
    b.term("waste", -1.5, frustration=0.5)
    b.term("thanks", 0.0, joy=0.3)           # an emotion without valence still scores
    b.term("meh", 0.0, joy=0.05)             # too weak to be dominant
    b.term("ok")                              # in the lexicon, but scores nothing
    for word in ("not", "no", "never", "can't", "don't"):
        b.negator(word)
    b.modifier("very", 0.293)
    b.modifier("really", 0.3)
    b.modifier("slightly", -0.293)
    for word in ("but", "however"):
        b.contrast(word)
    b.term("expected", role=ROLE_EXPECTATION)
    b.mwe("can't stand", -2.5, frustration=0.8, anger=0.4)
    b.mwe("waste of time", -2.2, frustration=0.9)
    b.mwe("waste of money", -2.3, frustration=0.9, anger=0.2)
    b.mwe("well done", 2.3, satisfaction=0.8)
    b.mwe("kind of", role=ROLE_MODIFIER, modifier=-0.3)     # an expression with a role
    return b.build(**params)


_TOKEN = re.compile(r"[A-Za-z0-9']+|[\u2600-\u27BF\U0001F000-\U0001FAFF]|[.!?\u2026,;:\n]")


def tokens_of(text, lex):
    """(term ids, flags) of ``text``: a toy tokenizer that sets the flags of docs/internals.md."""
    ids, flags = [], []
    for match in _TOKEN.finditer(text):
        tok = match.group()
        if tok in ".\u2026\n!?,;:":
            if not flags:
                continue
            if tok in ",;:":
                flags[-1] |= FLAG_CLAUSE
            else:
                flags[-1] |= FLAG_SENT_END
            for mark, shift in (("!", EXCL_SHIFT), ("?", QUEST_SHIFT)):
                if tok == mark:
                    n = min(3, ((flags[-1] >> shift) & 3) + 1)
                    flags[-1] = (flags[-1] & ~(3 << shift)) | (n << shift)
            continue
        flag = 0
        if ord(tok[0]) >= 0x2600:
            flag = FLAG_EMOJI
        else:
            letters = [c for c in tok if c.isalpha()]
            if len(letters) >= 2 and all(c.isupper() for c in letters):
                flag = FLAG_CAPS
        ids.append(lex.ids.get(tok.lower(), -1))
        flags.append(flag)
    if flags:
        flags[-1] |= FLAG_SENT_END
    return ids, flags


def stream(texts, lex):
    """CSR token stream of ``texts`` (``None`` = a null document)."""
    offsets, ids, flags = [0], [], []
    for text in texts:
        if text is not None:
            i, f = tokens_of(text, lex)
            ids += i
            flags += f
        offsets.append(len(ids))
    return (np.array(offsets, np.int64), np.array(ids, np.int32), np.array(flags, np.uint8))


def _run(impl, offsets, ids, flags, lex):
    if impl == "kernel":
        return score_stream(offsets, ids, flags, lex)
    return reference_score.score_stream(offsets, ids, flags, lex)


@pytest.fixture(params=["kernel", "reference"])
def impl(request):
    """Each rule test checks the kernel and the reference alike."""
    return request.param


@pytest.fixture(scope="module")
def lex():
    return cx_lexicon()


def rows(impl, lex, texts):
    out = _run(impl, *stream(texts, lex), lex)
    result = []
    for d in range(len(texts)):
        row = {name: float(out.emotions[e, d]) for e, name in enumerate(lex.emotions)}
        row.update(valence=float(out.valence[d]), intensity=float(out.intensity[d]),
                   dominant=int(out.dominant[d]), tokens=int(out.tokens[d]), hits=int(out.hits[d]))
        result.append(row)
    return result


def one(impl, lex, text):
    return rows(impl, lex, [text])[0]


def compound(s, alpha=ALPHA):
    return s / math.sqrt(s * s + alpha) if s else 0.0


def emo(x, gain=1.0):
    return 1.0 - math.exp(-gain * x)


def approx(x):
    return pytest.approx(x, abs=2e-6)


# --- single terms, hits and tokens --------------------------------------------------------------------


def test_single_term_formulas(impl, lex):
    row = one(impl, lex, "The delivery was good")
    assert row["valence"] == approx(compound(1.9))
    assert row["intensity"] == approx(compound(1.9))
    assert row["joy"] == approx(emo(0.6))
    assert row["satisfaction"] == approx(emo(0.5))
    assert row["frustration"] == 0.0 and row["anger"] == 0.0
    assert row["dominant"] == JOY
    assert (row["tokens"], row["hits"]) == (4, 1)


def test_terms_add_up_and_intensity_counts_both_signs(impl, lex):
    row = one(impl, lex, "good and bad")
    assert row["valence"] == approx(compound(1.9 - 2.5))
    assert row["intensity"] == approx(compound(1.9 + 2.5))
    assert row["hits"] == 2


def test_role_words_and_empty_entries_do_not_score(impl, lex):
    row = one(impl, lex, "not very but ok")
    assert row == {**{e: 0.0 for e in EMOTIONS}, "valence": 0.0, "intensity": 0.0,
                   "dominant": -1, "tokens": 4, "hits": 0}


def test_emotion_without_valence_scores(impl, lex):
    row = one(impl, lex, "thanks")
    assert row["hits"] == 1 and row["valence"] == 0.0 and row["intensity"] == 0.0
    assert row["joy"] == approx(emo(0.3)) and row["dominant"] == JOY


def test_dominant_threshold_and_ties(impl):
    b = LexBuilder()
    b.term("meh", 0.0, joy=0.05)
    b.term("tie", 1.0, frustration=0.4, satisfaction=0.4)
    b.term("sat", 1.0, satisfaction=0.5)
    lex = b.build()
    meh, tie, both = rows(impl, lex, ["meh", "tie", "tie sat"])
    assert meh["joy"] == approx(emo(0.05)) and meh["dominant"] == -1     # 0.049 < dominant_min 0.1
    assert tie["dominant"] == FRUSTRATION                                  # lowest index on a tie
    assert both["dominant"] == SATISFACTION
    assert rows(impl, b.build(dominant_min=0.01), ["meh"])[0]["dominant"] == JOY


def test_empty_and_null_documents(impl, lex):
    out = _run(impl, *stream(["good", None, "", "  ...  ", "bad"], lex), lex)
    for d in (1, 2, 3):
        assert out.valence[d] == 0 and out.intensity[d] == 0
        assert out.dominant[d] == -1 and out.tokens[d] == 0 and out.hits[d] == 0
        assert not out.emotions[:, d].any()
    assert out.valence[0] > 0 > out.valence[4]
    assert out.tokens[0] == 1 and out.tokens[4] == 1


def test_no_documents(impl, lex):
    for offsets in (np.zeros(1, np.int64), np.zeros(0, np.int64)):
        out = _run(impl, offsets, np.zeros(0, np.int32), np.zeros(0, np.uint8), lex)
        assert out.valence.shape == (0,) and out.emotions.shape == (len(EMOTIONS), 0)
        assert out.dominant.dtype == np.int16 and out.tokens.dtype == np.int32


# --- negation -----------------------------------------------------------------------------------------


def test_negation_flips_sign_and_transfers_emotion(impl, lex):
    row = one(impl, lex, "not good")
    assert row["valence"] == approx(compound(-0.74 * 1.9))
    assert row["joy"] == approx(emo(0.3 * 0.6))
    assert row["satisfaction"] == approx(emo(0.3 * 0.5))
    assert row["frustration"] == approx(emo(0.5 * 1.9 / 4))     # "not happy" -> frustration
    assert row["intensity"] == approx(compound(0.74 * 1.9))


def test_not_bad_is_mildly_positive(impl, lex):
    good, bad, not_bad = rows(impl, lex, ["good", "bad", "not bad"])
    assert bad["valence"] < 0 < not_bad["valence"] < good["valence"]
    assert not_bad["satisfaction"] == approx(emo(0.5 * 2.5 / 4))
    assert not_bad["frustration"] == approx(emo(0.3 * 0.5))


def test_no_problems_at_all_is_positive_and_satisfied(impl, lex):
    row = one(impl, lex, "No problems at all")
    assert row["valence"] == approx(compound(0.74 * 1.7))
    assert row["satisfaction"] == approx(emo(0.5 * 1.7 / 4))
    assert row["satisfaction"] > row["frustration"] > 0
    assert row["dominant"] == SATISFACTION
    assert one(impl, lex, "problems")["dominant"] == FRUSTRATION


def test_negation_window_and_decay(impl, lex):
    d1, d2, d3, d4 = rows(impl, lex, ["not good", "not so good", "not so much good",
                                      "not so much as good"])
    assert d1["valence"] == approx(compound(1.9 * -0.74))
    assert d2["valence"] == approx(compound(1.9 * (1 - 1.74 * 0.95)))
    assert d3["valence"] == approx(compound(1.9 * (1 - 1.74 * 0.9)))
    assert d4["valence"] == approx(compound(1.9 * (1 - 1.74 * 0.9)))  # 4 back: reached, as strong as 3
    assert d1["valence"] < d2["valence"] < d3["valence"] < 0
    assert d3["frustration"] == approx(emo(0.5 * 0.9 * 1.9 / 4))


def test_negation_reaches_past_neutral_words_to_the_first_scoring_unit(impl, lex):
    far = 1.9 * (1 - 1.74 * 0.9)
    reached = rows(impl, lex, ["I don't think the staff was good at all",   # 5 units on
                               "not the staff at the hotel good",           # 6: negation_reach
                               "not the staff at that hotel was good",      # 7: out of reach
                               "not the staff at that hotel, good",         # a clause ends the scope
                               "not bad and the staff was good",            # "bad" took the negator
                               "not. the staff was good",                   # so does a sentence end
                               "not but the staff was good",                # and a contrast word
                               "never not the staff was good",              # two negators cancel
                               "not the staff was very good"])              # its window's booster softens
    assert reached[0]["valence"] == approx(compound(far)) and reached[1]["valence"] == approx(compound(far))
    assert reached[0]["frustration"] == approx(emo(0.5 * 0.9 * 1.9 / 4))
    for row in reached[2:4] + reached[5:8]:
        assert row["valence"] == approx(compound(1.9 * (1.5 if row is reached[6] else 1.0)))
    assert reached[4]["valence"] == approx(compound(-2.5 * -0.74 + 1.9))
    assert reached[8]["valence"] == approx(compound(far / 1.293))
    # an emotion-only unit ("thanks": no valence) is negated on the way but leaves the negator to "good"
    through = one(impl, lex, "not the staff, thanks, good")   # (clause ends the scope: a control)
    assert through["valence"] == approx(compound(1.9))
    through = one(impl, lex, "not the staff thanks was good")
    assert through["valence"] == approx(compound(far)) and through["hits"] == 2
    window_only = cx_lexicon(negation_reach=3.0)
    assert one(impl, window_only, "I don't think the staff was good")["valence"] == approx(compound(1.9))


def test_double_negation_cancels(impl, lex):
    assert one(impl, lex, "never not good")["valence"] == approx(compound(1.9))


def test_sentence_end_stops_negation_and_modifiers(impl, lex):
    good = one(impl, lex, "good")["valence"]
    for text in ("Not. Good", "not! good", "very. good", "Can't? Good"):
        assert one(impl, lex, text)["valence"] == approx(good), text


def test_clause_ends_scope_unless_disabled(impl, lex):
    assert one(impl, lex, "I don't know, it's good")["valence"] == approx(compound(1.9))
    assert one(impl, lex, "very, good")["valence"] == approx(compound(1.9))
    no_clause = cx_lexicon(clause_scope=0.0)
    assert one(impl, no_clause, "not, good")["valence"] == approx(compound(-0.74 * 1.9))


def test_negated_emotions_stay_positive(impl):
    row = one(impl, cx_lexicon(negated_emotion_scale=-0.5), "not good")
    assert row["joy"] == approx(emo(0.6 * 0.5))          # |1 + (-0.5 - 1) * 1| = 0.5


def test_transfer_can_be_switched_off(impl):
    lex = cx_lexicon(negated_positive_emotion=-1.0, negated_negative_emotion=7.0)  # none / out of range
    nh, nb = rows(impl, lex, ["not happy", "not bad"])
    assert nh["frustration"] == 0.0 and nb["satisfaction"] == 0.0
    assert nh["joy"] == approx(emo(0.3))


# --- modifiers ----------------------------------------------------------------------------------------


def test_booster_strength_decays_with_distance(impl, lex):
    b1, b2, b3, b4 = rows(impl, lex, ["very good", "very much good", "very much so good",
                                      "very much so much good"])
    assert b1["valence"] == approx(compound(1.9 * 1.293))
    assert b2["valence"] == approx(compound(1.9 * (1 + 0.293 * 0.95)))
    assert b3["valence"] == approx(compound(1.9 * (1 + 0.293 * 0.9)))
    assert b4["valence"] == approx(compound(1.9))
    assert b1["valence"] > b2["valence"] > b3["valence"] > b4["valence"]
    assert b1["joy"] == approx(emo(0.6 * 1.293))


def test_dampeners_and_stacked_modifiers(impl, lex):
    slight, very_very, kind_of = rows(impl, lex, ["slightly good", "very very good", "kind of good"])
    assert slight["valence"] == approx(compound(1.9 * (1 - 0.293)))
    assert very_very["valence"] == approx(compound(1.9 * 1.293 * (1 + 0.293 * 0.95)))
    assert kind_of["valence"] == approx(compound(1.9 * 0.7))      # an expression as a dampener
    assert kind_of["hits"] == 1 and kind_of["tokens"] == 3


def test_modifier_factor_never_negative(impl):
    b = LexBuilder()
    b.term("good", 2.0, joy=1.0)
    b.modifier("barely", -1.5)
    row = rows(impl, b.build(), ["barely good"])[0]
    assert row["valence"] == 0.0 and row["joy"] == 0.0 and row["hits"] == 1


def test_degenerate_softened_booster_is_zero_not_infinite(impl):
    b = LexBuilder()
    b.term("good", 2.0, joy=1.0)
    b.negator("not")
    b.modifier("very", 0.5)
    # "very" is 2 back with decay_2 = -2: 1 + 0.5 * -2 = 0, so softening would divide by zero
    row = rows(impl, b.build(decay_2=-2.0), ["not very so good"])[0]
    assert row["valence"] == 0.0 and row["joy"] == 0.0 and row["hits"] == 1


def test_booster_under_negation_softens(impl, lex):
    not_good, not_very_good = rows(impl, lex, ["not good", "not very good"])
    assert not_very_good["valence"] == approx(compound(1.9 / 1.293 * (1 - 1.74 * 0.95)))
    assert not_good["valence"] < not_very_good["valence"] < 0
    # a booster before the negator strengthens the negated term as usual
    assert one(impl, lex, "really not good")["valence"] == approx(
        compound(1.9 * -0.74 * (1 + 0.3 * 0.95)))


# --- CAPS and punctuation -----------------------------------------------------------------------------


def test_caps_boost_only_in_mixed_case(impl, lex):
    plain, shout_one, shout_all, caps_alone, with_emoji = rows(
        impl, lex, ["it is good", "it is GOOD", "IT IS GOOD", "GOOD", "GOOD \U0001F600"])
    assert shout_one["valence"] == approx(compound(1.9 * 1.35))
    assert shout_one["joy"] == approx(emo(0.6 * 1.35))
    assert shout_all["valence"] == approx(plain["valence"])
    assert caps_alone["valence"] == approx(plain["valence"])
    assert with_emoji["valence"] == approx(plain["valence"])     # an emoji is not a lower-case word


def test_caps_modifier_and_caps_expression(impl, lex):
    assert one(impl, lex, "it is VERY good")["valence"] == approx(compound(1.9 * (1 + 0.293 * 1.35)))
    full, half = rows(impl, lex, ["I CAN'T STAND waiting", "I CAN'T stand waiting"])
    assert full["valence"] == approx(compound(-2.5 * 1.35 - 0.8))
    assert half["valence"] == approx(compound(-2.5 - 0.8))


def test_exclamation_and_question_emphasis(impl, lex):
    cases = {"good": 1.0, "good!": 1.15, "good!!": 1.3, "good!!!": 1.45, "good!!!!!": 1.45,
             "good?": 1.0, "good??": 1.2, "good???": 1.3, "good!??": 1.15 * 1.2}
    got = rows(impl, lex, list(cases))
    for (text, factor), row in zip(cases.items(), got, strict=True):
        assert row["valence"] == approx(compound(1.9 * factor)), text
        assert row["joy"] == approx(emo(0.6 * factor)), text
    # emphasis belongs to its own sentence only
    assert one(impl, lex, "good! bad")["valence"] == approx(compound(1.9 * 1.15 - 2.5))


def test_shouted_great_beats_plain(impl, lex):
    plain, shouted = rows(impl, lex, ["The support was great", "The support was GREAT!!!"])
    assert shouted["valence"] > plain["valence"] > 0
    assert shouted["valence"] == approx(compound(3.1 * 1.35 * 1.45))


# --- contrast -----------------------------------------------------------------------------------------


def test_contrast_within_a_sentence(impl, lex):
    good_slow, slow_good = rows(impl, lex, ["good but slow", "slow but good"])
    assert good_slow["valence"] == approx(compound(0.5 * 1.9 + 1.5 * -1.2))
    assert good_slow["valence"] < 0 < slow_good["valence"]
    assert good_slow["joy"] == approx(emo(0.5 * 0.6))
    assert good_slow["frustration"] == approx(emo(1.5 * 0.4))
    assert good_slow["intensity"] == approx(compound(0.5 * 1.9 + 1.5 * 1.2))


def test_last_contrast_word_splits_the_sentence(impl, lex):
    row = one(impl, lex, "good but slow but fast")
    assert row["valence"] == approx(compound(0.5 * (1.9 - 1.2) + 1.5 * 1.5))


def test_contrast_is_per_sentence(impl, lex):
    row = one(impl, lex, "good but slow. fast")
    assert row["valence"] == approx(compound(0.5 * 1.9 + 1.5 * -1.2 + 1.5))


def test_sentence_initial_contrast_reweights_previous_sentence(impl, lex):
    text = "Fast delivery. However, the refund took weeks and was slow."
    row = one(impl, lex, text)
    assert row["valence"] == approx(compound(0.5 * 1.5 + 1.5 * -1.2))
    assert row["satisfaction"] == approx(emo(0.5 * 0.6))
    plain = one(impl, lex, "Fast delivery. The refund took weeks and was slow.")
    assert plain["valence"] == approx(compound(1.5 - 1.2))
    # only the sentence just before is re-weighted; emphasis stays with its sentence
    row = one(impl, lex, "good! fast. however slow")
    assert row["valence"] == approx(compound(1.9 * 1.15 + 0.5 * 1.5 + 1.5 * -1.2))


def test_a_lone_negator_answering_a_question_negates_it(impl, lex):
    answered, exclaimed, yes, told, longer = rows(impl, lex, ["Was it good? No.", "was it good?! never!",
                                                              "Was it good? Yes.", "It was good. No.",
                                                              "Was it good? No, it was ok."])
    assert answered["valence"] == approx(compound(1.9 * -0.74))
    assert answered["joy"] == approx(emo(0.6 * 0.3)) and answered["satisfaction"] == approx(emo(0.5 * 0.3))
    assert exclaimed["valence"] == approx(compound(1.9 * 1.15 * -0.74))   # its "!" emphasis stays
    for plain in (yes, told, longer):                                # no answer, no question, not alone
        assert plain["valence"] == approx(compound(1.9)) and plain["joy"] == approx(emo(0.6))


def test_a_contrast_denies_an_expectation_before_it(impl, lex):
    denied, mirror, after, plain, only = rows(impl, lex, ["I expected it to be good, but it was slow",
                                                          "I expected it to be bad, but it was fast",
                                                          "it was good, but I expected it to be slow",
                                                          "it was good, but it was slow",
                                                          "I expected it to be good"])
    assert denied["valence"] == approx(compound(0.5 * -0.74 * 1.9 + 1.5 * -1.2))
    assert denied["joy"] == approx(emo(0.6 * 0.5 * 0.3))     # |contrast_before x negated_emotion_scale|
    assert mirror["valence"] == approx(compound(0.5 * -0.74 * -2.5 + 1.5 * 1.5)) and mirror["valence"] > 0
    assert after["valence"] == approx(compound(0.5 * 1.9 + 1.5 * -1.2))   # after the contrast: no denial
    assert plain["valence"] == approx(after["valence"])
    assert only["valence"] == approx(compound(1.9))                       # no contrast: nothing denied
    assert one(impl, lex, "expected")["hits"] == 0                        # a rule word scores nothing


def test_contrast_ends_negation_scope(impl, lex):
    assert one(impl, lex, "not but good")["valence"] == approx(compound(1.5 * 1.9))
    assert one(impl, lex, "very but good")["valence"] == approx(compound(1.5 * 1.9))


# --- multi-word expressions ---------------------------------------------------------------------------


def test_cant_stand_waiting(impl, lex):
    row = one(impl, lex, "I can't stand waiting")
    assert row["valence"] == approx(compound(-2.5 - 0.8))     # the expression is not a negator
    assert row["frustration"] == approx(emo(0.8 + 0.5))
    assert row["anger"] == approx(emo(0.4))
    assert row["dominant"] == FRUSTRATION
    assert (row["tokens"], row["hits"]) == (4, 2)


def test_expression_beats_its_words_longest_first(impl, lex):
    time, money, effort, of_time = rows(
        impl, lex, ["waste of time", "waste of money", "waste of effort", "of time"])
    assert time["valence"] == approx(compound(-2.2)) and time["hits"] == 1
    assert money["valence"] == approx(compound(-2.3)) and money["anger"] == approx(emo(0.2))
    assert effort["valence"] == approx(compound(-1.5)) and effort["hits"] == 1
    assert of_time["hits"] == 0


def test_longest_candidate_wins_over_its_prefix():
    b = LexBuilder()
    b.mwe("top notch", 2.0, joy=0.5)
    b.mwe("top notch service", 3.0, joy=1.0)
    b.mwe("top", 0.5)                     # a one-word "expression" is the shortest candidate
    lex = b.build()
    for impl in ("kernel", "reference"):
        full, short, alone = rows(impl, lex, ["top notch service", "top notch food", "top"])
        assert full["valence"] == approx(compound(3.0)) and full["hits"] == 1
        assert short["valence"] == approx(compound(2.0))
        assert alone["valence"] == approx(compound(0.5))


def test_expression_does_not_cross_sentence_or_clause(impl, lex):
    split, comma, well_done = rows(impl, lex, ["I can't. Stand waiting", "waste, of time", "Well done!"])
    assert split["valence"] == approx(compound(-0.8))
    assert comma["valence"] == approx(compound(-1.5))
    assert well_done["valence"] == approx(compound(2.3 * 1.15))


def test_expression_takes_one_window_position(impl, lex):
    # "not" is 2 units before "good" because "waste of time" is one unit
    assert one(impl, lex, "not waste of time good")["valence"] == approx(
        compound(-2.2 * -0.74 + 1.9 * (1 - 1.74 * 0.95)))


# --- parameters ---------------------------------------------------------------------------------------


def test_valence_alpha_and_gain(impl):
    lex = cx_lexicon(valence_alpha=0.0, emotion_gain=2.0)
    good, bad = rows(impl, lex, ["good", "bad"])
    assert good["valence"] == 1.0 and bad["valence"] == -1.0 and good["intensity"] == 1.0
    assert good["joy"] == approx(emo(0.6, gain=2.0))


# --- the kernel against the reference on random input ---------------------------------------------------


def assert_same(kernel, ref, dominant_min, atol=1e-5):
    assert isinstance(kernel, ScoreArrays)
    np.testing.assert_array_equal(kernel.tokens, ref.tokens)
    np.testing.assert_array_equal(kernel.hits, ref.hits)
    np.testing.assert_allclose(kernel.valence, ref.valence, rtol=0, atol=atol)
    np.testing.assert_allclose(kernel.intensity, ref.intensity, rtol=0, atol=atol)
    np.testing.assert_allclose(kernel.emotions, ref.emotions, rtol=0, atol=atol)
    for d in np.flatnonzero(kernel.dominant != ref.dominant):
        # only a near-tie (or a value at the threshold) may resolve differently after rounding
        values = ref.emotions[:, d]
        top = values.max()
        k = kernel.dominant[d]
        near_tie = k >= 0 and ref.dominant[d] >= 0 and top - values[k] <= atol
        near_threshold = abs(top - dominant_min) <= atol or top <= atol
        assert near_tie or near_threshold, (d, kernel.dominant[d], ref.dominant[d], values)
    for name in FIELDS:
        got = getattr(kernel, name)
        assert got.dtype == getattr(ref, name).dtype and got.flags.c_contiguous
    assert (np.abs(kernel.valence) <= 1).all() and (kernel.intensity >= 0).all()
    assert ((kernel.emotions >= 0) & (kernel.emotions <= 1)).all()
    # aspects: the same slots, values within tolerance, the dominant emotion up to near ties
    np.testing.assert_array_equal(kernel.aspect_offsets, ref.aspect_offsets)
    np.testing.assert_array_equal(kernel.aspect, ref.aspect)
    np.testing.assert_allclose(kernel.aspect_valence, ref.aspect_valence, rtol=0, atol=atol)
    np.testing.assert_allclose(kernel.aspect_intensity, ref.aspect_intensity, rtol=0, atol=atol)
    for k in np.flatnonzero(kernel.aspect_emotion != ref.aspect_emotion):
        values = np.array(ref.aspect_emotions[k])
        top = values.max()
        got = kernel.aspect_emotion[k]
        near_tie = got >= 0 and ref.aspect_emotion[k] >= 0 and top - values[got] <= atol
        near_threshold = abs(top - dominant_min) <= atol or top <= atol
        assert near_tie or near_threshold, (k, got, ref.aspect_emotion[k], values)
    assert (np.abs(kernel.aspect_valence) <= 1).all() and (kernel.aspect_intensity >= 0).all()


def random_lexicon(rng, n_terms, n_emotions, n_mwe):
    roles = rng.choice([ROLE_NONE, ROLE_NEGATOR, ROLE_MODIFIER, ROLE_CONTRAST], p=[.55, .15, .18, .12],
                       size=n_terms)
    valence = np.where(rng.random(n_terms) < 0.25, 0.0, rng.uniform(-4, 4, n_terms))
    weights = rng.random((n_terms, n_emotions)) * (rng.random((n_terms, n_emotions)) < 0.35)
    modifier = rng.uniform(-1.3, 0.9, n_terms)      # ignored unless the role is a modifier
    # expressions: some share prefixes ("a b", "a b c", "a b d"), some are one word
    expressions = []
    for _ in range(n_mwe):
        if expressions and rng.random() < 0.4:
            base = list(expressions[rng.integers(len(expressions))][0])
            words = base[:rng.integers(1, len(base) + 1)] + list(rng.integers(0, n_terms, rng.integers(0, 3)))
        else:
            words = list(rng.integers(0, n_terms, rng.integers(1, 5)))
        if words:
            expressions.append(([int(w) for w in words], int(rng.integers(0, n_terms))))
    # drop exact duplicates (as a compiler would), keep first-word groups longest first
    seen, unique = set(), []
    for words, term in expressions:
        if tuple(words) not in seen:
            seen.add(tuple(words))
            unique.append((words, term))
    unique.sort(key=lambda x: (x[0][0], -len(x[0])))
    first = np.zeros(n_terms + 1, np.int64)
    for words, _ in unique:
        first[words[0] + 1] += 1
    parts = np.cumsum([0] + [len(w) for w, _ in unique])
    emotions = tuple(f"e{i}" for i in range(n_emotions))
    params = make_params(
        emotions,
        negation_scale=rng.uniform(-1.2, 0.2), negated_emotion_scale=rng.uniform(-0.5, 1),
        negated_transfer=rng.uniform(0, 1),
        negated_positive_emotion=float(rng.integers(-1, n_emotions + 1)),
        negated_negative_emotion=float(rng.integers(-1, n_emotions + 1)),
        decay_2=rng.uniform(0.5, 1), decay_3=rng.uniform(0.3, 1), caps_boost=rng.uniform(-0.2, 1),
        excl_boost=rng.uniform(0, 0.5), quest_boost=rng.uniform(0, 0.5),
        contrast_before=rng.uniform(0, 1), contrast_after=rng.uniform(1, 2),
        valence_alpha=rng.choice([0.0, 1.0, 15.0]), emotion_gain=rng.uniform(0.1, 3),
        dominant_min=rng.uniform(0, 0.5), clause_scope=float(rng.integers(0, 2)),
        valence_hits_power=rng.choice([0.0, 0.5, 1.0]),
    )
    lex = SimpleNamespace(
        valence=_ro(valence, np.float32), weights=_ro(weights, np.float32),
        role=_ro(roles, np.uint8), modifier=_ro(modifier, np.float32),
        mwe_first=_ro(np.cumsum(first), np.int32), mwe_term=_ro([t for _, t in unique], np.int32),
        mwe_parts=_ro(parts, np.int32), mwe_words=_ro([w for ws, _ in unique for w in ws], np.int32),
        params=_ro(params, np.float32))
    lex.expressions = [w for w, _ in unique]
    if rng.random() < 0.8:                          # drawn last: the emotion part stays as it was
        add_random_aspects(rng, lex, int(rng.integers(1, 12)))
    return lex


def add_random_aspects(rng, lex, n_aspects):
    """Random aspect arrays: term masks (many terms none, some several aspects, emotion terms and
    rule words included) and aspect expressions, some sharing first words (and whole word runs)
    with the emotion expressions, some blockers (mask 0)."""
    n_terms = lex.valence.shape[0]
    masks = np.where(rng.random(n_terms) < 0.4, rng.integers(1, 1 << n_aspects, n_terms), 0).astype(np.uint64)
    expressions = []
    for _ in range(int(rng.integers(0, 10))):
        if lex.expressions and rng.random() < 0.4:   # an emotion expression's words, or its prefix
            base = list(lex.expressions[rng.integers(len(lex.expressions))])
            words = base[:rng.integers(1, len(base) + 1)] + list(rng.integers(0, n_terms, rng.integers(0, 2)))
        else:
            words = list(rng.integers(0, n_terms, rng.integers(1, 4)))
        mask = 0 if rng.random() < 0.25 else int(rng.integers(1, 1 << n_aspects))
        expressions.append(([int(w) for w in words], mask))
    seen, unique = set(), []
    for words, mask in expressions:
        if tuple(words) not in seen:
            seen.add(tuple(words))
            unique.append((words, mask))
    unique.sort(key=lambda x: (x[0][0], -len(x[0])))
    first = np.zeros(n_terms + 1, np.int64)
    for words, _ in unique:
        first[words[0] + 1] += 1
    lex.aspect_mask = _ro(masks, np.uint64)
    lex.amwe_first = _ro(np.cumsum(first), np.int32)
    lex.amwe_parts = _ro(np.cumsum([0] + [len(w) for w, _ in unique]), np.int32)
    lex.amwe_words = _ro([w for ws, _ in unique for w in ws], np.int32)
    lex.amwe_mask = _ro([m for _, m in unique], np.uint64)
    lex.expressions = lex.expressions + [w for w, _ in unique]   # the stream draws these too


def random_stream(rng, lex, n_docs, max_len=30):
    n_terms = lex.valence.shape[0]
    offsets, ids, flags = [0], [], []
    for _ in range(n_docs):
        length = int(rng.integers(0, max_len + 1)) if rng.random() > 0.08 else 0
        doc = []
        while len(doc) < length:
            if lex.expressions and rng.random() < 0.2:
                doc.extend(lex.expressions[rng.integers(len(lex.expressions))])
            else:
                doc.append(-1 if rng.random() < 0.35 else int(rng.integers(0, n_terms)))
        doc = doc[:length]
        f = np.zeros(len(doc), np.int64)
        r = rng.random((len(doc), 6))
        f |= np.where(r[:, 0] < 0.15, FLAG_CAPS, 0)
        f |= np.where(r[:, 1] < 0.12, FLAG_SENT_END, 0)
        f |= np.where(r[:, 2] < 0.10, FLAG_CLAUSE, 0)
        f |= np.where(r[:, 3] < 0.04, FLAG_EMOJI, 0)
        f |= np.where(r[:, 4] < 0.10, rng.integers(0, 4, len(doc)) << EXCL_SHIFT, 0)
        f |= np.where(r[:, 5] < 0.10, rng.integers(0, 4, len(doc)) << QUEST_SHIFT, 0)
        if rng.random() < 0.1:                     # an all-caps document
            f |= FLAG_CAPS
        ids += doc
        flags += f.tolist()
        offsets.append(len(ids))
    return np.array(offsets, np.int64), np.array(ids, np.int32), np.array(flags, np.uint8)


@pytest.mark.parametrize("seed", range(12))
def test_kernel_matches_reference_seeded(seed):
    rng = np.random.default_rng(seed)
    lex = random_lexicon(rng, n_terms=int(rng.integers(3, 25)), n_emotions=int(rng.integers(0, 7)),
                         n_mwe=int(rng.integers(0, 12)))
    offsets, ids, flags = random_stream(rng, lex, n_docs=int(rng.integers(1, 400)))
    assert_same(score_stream(offsets, ids, flags, lex),
                reference_score.score_stream(offsets, ids, flags, lex),
                float(lex.params[rule_params.P_DOMINANT_MIN]))


def test_kernel_matches_reference_many_chunks():
    rng = np.random.default_rng(2024)
    lex = random_lexicon(rng, n_terms=40, n_emotions=8, n_mwe=15)
    offsets, ids, flags = random_stream(rng, lex, n_docs=12_000, max_len=12)
    # the documents start mid-buffer, as in a slice of a larger stream
    offsets = offsets + 5
    ids = np.concatenate([np.zeros(5, np.int32), ids])
    flags = np.concatenate([np.zeros(5, np.uint8), flags])
    assert_same(score_stream(offsets, ids, flags, lex),
                reference_score.score_stream(offsets, ids, flags, lex),
                float(lex.params[rule_params.P_DOMINANT_MIN]))


@st.composite
def lexicon_and_stream(draw):
    n_terms = draw(st.integers(1, 8))
    n_emo = draw(st.integers(0, 3))
    term = st.integers(0, n_terms - 1)
    lex_rows = draw(st.lists(st.tuples(
        st.sampled_from([ROLE_NONE, ROLE_NONE, ROLE_NEGATOR, ROLE_MODIFIER, ROLE_CONTRAST]),
        st.sampled_from([0.0, -2.5, -1.0, 1.5, 3.0]),
        st.sampled_from([0.3, -0.3, -1.2, 0.8]),
        st.lists(st.sampled_from([0.0, 0.0, 0.5, 1.0]), min_size=n_emo, max_size=n_emo),
    ), min_size=n_terms, max_size=n_terms))
    exprs = draw(st.lists(st.tuples(st.lists(term, min_size=1, max_size=4), term), max_size=6,
                          unique_by=lambda x: tuple(x[0])))
    exprs.sort(key=lambda x: (x[0][0], -len(x[0])))
    first = np.zeros(n_terms + 1, np.int64)
    for words, _ in exprs:
        first[words[0] + 1] += 1
    emotions = tuple(f"e{i}" for i in range(n_emo))
    params = make_params(
        emotions,
        negated_positive_emotion=float(draw(st.integers(-1, n_emo))),
        negated_negative_emotion=float(draw(st.integers(-1, n_emo))),
        clause_scope=float(draw(st.integers(0, 1))),
        valence_alpha=draw(st.sampled_from([0.0, 15.0])),
        dominant_min=draw(st.sampled_from([0.0, 0.1, 0.6])),
    )
    lex = SimpleNamespace(
        valence=_ro([r[1] for r in lex_rows], np.float32),
        weights=_ro(np.array([r[3] for r in lex_rows], np.float32).reshape(n_terms, n_emo),
                    np.float32),
        role=_ro([r[0] for r in lex_rows], np.uint8),
        modifier=_ro([r[2] for r in lex_rows], np.float32),
        mwe_first=_ro(np.cumsum(first), np.int32), mwe_term=_ro([t for _, t in exprs], np.int32),
        mwe_parts=_ro(np.cumsum([0] + [len(w) for w, _ in exprs]), np.int32),
        mwe_words=_ro([w for ws, _ in exprs for w in ws], np.int32),
        params=_ro(params, np.float32))
    if draw(st.booleans()):
        n_aspects = draw(st.integers(1, 4))
        masks = draw(st.lists(st.integers(0, (1 << n_aspects) - 1), min_size=n_terms, max_size=n_terms))
        aexprs = draw(st.lists(st.tuples(st.lists(term, min_size=1, max_size=3),
                                         st.integers(0, (1 << n_aspects) - 1)),
                               max_size=4, unique_by=lambda x: tuple(x[0])))
        aexprs.sort(key=lambda x: (x[0][0], -len(x[0])))
        afirst = np.zeros(n_terms + 1, np.int64)
        for words, _ in aexprs:
            afirst[words[0] + 1] += 1
        lex.aspect_mask = _ro(masks, np.uint64)
        lex.amwe_first = _ro(np.cumsum(afirst), np.int32)
        lex.amwe_parts = _ro(np.cumsum([0] + [len(w) for w, _ in aexprs]), np.int32)
        lex.amwe_words = _ro([w for ws, _ in aexprs for w in ws], np.int32)
        lex.amwe_mask = _ro([m for _, m in aexprs], np.uint64)
    token = st.tuples(st.integers(-1, n_terms - 1), st.integers(0, 255))
    docs = draw(st.lists(st.lists(token, max_size=14), min_size=1, max_size=6))
    offsets = np.cumsum([0] + [len(doc) for doc in docs]).astype(np.int64)
    ids = np.array([t for doc in docs for t, _ in doc], np.int32)
    flags = np.array([f for doc in docs for _, f in doc], np.uint8)
    return lex, offsets, ids, flags


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lexicon_and_stream())
def test_kernel_matches_reference_hypothesis(case):
    lex, offsets, ids, flags = case
    assert_same(score_stream(offsets, ids, flags, lex),
                reference_score.score_stream(offsets, ids, flags, lex),
                float(lex.params[rule_params.P_DOMINANT_MIN]))


# --- the wrapper: dtypes, read-only input, one compiled signature, threads, errors ---------------------


def test_read_only_and_writable_inputs_share_one_compiled_kernel(lex):
    offsets, ids, flags = stream(["not bad", "GREAT!!!", "good but slow"], lex)
    first = score_stream(offsets, ids, flags, lex)
    writable = SimpleNamespace(**{k: np.array(v) for k, v in vars(lex).items()
                                  if isinstance(v, np.ndarray)})
    assert writable.valence.flags.writeable
    ro_stream = [_ro(a.copy(), a.dtype) for a in (offsets, ids, flags)]
    other_dtypes = (offsets.astype(np.int32), ids.astype(np.int64), flags.astype(np.int64))
    for args, lexicon in (((offsets, ids, flags), writable), (ro_stream, lex), (other_dtypes, lex)):
        again = score_stream(*args, lexicon)
        for name in FIELDS:
            np.testing.assert_array_equal(getattr(again, name), getattr(first, name))
    assert len(score_cpu._score_chunks.signatures) == 1
    assert ids.flags.writeable and offsets.flags.writeable   # the caller's arrays are left as they were


def test_results_do_not_depend_on_thread_count():
    rng = np.random.default_rng(7)
    lex = random_lexicon(rng, n_terms=30, n_emotions=6, n_mwe=10)
    args = random_stream(rng, lex, n_docs=20_000)
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = score_stream(*args, lex)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        multi = score_stream(*args, lex)
    finally:
        numba.set_num_threads(previous)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(single, name), getattr(multi, name))


def test_concurrent_calls_from_python_threads():
    rng = np.random.default_rng(11)
    lex = random_lexicon(rng, n_terms=30, n_emotions=6, n_mwe=10)
    streams = [random_stream(rng, lex, n_docs=int(rng.integers(1, 6_000))) for _ in range(12)]
    expected = [score_stream(*s, lex) for s in streams]
    barrier = threading.Barrier(6)

    def work(i):
        if i < 6:
            barrier.wait()                          # start the first calls together
        return score_stream(*streams[i], lex)

    for _ in range(2):
        with ThreadPoolExecutor(max_workers=6) as pool:
            got = list(pool.map(work, range(len(streams))))
        for want, have in zip(expected, got, strict=True):
            for name in FIELDS:
                np.testing.assert_array_equal(getattr(have, name), getattr(want, name))


def test_invalid_input_is_refused(lex):
    offsets, ids, flags = stream(["good", "bad"], lex)
    n_terms = lex.valence.shape[0]
    cases = [
        ((offsets, np.array([0, n_terms], np.int32), flags), "not a term"),
        ((np.array([0, 2, 1], np.int64), ids, flags), "decrease"),
        ((np.array([0, 1, 5], np.int64), ids, flags), "outside"),
        ((np.array([-1, 1, 2], np.int64), ids, flags), "outside"),
        ((offsets, ids, flags[:1]), "flags has 1"),
        ((offsets, ids.astype(np.float64), flags), "int32"),
        ((offsets.reshape(1, -1), ids, flags), "1-dimensional"),
        ((offsets, ids.astype(np.int64) + (1 << 32), flags), "range of int32"),
    ]
    for args, message in cases:
        with pytest.raises(InputError, match=message):
            score_stream(*args, lex)


def test_inconsistent_lexicon_is_refused(lex):
    offsets, ids, flags = stream(["good"], lex)
    base = {k: v for k, v in vars(lex).items() if isinstance(v, np.ndarray)}
    bad = [
        (dict(mwe_term=np.full_like(lex.mwe_term, lex.valence.shape[0])), "mwe_term"),
        (dict(mwe_first=np.full_like(lex.mwe_first, 99)), "mwe_first"),
        (dict(params=lex.params[:N_PARAMS - 1]), "params"),
        (dict(role=lex.role[:-1]), "role"),
        (dict(role=np.full_like(lex.role, 5)), "role holds 5"),   # ROLE_* are 0..4 (3 bits in the window)
        (dict(weights=lex.weights[:-1]), "weights"),
    ]
    for change, message in bad:
        with pytest.raises(InputError, match=message):
            score_stream(offsets, ids, flags, SimpleNamespace(**{**base, **change}))
    with pytest.raises(InputError, match="lacks"):
        score_stream(offsets, ids, flags, SimpleNamespace(valence=lex.valence))


def test_rules_compile_as_plain_scalar_functions():
    # the CUDA twin compiles the same functions; each target's entry points and helpers must stay plain
    # functions (no dispatcher, no closure) so numba.cuda.jit(device=True) can take them
    bound = rules.for_target(lambda helper: helper)
    for function in (rules.score_document, rules.document_aspects, bound.score_document, bound.document_aspects,
                     *(getattr(rules, name) for name in rules.HELPERS)):
        assert type(function).__name__ == "function" and function.__closure__ is None, function.__name__
    # the bound entry points read the helpers the target compiled, not the module's
    marker = object()
    bound = rules.for_target(lambda helper: marker)
    assert all(bound.score_document.__globals__[name] is marker for name in rules.HELPERS)
    assert rules.score_document.__globals__["read_unit"] is rules.read_unit


def kernel_arguments(lex, offsets, ids, flags):
    """The named tuples the kernels pass to the rules, for a real stream: (stream, lexicon, aspects,
    document aspect masks, outputs, scratch), outputs sized by the plain-Python document_aspects."""
    lexicon, aspects = lexicon_arrays(lex)
    stream = checked_stream(offsets, ids, flags, lexicon.valence.shape[0])
    n_docs, n_emo = len(offsets) - 1, lexicon.weights.shape[1]
    doc_aspects = np.zeros(n_docs, np.uint64)
    if aspects.aspect_mask.size:
        for d in range(n_docs):
            rules.document_aspects(d, stream, lexicon, aspects, doc_aspects)
    aspect_offsets = np.concatenate([[0], np.cumsum(np.bitwise_count(doc_aspects))]).astype(np.int64)
    k = int(aspect_offsets[-1])
    out = ScoreArrays(np.empty(n_docs, np.float32), np.empty(n_docs, np.float32),
                      np.empty((n_emo, n_docs), np.float32), np.empty(n_docs, np.int16),
                      np.empty(n_docs, np.int32), np.empty(n_docs, np.int32), aspect_offsets,
                      np.empty(k, np.int16), np.empty(k, np.float32), np.empty(k, np.float32),
                      np.empty(k, np.int16))
    n_slots = int(np.bitwise_count(doc_aspects).max(initial=0))
    return stream, lexicon, aspects, doc_aspects, out, np.empty(rules.scratch_size(n_emo, n_slots), np.float64)


def test_score_document_needs_no_reference_counting():
    # Performance guard: compiled as the CPU kernel compiles it, the per-document function must not
    # incref/decref its array arguments (atomic operations on cache lines shared by every thread).
    rng = np.random.default_rng(3)
    lex = random_lexicon(rng, n_terms=20, n_emotions=5, n_mwe=8)
    add_random_aspects(rng, lex, 6)
    stream, lexicon, aspects, doc_aspects, out, scratch = kernel_arguments(lex, *random_stream(rng, lex, n_docs=5))
    arguments = (0, stream, lexicon, aspects, doc_aspects, scratch, out, None)
    signature = tuple(numba.typeof(a) for a in arguments)
    compiled = numba.njit(signature, **score_cpu.RULES_OPTIONS)(score_cpu.rules_for_cpu.score_document)
    ir = compiled.inspect_llvm(signature)
    functions = {re.match(r"define [^@]*@([\w.$]+)\(", f).group(1): f
                 for f in re.split(r"\n(?=define )", ir) if f.startswith("define")}
    (name,) = [n for n in functions if "score_document" in n and n.startswith("_ZN8emoscore")]
    assert "@NRT_incref" not in functions[name] and "@NRT_decref" not in functions[name]
    # the helpers are inlined: the document's function calls none of them
    assert not any(f"{len(helper)}{helper}" in functions[name] for helper in rules.HELPERS)


def test_rules_run_as_plain_python_like_the_kernel():
    # rules.score_document is also plain Python (what the CUDA simulator executes); interpreted, it
    # must give the compiled kernel's results
    rng = np.random.default_rng(5)
    lex = random_lexicon(rng, n_terms=20, n_emotions=5, n_mwe=8)
    add_random_aspects(rng, lex, 6)
    offsets, ids, flags = random_stream(rng, lex, n_docs=150)
    stream, lexicon, aspects, doc_aspects, out, scratch = kernel_arguments(lex, offsets, ids, flags)
    for d in range(len(offsets) - 1):
        rules.score_document(d, stream, lexicon, aspects, doc_aspects, scratch, out, None)
    assert score_cpu.kernels_ready()   # (tests/conftest.py): the compiled kernel, not the interpreter again
    kernel = score_stream(offsets, ids, flags, lex)
    assert out.aspect_offsets[-1] > 0
    for name in FIELDS + ("aspect_offsets", "aspect", "aspect_valence", "aspect_intensity", "aspect_emotion"):
        np.testing.assert_array_equal(getattr(out, name), getattr(kernel, name), err_msg=name)


def test_valence_hits_power_divides_the_sum_by_hits():
    """S' = S / hits ** power: with power 1 two equal words score like one; power 0 adds them up."""
    emotions = ("e0",)
    base = dict(valence_alpha=15.0)
    lex_sum = tiny_valence_lexicon(make_params(emotions, **base))
    lex_mean = tiny_valence_lexicon(make_params(emotions, valence_hits_power=1.0, **base))
    stream = (np.array([0, 1, 3]), np.array([0, 0, 0], np.int32), np.array([2, 0, 2], np.uint8))
    one_sum, two_sum = score_stream(*stream, lex_sum).valence
    one_mean, two_mean = score_stream(*stream, lex_mean).valence
    assert two_sum > one_sum > 0
    assert two_mean == pytest.approx(one_mean, abs=1e-6) and one_mean == pytest.approx(one_sum, abs=1e-6)
    assert two_mean == pytest.approx(reference_score.score_stream(*stream, lex_mean).valence[1], abs=1e-6)


def tiny_valence_lexicon(params):
    """One scoring term (id 0, valence 2.0), no expressions."""
    return SimpleNamespace(
        valence=_ro([2.0], np.float32), weights=_ro(np.zeros((1, 1)), np.float32),
        role=_ro([ROLE_NONE], np.uint8), modifier=_ro([0.0], np.float32),
        mwe_first=_ro([0, 0], np.int32), mwe_term=_ro([], np.int32), mwe_parts=_ro([0], np.int32),
        mwe_words=_ro([], np.int32), params=_ro(params, np.float32))


def test_next_words_lets_through_every_second_word_of_an_expression():
    # term 0 starts "0 5" and "0 70 2"; term 1 starts a one-word expression; term 2 starts none
    first = np.array([0, 2, 3, 3], np.int32)
    parts = np.array([0, 2, 5, 6], np.int32)
    words = np.array([0, 5, 0, 70, 2, 1], np.int32)
    table = next_words(first, parts, words)
    assert table.dtype == np.uint64 and table.shape == (3,)
    assert int(table[0]) == (1 << 5) | (1 << (70 % 64))   # a filter, not exact: 6 and 70 share a bit
    assert int(table[1]) == 2**64 - 1 and int(table[2]) == 0


FIRST_CALL_SCRIPT = """
import numpy as np
from emoscore import Scorer
from emoscore._tokenize import tokenize
from emoscore.kernels import score_cpu
from emoscore.sample import generate

lex = Scorer().lexicon
texts = generate(200, seed=11).column("text").combine_chunks()
stream = tokenize(texts, lex.table_keys, lex.table_ids, lex.stem_mask)
first = score_cpu.score_stream(*stream, lex)
assert not score_cpu.kernels_ready(), "the kernels were compiled before the first small batch was scored"
assert score_cpu.wait_for_kernels(600) and score_cpu.kernels_ready()
second = score_cpu.score_stream(*stream, lex)
assert first.aspect.size > 0 and (first.dominant >= 0).any()
for name in first._fields:
    np.testing.assert_array_equal(getattr(first, name), getattr(second, name), err_msg=name)
print("same")
"""


def test_first_small_batch_is_scored_while_the_kernels_compile(tmp_path):
    # With an empty Numba cache a first small batch must not wait for the ~10 s compile: the rules run
    # interpreted meanwhile, and their scores must be the compiled kernel's, bit for bit.
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"), EMOSCORE_CACHE_DIR=str(tmp_path / "lexicon"))
    run = subprocess.run([sys.executable, "-c", FIRST_CALL_SCRIPT], env=env, capture_output=True, text=True,
                         timeout=900, check=False)
    assert run.returncode == 0 and run.stdout.strip() == "same", run.stderr[-3000:]


def test_a_large_first_batch_compiles_and_later_small_ones_use_the_kernels():
    script = """
from emoscore import Scorer
from emoscore._tokenize import tokenize
from emoscore.kernels import score_cpu
from emoscore.sample import generate

lex = Scorer().lexicon
texts = generate(300, seed=12).column("text").combine_chunks()   # more than the interpreted batches
score_cpu.score_stream(*tokenize(texts, lex.table_keys, lex.table_ids, lex.stem_mask), lex)
assert score_cpu.kernels_ready()
print("ready")
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0 and run.stdout.strip() == "ready", run.stderr[-3000:]


def test_any_negative_id_is_an_unknown_word():
    # the contract: -1, or any negative value, is a word not in the lexicon (the plain-token loop reads
    # the class of id -1 from a sentinel entry, so other negative ids must not index the real terms)
    rng = np.random.default_rng(8)
    lex = random_lexicon(rng, n_terms=20, n_emotions=5, n_mwe=8)
    add_random_aspects(rng, lex, 6)
    offsets, ids, flags = random_stream(rng, lex, n_docs=200)
    unknown = ids < 0
    assert unknown.any()
    other = ids.copy()
    other[unknown] = rng.integers(-20, -1, unknown.sum())
    one, two = score_stream(offsets, ids, flags, lex), score_stream(offsets, other, flags, lex)
    for name in one._fields:
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name), err_msg=name)
