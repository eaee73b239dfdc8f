"""Build ``lexicons/default.tsv``, emoscore's default lexicon, from its sources.

Run by hand (never at import time), from the repository root::

    python lexicons/build_default.py --vader-dir ../shared/data/vader --out lexicons/default.tsv

The default lexicon is a stack of layers, each a :class:`emoscore.Lexicon` over the same taxonomy;
a later layer's entry replaces an earlier one with the same folded term:

1. ``vader``  -- word valences of VADER's ``vader_lexicon.txt`` (MIT, Hutto & Gilbert 2014);
2. ``emoji``  -- emoji valences derived from VADER's ``emoji_utf8_lexicon.txt`` descriptions;
3. ``seed``   -- ``lexicons/cx_seed.tsv``, written by this project: emotion weights, customer-experience
   words and expressions, stems and the rule words. A ``-`` valence there takes the valence of the
   same term in the layers below; a stem's emotion weights are copied to the words of the layers
   below that the stem matches and that the seed does not list (their valence is kept).

To add a source (for instance emotion weights learned from GoEmotions), write a function that returns
a Lexicon over ``TAXONOMY`` and insert it into ``LAYERS``; ``build`` stacks them in order. The output
is deterministic: the same inputs give the same file, byte for byte.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path

from emoscore import _tokenize
from emoscore.lexicon import Entry, Lexicon

HERE = Path(__file__).resolve().parent
TAXONOMY = (
    "anger anticipation disgust fear joy sadness surprise trust frustration satisfaction confusion".split()
)
SEED = HERE / "cx_seed.tsv"
# An emoji is kept when its description's sentiment words average at least this much in magnitude.
EMOJI_MIN_VALENCE = 0.5
# Emoji that show a feeling or a reaction (faces, hearts, gestures of approval, celebration, medals):
# elsewhere a description names an object ("game die", "Cancer", "fire engine") and its words' VADER
# valences say nothing about the writer's feeling.
EMOJI_RANGES = (
    (0x1F600, 0x1F64F),  # Emoticons block: faces, cat faces, gestures
    (0x1F910, 0x1F92F),  # faces and hand gestures (Supplemental Symbols and Pictographs)
    (0x1F970, 0x1F97F),  # more faces
    (0x1F47F, 0x1F480),  # angry face with horns, skull
    (0x1F48B, 0x1F49F),  # kiss mark, love letter, hearts
    (0x1F4A2, 0x1F4A2),  # anger symbol
    (0x1F4AF, 0x1F4AF),  # hundred points
    (0x1F44D, 0x1F44F),  # thumbs up / down, clapping hands
    (0x1F5A4, 0x1F5A4),  # black heart
    (0x1F9E1, 0x1F9E1),  # orange heart
    (0x1F5EF, 0x1F5EF),  # right anger bubble
    (0x1F389, 0x1F389),  # party popper
    (0x1F3C5, 0x1F3C6),  # sports medal, trophy
    (0x1F947, 0x1F949),  # place medals
    (0x2639, 0x263A),  # frowning face, smiling face
    (0x2763, 0x2764),  # heart exclamation, red heart
    (0x2728, 0x2728),  # sparkles
)
# Description words whose VADER valence is another sense of the word ("give a hand").
EMOJI_IGNORED_WORDS = frozenset({b"hand"})

VADER_SOURCE = (
    "VADER sentiment lexicon vader_lexicon.txt and emoji_utf8_lexicon.txt, C.J. Hutto and E. Gilbert, "
    "ICWSM 2014, https://github.com/cjhutto/vaderSentiment (word valences; emoji valences derived from "
    "the emoji descriptions)"
)
VADER_LICENCE = "MIT (VADER lexicons), Copyright (c) 2016 C.J. Hutto"
SEED_SOURCE = "lexicons/cx_seed.tsv, written by the emoscore project (emotion weights, CX terms, rule words)"
SEED_LICENCE = "MIT (emoscore project)"


def vader_layer(vader_dir: Path, below: Lexicon) -> Lexicon:
    """VADER's word valences (emoticons the tokenizer cannot read are skipped by the loader)."""
    return Lexicon.from_vader(vader_dir / "vader_lexicon.txt", emotions=TAXONOMY)


