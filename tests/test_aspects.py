"""Aspects: what the feelings are about -- hand-written sentences through the whole stack (tokenizer,
compiled lexicon, kernel), the aspect lexicon format, KPIs per aspect and the runner.

The rules themselves are checked against the plain-Python reference on random input in
test_kernels.py; here the expected outputs are written by hand from the rules in kernels/rules.py.
"""

from __future__ import annotations

import io
import subprocess

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import emoscore
from emoscore import AspectEntry, AspectLexicon, KpiAggregator, Lexicon, LexiconError, Scorer, sample


@pytest.fixture(scope="module")
def scorer():
    return Scorer(threads=1)


@pytest.fixture(scope="module")
def plain():
    return Scorer(threads=1, aspects=False)


def aspects(scorer, text):
    """{aspect: (valence, emotion, intensity)} of one text, and the names in output order."""
    row = scorer.score(pa.array([text], pa.string())).column("aspects")[0].as_py()
    return {a["aspect"]: (a["valence"], a["emotion"], a["intensity"]) for a in row}, [a["aspect"] for a in row]


# --- the done criteria: hand-written sentences -----------------------------------------------------


def test_two_aspects_of_opposite_feeling(scorer):
    found, order = aspects(scorer, "The delivery was fast but the refund took three weeks.")
    assert order == ["delivery", "returns"]                      # first-mention order
    assert found["delivery"][0] > 0.02
    assert found["returns"][0] < -0.1 and found["returns"][1] == "frustration"


def test_contrast_across_sentences_and_clauses(scorer):
    found, order = aspects(scorer, "Great quality, but the app keeps crashing.")
    assert order == ["quality", "usability"]
    assert found["quality"][0] > 0 and found["usability"][0] < 0
    found, _ = aspects(scorer, "Checkout was easy. However, shipping took forever.")
    assert found["checkout"][0] > 0 and found["delivery"][0] < 0 and found["delivery"][1] == "frustration"


def test_negated_aspect_is_positive(scorer):
    for text in ("No problem with the delivery.", "The delivery was not bad at all."):
        found, order = aspects(scorer, text)
        assert order == ["delivery"]
        assert found["delivery"][0] > 0.2 and found["delivery"][1] == "satisfaction"


def test_aspect_without_emotion(scorer):
    found, order = aspects(scorer, "The courier came at noon.")
    assert order == ["delivery"]
    assert found["delivery"] == (0.0, "neutral", 0.0)


def test_emotion_without_aspect(scorer):
    table = scorer.score(pa.array(["Absolutely furious!!", None, ""], pa.string()))
    assert table.column("aspects").to_pylist() == [[], [], []]
    assert table.column("valence")[0].as_py() < -0.5


def test_aspect_less_scope_falls_back_to_the_nearest_scope_of_its_sentence(scorer):
    alone, _ = aspects(scorer, "The refund took weeks.")
    after, _ = aspects(scorer, "The refund took weeks, absolutely ridiculous.")     # preceding scope
    before, _ = aspects(scorer, "Absolutely ridiculous, the refund took weeks.")    # following scope
    assert after["returns"][0] < alone["returns"][0] and before["returns"][0] < alone["returns"][0]
    # another sentence is not a fallback: "I love it." stays with the document only
    other, _ = aspects(scorer, "I love it. The refund took weeks.")
    assert other["returns"][0] == pytest.approx(alone["returns"][0], abs=1e-6)


def test_ambiguous_words_are_settled_by_expressions(scorer):
    assert aspects(scorer, "In return they sent a voucher.")[1] == []
    assert aspects(scorer, "I want to return the jacket.")[1] == ["returns"]
    assert aspects(scorer, "I had to deal with my feelings.")[1] == []
    # one mention naming two aspects lists them in aspect order
    assert aspects(scorer, "The early termination fee was a joke.")[1] == ["pricing", "cancellation"]


def test_broad_default_set_across_industries(scorer):
    cases = {
        "My card was declined twice at checkout.": "checkout",
        "They charged me an overdraft fee again.": "pricing",
        "The parcel is stuck in transit.": "delivery",
        "Still no refund after a month.": "returns",
        "The zipper broke after a week.": "quality",
        "I keep getting locked out of online banking.": "usability",
        "I waited 40 minutes on hold.": "support",
        "I want to cancel my subscription.": "cancellation",
        "Opening an account took three visits.": "onboarding",
        "Dropped calls all day and no signal at home.": "quality",
        "My flight was delayed for six hours.": "delivery",
        "The invoice shows a charge I never agreed to.": "pricing",
    }
    for text, aspect in cases.items():
        assert aspect in aspects(scorer, text)[1], text


def test_emotion_scores_do_not_change_with_aspects(scorer, plain):
    texts = sample.generate(2000, seed=3).column("text")
    on, off = scorer.score(texts), plain.score(texts)
    for name in plain.columns:
        assert on.column(name).equals(off.column(name)), name
    assert "aspects" in scorer.columns and "aspects" not in plain.columns
    assert sum(1 for row in on.column("aspects").to_pylist() if row) > 1000


