"""Build ``lexicons/fr.tsv``, emoscore's French lexicon, from its sources.

Run by hand (never at import time), from the repository root::

    python lexicons/build_fr.py --data-dir ../shared/data/fr --out lexicons/fr.tsv

(``--data-dir`` holds ``vader_fr/`` and ``pattern_fr/``; see ``../shared/data/fr/README.md``.)

The French lexicon has the default lexicon's taxonomy and is a stack of layers; a later layer's entry
replaces an earlier one with the same term, *also when the two differ only in their accents*:

1. ``vader_fr`` -- word valences of vader_FR's ``fr_lexicon.txt`` (MIT; a French port of VADER by
   O. Deprez and T. Ek, 7Lieues Technologies), on VADER's scale as the default lexicon takes VADER's;
2. ``pattern``  -- adjectives of Pattern's ``fr-sentiment.xml`` (PDDL; De Smedt & Daelemans) that
   vader_FR lacks, their polarity mapped onto VADER's scale (:data:`PATTERN_SCALE`);
3. ``emoji``    -- the emoji of the default lexicon (valences from VADER's emoji descriptions, weights
   from its seed: an emoji means the same in French), and emoji of vader_FR's ``emojis_fr.txt`` that the
   default lacks, scored from the words of their French description;
4. ``seed``     -- ``lexicons/cx_seed_fr.tsv``, written by this project: emotion weights, French
   customer-experience words and expressions, and the rule words (negators, boosters, dampeners,
   contrast and expectation words).

Terms are kept in their accented spelling, one spelling per accent-stripped key (the tokenizer is to
fold accents, so "délai" and "delai" become one term): within a source, spellings that differ only in
accents are merged (:func:`_merge_accents`). Source terms that contain an apostrophe are left out
(elided articles and pronouns are to be split off by the tokenizer); hyphenated ones become
expressions ("bien-aimé" -> ``bien aimé``), as the tokenizer splits at hyphens.

The rule parameters (:data:`PARAMS`) were tuned on the Allociné train split and the DEFT 2017 train
split only (``lexicons/README.md``, "French lexicon"). The output is deterministic.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from emoscore import _tokenize
from emoscore.errors import LexiconError
from emoscore.lexicon import Entry, Lexicon

HERE = Path(__file__).resolve().parent
SEED = HERE / "cx_seed_fr.tsv"
DEFAULT = HERE / "default.tsv"


def _sibling(name: str):
    """A builder script of this folder (not part of the package), loaded from its file."""
    spec = importlib.util.spec_from_file_location(f"emoscore_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


_default_builder = _sibling("build_default")
TAXONOMY = _default_builder.TAXONOMY

# --- rule parameters -----------------------------------------------------------------------------
# The default lexicon's values, then those that the French training splits moved (see README.md).
PARAMS: dict[str, float] = dict(_default_builder.PARAMS) | {"valence_alpha": 5.0, "negation_reach": 3.0,
                                                         "valence_hits_power": 0.25}

# --- vader_FR ------------------------------------------------------------------------------------
# vader_FR's valences are multiplied by this: its translated entries are noisier than the seed's
# curated ones (cher +1.6, simple -1.2, génial 0.6), and scaled down they weigh less against them.
# Chosen on the Allociné and DEFT train splits (1, 0.75, 0.5, 0.35; see README.md).
VADER_FR_SCALE = 0.75

# --- Pattern -------------------------------------------------------------------------------------
# Pattern's polarity (-1..1) times PATTERN_SCALE is a valence on VADER's scale: the least-squares slope
# of vader_FR's valence on Pattern's polarity over the 1,523 adjectives the two share (r = 0.73).
PATTERN_SCALE = 2.75
# Adjectives whose mapped valence is weaker than this, or that Pattern rates as objective
# (|subjectivity| below PATTERN_MIN_SUBJECTIVITY), are left out. 844 entries have a negative
# subjectivity: all inferred (confidence 0.7), 98% of them with a negative polarity, so the minus sign
# is the polarity's leaking into the field; its magnitude is read as the subjectivity.
PATTERN_MIN_VALENCE = 0.3
PATTERN_MIN_SUBJECTIVITY = 0.1

# --- emoji ---------------------------------------------------------------------------------------
EMOJI_MIN_VALENCE = 0.5

# Words that never take a valence from vader_FR or Pattern: words naming groups of people (so that a
# text is never scored more negative for mentioning who someone is) and greetings and salutations,
# which open messages of every feeling. As NO_SENTIMENT_WORDS of build_default.py.
NO_SENTIMENT_WORDS = frozenset("""
bonjour bonsoir salut coucou madame monsieur mademoiselle messieurs mesdames équipe
homme hommes femme femmes garçon garçons fille filles mari épouse mère père fils enfant enfants bébé
gay gays homosexuel homosexuelle homosexuels lesbienne lesbiennes bisexuel trans transgenre
noir noire noirs noires blanc blanche blancs blanches asiatique asiatiques africain africaine africains
arabe arabes juif juive juifs musulman musulmane musulmans islam islamique chrétien chrétienne chrétiens
catholique catholiques hindou bouddhiste athée athées immigré immigrés immigrant immigrants réfugié réfugiés
étranger étrangère étrangers français française françaises anglais anglaise allemand allemande américain
américaine italien italienne espagnol espagnole chinois chinoise japonais japonaise russe russes
gauche droite gauchiste droitier libéral libéraux conservateur conservateurs féministe féministes
vieux vieille vieilles âgé âgée âgés jeune jeunes handicapé handicapée handicapés autiste sourd aveugle gros grosse
""".split())

VADER_FR_SOURCE = (
    "vader_FR fr_lexicon.txt and emojis_fr.txt (vaderSentiment-fr 1.3.4), O. Deprez and T. Ek, 7Lieues "
    "Technologies, https://github.com/thomas7lieues/vader_FR, a French port of VADER (Hutto & Gilbert, "
    "ICWSM 2014) (word valences; emoji valences from the French descriptions)"
)
VADER_FR_LICENCE = "MIT (vader_FR), Copyright (c) 2016 C.J. Hutto"
PATTERN_SOURCE = (
    "Pattern fr-sentiment.xml, T. De Smedt, W. Daelemans and fabelier.org, https://github.com/clips/pattern "
    "(polarity of adjectives that vader_FR lacks, mapped onto VADER's scale)"
)
PATTERN_LICENCE = "PDDL (Pattern's French sentiment lexicon)"
EMOJI_SOURCE = ("the emoji entries of lexicons/default.tsv (VADER's emoji_utf8_lexicon.txt, MIT, "
                "Copyright (c) 2016 C.J. Hutto; weights from lexicons/cx_seed.tsv)")
SEED_SOURCE = ("lexicons/cx_seed_fr.tsv, written by the emoscore project (emotion weights, French CX "
               "terms, rule words)")
SEED_LICENCE = "MIT (emoscore project)"

_ELISION_OR_APOSTROPHE = re.compile(r"['’ʼ]")


@dataclass(frozen=True)
class Sources:
    """The folders the layers read."""

    vader_fr: Path
    pattern_fr: Path


# --- helpers -------------------------------------------------------------------------------------


# Letters that accent folding writes as two (as the tokenizer does).
_TWO_LETTERS = str.maketrans({"ß": "ss", "æ": "ae", "œ": "oe", "ĳ": "ij"})


def accent_key(term: str) -> str:
    """``term`` case-folded and without accents: the key two spellings share once accents fold
    ("écœurant" and "ecoeurant" share one)."""
    decomposed = unicodedata.normalize("NFKD", term.casefold().translate(_TWO_LETTERS))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _valid(entry: Entry) -> bool:
    """True when the tokenizer reads the entry's term as the format asks (one token per word)."""
    try:
        Lexicon([entry], emotions=TAXONOMY)
    except (LexiconError, ValueError):
        return False
    return True


