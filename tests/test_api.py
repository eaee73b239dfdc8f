"""The public API contract: containers, columns, nulls, errors, threads, and the rules on real sentences."""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa
import pytest

import emoscore
from emoscore import ColumnNotFoundError, EmoscoreError, InputError, Lexicon, Scorer

TAXONOMY = (
    "anger anticipation disgust fear joy sadness surprise trust frustration satisfaction confusion".split()
)


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer()


def one(scorer: Scorer, text: str) -> dict:
    return scorer.score(pa.array([text])).to_pylist()[0]


def test_default_taxonomy_and_columns(scorer):
    assert scorer.emotions == tuple(TAXONOMY)
    assert scorer.columns == emoscore.SCORE_COLUMNS + tuple(TAXONOMY) + ("aspects",)
    assert emoscore.Scorer(aspects=False).columns == emoscore.SCORE_COLUMNS + tuple(TAXONOMY)


def test_table_keeps_input_columns_and_appends_scores(scorer):
    table = pa.table(
        {"id": [1, 2, 3], "text": ["I love it", None, "terrible service"], "nps": [10, None, 2]},
        metadata={b"origin": b"test"},
    )
    out = scorer.score(table)
    assert isinstance(out, pa.Table)
    assert out.schema.names == ["id", "text", "nps", *scorer.columns]
    assert out.schema.metadata == {b"origin": b"test"}
    for name in table.column_names:
        assert out.column(name).equals(table.column(name))
    assert out.schema.field("valence").type == pa.float32()
    assert out.schema.field("emotion").type == pa.string()
    assert out.schema.field("tokens").type == pa.int32()
    for emotion in scorer.emotions:
        assert out.schema.field(emotion).type == pa.float32()
    rows = out.to_pylist()
    assert rows[0]["valence"] > 0.3 and rows[0]["emotion"] == "joy"
    assert rows[1]["valence"] == 0 and rows[1]["tokens"] == 0 and rows[1]["emotion"] == "neutral"
    assert rows[2]["valence"] < -0.3


def test_record_batch_in_record_batch_out(scorer):
    batch = pa.record_batch({"body": ["great support", "awful"]})
    out = scorer.score(batch, text="body")
    assert isinstance(out, pa.RecordBatch)
    assert out.num_rows == 2 and out.column("body").equals(batch.column("body"))


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string(), pa.string_view()])
def test_array_types_give_identical_scores(scorer, kind):
    texts = ["not bad at all", None, "", "Café was naïve 😡", "GREAT!!!"]
    reference = scorer.score(pa.array(texts, pa.string()))
    out = scorer.score(pa.array(texts, kind))
    assert out.equals(reference)


def test_chunked_sliced_and_dictionary_inputs_match_plain(scorer):
    texts = ["good", None, "bad", "still not fixed", "love it", "meh"] * 50
    plain = scorer.score(pa.array(texts))
    chunked = pa.chunked_array([pa.array(texts[:7]), pa.array(texts[7:100]), pa.array(texts[100:])])
    assert scorer.score(chunked).equals(plain)
    sliced = pa.array(["padding"] * 3 + texts).slice(3)
    assert scorer.score(sliced).equals(plain)
    assert scorer.score(pa.array(texts).dictionary_encode()).equals(plain)
    assert scorer.score(pa.chunked_array([], pa.string())).num_rows == 0


def test_empty_and_all_null_inputs(scorer):
    assert scorer.score(pa.table({"text": pa.array([], pa.string())})).num_rows == 0
    out = scorer.score(pa.array([None, None], pa.null()))
    assert out.column("tokens").to_pylist() == [0, 0]
    assert out.column("emotion").to_pylist() == ["neutral", "neutral"]


def test_module_level_score_matches_scorer(scorer):
    table = pa.table({"text": ["refund took three weeks", "works like a charm"]})
    assert emoscore.score(table).equals(scorer.score(table))


def test_errors_name_the_column_row_and_value(scorer):
    with pytest.raises(ColumnNotFoundError, match="'body'.*\\['text'\\]"):
        scorer.score(pa.table({"text": ["x"]}), text="body")
    with pytest.raises(InputError, match="'text'.*int64.*row 1 holds 7"):
        scorer.score(pa.table({"text": pa.array([None, 7])}))
    with pytest.raises(InputError, match="valence"):
        scorer.score(pa.table({"text": ["x"], "valence": [1.0]}))
    with pytest.raises(InputError, match="list"):
        scorer.score(["a python list"])
    with pytest.raises(EmoscoreError, match="backend"):
        Scorer(backend="tpu")
    assert issubclass(InputError, EmoscoreError) and issubclass(ColumnNotFoundError, InputError)