def emoji_layer(vader_dir: Path, below: Lexicon) -> Lexicon:
    """A valence for each single-token emoji: the mean valence of the sentiment words of its description.

    Only emoji of EMOJI_RANGES that the tokenizer reads as one token are kept (flags and joined
    sequences are several), the first description of a folded emoji wins (skin-tone variants fold to
    the base emoji), and an emoji whose description carries no sentiment (mean magnitude below
    EMOJI_MIN_VALENCE) is left out. The seed overrides the emoji that matter most for CX text.
    """
    entries: dict[bytes, Entry] = {}
    text = (vader_dir / "emoji_utf8_lexicon.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        if not line.strip():
            continue
        emoji, _, description = line.partition("\t")
        tokens = _tokenize.fold_tokens(emoji)
        if len(tokens) != 1 or tokens[0] in entries or not _shows_feeling(emoji):
            continue
        valences = []
        for word in _tokenize.fold_tokens(description):
            if word in EMOJI_IGNORED_WORDS:
                continue
            entry = below.get(word.decode("utf-8"))
            if entry is not None and entry.valence and entry.role is None:
                valences.append(entry.valence)
        if not valences:
            continue
        valence = round(sum(valences) / len(valences), 1)
        if abs(valence) >= EMOJI_MIN_VALENCE:
            entries[tokens[0]] = Entry(emoji.replace("\ufe0f", ""), valence)
    return Lexicon(entries.values(), emotions=TAXONOMY)


def seed_layer(vader_dir: Path, below: Lexicon) -> Lexicon:
    """The hand-written seed, with '-' valences filled from the layers below and stem weights spread."""
    seed = Lexicon.load(SEED)
    if seed.emotions != tuple(TAXONOMY):
        sys.exit(f"{SEED}: taxonomy {seed.emotions} differs from {TAXONOMY}")
    filled = []
    for entry in seed:
        if entry.valence is None and entry.role is None:
            base = below.get(entry.term)
            if base is not None and base.valence is not None:
                entry = Entry(entry.term, base.valence, entry.emotions)
        filled.append(entry)
    # Words of the layers below that a seed stem matches inherit the stem's emotion weights.
    stems = {}
    for entry in seed:
        if entry.kind == "stem":
            stems[_tokenize.fold_tokens(entry.term[:-1])[0]] = entry
    spread = []
    for entry in below:
        if entry.kind != "word" or entry.emotions or entry.role or entry.term in seed:
            continue
        folded = _tokenize.fold_tokens(entry.term)[0]
        for length in range(len(folded), 0, -1):
            stem = stems.get(folded[:length])
            if stem is not None:
                spread.append(Entry(entry.term, entry.valence, stem.emotions))
                break
    return Lexicon(spread, emotions=TAXONOMY).merge(Lexicon(filled, emotions=TAXONOMY))


LAYERS: list[tuple[str, Callable[[Path, Lexicon], Lexicon]]] = [
    ("vader", vader_layer),
    ("emoji", emoji_layer),
    ("seed", seed_layer),
]


def _shows_feeling(text: str) -> bool:
    """True when ``text`` starts with a code point of EMOJI_RANGES."""
    cp = ord(text[0])
    return any(low <= cp <= high for low, high in EMOJI_RANGES)


def _order(entry: Entry) -> tuple:
    """Rule words first (by role), then every other entry by its folded spelling."""
    roles = (None, "negator", "booster", "dampener", "contrast")
    group = 0 if entry.role else 1
    return (group, roles.index(entry.role), entry.term.casefold(), entry.term)


def build(vader_dir: Path) -> tuple[Lexicon, dict[str, int]]:
    """The default lexicon and the number of entries each layer contributed to it."""
    lexicon = Lexicon(emotions=TAXONOMY)
    counts = {}
    for name, layer in LAYERS:
        top = layer(vader_dir, lexicon)
        counts[name] = len(top)
        lexicon = lexicon.merge(top)
    missing = [e.term for e in lexicon if e.valence is None and e.role is None]
    if missing:
        print(f"note: {len(missing)} seed terms have no valence anywhere: {' '.join(missing)}",
              file=sys.stderr)
    ordered = sorted(lexicon, key=_order)
    assert all(math.isfinite(e.valence or 0.0) for e in ordered)
    default = Lexicon(
        ordered,
        emotions=TAXONOMY,
        name="emoscore-default",
        sources=(VADER_SOURCE, SEED_SOURCE),
        licences=(VADER_LICENCE, SEED_LICENCE),
    )
    return default, counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vader-dir", type=Path, required=True, help="folder with VADER's lexicon files")
    parser.add_argument("--out", type=Path, default=HERE / "default.tsv", help="where to write the lexicon")
    args = parser.parse_args(argv)
    default, counts = build(args.vader_dir)
    default.save(
        args.out,
        comments=[
            "Generated by lexicons/build_default.py from VADER's lexicons and lexicons/cx_seed.tsv;",
            "do not edit by hand: edit the seed or the builder and rebuild (see lexicons/README.md).",
        ],
    )
    compiled = default.compile()
    kinds = {kind: sum(e.kind == kind for e in default) for kind in ("word", "stem", "mwe")}
    roles = {role: sum(e.role == role for e in default) for role in ("negator", "booster", "dampener",
                                                                      "contrast")}
    print(
        f"wrote {args.out}: {len(default)} entries ({kinds}), rule words {roles}, layers {counts}, "
        f"{compiled.n_terms} compiled terms, fingerprint {compiled.fingerprint[:16]}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