def _merge_accents(pairs: Iterable[tuple[str, float]]) -> list[Entry]:
    """One entry per accent key: the mean valence of the spellings, written as the spelling with the
    most accented letters (the first such in source order)."""
    groups: dict[str, list[tuple[str, float]]] = {}
    for term, valence in pairs:
        groups.setdefault(accent_key(term), []).append((term, valence))
    entries = []
    for members in groups.values():
        accents = [sum(not ch.isascii() for ch in term) for term, _ in members]
        term = members[accents.index(max(accents))][0]
        valence = round(sum(v for _, v in members) / len(members), 2)
        entries.append(Entry(term, valence))
    return entries


def layered(below: Lexicon, top: Lexicon) -> Lexicon:
    """``below`` merged under ``top``; an entry of ``below`` with the accent key of one of ``top`` goes."""
    keys = {accent_key(e.term) for e in top}
    kept = [e for e in below if accent_key(e.term) not in keys]
    return Lexicon(kept, emotions=TAXONOMY).merge(top)


# --- layers --------------------------------------------------------------------------------------


def vader_fr_layer(src: Sources, below: Lexicon) -> Lexicon:
    """vader_FR's valences times VADER_FR_SCALE: words and expressions (hyphens read as spaces); emoticons, terms with
    upper case (vader_FR never matches them), terms with an apostrophe and NO_SENTIMENT_WORDS are left
    out; a repeated key keeps its last valence, as vader_FR does."""
    text = (src.vader_fr / "fr_lexicon.txt").read_text(encoding="utf-8")
    valences: dict[str, float] = {}
    for line in text.split("\n"):
        term, sep, value = line.rpartition("->")
        if not sep or not any(ch.isalpha() for ch in term) or term != term.lower():
            continue
        if _ELISION_OR_APOSTROPHE.search(term):
            continue
        term = " ".join(term.replace("-", " ").split())
        if term in NO_SENTIMENT_WORDS:
            continue
        valences.pop(term, None)
        valences[term] = float(value)
    scaled = [(term, round(VADER_FR_SCALE * valence, 2)) for term, valence in valences.items()]
    entries = [e for e in _merge_accents(scaled) if _valid(e)]
    return Lexicon(entries, emotions=TAXONOMY)


