"""Build ``lexicons/default.tsv``, emoscore's default lexicon, from its sources.

Run by hand (never at import time), from the repository root::

    python lexicons/build_default.py --vader-dir ../shared/data/vader --goemotions-dir ../shared/data/goemotions \
        --out lexicons/default.tsv

(``--goemotions-dir`` defaults to the ``goemotions`` folder next to ``--vader-dir``.)

The default lexicon is a stack of layers, each a :class:`emoscore.Lexicon` over the same taxonomy;
a later layer's entry replaces an earlier one with the same folded term:

1. ``vader``  -- word valences of VADER's ``vader_lexicon.txt`` (MIT, Hutto & Gilbert 2014);
2. ``emoji``  -- emoji valences derived from VADER's ``emoji_utf8_lexicon.txt`` descriptions;
3. ``goemotions`` -- learned from GoEmotions ``train.tsv`` (Apache-2.0, Demszky et al. 2020), and from
   nothing else: a ridge regression of each comment's sentiment on its words, weighed as the scoring
   rules weigh them, with VADER's valence as the prior mean, shrinks the VADER valences of words that
   Reddit uses without their full force ("please", "like", "pretty") and gives a valence to emotional
   words VADER lacks; emotion weights of words and two-word expressions come from how much more often
   the comments that use them carry each emotion (smoothed, significance-filtered);
4. ``seed``   -- ``lexicons/cx_seed.tsv``, written by this project: emotion weights, customer-experience
   and review words and expressions, stems and the rule words. A ``-`` valence (or ``-`` emotions)
   there takes the valence (the emotion weights) of the same term in the layers below -- for a word,
   VADER's valence: the GoEmotions layer leaves the valences of the seed's words alone; a stem's
   emotion weights are copied to the words of the layers below that it matches and that have no
   emotion weights (their valence is kept).

The rule parameters written as ``# param`` header lines (:data:`PARAMS`) were tuned on development
data only (``lexicons/tune_params.py``; see ``lexicons/README.md``). No word value is fitted on those
sets. The output is deterministic: the same inputs give the same file, byte for byte.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from emoscore import _tokenize
from emoscore.kernels import params as rule_params
from emoscore.kernels import rules
from emoscore.lexicon import ROLES, Entry, Lexicon

HERE = Path(__file__).resolve().parent
TAXONOMY = (
    "anger anticipation disgust fear joy sadness surprise trust frustration satisfaction confusion".split()
)
SEED = HERE / "cx_seed.tsv"

# --- rule parameters -----------------------------------------------------------------------------
# Written into the header as '# param' lines (so they hold whatever the defaults in kernels/rules.py
# become). Tuned by lexicons/tune_params.py on the development sets only: the valence parameters on
# VADER's Amazon and movie review snippets (mean Pearson r of the two), dominant_min on GoEmotions
# dev.tsv (Ekman + neutral macro-F1); the negated emotion ones and negation_reach by hand on all the
# development sets and the CX sentences (bench/data). Those that the search left at their default are listed too.
PARAMS: dict[str, float] = {
    "valence_alpha": 10.0,
    "valence_hits_power": 0.5,
    "negation_scale": -0.74,
    "contrast_before": 0.2,
    "contrast_after": 0.7,
    "excl_boost": 0.15,
    "caps_boost": 0.35,
    "dominant_min": 0.15,
    "negated_emotion_scale": 0.0,
    "negated_transfer": 1.0,
    "negation_reach": 6.0,
}

# --- emoji ---------------------------------------------------------------------------------------
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

# --- GoEmotions ----------------------------------------------------------------------------------
# Each emotion of the taxonomy is a weighted set of GoEmotions labels; a comment belongs to an emotion
# with the largest weight among its labels (0 when none). The grouping follows GoEmotions' own Ekman
# grouping where the taxonomies meet (annoyance and disapproval with anger, confusion and curiosity
# with surprise, disappointment/remorse/embarrassment/grief with sadness), and splits its wide "joy"
# group by what a customer expresses: gratitude/approval/admiration -> satisfaction, caring/admiration
# -> trust, optimism/desire -> anticipation, amusement/love/excitement -> joy. See lexicons/README.md.
GOEMOTIONS_MAP: dict[str, dict[str, float]] = {
    "anger": {"anger": 1.0, "annoyance": 0.3},
    "anticipation": {"optimism": 1.0, "desire": 1.0, "excitement": 0.5},
    "disgust": {"disgust": 1.0},
    "fear": {"fear": 1.0, "nervousness": 1.0},
    "joy": {"joy": 1.0, "amusement": 1.0, "love": 1.0, "excitement": 0.5, "relief": 0.5, "pride": 0.5},
    "sadness": {"sadness": 1.0, "grief": 1.0, "disappointment": 1.0, "remorse": 1.0, "embarrassment": 0.5},
    "surprise": {"surprise": 1.0, "realization": 1.0},
    "trust": {"caring": 1.0, "admiration": 0.3},
    "frustration": {"annoyance": 1.0, "disapproval": 0.5},
    "satisfaction": {"gratitude": 1.0, "approval": 1.0, "admiration": 1.0, "relief": 0.5, "pride": 0.5},
    "confusion": {"confusion": 1.0, "curiosity": 1.0},
}
# Valence regression (see _GoEmotions.learn_valences). The sentiment of a comment is the share of
# its labels that GoEmotions' sentiment_dict.json calls positive minus the share it calls negative
# (ambiguous and neutral: 0). Only terms used in at least GE_MIN_DF training comments are learned.
GE_MIN_DF = 3
# Ridge penalties (in squared comment-sentiment units) pulling a word's valence towards its prior:
# VADER's valence (or the emoji's) where there is one, 0 for a word VADER lacks.
GE_RIDGE_PRIOR = 30.0
GE_RIDGE_NEW = 300.0
# VADER's valences are people's ratings of the word itself; the comments can only show that a word is
# often used without that force ("please", "like", "pretty", "kind"), so a learned valence may shrink
# a VADER valence towards 0 -- by at most GE_MAX_SHIFT -- but never grow it or flip its sign.
GE_MAX_SHIFT = 1.5
# A word VADER lacks gets its learned valence when it is at least GE_MIN_NEW_VALENCE strong and the
# comments also mark it as emotional: a learned emotion weight of at least GE_NEW_MIN_EMOTION.
GE_MIN_NEW_VALENCE = 0.3
GE_NEW_MIN_EMOTION = 0.2
GE_CG_ITERATIONS = 400
# Emotion weights: Monroe et al.'s log-odds ratio with an informative Dirichlet prior (pseudo-count
# GE_PRIOR_DOCS times the term's background rate) gives the significance z of a term for an emotion
# (comments of the emotion vs the rest); a term with z >= GE_MIN_Z gets the weight
# (P(emotion | term) - P(emotion)) / (1 - P(emotion)), P(emotion | term) smoothed towards the base
# rate with GE_SMOOTHING pseudo-comments. Weights below GE_MIN_WEIGHT are dropped.
GE_PRIOR_DOCS = 1000.0
GE_MIN_Z = 1.96
GE_SMOOTHING = 20.0
GE_MIN_WEIGHT = 0.05
# Two-word expressions (two content words in one clause) need more support than words, and must
# carry an emotion more strongly than either of their words does.
GE_MWE_MIN_DF = 10
GE_MWE_MIN_Z = 3.0
GE_MWE_MARGIN = 0.15

# Closed-class English words (pronouns, determiners, auxiliaries, prepositions, conjunctions, bare
# contractions): they take part in the regression, so that they soak up what is only a topic or a
# style of the training comments, but never get a learned valence or emotion weights.
STOP_WORDS = frozenset("""
a an the this that these those there here i me my mine myself you your yours yourself yourselves he him his
himself she her hers herself it its itself we us our ours ourselves they them their theirs themselves one ones
i'm i've i'll i'd you're you've you'll you'd he's she's it's we're we've we'll we'd they're they've they'll
they'd that's there's here's what's who's where's when's how's let's
am is are was were be been being have has had having do does did doing will would shall should can could may
might must ought need
and or if then else than because as until while of at by for with about against between into through during
before after above below to from up down in out on off over under again further once both each few more most
other some such only own same so too just also even ever still already yet whether either neither nor not no
what which who whom whose when where why how all any every anyone anybody anything everyone everybody
everything someone somebody something nothing nobody none
s t d ll m re ve o y u ur im ive id youre dont doesnt didnt isnt wasnt cant wont
""".split())
# Stop words that may still carry emotion weights: "why" (curiosity, confusion). The other question words
# open neutral requests as often ("How do I change my plan?", "Where is the receipt?"): learning them
# lowered GoEmotions dev accuracy (0.588 -> 0.584) and the CX questions' emotion accuracy (0.50 -> 0.45).
GE_EMOTION_STOP_WORDS = frozenset({"why"})
# Words that never get a valence or emotion weights from VADER or GoEmotions (the seed may still write an
# expression that fixes a sense: "straight answer"): GoEmotions' placeholders for masked names and religions
# ([NAME], [RELIGION]), and words naming groups of people (gender, sexuality, ethnicity, nationality,
# religion, politics, age, disability), so that the product never scores a text as more negative,
# angry or fearful because it mentions who someone is -- whatever the training comments associate
# with them. Nor do greetings, salutations and the names of service channels: they open or address
# messages of every feeling ("hey team, this is unacceptable"), so what the comments teach about them is
# only who writes them.
NO_SENTIMENT_WORDS = frozenset("""
name religion
hey hi hello hiya howdy dear greetings morning afternoon evening team folks everyone support helpdesk
man men woman women male males female females boy boys girl girls guy guys gal gals lady ladies gentleman
gentlemen husband wife mom dad mother father son daughter brother sister kid kids child children baby
gay gays lesbian lesbians bisexual bi queer trans transgender lgbt lgbtq straight
black blacks white whites asian asians african africans hispanic hispanics latino latina latinos
mexican mexicans arab arabs jewish jew jews muslim muslims islam islamic christian christians catholic
catholics hindu hindus sikh sikhs buddhist buddhists atheist atheists mormon mormons
american americans british english french german germans irish italian chinese japanese korean indian
nigerian pakistani polish turkish iranian israeli palestinian ukrainian spanish dutch brazilian filipino
vietnamese
indians russian russians canadian canadians european europeans immigrant immigrants refugee refugees
native natives minority minorities race racial ethnic
liberal liberals conservative conservatives democrat democrats republican republicans left right
feminist feminists trump obama
old young elderly teen teens teenager teenagers disabled disability autistic autism blind deaf fat
""".split())

VADER_SOURCE = (
    "VADER sentiment lexicon vader_lexicon.txt and emoji_utf8_lexicon.txt, C.J. Hutto and E. Gilbert, "
    "ICWSM 2014, https://github.com/cjhutto/vaderSentiment (word valences; emoji valences derived from "
    "the emoji descriptions)"
)
VADER_LICENCE = "MIT (VADER lexicons), Copyright (c) 2016 C.J. Hutto"
GOEMOTIONS_SOURCE = (
    "GoEmotions train.tsv, D. Demszky et al., \"GoEmotions: A Dataset of Fine-Grained Emotions\", ACL 2020, "
    "https://github.com/google-research/google-research/tree/master/goemotions (learned valences and "
    "emotion weights; no text of the data set is included)"
)
GOEMOTIONS_LICENCE = "Apache-2.0 (GoEmotions data set), Copyright 2020 The Google Research Authors"
SEED_SOURCE = ("lexicons/cx_seed.tsv, written by the emoscore project (emotion weights, CX and review terms, "
               "rule words)")
SEED_LICENCE = "MIT (emoscore project)"


@dataclass(frozen=True)
class Sources:
    """The folders the layers read."""

    vader: Path
    goemotions: Path


# --- layers --------------------------------------------------------------------------------------


def vader_layer(src: Sources, below: Lexicon) -> Lexicon:
    """VADER's word valences (emoticons the tokenizer cannot read are skipped by the loader), less
    NO_SENTIMENT_WORDS."""
    vader = Lexicon.from_vader(src.vader / "vader_lexicon.txt", emotions=TAXONOMY)
    return Lexicon([e for e in vader if e.term not in NO_SENTIMENT_WORDS], emotions=TAXONOMY)


def emoji_layer(src: Sources, below: Lexicon) -> Lexicon:
    """A valence for each single-token emoji: the mean valence of the sentiment words of its description.

    Only emoji of EMOJI_RANGES that the tokenizer reads as one token are kept (flags and joined
    sequences are several), the first description of a folded emoji wins (skin-tone variants fold to
    the base emoji), and an emoji whose description carries no sentiment (mean magnitude below
    EMOJI_MIN_VALENCE) is left out. The seed overrides the emoji that matter most for CX text.
    """
    entries: dict[bytes, Entry] = {}
    text = (src.vader / "emoji_utf8_lexicon.txt").read_text(encoding="utf-8")
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


def goemotions_layer(src: Sources, below: Lexicon) -> Lexicon:
    """Valences and emotion weights learned from GoEmotions ``train.tsv`` (see the module docstring)."""
    corpus = _GoEmotions(src.goemotions, Lexicon.load(SEED))
    valences = corpus.learn_valences(below)
    weights = corpus.learn_emotions()
    for word in [w for w in valences if below.get(w) is None]:
        if max((x for _, x in weights.get(word, ())), default=0.0) < GE_NEW_MIN_EMOTION:
            del valences[word]
    entries = []
    for term in sorted(set(valences) | set(weights)):
        entry = below.get(term)
        if entry is not None and (entry.role or entry.kind != _kind(term)):
            continue
        valence = valences.get(term, entry.valence if entry is not None else None)
        if valence is None and " " in term:
            # an expression scores instead of its words: it carries their valences
            parts = [valences.get(w, _valence(below.get(w))) for w in term.split(" ")]
            valence = round(min(max(math.fsum(parts), -4.0), 4.0), 2) or None
        emotions = weights.get(term, ())
        if entry is not None and not emotions:
            emotions = entry.emotions
        if valence is None and not emotions:
            continue
        entries.append(Entry(entry.term if entry is not None else term, valence, emotions))
    return Lexicon(entries, emotions=TAXONOMY)


def seed_layer(src: Sources, below: Lexicon) -> Lexicon:
    """The hand-written seed, '-' valences and emotions filled from the layers below, stem weights spread."""
    seed = Lexicon.load(SEED)
    if seed.emotions != tuple(TAXONOMY):
        sys.exit(f"{SEED}: taxonomy {seed.emotions} differs from {TAXONOMY}")
    filled = []
    for entry in seed:
        base = below.get(entry.term)
        if entry.role is None and base is not None and base.role is None:
            valence = base.valence if entry.valence is None else entry.valence
            emotions = entry.emotions or base.emotions
            entry = Entry(entry.term, valence, emotions)
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


LAYERS: list[tuple[str, Callable[[Sources, Lexicon], Lexicon]]] = [
    ("vader", vader_layer),
    ("emoji", emoji_layer),
    ("goemotions", goemotions_layer),
    ("seed", seed_layer),
]


# --- learning from GoEmotions ----------------------------------------------------------------------


class _GoEmotions:
    """GoEmotions ``train.tsv`` tokenized as emoscore reads text, with what the learners need.

    Tokens are those of :mod:`emoscore._tokenize` (same folding and flags), so a learned term is a term
    the scorer will find. The seed's single-word rule words (negators, boosters, dampeners, contrast
    words) are located so that the valence regression weighs every word as the scoring rules will.
    """

    def __init__(self, directory: Path, seed: Lexicon) -> None:
        names = (directory / "emotions.txt").read_text(encoding="utf-8").split()
        groups = json.loads((directory / "sentiment_dict.json").read_text(encoding="utf-8"))
        polarity = {label: {"positive": 1.0, "negative": -1.0}.get(group, 0.0)
                    for group, labels in groups.items() for label in labels}
        # terms the seed lists keep the valence it gives them (or VADER's): curated beats co-occurrence
        self.curated = frozenset(_tokenize.fold_tokens(e.term)[0].decode("utf-8") for e in seed
                                 if e.kind == "word")
        texts, self.labels = [], []
        with (directory / "train.tsv").open(encoding="utf-8", newline="") as handle:
            for line in handle:
                fields = line.rstrip("\r\n").split("\t")
                if len(fields) < 2 or not fields[1]:
                    continue
                texts.append(fields[0])
                self.labels.append(tuple(names[int(i)] for i in fields[1].split(",")))
        self.sentiment = np.array([sum(polarity.get(label, 0.0) for label in labels) / len(labels)
                                   for labels in self.labels])
        # vocabulary in order of first appearance: deterministic ids
        vocab: dict[bytes, int] = {}
        for text in texts:
            for token in _tokenize.fold_tokens(text):
                vocab.setdefault(token, len(vocab))
        self.words = [token.decode("utf-8") for token in vocab]
        keys, ids = _tokenize.build_table([_tokenize.fnv1a64(t) for t in vocab], np.arange(len(vocab)))
        self.offsets, self.ids, self.flags = _tokenize.tokenize(pa.array(texts, pa.string()), keys, ids, 0)
        n_words = len(self.words)
        self.role = np.zeros(n_words, np.uint8)
        self.modifier = np.zeros(n_words, np.float64)
        codes = {"negator": rules.ROLE_NEGATOR, "booster": rules.ROLE_MODIFIER,
                 "dampener": rules.ROLE_MODIFIER, "contrast": rules.ROLE_CONTRAST,
                 "expectation": rules.ROLE_EXPECTATION}
        for entry in seed:
            if entry.role and entry.kind == "word":
                word = vocab.get(_tokenize.fold_tokens(entry.term)[0])
                if word is not None:
                    self.role[word] = codes[entry.role]
                    self.modifier[word] = entry.modifier or 0.0
        # document frequency of each word
        self.df = np.zeros(n_words, np.int64)
        for d in range(len(texts)):
            np.add.at(self.df, np.unique(self.ids[self.offsets[d]:self.offsets[d + 1]]), 1)

    # --- valence ---------------------------------------------------------------------------------

    def learn_valences(self, below: Lexicon) -> dict[str, float]:
        """Ridge regression of comment sentiment on rule-weighted word counts; prior mean: ``below``.

        Each comment's score is ``b + sum_t c * v[word(t)] * m_t``, with ``m_t`` the multiplier that
        the scoring rules give token t (negation, boosters and dampeners, contrast, caps, ``!``) and c
        the scale that maps VADER's valences to the comments' sentiment (fitted first, on VADER's
        valences alone). Minimising the squared error plus ``lambda * (v - prior)^2`` (times c^2) moves
        a word away from its VADER valence only as far as the comments' evidence carries it; then a
        VADER word keeps the smaller of the two in magnitude (GE_MAX_SHIFT). Words the seed lists keep
        their curated valence and are not returned; nor are stop words, rule words and NO_SENTIMENT_WORDS.
        Returns the learned valence of every other VADER word and emoji used in at least GE_MIN_DF
        comments, and of every other content word that comes out at least GE_MIN_NEW_VALENCE strong.
        """
        rows, cols, values = self._design()
        n_docs, n_words = len(self.labels), len(self.words)
        y = self.sentiment

        def apply(u):          # X u
            return np.bincount(rows, weights=values * u[cols], minlength=n_docs)

        def apply_t(r):        # X' r
            return np.bincount(cols, weights=values * r[rows], minlength=n_words)

        prior = np.zeros(n_words)
        penalty = np.full(n_words, GE_RIDGE_NEW)
        for w, word in enumerate(self.words):
            entry = below.get(word)
            if entry is not None and entry.kind == "word" and entry.valence and not entry.role:
                prior[w] = entry.valence
                penalty[w] = GE_RIDGE_PRIOR
        # the scale c: least squares of the sentiment on the comments' VADER-only scores
        x0 = apply(prior)
        yc = y - y.mean()
        scale = float(x0 @ yc / (x0 @ (x0 - x0.mean())))
        # minimise |y - b - X u|^2 + sum penalty (u - c prior)^2 over u (c v = u), b = mean(y) - mean(X u)
        # by conjugate gradients on the centred normal equations
        u0 = scale * prior

        def normal(u):
            xu = apply(u)
            return apply_t(xu - xu.mean()) + penalty * u

        rhs = apply_t(yc) + penalty * u0
        u = u0.copy()
        r = rhs - normal(u)
        p = r.copy()
        rr = float(r @ r)
        for _ in range(GE_CG_ITERATIONS):
            if rr <= 1e-12 * float(rhs @ rhs):
                break
            q = normal(p)
            step = rr / float(p @ q)
            u += step * p
            r -= step * q
            rr_new = float(r @ r)
            p = r + (rr_new / rr) * p
            rr = rr_new
        valence = u / scale
        out = {}
        for w, word in enumerate(self.words):
            if (self.df[w] < GE_MIN_DF or self.role[w] or word in STOP_WORDS or word in NO_SENTIMENT_WORDS
                    or word in self.curated):
                continue
            v = float(valence[w])
            if prior[w]:
                v = min(max(v, prior[w] - GE_MAX_SHIFT), prior[w] + GE_MAX_SHIFT)
                v = prior[w] * min(max(v / prior[w], 0.0), 1.0)
            v = round(min(max(v, -4.0), 4.0), 2)
            if prior[w]:
                out[word] = v
            elif abs(v) >= GE_MIN_NEW_VALENCE and _is_content_word(word):
                out[word] = v
        return out

    def _design(self):
        """The sparse design matrix (rows, cols, values): each token's rule multiplier, summed."""
        p = dict(rule_params.DEFAULT_PARAMS)
        p.update(PARAMS)
        rows, cols, values = [], [], []
        for d in range(len(self.labels)):
            lo, hi = int(self.offsets[d]), int(self.offsets[d + 1])
            for t, m in _multipliers(self.ids[lo:hi], self.flags[lo:hi], self.role, self.modifier, p):
                rows.append(d)
                cols.append(int(self.ids[lo + t]))
                values.append(m)
        return np.array(rows, np.int64), np.array(cols, np.int64), np.array(values, np.float64)

    # --- emotions --------------------------------------------------------------------------------

    def learn_emotions(self) -> dict[str, tuple[tuple[str, float], ...]]:
        """Emotion weights of words and two-word expressions (see GE_* above); term -> weights."""
        n_docs = len(self.labels)
        member = {emotion: [max((m.get(label, 0.0) for label in labels), default=0.0)
                            for labels in self.labels] for emotion, m in GOEMOTIONS_MAP.items()}
        words, bigrams = [], []
        for d in range(n_docs):
            lo, hi = int(self.offsets[d]), int(self.offsets[d + 1])
            ids = [int(i) for i in self.ids[lo:hi]]
            flags = self.flags[lo:hi]
            words.append(set(ids))
            pairs = set()
            for k in range(len(ids) - 1):
                if not flags[k] & (rules.FLAG_SENT_END | rules.FLAG_CLAUSE):
                    pairs.add((ids[k], ids[k + 1]))
            bigrams.append(pairs)
        single = self._term_weights(words, member, GE_MIN_DF, GE_MIN_Z)
        double = self._term_weights(bigrams, member, GE_MWE_MIN_DF, GE_MWE_MIN_Z)
        out: dict[str, tuple[tuple[str, float], ...]] = {}
        for w, weights in single.items():
            word = self.words[w]
            if self.role[w] or not (_is_content_word(word) or word in GE_EMOTION_STOP_WORDS):
                continue
            out[word] = tuple(sorted(weights.items(), key=lambda kv: TAXONOMY.index(kv[0])))
        for (a, b), weights in double.items():
            first, second = self.words[a], self.words[b]
            if self.role[a] or self.role[b] or not (_is_content_word(first) and _is_content_word(second)):
                continue
            alone = single.get(a, {}), single.get(b, {})
            keep = {e: x for e, x in weights.items()
                    if x >= max(alone[0].get(e, 0.0), alone[1].get(e, 0.0)) + GE_MWE_MARGIN}
            if keep:
                out[f"{first} {second}"] = tuple(
                    sorted(keep.items(), key=lambda kv: TAXONOMY.index(kv[0])))
        return out

    def _term_weights(self, docs_terms, member, min_df, min_z):
        n_docs = len(docs_terms)
        df: Counter = Counter()
        for terms in docs_terms:
            df.update(terms)
        total = sum(df.values())
        out: dict = {}
        for emotion, y in member.items():
            base = math.fsum(y) / n_docs
            if base <= 0.0:
                continue
            inside: Counter = Counter()
            n_in = n_out = 0.0
            for terms, share in zip(docs_terms, y, strict=True):
                n_in += share * len(terms)
                n_out += (1.0 - share) * len(terms)
                if share:
                    for term in terms:
                        inside[term] += share
            for term, count in df.items():
                if count < min_df:
                    continue
                a = inside[term]
                b = count - a
                prior = GE_PRIOR_DOCS * count / total
                delta = (math.log((a + prior) / (n_in + GE_PRIOR_DOCS - a - prior))
                         - math.log((b + prior) / (n_out + GE_PRIOR_DOCS - b - prior)))
                z = delta / math.sqrt(1.0 / (a + prior) + 1.0 / (b + prior))
                if z < min_z:
                    continue
                posterior = (a + GE_SMOOTHING * base) / (count + GE_SMOOTHING)
                weight = round((posterior - base) / (1.0 - base), 2)
                if weight >= GE_MIN_WEIGHT:
                    out.setdefault(term, {})[emotion] = min(weight, 1.0)
        return out


