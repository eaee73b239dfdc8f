"""The French lexicon (lexicons/fr.tsv): what the builder makes, what ships, and how French scores."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import pyarrow as pa
import pytest

from emoscore import Lexicon, Scorer
from repo_scripts import load_script
from shared_data import require

REPO = Path(__file__).resolve().parents[1]


def _builder():
    """lexicons/build_fr.py, a repository script (not shipped in the wheel)."""
    return load_script("lexicons/build_fr.py")


@pytest.fixture(scope="module")
def french() -> Lexicon:
    return Lexicon.load(importlib.resources.files("emoscore.lexicons") / "fr.tsv")


@pytest.fixture(scope="module")
def scorer(french) -> Scorer:
    return Scorer(french, aspects=False)


def test_the_french_lexicon_ships_with_the_default_taxonomy(french):
    assert french.name == "emoscore-fr"
    assert french.emotions == Lexicon.default().emotions
    assert any("vader_FR" in s for s in french.sources) and any("Pattern" in s for s in french.sources)
    assert any(s.startswith("MIT (vader_FR)") for s in french.licences)
    assert any(s.startswith("PDDL") for s in french.licences)
    accent_key = _builder().accent_key
    keys = [accent_key(entry.term) for entry in french]
    assert len(set(keys)) == len(keys), "two terms differ only in their accents"
    assert not any("'" in entry.term and entry.role is None for entry in french)
    roles = {"pas": "negator", "jamais": "negator", "rien": "negator", "guère": "negator", "aucun": "negator",
             "sans": "negator", "n' est plus": "negator", "très": "booster", "vraiment": "booster",
             "un peu": "dampener", "plutôt": "dampener", "mais": "contrast", "par contre": "contrast",
             "sauf que": "contrast", "cependant": "contrast", "censé": "expectation", "pensais": "expectation"}
    for term, role in roles.items():
        assert french.get(term).role == role, term
    for term in ("ne", "plus"):  # "ne ... pas" would cancel; "plus rapide" is no negation
        assert french.get(term) is None or french.get(term).role is None, term
    for entry in french:
        if entry.role:
            assert not entry.valence and not entry.emotions, entry


@pytest.mark.parametrize(("text", "sign"), [
    ("La livraison était rapide, merci !", 1),
    ("Le service client est nul", -1),
    ("c'est pas terrible", -1),
    ("pas mal du tout", 1),
    ("je ne suis pas content", -1),
    ("Je ne suis plus satisfait de l'abonnement", -1),
    ("rapide mais le colis était abîmé", -1),
    ("Pas de souci, remboursement reçu, au top", 1),
    ("Toujours pas remboursé, c'est inadmissible", -1),
    ("Conseiller très aimable et compétent, je recommande", 1),
    ("Je pensais que ce serait génial, mais non", -1),
    ("Franchement déçu, plus jamais", -1),
    ("L'appli plante sans arrêt, j'en ai marre", -1),
    ("Nickel, colis reçu en avance 👍", 1),
])
def test_french_sentences_score_with_the_right_sign(scorer, text, sign):
    valence = scorer.score(pa.array([text])).column("valence")[0].as_py()
    assert valence * sign > 0.05, (text, valence)


def test_accents_and_elisions_do_not_change_a_score(scorer):
    valences = scorer.score(pa.array(["Délai dépassé, déçu", "Delai depasse, decu", "DÉLAI DÉPASSÉ, DÉÇU"]))
    first, plain, caps = valences.column("valence").to_pylist()
    assert first < 0 and plain == pytest.approx(first)
    assert caps < 0


@pytest.mark.parametrize(("text", "emotion"), [
    ("Je suis furieux, c'est scandaleux", "anger"),
    ("Très déçue par cette commande", "sadness"),
    ("J'ai peur que ce soit une arnaque", "fear"),
    ("Je suis perdu, je ne comprends pas la facture", "confusion"),
    ("Merci beaucoup, tout est parfait", "satisfaction"),
    ("Toujours pas de réponse, j'en ai marre", "frustration"),
    ("Tellement heureuse, quel bonheur", "joy"),
    ("J'ai hâte de recevoir mon colis", "anticipation"),
    ("Un vendeur honnête et fiable, confiance totale", "trust"),
])
def test_french_dominant_emotions(scorer, text, emotion):
    assert scorer.score(pa.array([text])).column("emotion")[0].as_py() == emotion, text


def test_french_lexicon_file_is_what_the_builder_makes(tmp_path):
    """Fast (about 3 s): the shipped fr.tsv is the builder's output, byte for byte. It reads the emoji
    of lexicons/default.tsv, so rebuild fr.tsv when default.tsv changes."""
    data = require("fr/vader_fr/fr_lexicon.txt", "fr/vader_fr/emojis_fr.txt", "fr/pattern_fr/fr-sentiment.xml")
    out = tmp_path / "fr.tsv"
    assert _builder().main(["--data-dir", str(data / "fr"), "--out", str(out)]) == 0
    assert out.read_bytes() == (REPO / "lexicons" / "fr.tsv").read_bytes()