def pattern_layer(src: Sources, below: Lexicon) -> Lexicon:
    """Pattern's subjective adjectives that the layers below lack (by accent key), valence
    PATTERN_SCALE x polarity."""
    known = {accent_key(e.term) for e in below}
    pairs = []
    root = ET.parse(src.pattern_fr / "fr-sentiment.xml").getroot()
    for word in root.iter("word"):
        form = word.get("form", "").strip().lower()
        if word.get("pos") != "JJ" or not form or accent_key(form) in known or form in NO_SENTIMENT_WORDS:
            continue
        if _ELISION_OR_APOSTROPHE.search(form):
            continue
        polarity = float(word.get("polarity", "0"))
        subjectivity = abs(float(word.get("subjectivity", "0")))
        valence = round(PATTERN_SCALE * polarity, 1)
        if abs(valence) >= PATTERN_MIN_VALENCE and subjectivity >= PATTERN_MIN_SUBJECTIVITY:
            pairs.append((" ".join(form.replace("-", " ").split()), valence))
    entries = [e for e in _merge_accents(pairs) if _valid(e)]
    return Lexicon(entries, emotions=TAXONOMY)


def emoji_layer(src: Sources, below: Lexicon) -> Lexicon:
    """The default lexicon's emoji entries, and the emoji of ``emojis_fr.txt`` that it lacks and that
    show a feeling (build_default's EMOJI_RANGES), scored by the mean valence of their description's
    words in the layers below (kept when at least EMOJI_MIN_VALENCE strong)."""
    default = Lexicon.load(DEFAULT)
    entries: dict[bytes, Entry] = {}
    for entry in default:
        if entry.kind == "word" and not entry.role and not any(ch.isalnum() for ch in entry.term):
            entries[_tokenize.fold_tokens(entry.term)[0]] = entry
    for line in (src.vader_fr / "emojis_fr.txt").read_text(encoding="utf-8").splitlines():
        emoji, _, description = line.partition("\t")
        tokens = _tokenize.fold_tokens(emoji)
        if len(tokens) != 1 or tokens[0] in entries or not emoji or not _default_builder._shows_feeling(emoji):
            continue
        valences = []
        for word in _tokenize.fold_tokens(description):
            entry = below.get(word.decode("utf-8"))
            if entry is not None and entry.valence and entry.role is None:
                valences.append(entry.valence)
        if valences:
            valence = round(sum(valences) / len(valences), 1)
            if abs(valence) >= EMOJI_MIN_VALENCE:
                entries[tokens[0]] = Entry(emoji.replace("\ufe0f", ""), valence)
    return Lexicon(entries.values(), emotions=TAXONOMY)


