"""The per-cell integer counters of a KPI state, and the KPIs they give.

A :class:`~emoscore.KpiAggregator` state holds, per (group, dominant emotion) cell, the int64 fields
below; every field is a sum, so states merge by addition. Scores are summed in fixed point
(``round(v * 2**FIXED_BITS)``) and so are their squares (``round(v * v * 2**FIXED_BITS)``, at most
``2**30`` per row: below ``2**62`` for the ``2**32`` rows a cell may hold), which keeps the means'
variances exact and mergeable. :func:`estimate` turns summed counters into a
:class:`~emoscore.kpi_stats.Estimate`, from which the KPI, its interval and its tests follow.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .kpi_stats import Estimate

__all__ = [
    "EVENTS", "FIXED_BITS", "FIXED_SCALE", "SURVEY_SCALES", "counter_problem", "emotion_mean", "estimate",
    "group_estimates", "n_fields", "score_fields",
]

FIXED_BITS = 30  # valence and emotion scores (and their squares) are summed as round(v * 2**30) in int64
FIXED_SCALE = float(1 << FIXED_BITS)

# Per-cell fields (state array axis 2); emotion e has its count at F_EMO + 3e, its sum at +1 and its sum
# of squares at +2. Effort and valence keep their sums of squares next to their sums likewise.
(F_N, F_NPS_ANS, F_NPS_PRO, F_NPS_DET, F_RAT_ANS, F_RAT_SAT, F_EFF_ANS, F_EFF_SUM, F_EFF_SQ, F_EV_ANY,
 F_EV_CHURN, F_EV_RENEW, F_EV_UPSELL, F_EV_CROSS, F_REV_CNT, F_VAL_CNT, F_VAL_SUM, F_VAL_SQ, F_EMO) = range(19)

#: The survey scales: setting, lowest and highest answer, the fields an answer adds to (answers, the positive
#: count and its lowest answer, the negative count and its highest answer, the sum, the sum of squares; -1:
#: none), and what a bad value is not.
SURVEY_SCALES = (
    ("nps", 0, 10, (F_NPS_ANS, F_NPS_PRO, 9, F_NPS_DET, 6, -1, -1), "not an NPS answer (a whole number 0-10)"),
    ("rating", 1, 5, (F_RAT_ANS, F_RAT_SAT, 4, -1, 0, -1, -1), "not a rating (a whole number 1-5)"),
    ("effort", 1, 7, (F_EFF_ANS, -1, 0, -1, 0, F_EFF_SUM, F_EFF_SQ), "not an effort score (a whole number 1-7)"),
)


class EVENTS:
    """The outcome events: ``codes`` of the (trimmed, lower-cased) values (0: another event), the field
    each code counts in, and the field that counts every non-null event."""

    codes = {"churn": 1, "renewal": 2, "upsell": 3, "cross_sell": 4, "cross-sell": 4}
    field_of_code = np.array([-1, F_EV_CHURN, F_EV_RENEW, F_EV_UPSELL, F_EV_CROSS], np.int64)
    any_field = F_EV_ANY


_PROPORTION_FIELDS = {  # KPI: (successes, base fields summed, presented scale)
    "csat": (F_RAT_SAT, (F_RAT_ANS,), 100.0),
    "churn_rate": (F_EV_CHURN, (F_EV_CHURN, F_EV_RENEW), 1.0),
    "renewal_rate": (F_EV_RENEW, (F_EV_CHURN, F_EV_RENEW), 1.0),
    "upsell_rate": (F_EV_UPSELL, (F_EV_ANY,), 1.0),
    "cross_sell_rate": (F_EV_CROSS, (F_EV_ANY,), 1.0),
}


def n_fields(n_emotions: int) -> int:
    """Fields per cell for a taxonomy of ``n_emotions``."""
    return F_EMO + 3 * n_emotions


def score_fields(e: int) -> int:
    """The count field of emotion ``e``'s score (its sum and sum of squares follow)."""
    return F_EMO + 3 * e