def test_column_type_and_null_text(scorer):
    table = scorer.score(pa.table({"text": pa.array(["Love the app", None], pa.large_string())}))
    assert table.schema.field("aspects").type == emoscore.ASPECTS_TYPE
    assert table.column("aspects").null_count == 0
    assert table.column("aspects").to_pylist()[1] == []


# --- merging the aspect terms into the emotion table -------------------------------------------------


def tiny_emotions():
    text = "\n".join([
        "#!emoscore-lexicon 1", "# emotions: joy frustration satisfaction",
        "term\tvalence\temotions\trole",
        "long wait\t-2\tfrustration=0.9\t-", "disappoint*\t-2\tfrustration=0.6\t-",
        "great\t3\tjoy=0.8\t-", "not\t-\t-\tnegator", "but\t-\t-\tcontrast", "wait\t-0.5\tfrustration=0.3\t-",
    ]) + "\n"
    return Lexicon.from_text(text)


def tiny_aspects():
    return AspectLexicon([
        AspectEntry("long wait time", ("support",)),   # shares its first words with an emotion expression
        AspectEntry("disappointment", ("quality",)),    # a word an emotion stem matches
        AspectEntry("deliver*", ("delivery",)),         # a stem
        AspectEntry("wait", ("support",)),
        AspectEntry("great britain", ()),               # a blocker starting with an emotion word
    ], aspects=("support", "quality", "delivery"))


def test_aspect_terms_leave_emotion_matching_alone():
    lexicon = tiny_emotions()
    texts = pa.array(["a long wait time again", "what a disappointment", "great delivery but a long wait",
                      "great britain", "not great, delivered late"], pa.string())
    with_aspects = Scorer(lexicon, aspects=tiny_aspects(), threads=1).score(texts)
    without = Scorer(lexicon, aspects=False, threads=1).score(texts)
    for name in Scorer(lexicon, aspects=False).columns:
        assert with_aspects.column(name).equals(without.column(name)), name
    found = [[a["aspect"] for a in row] for row in with_aspects.column("aspects").to_pylist()]
    assert found == [["support"], ["quality"], ["delivery", "support"], [], ["delivery"]]
    rows = with_aspects.column("aspects").to_pylist()
    assert rows[0][0]["emotion"] == "frustration"              # the emotion expression still matched
    assert rows[1][0]["valence"] < 0                            # "disappointment" kept disappoint*'s values
    assert rows[2][0]["valence"] > 0 and rows[2][1]["valence"] < 0
    assert rows[4][0]["valence"] < 0                            # negated "great" goes to the delivery scope? no:
    # "not great," is its own clause scope with no aspect; it falls forward to "delivered late"


def test_compiled_lexicon_arrays_and_fingerprint():
    lexicon = tiny_emotions()
    plain_c, with_c = lexicon.compile(), lexicon.compile(aspects=tiny_aspects())
    assert plain_c.aspects == () and plain_c.aspect_mask.size == 0
    assert with_c.aspects == ("support", "quality", "delivery")
    assert with_c.aspect_mask.shape == (with_c.n_terms,) and with_c.amwe_mask.size == 2
    assert with_c.fingerprint != plain_c.fingerprint
    assert lexicon.compile(aspects=tiny_aspects()) is with_c                 # cached per aspect lexicon
    assert with_c.without_aspects().aspects == () and Scorer(with_c, aspects=False).columns[-1] != "aspects"


def test_extending_the_default():
    extended = AspectLexicon.default().with_entries([AspectEntry("overdraft", ("fees",)),
                                                     AspectEntry("courier", ())])
    assert extended.aspects[-1] == "fees" and extended.get("courier").aspects == ()
    scorer = Scorer(aspects=extended, threads=1)
    rows = scorer.score(pa.array(["The overdraft is awful.", "The courier came."])).column("aspects").to_pylist()
    assert [a["aspect"] for a in rows[0]] == ["fees"] and rows[1] == []
    merged = AspectLexicon.default().merge(AspectLexicon([AspectEntry("fraud*", ("fraud",))]))
    assert merged.aspects == AspectLexicon.default().aspects + ("fraud",)


# --- the file format ----------------------------------------------------------------------------------


def test_default_file_documents_each_aspect():
    default = AspectLexicon.default()
    assert default.aspects == ("onboarding", "checkout", "pricing", "delivery", "returns", "quality",
                               "usability", "support", "cancellation")
    assert set(default.descriptions) == set(default.aspects)
    assert len(default) > 500


