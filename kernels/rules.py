"""Per-document scoring rules, written once for every Numba target.

The functions here use scalar maths only (no allocation, no Python objects), so the same source is
compiled by ``numba.njit`` for the CPU kernel and by ``numba.cuda.jit(device=True)`` for the GPU twin.
"""

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
N_PARAMS = 15

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
}

# Token flag bits (see docs/internals.md); the tokenizer defines the same values.
FLAG_CAPS = 1
FLAG_SENT_END = 2
FLAG_CLAUSE = 4
FLAG_EMOJI = 8
EXCL_SHIFT = 4
QUEST_SHIFT = 6

# Term roles.
ROLE_NONE = 0
ROLE_NEGATOR = 1
ROLE_MODIFIER = 2
ROLE_CONTRAST = 3
