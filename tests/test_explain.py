"""Explanations (``Scorer(explain=True)``): the evidence is the score.

The identities of ``src/emoscore/evidence.py``'s docstring are checked against the kernel on random
lexicons and streams (the same generators as tests/test_kernels.py) and on hand-written sentences for
every rule; spans against the texts as written.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

import reference_score
from emoscore import Scorer
from emoscore._tokenize import fold_tokens
from emoscore.evidence import EVIDENCE_TYPE
from emoscore.kernels import params as rule_params
from emoscore.kernels import rules
from emoscore.kernels.score_cpu import explain_stream, score_stream
from test_kernels import FIELDS, lexicon_and_stream, random_lexicon, random_stream

ATOL = 2e-6     # float32 outputs against float64 sums added in another order


def document_sums(ev, lex, start, count):
    """One document's elements: (valence contributions, which are scoring units, emotion contributions
    [n, E], aspect masks)."""
    n_emo = lex.weights.shape[1]
    picked = np.arange(start, start + count)
    term = ev.term[picked]
    scoring = np.asarray(lex.role)[term] == rules.ROLE_NONE
    emotions = np.asarray(lex.weights, np.float32)[term].astype(np.float64) * ev.emotion_mult[picked][:, None]
    for row, (target, moved) in enumerate(zip(ev.target[picked], ev.transfer[picked], strict=True)):
        if 0 <= target < n_emo:
            emotions[row, target] += moved
    valence = ev.valence[picked]
    return valence, scoring, emotions, ev.aspects[picked]


def normalised(total_s, total_a, hits, params):
    power = float(params[rule_params.P_VALENCE_HITS_POWER])
    alpha = max(float(params[rule_params.P_VALENCE_ALPHA]), 0.0)
    if hits > 1 and power != 0:
        total_s = total_s / hits ** power
    val = total_s / math.sqrt(total_s ** 2 + alpha) if total_s != 0 else 0.0
    inten = total_a / math.sqrt(total_a ** 2 + alpha) if total_a != 0 else 0.0
    return val, inten


def assert_evidence_is_the_score(offsets, ids, flags, lex):
    scores, ev = explain_stream(offsets, ids, flags, lex)
    plain = score_stream(offsets, ids, flags, lex)
    for name in FIELDS + ("aspect_offsets", "aspect", "aspect_valence", "aspect_intensity", "aspect_emotion"):
        np.testing.assert_array_equal(getattr(scores, name), getattr(plain, name), err_msg=name)
    params = np.asarray(lex.params)
    gain = float(params[rule_params.P_EMOTION_GAIN])
    for d in range(len(offsets) - 1):
        start, count = int(offsets[d]), int(ev.count[d])
        assert 0 <= count <= offsets[d + 1] - offsets[d]
        valence, scoring, emotions, aspects = document_sums(ev, lex, start, count)
        first, last = ev.first[start:start + count], ev.last[start:start + count]
        assert (first >= offsets[d]).all() and (last < offsets[d + 1]).all() and (first <= last).all()
        assert (first[1:] > last[:-1]).all()                        # text order, no overlap
        assert (valence[~scoring] == 0).all() and (emotions[~scoring] == 0).all()
        assert scoring.sum() == scores.hits[d]
        val, inten = normalised(valence.sum(), np.abs(valence).sum(), int(scoring.sum()), params)
        assert abs(val - scores.valence[d]) <= ATOL and abs(inten - scores.intensity[d]) <= ATOL, d
        expected = np.maximum(0.0, 1.0 - np.exp(-gain * emotions.sum(axis=0)))
        np.testing.assert_allclose(scores.emotions[:, d], expected, rtol=0, atol=ATOL)
        for k in range(int(scores.aspect_offsets[d]), int(scores.aspect_offsets[d + 1])):
            mine = ((aspects >> np.uint64(scores.aspect[k])) & np.uint64(1)).astype(bool)
            a_val, a_int = normalised(valence[mine].sum(), np.abs(valence[mine]).sum(), int(mine.sum()), params)
            assert abs(a_val - scores.aspect_valence[k]) <= ATOL, (d, k)
            assert abs(a_int - scores.aspect_intensity[k]) <= ATOL, (d, k)
        # an element is only ever attributed to aspects of its document
        mask = np.bitwise_or.reduce(aspects) if count else np.uint64(0)
        listed = sum(1 << int(a) for a in scores.aspect[scores.aspect_offsets[d]:scores.aspect_offsets[d + 1]])
        assert int(mask) & ~listed == 0


def test_evidence_adds_up_to_the_scores_on_random_documents():
    for seed in range(12):
        rng = np.random.default_rng(seed)
        lex = random_lexicon(rng, n_terms=25, n_emotions=5, n_mwe=8)
        assert_evidence_is_the_score(*random_stream(rng, lex, n_docs=120), lex)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lexicon_and_stream())
def test_evidence_adds_up_to_the_scores_hypothesis(case):
    lex, offsets, ids, flags = case
    assert_evidence_is_the_score(offsets, ids, flags, lex)


@pytest.fixture(scope="module")
def explainer():
    return Scorer(explain=True)


def explain(scorer, text):
    table = scorer.score(pa.table({"text": [text]}))
    return table, table.column("evidence")[0].as_py()


def test_evidence_matches_the_plain_python_reference(explainer):
    texts = ["Not happy with the new pricing", "The delivery was fast but the refund took three weeks!!",
             "I was NOT impressed. However, the staff were very kind.", "Great, another delay. Just what I needed.",
             "I don't think the staff was good at all", "Did we enjoy the flight? No. The seats were great.",
             "I thought the hotel would be lovely, but it was not. The staff, however, were kind."]
    table = explainer.score(pa.table({"text": texts}))
    lex = explainer.lexicon
    from emoscore._tokenize import tokenize
    offsets, ids, flags = tokenize(pa.array(texts), lex.table_keys, lex.table_ids, lex.stem_mask)
    ref = reference_score.score_stream(offsets, ids, flags, lex)
    gain = float(lex.params[rule_params.P_EMOTION_GAIN])
    for d, elements in enumerate(table.column("evidence").to_pylist()):
        total = sum(x["valence"] for x in elements)
        absolute = sum(abs(x["valence"]) for x in elements)
        hits = sum(1 for x in elements if lex.role[lex.terms.index(x["term"])] == rules.ROLE_NONE)
        assert hits == ref.hits[d]
        val, inten = normalised(total, absolute, hits, lex.params)
        # (the column holds float32 contributions)
        assert abs(val - ref.valence[d]) <= 1e-5 and abs(inten - ref.intensity[d]) <= 1e-5
        for e, name in enumerate(lex.emotions):
            x = sum(c["weight"] for el in elements for c in el["emotions"] if c["emotion"] == name)
            assert abs(max(0.0, 1 - math.exp(-gain * x)) - ref.emotions[e, d]) <= 1e-5


def by_term(elements):
    return {x["term"]: x for x in elements}


def test_negation_shows_the_negator_acting_on_the_word(explainer):
    _, elements = explain(explainer, "Not happy with the new pricing")
    words = by_term(elements)
    assert words["not"]["rules"] == ["negated"] and words["not"]["valence"] == 0 and words["not"]["emotions"] == []
    assert "negated" in words["happy"]["rules"] and words["happy"]["valence"] < 0
    assert [x["term"] for x in elements][:2] == ["not", "happy"]


def test_negation_past_neutral_words_a_no_answer_and_a_denied_expectation_are_explained(explainer):
    _, elements = explain(explainer, "I don't think the staff was good at all")
    assert "negated" in by_term(elements)["good"]["rules"] and by_term(elements)["good"]["valence"] < 0
    _, elements = explain(explainer, "Did we enjoy the flight? No.")
    words = by_term(elements)
    assert words["no"]["rules"] == ["negated"] and words["no"]["valence"] == 0
    assert "negated" in words["enjoy"]["rules"] and words["enjoy"]["valence"] < 0
    assert words["enjoy"]["emotions"] == []     # the default lexicon's negated emotions keep nothing
    _, elements = explain(explainer, "I thought the service would be great, but it was not")
    words = by_term(elements)
    assert words["thought"]["rules"] == ["expectation"] and words["thought"]["valence"] == 0
    assert {"expectation", "contrast_before"} <= set(words["great"]["rules"]) and words["great"]["valence"] < 0


def test_a_denied_expectation_is_named_whatever_the_negation_params():
    # negation_scale -1 and negated_emotion_scale 1 weigh the denied words' valence and emotions alike
    from emoscore.lexicon import Lexicon

    lexicon = Lexicon.default().with_params(negation_scale=-1.0, negated_emotion_scale=1.0)
    _, elements = explain(Scorer(lexicon, explain=True), "I thought the service would be great, but it was not")
    assert "expectation" in by_term(elements)["great"]["rules"] and by_term(elements)["great"]["valence"] < 0


def test_boosters_dampeners_caps_emphasis_and_expressions_are_named(explainer):
    _, elements = explain(explainer, "The staff were very helpful")
    assert by_term(elements)["very"]["rules"] == ["boosted"]
    assert "boosted" in by_term(elements)["helpful"]["rules"]
    _, elements = explain(explainer, "The app is slightly annoying")
    assert "dampened" in by_term(elements)["slightly"]["rules"]
    _, elements = explain(explainer, "The food was GREAT")
    assert "caps" in by_term(elements)["great"]["rules"]
    _, elements = explain(explainer, "Great service!!!")
    assert "emphasis" in by_term(elements)["great"]["rules"]
    _, elements = explain(explainer, "The refund took three weeks")
    expression = by_term(elements)["took three weeks"]
    assert "expression" in expression["rules"] and expression["valence"] < 0


def test_contrast_weights_both_sides_and_the_sentence_before(explainer):
    _, elements = explain(explainer, "The delivery was fast but the refund was slow")
    words = by_term(elements)
    assert words["but"]["rules"] == ["contrast"]
    assert "contrast_before" in words["fast"]["rules"] and "contrast_after" in words["slow"]["rules"]
    _, elements = explain(explainer, "The delivery was fast. However, the refund was slow.")
    assert "contrast_before" in by_term(elements)["fast"]["rules"]


def test_contributions_go_to_the_aspects_they_are_about(explainer):
    _, elements = explain(explainer, "The delivery was fast but the refund took three weeks")
    words = by_term(elements)
    assert words["fast"]["aspect"] == ["delivery"]
    assert words["refund"]["aspect"] == words["took three weeks"]["aspect"] == ["returns"]
    assert words["but"]["aspect"] == []
    # a sentence without a mention of its own goes nowhere; one with a single aspect goes to it
    _, elements = explain(explainer, "Awful. The refund was quick.")
    assert by_term(elements)["awful"]["aspect"] == [] and by_term(elements)["quick"]["aspect"] == ["returns"]


@pytest.mark.parametrize("text", ["Café très bien, not good at all 😀 great", "naïve ‘quotes’ — GOOD!!",
                                  "Don't stop, it's 1,000 times better", "日本語 great 🎉🎉 terrible"])
def test_spans_are_the_words_as_written(explainer, text):
    _, elements = explain(explainer, text)
    assert elements
    for x in elements:
        written = text[x["start"]:x["end"]]
        if " " not in x["term"]:
            # the span is the text as written; a term may be its accent-free spelling ("naïve": naive)
            assert written.lower().replace("’", "'") == x["term"] or x["term"].endswith("*") \
                or written.lower().startswith(x["term"].rstrip("*")) \
                or fold_tokens(written) == fold_tokens(x["term"]), (written, x["term"])
        else:
            assert written.lower().split()[0] == x["term"].split()[0]


def test_explain_off_adds_nothing_and_on_changes_no_score(explainer):
    texts = pa.table({"text": ["Not happy with the new pricing", None, "", "Thanks, great support!!!"]})
    plain = Scorer().score(texts)
    explained = explainer.score(texts)
    assert "evidence" not in plain.column_names
    assert explained.column_names == plain.column_names + ["evidence"]
    assert explained.schema.field("evidence").type == EVIDENCE_TYPE
    assert explained.drop_columns(["evidence"]).equals(plain)
    assert explained.column("evidence").to_pylist()[1:3] == [[], []]


def test_large_inputs_are_explained_like_small_ones(explainer):
    # the tokenizer's memo and the thread pool (large inputs) keep the spans of every token
    texts = [f"Order {i}: the delivery was NOT fast, café naïve 😀 but the support was very helpful!"
             for i in range(20000)]
    big = explainer.score(pa.table({"text": texts})).column("evidence")
    for row in (0, 1, 12345, 19999):
        assert big[row].as_py() == explain(explainer, texts[row])[1]