def _multipliers(ids, flags, role, modifier, p):
    """(position, multiplier) of each token that is not a rule word, as the scoring rules weigh it.

    A simplified restatement of kernels/rules.py for single tokens (no multi-word expressions):
    negation (parity, nearest negator's strength), boosters and dampeners (with the softening of a
    booster under negation), ALL CAPS in mixed-case text, contrast weights within a sentence and for a
    sentence before one that opens with a contrast word, and ``!`` / ``?`` emphasis.
    """
    n = len(ids)
    decay = (1.0, p["decay_2"], p["decay_3"])
    mixed = any(not f & (rules.FLAG_CAPS | rules.FLAG_EMOJI) for f in flags)
    out = []
    sentence: list[list] = []          # [position, multiplier, after-contrast]
    previous: list[list] = []
    window: list[int] = []              # term ids, nearest first
    caps_window: list[bool] = []
    contrast = False
    sentence_start = True
    for i in range(n):
        t = int(ids[i])
        f = int(flags[i])
        r = role[t]
        if sentence_start:
            w = p["contrast_before"] if r == rules.ROLE_CONTRAST else 1.0
            out.extend((pos, m * w) for pos, m in previous)
            previous = []
            sentence_start = False
        caps = bool(f & rules.FLAG_CAPS)
        if r == rules.ROLE_NONE:
            negators = [k for k, wt in enumerate(window) if role[wt] == rules.ROLE_NEGATOR]
            negated = len(negators) % 2 == 1
            m = 1.0
            for k, wt in enumerate(window):
                if role[wt] == rules.ROLE_MODIFIER:
                    x = modifier[wt] * ((1.0 + p["caps_boost"]) if caps_window[k] and mixed else 1.0)
                    if negated and x > 0.0 and negators[-1] > k:
                        factor = 1.0 / (1.0 + x * decay[k])
                    else:
                        factor = 1.0 + x * decay[k]
                    m *= max(factor, 0.0)
            if caps and mixed:
                m *= max(1.0 + p["caps_boost"], 0.0)
            if negated:
                m *= 1.0 + (p["negation_scale"] - 1.0) * decay[negators[0]]
            sentence.append([i, m, contrast])
        elif r == rules.ROLE_CONTRAST:
            for item in sentence:       # everything so far stands before the (last) contrast word
                item[2] = False
            contrast = True
        if r == rules.ROLE_CONTRAST or (p["clause_scope"] and f & rules.FLAG_CLAUSE):
            window, caps_window = [], []
        else:
            window = [t] + window[:2]
            caps_window = [caps] + caps_window[:2]
        if f & rules.FLAG_SENT_END or i == n - 1:
            n_excl = (f >> rules.EXCL_SHIFT) & 3
            n_quest = (f >> rules.QUEST_SHIFT) & 3
            emphasis = 1.0 + p["excl_boost"] * n_excl
            if n_quest >= 2:
                emphasis *= 1.0 + p["quest_boost"] * n_quest
            previous = []
            for pos, m, after in sentence:
                w = 1.0
                if contrast:
                    w = p["contrast_after"] if after else p["contrast_before"]
                previous.append((pos, m * w * emphasis))
            sentence = []
            contrast = False
            sentence_start = True
            window, caps_window = [], []
    out.extend(previous)
    return out