def test_round_trip_and_errors(tmp_path):
    lex = tiny_aspects()
    path = tmp_path / "a.tsv"
    lex.save(path)
    assert AspectLexicon.load(path) == lex
    bad = "#!emoscore-aspects 1\n# aspects: a b\nterm\taspects\nfoo\ta\nFOO\tb\n"
    with pytest.raises(LexiconError, match=r"<text>:5: duplicate term, same folded key as line 4"):
        AspectLexicon.from_text(bad)
    with pytest.raises(LexiconError, match=r"<text>:4: unknown aspect"):
        AspectLexicon.from_text("#!emoscore-aspects 1\n# aspects: a\nterm\taspects\nfoo\tz\n")
    with pytest.raises(LexiconError, match="at most 64"):
        AspectLexicon([AspectEntry(f"w{i}", (f"a{i}",)) for i in range(65)])
    with pytest.raises(emoscore.InputError, match="aspects must be"):
        Scorer(aspects=3)


# --- KPIs per aspect -----------------------------------------------------------------------------------


def scored_feedback():
    table = pa.table({
        "text": ["The delivery was fast but the refund took three weeks.", "No problem with the delivery.",
                 "Absolutely furious!!", "The refund took weeks, ridiculous.", None],
        "nps": [3, 10, 0, 2, 8],
        "ts": pa.array([0, 0, 86_400 * 8, 86_400 * 8, 0], pa.timestamp("s")),
    })
    return Scorer(threads=1).score(table)


def test_kpi_by_aspect_counts_each_document_once_per_aspect():
    scored = scored_feedback()
    result = KpiAggregator(by="aspect").update(scored).result()
    rows = {row["aspect"]: row for row in result.to_pylist()}
    assert set(rows) == {"delivery", "returns", None}
    assert rows["delivery"]["n"] == 2 and rows["returns"]["n"] == 2 and rows[None]["n"] == 2
    assert sum(row["n"] for row in rows.values()) == 6     # 5 documents, one of them in two groups
    assert rows["delivery"]["nps"] == pytest.approx(0.0)                # (3, 10): one promoter, one detractor
    assert rows["returns"]["nps"] == pytest.approx(-100.0)
    assert rows["returns"]["dominant_emotion"] == "frustration"
    assert rows["delivery"]["valence_mean"] > 0 > rows["returns"]["valence_mean"]   # the aspect's own valence
    assert "frustration_mean" not in result.column_names


def test_kpi_by_aspect_with_keys_window_merge_and_drivers():
    scored = scored_feedback()
    agg = KpiAggregator(by=("aspect",), window="week").update(scored.slice(0, 2))
    agg.merge(KpiAggregator(by=("aspect",), window="week").update(scored.slice(2)))
    whole = KpiAggregator(by=("aspect",), window="week").update(scored)
    assert agg.result().equals(whole.result())
    assert KpiAggregator.from_bytes(whole.to_bytes()).result().equals(whole.result())
    drivers = KpiAggregator(by="aspect").update(scored).drivers("nps")
    row = drivers.filter(pc.and_(pc.equal(drivers["aspect"], "returns"),
                                 pc.equal(drivers["emotion"], "frustration"))).to_pylist()[0]
    assert row["documents"] == 2 and row["kpi_with"] == pytest.approx(-100.0)
    with pytest.raises(emoscore.ColumnNotFoundError, match="aspects"):
        KpiAggregator(by="aspect").update(Scorer(aspects=False).score(pa.table({"text": ["x"]})))


# --- the runner ----------------------------------------------------------------------------------------


def cli(args, data: bytes) -> subprocess.CompletedProcess:
    from emoscore.cli import main

    stdout, stderr = io.BytesIO(), io.BytesIO()
    status = main(args, stdin=io.BytesIO(data), stdout=stdout, stderr=stderr)
    return subprocess.CompletedProcess(args, status, stdout.getvalue(), stderr.getvalue())


def test_runner_score_and_kpi_by_aspect():
    data = b"".join(orjson.dumps({"id": i, "text": t, "nps": n}) + b"\n" for i, (t, n) in enumerate([
        ("The delivery was fast but the refund took three weeks.", 3), ("Absolutely furious!!", 0)]))
    done = cli(["score", "-q"], data)
    assert done.returncode == 0
    first, second = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert [a["aspect"] for a in first["aspects"]] == ["delivery", "returns"]
    assert first["aspects"][1]["valence"] == round(first["aspects"][1]["valence"], 4) < 0
    assert second["aspects"] == []
    assert "aspects" not in orjson.loads(cli(["score", "-q", "--no-aspects"], data).stdout.splitlines()[0])
    table = cli(["kpi", "-q", "--by", "aspect"], done.stdout)
    assert table.returncode == 0
    assert [row["aspect"] for row in map(orjson.loads, table.stdout.splitlines())] == ["delivery", "returns", None]
    csv = cli(["score", "-q", "--output-format", "csv"], data)
    assert b'"[{""aspect"":""delivery""' in csv.stdout
    kpi_from_csv = cli(["kpi", "-q", "--by", "aspect"], csv.stdout)     # the aspects read back from JSON text

    def key_figures(out):
        return [(row["aspect"], row["n"], row["nps"], round(row["valence_mean"], 4))
                for row in map(orjson.loads, out.splitlines())]

    assert kpi_from_csv.returncode == 0 and key_figures(kpi_from_csv.stdout) == key_figures(table.stdout)