def counter_problem(counts: np.ndarray, n_emotions: int, max_rows: int) -> str | None:
    """What makes the cells ``counts[G, S, F]`` impossible (of a corrupt or forged state), or None: a
    negative counter, a cell of ``max_rows`` rows or more, a count above its cell's rows, a sum or a
    sum of squares outside the range its count allows."""
    score_sums = [F_VAL_SUM] + [score_fields(e) + 1 for e in range(n_emotions)]  # valence may be negative
    sums = {F_EFF_SUM, F_EFF_SQ, *score_sums, *(f + 1 for f in score_sums)}
    if (np.delete(counts, score_sums[:1], axis=2) < 0).any():
        return "negative counters"
    if (counts[:, :, F_N] >= max_rows).any():
        return f"a (group, emotion) cell holds {max_rows} rows or more"
    count_fields = [f for f in range(counts.shape[2]) if f not in sums]
    if (counts[:, :, count_fields] > counts[:, :, F_N : F_N + 1]).any():
        return "a counter exceeds the rows of its cell"
    answers = counts[:, :, F_EFF_ANS]
    for f, top in ((F_EFF_SUM, 7), (F_EFF_SQ, 49)):
        if (counts[:, :, f] > top * answers).any() or (counts[:, :, f] < answers).any():
            return "an effort sum is outside its answers' range"
    limit = 1 << FIXED_BITS
    for e, f in enumerate(score_sums):
        scores = counts[:, :, f - 1]
        low = -limit * scores if e == 0 else 0
        if (counts[:, :, f] < low).any() or (counts[:, :, f] > limit * scores).any() \
                or (counts[:, :, f + 1] > limit * scores).any():
            return "a score sum is outside its scores' range"
    return None


def estimate(c: np.ndarray, name: str) -> Estimate:
    """The KPI ``name`` (``nps``, ``csat``, an outcome rate, ``ces`` or ``valence_mean``) of summed
    counters ``c[..., F]``; emotion means: :func:`emotion_mean`."""
    if name == "nps":
        return Estimate("nps", c[..., F_NPS_ANS], c[..., F_NPS_PRO], c[..., F_NPS_DET], 100.0)
    if name in _PROPORTION_FIELDS:
        success, base, scale = _PROPORTION_FIELDS[name]
        n = c[..., list(base)].sum(axis=-1)
        return Estimate("proportion", n, c[..., success], n - c[..., success], scale)
    if name == "ces":
        return Estimate("mean", c[..., F_EFF_ANS], c[..., F_EFF_SUM].astype(np.float64),
                        c[..., F_EFF_SQ].astype(np.float64), bounds=(1.0, 7.0))
    if name == "valence_mean":
        return _fixed_mean(c, F_VAL_CNT, (-1.0, 1.0))
    raise AssertionError(name)


def emotion_mean(c: np.ndarray, e: int) -> Estimate:
    """The mean score of emotion ``e`` from summed counters ``c[..., F]``."""
    return _fixed_mean(c, score_fields(e), (0.0, 1.0))


def _fixed_mean(c: np.ndarray, f_count: int, bounds: tuple[float, float]) -> Estimate:
    return Estimate("mean", c[..., f_count], c[..., f_count + 1] / FIXED_SCALE, c[..., f_count + 2] / FIXED_SCALE,
                    bounds=bounds)


def group_estimates(counts: np.ndarray, emotions: Sequence[str], seen: dict[str, bool]) -> dict[str, Estimate]:
    """The KPIs with intervals of the cells ``counts[G, S, F]`` (slots: the emotions, neutral, no
    emotion value), in the order :meth:`~emoscore.KpiAggregator.result` writes them, for the inputs
    ``seen`` (input name or emotion name: whether a batch had it)."""
    total = counts.sum(axis=1)
    names = [name for name, source in (("nps", "nps"), ("csat", "rating"), ("ces", "effort")) if seen[source]]
    names += list(_PROPORTION_FIELDS)[1:] if seen["event"] else []
    names += ["valence_mean"] if seen["valence"] else []
    out = {name: estimate(total, name) for name in names}
    out.update({f"{name}_mean": emotion_mean(total, e) for e, name in enumerate(emotions) if seen[name]})
    if seen["emotion"]:
        scored = counts[:, : len(emotions) + 1, F_N].sum(axis=1)
        out.update({f"{name}_share": Estimate("proportion", scored, counts[:, e, F_N], scored - counts[:, e, F_N])
                    for e, name in enumerate(emotions)})
    return out
