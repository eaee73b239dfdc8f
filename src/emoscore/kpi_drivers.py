"""The driver table of :meth:`emoscore.KpiAggregator.drivers`: per group and emotion, a KPI among the
documents the emotion dominates against the rest, with the difference's interval and tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from .kpi_counters import F_N, estimate
from .kpi_stats import bh_qvalues, difference, masked

__all__ = ["DRIVER_COLUMNS", "driver_table"]

#: The columns after the group keys.
DRIVER_COLUMNS = (
    "emotion", "documents", "prevalence", "kpi_with", "kpi_without", "support_with", "support_without",
    "difference", "difference_low", "difference_high", "p_value", "q_value", "significant", "impact",
)


def driver_table(counts: np.ndarray, keys: list[pa.Array], key_names: list[str], emotions: Sequence[str],
                 target: str, level: float) -> pa.Table:
    """The drivers of ``target`` from the cells ``counts[G, S, F]`` of groups in output order (``keys``:
    their key columns); see :meth:`~emoscore.KpiAggregator.drivers` for the columns."""
    n_groups, n_emotions = counts.shape[0], len(emotions)
    scored = counts[:, : n_emotions + 1].sum(axis=1)  # [G, F] over documents with an emotion value
    with_e = estimate(counts[:, :n_emotions], target)  # [G, E]
    without = estimate(scored[:, None, :] - counts[:, :n_emotions], target)
    docs = counts[:, :n_emotions, F_N]
    total_docs = np.broadcast_to(scored[:, F_N][:, None], docs.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        prevalence = docs / total_docs
        diff = with_e.value - without.value
    ok = (with_e.n > 0) & (without.n > 0)
    _, low, high, p = difference(with_e, without, level)
    q = bh_qvalues(p.reshape(-1)).reshape(p.shape)
    impact = prevalence * diff
    # within each group, emotions by |impact| descending, nulls last (stable: then taxonomy order)
    within = np.argsort(np.where(ok & (total_docs > 0), -np.abs(impact), np.inf), axis=1, kind="stable")

    def pick(a) -> np.ndarray:
        return np.take_along_axis(np.broadcast_to(a, docs.shape), within, axis=1).reshape(-1)

    def nullable(a) -> pa.Array:
        return masked(pick(a), pick(~np.isnan(a)))

    arrays = [c.take(pa.array(np.repeat(np.arange(n_groups), n_emotions))) for c in keys] + [
        pa.array(pick(np.array(emotions, object)), pa.string()),
        pa.array(pick(docs)),
        masked(pick(prevalence), pick(total_docs > 0)),
        masked(pick(with_e.value), pick(with_e.n > 0)),
        masked(pick(without.value), pick(without.n > 0)),
        pa.array(pick(with_e.n)),
        pa.array(pick(without.n)),
        masked(pick(diff), pick(ok)),
        nullable(low), nullable(high), nullable(p), nullable(q),
        pa.array(pick(q < 1 - level), mask=pick(np.isnan(q))),
        masked(pick(impact), pick(ok & (total_docs > 0))),
    ]
    return pa.Table.from_arrays(arrays, names=key_names + list(DRIVER_COLUMNS))
