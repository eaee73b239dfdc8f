"""Scorer(language=...): each text scored with its language's lexicon, texts of other languages left
unscored (null, never an English reading) and counted, through the API, the runner and the KPIs."""

from __future__ import annotations

import io
from importlib import resources

import orjson
import pyarrow as pa
import pytest

import emoscore
import emoscore.cli as cli
from emoscore import KpiAggregator, Scorer
from emoscore.errors import InputError

TEXTS = [
    "La livraison était rapide, merci beaucoup !",          # fr
    "Le service client est vraiment nul",                   # fr
    "Die Lieferung war super schnell und der Service ist toll!",   # de: no lexicon
    "Delivery was fast and the support team was great, thanks!",   # en
    "ok",                                                   # und: scored as the default language
    None,
    "El pedido llegó roto y nadie responde a mis correos",  # es: no lexicon
]
FRENCH = str(resources.files("emoscore.lexicons").joinpath("fr.tsv"))


@pytest.fixture(scope="module")
def auto() -> pa.Table:
    return Scorer(language="auto").score(pa.array(TEXTS))


def test_each_text_is_scored_with_its_languages_lexicon(auto):
    assert auto.column("language").to_pylist() == ["fr", "fr", "de", "en", "und", "und", "es"]
    french = Scorer(FRENCH).score(pa.array(TEXTS[:2]))
    english = Scorer().score(pa.array(TEXTS[3:6]))
    for name in ("valence", "emotion", "joy", "frustration", "aspects"):
        assert auto.column(name).to_pylist()[:2] == french.column(name).to_pylist(), name
        assert auto.column(name).to_pylist()[3:6] == english.column(name).to_pylist(), name
    assert auto.column("valence")[0].as_py() > 0.3 and auto.column("valence")[1].as_py() < -0.3


def test_mixed_languages_explain_each_text_as_its_languages_scorer_does():
    # the default language's texts are explained from a selection of the shared token stream
    auto = Scorer(language="auto", explain=True).score(pa.array(TEXTS)).column("evidence").to_pylist()
    assert auto[3:6] == Scorer(explain=True).score(pa.array(TEXTS[3:6])).column("evidence").to_pylist()
    assert auto[:2] == Scorer(FRENCH, explain=True).score(pa.array(TEXTS[:2])).column("evidence").to_pylist()
    assert auto[3] and auto[2] is None and auto[6] is None


def test_a_language_without_a_lexicon_gets_null_scores_never_an_english_reading(auto):
    for row in (2, 6):
        assert all(auto.column(name)[row].as_py() is None for name in Scorer().columns), row
    assert auto.schema.field("valence").nullable
    assert not Scorer().score(pa.array(["x"])).schema.field("valence").nullable
    # the KPIs skip them in the means and count them per language
    table = pa.table({"text": TEXTS, "nps": [10, 2, 9, 9, 7, 8, 1]})
    kpis = {r["language"]: r for r in KpiAggregator("language").update(Scorer(language="auto").score(table))
            .result().to_pylist()}
    assert kpis["de"]["n"] == 1 and kpis["de"]["valence_mean"] is None and kpis["de"]["nps_n"] == 1
    assert kpis["fr"]["valence_mean_n"] == 2


def test_told_languages_subsets_and_bad_settings():
    told = Scorer(language="fr").score(pa.array(TEXTS))
    assert set(told.column("language").to_pylist()) == {"fr"} and told.column("valence").null_count == 0
    only_en = Scorer(language=["en"]).score(pa.array(TEXTS))
    assert only_en.column("valence").to_pylist()[:3] == [None, None, None]   # fr and de are not scored
    assert only_en.column("valence")[3].as_py() > 0
    as_french = Scorer(language="auto", default_language="fr").score(pa.array(["ok"]))
    assert as_french.column("language").to_pylist() == ["und"]
    for bad in ({"language": "xx"}, {"language": []}, {"language": "auto", "default_language": "de"},
                {"language": "auto", "lexicon": FRENCH}):
        with pytest.raises(InputError):
            Scorer(**bad)


def test_the_runner_counts_what_it_could_not_score():
    data = b"".join(orjson.dumps({"text": t}) + b"\n" for t in TEXTS if t is not None)
    out, err = io.BytesIO(), io.BytesIO()
    status = cli.main(["score", "--language", "auto"], stdin=io.BytesIO(data), stdout=out, stderr=err)
    assert status == 0, err.getvalue()
    rows = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert [r["language"] for r in rows] == ["fr", "fr", "de", "en", "und", "es"]
    assert rows[2]["valence"] is None and rows[0]["valence"] > 0
    summary = orjson.loads(err.getvalue().strip().splitlines()[-1])
    assert summary["not_scored"] == {"de": 1, "es": 1} and summary["written"] == 6
    assert emoscore.score(pa.table({"text": ["x"]})).num_columns == 1 + len(Scorer().columns)  # default unchanged


def test_french_aspects_are_the_english_aspects():
    scored = Scorer(language="auto").score(pa.array([
        "Le colis est arrivé cassé et le service client ne répond pas",
        "Remboursement toujours pas reçu, résiliation impossible",
        "The parcel arrived broken and customer support never answered",
    ]))
    found = [{a["aspect"] for a in aspects} for aspects in scored.column("aspects").to_pylist()]
    assert found[0] == {"delivery", "quality", "support"} and {"returns", "cancellation"} <= found[1]
    assert found[2] >= {"delivery", "support"}


def test_detection_in_the_scorers_stream_equals_the_detector():
    from emoscore.language import detect
    from emoscore.sample import generate

    texts = generate(3000, seed=5).column("text")      # English, with nulls whose bytes are not empty
    mixed = pa.concat_arrays([texts.combine_chunks(), pa.array(TEXTS)])
    scored = Scorer(language="auto").score(mixed)
    assert scored.column("language").to_pylist() == detect(mixed).to_pylist()
    english = Scorer().score(texts)
    for name in ("valence", "emotion", "aspects"):
        assert scored.column(name).slice(0, len(texts)).to_pylist() == english.column(name).to_pylist(), name