def test_ranges_on_generated_text(scorer):
    rng = np.random.default_rng(3)
    words = "good bad not very NEVER again but however love hate waiting refund ! ? . , 🙂 😡 café".split()
    texts = [" ".join(rng.choice(words, rng.integers(0, 40))) for _ in range(2000)]
    out = scorer.score(pa.array(texts))
    valence = out.column("valence").to_numpy()
    assert np.all((valence >= -1) & (valence <= 1))
    for name in ("intensity", *scorer.emotions):
        values = out.column(name).to_numpy()
        assert np.all((values >= 0) & (values <= 1)), name
    assert set(out.column("emotion").to_pylist()) <= set(scorer.emotions) | {"neutral"}
    assert np.all(out.column("hits").to_numpy() <= out.column("tokens").to_numpy())


def test_parallel_tokenizing_matches_single_thread():
    texts = pa.array(["The checkout kept failing but support was great!!! " * 20, None, "meh"] * 3000)
    assert texts.nbytes > 1 << 20  # large enough to be split across threads
    assert Scorer(threads=2).score(texts).equals(Scorer(threads=1).score(texts))


def test_concurrent_calls_from_threads_are_safe(scorer):
    texts = pa.array([f"order {i} was {'great' if i % 2 else 'awful'}" for i in range(5000)])
    expected = scorer.score(texts)
    results, errors = [], []

    def work():
        try:
            for _ in range(5):
                results.append(scorer.score(texts))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors
    assert len(results) == 20 and all(result.equals(expected) for result in results)


def test_custom_lexicon_path(tmp_path):
    path = tmp_path / "tiny.tsv"
    path.write_text(
        "#!emoscore-lexicon 1\n# emotions: happy grumpy\n"
        "term\tvalence\temotions\trole\n"
        "yay\t2.0\thappy=1\t-\nugh\t-2.0\tgrumpy=1\t-\nnot\t0\t-\tnegator\n",
        encoding="utf-8",
    )
    tiny = Scorer(path)
    assert tiny.emotions == ("happy", "grumpy")
    rows = tiny.score(pa.array(["yay", "ugh ugh", "not yay"])).to_pylist()
    assert rows[0]["emotion"] == "happy" and rows[0]["valence"] > 0
    assert rows[1]["emotion"] == "grumpy" and rows[1]["valence"] < rows[0]["valence"] * -1 + 1e-6
    assert rows[2]["valence"] < 0
    assert Scorer(Lexicon.load(path)).score(pa.array(["yay"])).equals(tiny.score(pa.array(["yay"])))


# --- the rules on hand-written sentences, with the default lexicon -----------------------------------


def test_not_bad_is_mildly_positive(scorer):
    assert one(scorer, "bad")["valence"] < 0
    assert 0 < one(scorer, "not bad")["valence"] < one(scorer, "good")["valence"]


def test_no_problems_at_all_is_positive_and_satisfied(scorer):
    row = one(scorer, "No problems at all")
    assert row["valence"] > 0
    assert row["satisfaction"] > row["frustration"]
    assert one(scorer, "problems")["valence"] < 0


def test_caps_and_exclamations_emphasise(scorer):
    plain = one(scorer, "The support was great")["valence"]
    shouted = one(scorer, "The support was GREAT!!!")["valence"]
    assert shouted > plain > 0
    assert one(scorer, "great!!!")["valence"] > one(scorer, "great")["valence"]


def test_contrast_weights_the_second_clause(scorer):
    row = one(scorer, "good but slow")
    assert row["valence"] < one(scorer, "good")["valence"]
    assert one(scorer, "slow but good")["valence"] > row["valence"]


def test_cant_stand_waiting_is_frustration(scorer):
    row = one(scorer, "I can't stand waiting")
    assert row["valence"] < -0.3
    assert row["emotion"] in ("frustration", "anger")
    assert one(scorer, "I cant stand waiting")["valence"] < 0


def test_never_again_is_negative(scorer):
    assert one(scorer, "never again")["valence"] < 0
    assert one(scorer, "I will never order from them again.")["valence"] <= 0


def test_boosters_and_dampeners(scorer):
    good = one(scorer, "it is good")["valence"]
    assert one(scorer, "it is very good")["valence"] > good
    assert one(scorer, "it is slightly good")["valence"] < good


def test_emoji_and_multiword_expressions(scorer):
    assert one(scorer, "😡")["valence"] < 0 and one(scorer, "😍")["valence"] > 0
    assert one(scorer, "works like a charm")["valence"] > 0.3
    assert one(scorer, "what a waste of time")["valence"] < -0.3


def test_sentiment_words_inside_unknown_words_are_not_matched(scorer):
    row = one(scorer, "xyzzy plugh frobnicate")
    assert row["tokens"] == 3 and row["hits"] == 0 and row["emotion"] == "neutral"