def _valence(entry: Entry | None) -> float:
    """The valence an entry scores with (0 for none, a missing valence, or a rule word)."""
    if entry is None or entry.role or entry.valence is None:
        return 0.0
    return entry.valence


def _is_content_word(word: str) -> bool:
    """A word of letters (apostrophes inside allowed), or an emoji; not a number, not a stop word."""
    if word in STOP_WORDS or word in NO_SENTIMENT_WORDS:
        return False
    if word.replace("'", "").isalpha():
        return len(word) > 1
    return len(word) == 1 and _shows_feeling(word)


def _kind(term: str) -> str:
    return "mwe" if " " in term else "word"


def _shows_feeling(text: str) -> bool:
    """True when ``text`` starts with a code point of EMOJI_RANGES."""
    cp = ord(text[0])
    return any(low <= cp <= high for low, high in EMOJI_RANGES)


def _order(entry: Entry) -> tuple:
    """Rule words first (by role), then every other entry by its folded spelling."""
    roles = (None, *ROLES)
    group = 0 if entry.role else 1
    return (group, roles.index(entry.role), entry.term.casefold(), entry.term)


def build(src: Sources, *, layers=None) -> tuple[Lexicon, dict[str, int]]:
    """The default lexicon and the number of entries each layer contributed to it."""
    lexicon = Lexicon(emotions=TAXONOMY)
    counts = {}
    for name, layer in layers or LAYERS:
        top = layer(src, lexicon)
        counts[name] = len(top)
        lexicon = lexicon.merge(top)
    missing = [e.term for e in lexicon if e.valence is None and e.role is None and not e.emotions]
    if missing:
        print(f"note: {len(missing)} terms have neither a valence nor emotion weights: {' '.join(missing)}",
              file=sys.stderr)
    ordered = sorted(lexicon, key=_order)
    assert all(math.isfinite(e.valence or 0.0) for e in ordered)
    default = Lexicon(
        ordered,
        emotions=TAXONOMY,
        params=PARAMS,
        name="emoscore-default",
        sources=(VADER_SOURCE, GOEMOTIONS_SOURCE, SEED_SOURCE),
        licences=(VADER_LICENCE, GOEMOTIONS_LICENCE, SEED_LICENCE),
    )
    return default, counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vader-dir", type=Path, required=True, help="folder with VADER's lexicon files")
    parser.add_argument("--goemotions-dir", type=Path,
                        help="folder with GoEmotions' train.tsv, emotions.txt and sentiment_dict.json "
                             "(default: 'goemotions' next to --vader-dir)")
    parser.add_argument("--out", type=Path, default=HERE / "default.tsv", help="where to write the lexicon")
    args = parser.parse_args(argv)
    src = Sources(args.vader_dir, args.goemotions_dir or args.vader_dir.parent / "goemotions")
    default, counts = build(src)
    save_and_report(default, args.out, counts, [
        "Generated by lexicons/build_default.py from VADER's lexicons, GoEmotions train.tsv and",
        "lexicons/cx_seed.tsv; do not edit by hand: edit the seed or the builder and rebuild",
        "(see lexicons/README.md).",
    ])
    return 0


def save_and_report(lexicon: Lexicon, out: Path, counts: dict, comments: list[str]) -> None:
    """Write a built lexicon with its header ``comments`` and say on stderr what it holds."""
    lexicon.save(out, comments=comments)
    compiled = lexicon.compile()
    kinds = {kind: sum(e.kind == kind for e in lexicon) for kind in ("word", "stem", "mwe")}
    roles = {role: sum(e.role == role for e in lexicon) for role in ROLES}
    print(
        f"wrote {out}: {len(lexicon)} entries ({kinds}), rule words {roles}, layers {counts}, "
        f"{compiled.n_terms} compiled terms, fingerprint {compiled.fingerprint[:16]}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    sys.exit(main())
