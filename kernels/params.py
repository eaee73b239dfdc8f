"""The rule parameters: their names, indices and defaults, and their decoding for the kernels.

A compiled lexicon carries them as ``params`` (float32[:data:`N_PARAMS`], by index ``P_*``); a lexicon
header may override any with ``# param NAME: VALUE``. What each one does is in ``kernels/rules.py``.
"""

from typing import NamedTuple

from numba import float64

# Rule constants travel in ``CompiledLexicon.params`` (float32[P]); a lexicon header may override them
# with ``# param NAME: VALUE``. Emotion-valued params are stored as the emotion's index (-1 = none).
P_NEGATION_SCALE = 0           # valence multiplier of a negated term (VADER's N_SCALAR)
P_NEGATED_EMOTION_SCALE = 1    # emotion-weight multiplier of a negated term
P_NEGATED_TRANSFER = 2         # share of |valence| / 4 of a negated term given to the target emotion
P_NEGATED_POSITIVE_EMOTION = 3  # emotion that "not happy" expresses (index, -1 = none)
P_NEGATED_NEGATIVE_EMOTION = 4  # emotion that "no problems" expresses (index, -1 = none)
P_DECAY_2 = 5                  # booster/negator strength two words back
P_DECAY_3 = 6                  # ... three words back
P_CAPS_BOOST = 7               # relative boost of an ALL CAPS term in mixed-case text
P_EXCL_BOOST = 8               # relative boost of a sentence per "!" (at most 3)
P_QUEST_BOOST = 9              # relative boost of a sentence per "?" when there are two or more
P_CONTRAST_BEFORE = 10         # weight of a sentence's words before "but"
P_CONTRAST_AFTER = 11          # ... and after it
P_VALENCE_ALPHA = 12           # valence = S / sqrt(S^2 + alpha), as VADER's compound
P_EMOTION_GAIN = 13            # emotion = 1 - exp(-gain * weighted sum)
P_DOMINANT_MIN = 14            # below this top intensity the dominant emotion is "neutral"
P_CLAUSE_SCOPE = 15            # non-zero: "," ";" ":" end negation and modifier scope
P_VALENCE_HITS_POWER = 16      # S is divided by hits ** power before normalising (0 = VADER's sum)
P_NEGATION_REACH = 17          # a negator reaches the first scoring unit at most this many tokens on
N_PARAMS = 18

PARAM_NAMES = (
    "negation_scale",
    "negated_emotion_scale",
    "negated_transfer",
    "negated_positive_emotion",
    "negated_negative_emotion",
    "decay_2",
    "decay_3",
    "caps_boost",
    "excl_boost",
    "quest_boost",
    "contrast_before",
    "contrast_after",
    "valence_alpha",
    "emotion_gain",
    "dominant_min",
    "clause_scope",
    "valence_hits_power",
    "negation_reach",
)
EMOTION_PARAMS = frozenset({"negated_positive_emotion", "negated_negative_emotion"})

# Defaults; emotion-valued ones are names, resolved against the lexicon's taxonomy (absent -> -1).
DEFAULT_PARAMS = {
    "negation_scale": -0.74,
    "negated_emotion_scale": 0.3,
    "negated_transfer": 0.5,
    "negated_positive_emotion": "frustration",
    "negated_negative_emotion": "satisfaction",
    "decay_2": 0.95,
    "decay_3": 0.9,
    "caps_boost": 0.35,
    "excl_boost": 0.15,
    "quest_boost": 0.1,
    "contrast_before": 0.5,
    "contrast_after": 1.5,
    "valence_alpha": 15.0,
    "emotion_gain": 1.0,
    "dominant_min": 0.1,
    "clause_scope": 1.0,
    "valence_hits_power": 0.0,
    "negation_reach": 6.0,
}


class RuleParams(NamedTuple):
    """The params a document's rules read, decoded once per document (see :data:`PARAM_NAMES`)."""

    negation_scale: float
    negated_emotion_scale: float
    negated_transfer: float
    negated_positive: int
    negated_negative: int
    decay_2: float
    decay_3: float
    caps_boost: float
    excl_boost: float
    quest_boost: float
    contrast_before: float
    contrast_after: float
    alpha: float
    gain: float
    dominant_min: float
    clause_scope: bool
    hits_power: float
    negation_reach: float


def read_params(params):
    """The lexicon's params as float64 (emotion-valued ones as ints), ``alpha`` clamped at 0."""
    alpha = float64(params[P_VALENCE_ALPHA])
    if alpha < 0.0:
        alpha = 0.0
    return RuleParams(float64(params[P_NEGATION_SCALE]), float64(params[P_NEGATED_EMOTION_SCALE]),
                      float64(params[P_NEGATED_TRANSFER]), int(params[P_NEGATED_POSITIVE_EMOTION]),
                      int(params[P_NEGATED_NEGATIVE_EMOTION]), float64(params[P_DECAY_2]),
                      float64(params[P_DECAY_3]), float64(params[P_CAPS_BOOST]), float64(params[P_EXCL_BOOST]),
                      float64(params[P_QUEST_BOOST]), float64(params[P_CONTRAST_BEFORE]),
                      float64(params[P_CONTRAST_AFTER]), alpha, float64(params[P_EMOTION_GAIN]),
                      float64(params[P_DOMINANT_MIN]), params[P_CLAUSE_SCOPE] != 0,
                      float64(params[P_VALENCE_HITS_POWER]), float64(params[P_NEGATION_REACH]))