def seed_layer(src: Sources, below: Lexicon) -> Lexicon:
    """The hand-written French seed; a ``-`` valence (emotions) takes the one below of the same term."""
    seed = Lexicon.load(SEED)
    if seed.emotions != tuple(TAXONOMY):
        sys.exit(f"{SEED}: taxonomy {seed.emotions} differs from {TAXONOMY}")
    keys = [accent_key(e.term) for e in seed]
    if len(set(keys)) != len(keys):
        sys.exit(f"{SEED}: terms that differ only in accents: "
                 f"{sorted({k for k in keys if keys.count(k) > 1})}")
    filled = []
    for entry in seed:
        base = below.get(entry.term)
        if entry.role is None and base is not None and base.role is None:
            entry = Entry(entry.term, base.valence if entry.valence is None else entry.valence,
                          entry.emotions or base.emotions)
        filled.append(entry)
    return Lexicon(filled, emotions=TAXONOMY)


LAYERS: list[tuple[str, Callable[[Sources, Lexicon], Lexicon]]] = [
    ("vader_fr", vader_fr_layer),
    ("pattern", pattern_layer),
    ("emoji", emoji_layer),
    ("seed", seed_layer),
]


def build(src: Sources, *, layers=None, params=None) -> tuple[Lexicon, dict[str, int]]:
    """The French lexicon and the number of entries each layer contributed to it."""
    lexicon = Lexicon(emotions=TAXONOMY)
    counts = {}
    for name, layer in layers or LAYERS:
        top = layer(src, lexicon)
        counts[name] = len(top)
        lexicon = layered(lexicon, top)
    ordered = sorted(lexicon, key=_default_builder._order)
    keys = [accent_key(e.term) for e in ordered]
    assert len(set(keys)) == len(keys), "two terms differ only in their accents"
    french = Lexicon(
        ordered,
        emotions=TAXONOMY,
        params=PARAMS if params is None else params,
        name="emoscore-fr",
        sources=(VADER_FR_SOURCE, PATTERN_SOURCE, EMOJI_SOURCE, SEED_SOURCE),
        licences=(VADER_FR_LICENCE, PATTERN_LICENCE, SEED_LICENCE),
    )
    return french, counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True,
                        help="folder with vader_fr/ (fr_lexicon.txt, emojis_fr.txt) and pattern_fr/ (fr-sentiment.xml)")
    parser.add_argument("--out", type=Path, default=HERE / "fr.tsv", help="where to write the lexicon")
    args = parser.parse_args(argv)
    french, counts = build(Sources(args.data_dir / "vader_fr", args.data_dir / "pattern_fr"))
    _default_builder.save_and_report(french, args.out, counts, [
        "Generated by lexicons/build_fr.py from vader_FR, Pattern's French adjectives, the default",
        "lexicon's emoji and lexicons/cx_seed_fr.tsv; do not edit by hand: edit the seed or the",
        "builder and rebuild (see lexicons/README.md).",
    ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
