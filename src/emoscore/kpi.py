"""Customer-experience KPIs per group over scored Arrow batches: mergeable, serialisable state.

See :class:`KpiAggregator`. The aggregation kernels live in :mod:`emoscore.kernels.kpi_cpu`, the
sketches in :mod:`emoscore.sketch`, the column checks and conversions in :mod:`emoscore.columns`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import sketch
from ._state import pack_state, unpack_state
from .backend import Backend
from .backend import resolve as _resolve_backend
from .columns import (
    as_input_errors,
    categorical,
    check_key_type,
    check_range,
    factorize,
    hash_ids,
    numeric,
)
from .errors import ColumnNotFoundError, IncompatibleStateError, InputError, StateFormatError
from .kernels import kpi_cpu
from .kernels.contract import readonly
from .kpi_counters import (
    EVENTS,
    F_N,
    F_REV_CNT,
    F_VAL_CNT,
    FIXED_BITS,
    FIXED_SCALE,
    SURVEY_SCALES,
    counter_problem,
    group_estimates,
    n_fields,
    score_fields,
)
from .kpi_drivers import driver_table
from .kpi_keys import ASPECT_KEY, KeyDictionary, explode_aspects, window_keys
from .kpi_stats import PROPORTIONS, Estimate, change_columns, estimate_columns, masked, z_score

__all__ = [
    "DEFAULT_EMOTIONS",
    "DRIVER_TARGETS",
    "IncompatibleStateError",
    "KpiAggregator",
    "StateFormatError",
]

#: The default taxonomy (the bundled lexicon's emotions, in column order).
DEFAULT_EMOTIONS = (
    "anger", "anticipation", "disgust", "fear", "joy", "sadness", "surprise", "trust",
    "frustration", "satisfaction", "confusion",
)

#: KPIs that :meth:`KpiAggregator.drivers` can explain.
DRIVER_TARGETS = (
    "nps", "csat", "ces", "churn_rate", "renewal_rate", "upsell_rate", "cross_sell_rate", "valence_mean",
)

FORMAT_VERSION = 3  # 3: sums of squares (the means' intervals); 2: sparse sketches. Older states are refused.
_MAGIC = b"EMOKPI"
_WINDOWS = (None, "day", "week", "month")

REVENUE_BITS = 20  # revenue is summed as round(v * 2**20) in a 128-bit integer
_REVENUE_SCALE = float(1 << REVENUE_BITS)
REVENUE_MAX = float(1 << 42)  # |revenue| of one row; keeps round(v * 2**20) below 2**62
_CELL_ROWS_MAX = 1 << 32  # rows per (group, emotion) cell before a fixed-point sum could overflow


# The sparse sketch columns of a saved state: (column name, Arrow item type).
_SPARSE_COLUMNS = {
    "sketch_bucket": ("sketch_bucket", pa.int32()), "sketch_count": ("sketch_count", pa.int64()),
    "hll_register": ("hll_register", pa.uint16()), "hll_rank": ("hll_rank", pa.uint8()),
}

# Optional inputs tracked as "seen" (then one flag per emotion score column).
_SOURCES = ("nps", "rating", "effort", "response_time", "event", "revenue", "customer", "valence", "emotion")



# ==================================================================================================
# the aggregator
# ==================================================================================================


@dataclass
class _Prepared:
    """One validated batch, ready to fold in (no state touched yet)."""

    n: int
    local_keys: list = field(default_factory=list)  # per key column: (distinct values, index, all used)
    slot: np.ndarray | None = None  # dominant-emotion slot per row
    scales: list = field(default_factory=list)  # (values, bitmap, offset, f_ans, f_pos, pos_min, f_neg, neg_max,
    #                                              f_sum, f_sq)
    fixed: list = field(default_factory=list)  # (values, bitmap, offset, f_count, f_sum, f_sq)
    revenue: tuple | None = None
    events: np.ndarray | None = None
    frt: tuple | None = None
    customers: tuple | None = None
    seen: np.ndarray | None = None


class KpiAggregator:
    """Customer-experience KPIs per group, folded from scored Arrow batches into a mergeable state.

    Parameters
    ----------
    by : str or sequence of str
        Group key columns, of any non-nested Arrow type (strings, integers, dates, booleans,
        dictionary-encoded …); a null key is a group of its own. ``()`` aggregates everything into
        one group. Key columns must be present in every batch; a later batch's key values are cast
        to the type first seen (int32 -> int64, large_string -> string, dictionary -> its values …)
        or raise :class:`~emoscore.InputError`.
    window : {None, "day", "week", "month"}
        Also group by the window holding the ``time`` value: the calendar day, the ISO week (starting
        Monday) or the month. A zoned timestamp is cut on its own time zone's calendar; naive
        timestamps and dates are used as they are. The window start is a ``date32`` key named
        ``window_start``; a null time is a window of its own.
    time, nps, rating, effort, response_time, event, revenue, customer : str or None
        Input columns; ``None`` disables the KPIs that need it. A column missing from a batch counts
        as nulls for that batch's rows; KPIs whose column was never seen are left out of
        :meth:`result`.
    emotions : sequence of str, optional
        The taxonomy of the scores (the per-emotion float columns and the values of ``emotion``);
        default :data:`DEFAULT_EMOTIONS`. Pass ``Scorer.emotions`` for a custom lexicon.
    backend : {"cpu", "cuda", "auto"}
        Where :meth:`update` adds rows into the state: the CPU kernels, or their CUDA twins on an
        NVIDIA GPU (integer atomics: the state is bit-identical). ``"auto"`` takes the GPU when one
        is usable; ``"cuda"`` without one raises :class:`~emoscore.BackendError`. Grouping stays
        on the CPU. The backend is not part of the state: states from either merge.

    Notes
    -----
    **Input.** :meth:`update` takes scored batches: the scorer's columns (``valence``, ``emotion``
    and one float column per emotion) plus metadata columns. Validation policy: before a batch
    changes any state, every value is checked; a value outside its domain raises
    :class:`~emoscore.InputError` naming the column, the 0-based row of the data passed to
    ``update`` and the value, and the state is left as it was for the whole call. Domains: ``nps`` a
    whole number 0–10, ``rating`` a whole number 1–5, ``effort`` a whole number 1–7,
    ``response_time`` seconds in [0, 1e8] (numbers or an Arrow duration), ``revenue`` finite with
    ``|v| <= 2**42``, ``valence`` in [-1, 1], each emotion score in [0, 1], ``emotion`` one of the
    taxonomy or ``"neutral"``; NaN is never valid (use null for "missing"). ``event`` values are
    compared case-insensitively after trimming: ``churn``, ``renewal``, ``upsell``,
    ``cross_sell`` (or ``cross-sell``); other values are "other events".

    **KPIs** (:meth:`result`, one row per group; null when a group has no data for a KPI). Each KPI
    of counted observations also has its base ``<kpi>_n`` (``emotion_n`` for the shares, ``frt_n`` for
    the response times) and, but for the response times, a confidence interval ``<kpi>_low`` /
    ``<kpi>_high`` (methods in :mod:`emoscore.kpi_stats`):

    - ``n``: rows.
    - ``nps``: 100 × (promoters 9–10 − detractors 0–6) / answers.
    - ``csat``: 100 × share of ratings ≥ 4.
    - ``ces``: mean effort.
    - ``frt_p50``, ``frt_p90``: response-time quantiles from a log-bucket sketch, within 1% relative
      error of numpy's ``quantile(method="lower")``; values below 1 ms report 0 (see
      :mod:`emoscore.sketch`; stored sparse: 16 bytes per non-empty bucket of a group).
    - ``churn_rate`` = churn / (churn + renewal); ``renewal_rate`` = renewal / (churn + renewal).
    - ``upsell_rate`` = upsell / rows with a non-null event; ``cross_sell_rate`` likewise: the share
      of recorded account outcomes (churn, renewal, upsell, cross-sell or any other event) that are
      upsells / cross-sells.
    - ``customers``: distinct non-null customer ids (HyperLogLog, 4096 registers per group stored
      sparse, 9 bytes per non-zero register; ~1.6% standard error, near exact below a few
      hundred); ``revenue``: sum of revenue.
    - ``clv`` = (revenue / customers) / churn_rate — average revenue per customer over the expected
      customer lifetime of 1 / churn_rate periods (no margin or discounting); null when there is no
      revenue, no customer, or the churn rate is null or 0. Revenue is summed exactly after rounding
      each value to a multiple of 2**-20.
    - ``valence_mean`` and ``<emotion>_mean``: means of the non-null scores (fixed-point sums:
      within 5e-10 of the exact mean).
    - ``dominant_emotion``: the emotion that dominates most documents, over non-neutral documents
      (ties: taxonomy order); null when the group has none.
    - ``<emotion>_share``: share of the documents with a non-null ``emotion`` (neutral included)
      that the emotion dominates.

    Rows are sorted by the keys (then ``window_start``), ascending, nulls last.

    **Per aspect.** ``"aspect"`` in ``by`` (alone, with other keys, with a window) groups by what the
    feelings are about: each document is counted once in every aspect group it mentions (the
    ``aspects`` column of :meth:`Scorer.score`), so document-level KPIs (``n``, NPS, CSAT, CES,
    response times, events, revenue, customers) count a document once per aspect; ``valence_mean``,
    ``dominant_emotion`` and ``<emotion>_share`` use the aspect's own valence and dominant emotion;
    ``<emotion>_mean`` is left out (the scores of a document are not those of its aspects). A
    document that mentions no aspect (or has a null ``aspects`` value) forms the null ``aspect``
    group with its document scores, so no record is lost. :meth:`drivers` works per aspect group
    ("what frustration about refunds costs in NPS"). Row numbers in error messages count the
    exploded rows (one per document and aspect).

    **State** (per group): int64 counters per (group, dominant emotion) cell — rows, survey answers,
    sums and sums of squares, events, score counts with fixed-point sums and sums of squares
    (:mod:`emoscore.kpi_counters`), revenue as a 128-bit fixed-point sum — ``(E + 2) × (3E + 19) × 8``
    bytes (5,408 for 11 emotions; the arrays grow by doubling, the unused part staying untouched zero
    pages), plus the sparse
    sketches: 16 bytes per non-empty response-time bucket and 9 bytes per non-zero HyperLogLog
    register of a group (at most 20,304 and 36,864 bytes for a group with very many distinct
    values; 25 bytes for a group of one row). :attr:`memory_bytes` reports the total. Every part is
    a sum or a maximum, so :meth:`merge` is exact, associative and commutative: partial states of
    threads, files or Spark partitions merge to bit-identical results in any order. An aggregator
    is not thread-safe; use one per thread and merge.
    """

    def __init__(
        self,
        by: str | Sequence[str] = (),
        *,
        window: str | None = None,
        time: str | None = "ts",
        nps: str | None = "nps",
        rating: str | None = "rating",
        effort: str | None = "effort",
        response_time: str | None = "first_response_s",
        event: str | None = "event",
        revenue: str | None = "revenue",
        customer: str | None = "customer_id",
        emotions: Sequence[str] | None = None,
        backend: Backend = "cpu",
    ) -> None:
        #: Where :meth:`update` accumulates: "cpu" or "cuda" (from ``backend``: "cpu", "cuda" or
        #: "auto", as for :class:`~emoscore.Scorer`); the state is the same bit for bit either way.
        self.backend = _resolve_backend(backend)
        by = (by,) if isinstance(by, str) else tuple(by)
        if not all(isinstance(name, str) for name in by) or len(set(by)) != len(by):
            raise InputError(f"by must be distinct column names, got {by!r}")
        if window not in _WINDOWS:
            raise InputError(f"window must be one of {_WINDOWS}, got {window!r}")
        if window is not None and time is None:
            raise InputError(f"window={window!r} needs a time column, but time=None")
        emotions = tuple(DEFAULT_EMOTIONS if emotions is None else emotions)
        if not emotions or len(set(emotions)) != len(emotions) or "neutral" in emotions:
            raise InputError(f"emotions must be distinct names other than 'neutral', got {emotions!r}")
        # JSON-compatible settings (to_dict, the state's metadata): column names, the window, the engine
        self._settings: dict[str, Any] = {
            "by": list(by),
            "window": window,
            "time": time if window is not None else None,
            "nps": nps,
            "rating": rating,
            "effort": effort,
            "response_time": response_time,
            "event": event,
            "revenue": revenue,
            "customer": customer,
            "emotions": list(emotions),
            "engine": {
                "sketch_alpha": sketch.ALPHA, "sketch_min": sketch.X_MIN, "sketch_max": sketch.X_MAX,
                "sketch_buckets": sketch.N_BUCKETS, "hll_p": sketch.HLL_P,
                "fixed_bits": FIXED_BITS, "revenue_bits": REVENUE_BITS,
            },
        }
        for name, value in self._settings.items():
            if name not in ("by", "window", "emotions", "engine") and value is not None and not isinstance(value, str):
                raise InputError(f"{name} must be a column name or None, got {value!r}")
        self._by = by
        self._emotions = emotions
        self._n_emotions = len(emotions)
        self._n_slots = self._n_emotions + 2  # emotions, neutral, no emotion value
        self._n_fields = n_fields(self._n_emotions)
        self._key_names = by + (("window_start",) if window else ())
        clash = set(self._key_names) & set(self._output_names())
        if clash:
            raise InputError(f"group key name(s) {sorted(clash)} clash with KPI output columns")
        self._emotion_slot = {name: i for i, name in enumerate(emotions)}
        self._emotion_slot["neutral"] = self._n_emotions
        self._keys = [KeyDictionary(name) for name in self._key_names]
        self._index: dict[tuple, int] = {}
        self._n_groups = 0
        cap = 8
        self._codes = np.zeros((cap, len(self._key_names)), np.int64)
        self._counts = np.zeros((cap, self._n_slots, self._n_fields), np.int64)
        self._rev_hi = np.zeros((cap, self._n_slots), np.int64)
        self._rev_lo = np.zeros((cap, self._n_slots), np.uint64)
        # sparse: one entry per (group, non-empty bucket) and (group, non-zero register)
        self._sk = sketch.SparseRows(sketch.N_BUCKETS if response_time else 0, np.int64, np.add)
        self._hl = sketch.SparseRows(sketch.HLL_M if customer else 0, np.uint8, np.maximum)
        self._seen = np.zeros(len(_SOURCES) + self._n_emotions, bool)

    # ---------------------------------------------------------------------------------------------
    # public API
    # ---------------------------------------------------------------------------------------------

    @property
    def _sketch(self) -> np.ndarray:
        """The response-time sketches as a dense int64[groups, N_BUCKETS] array (a copy)."""
        return self._sk.dense(self._n_groups)

    @property
    def _hll(self) -> np.ndarray:
        """The HyperLogLog registers as a dense uint8[groups, HLL_M] array (a copy)."""
        return self._hl.dense(self._n_groups)

    @property
    def memory_bytes(self) -> int:
        """Bytes held by the state arrays (capacity included) and the sparse sketches."""
        arrays = (self._codes, self._counts, self._rev_hi, self._rev_lo)
        return sum(a.nbytes for a in arrays) + self._sk.nbytes + self._hl.nbytes

    @property
    def by(self) -> tuple[str, ...]:
        """The group key columns."""
        return self._by

    @property
    def emotions(self) -> tuple[str, ...]:
        """The emotion taxonomy."""
        return self._emotions

    @property
    def settings(self) -> dict:
        """Every setting that two states must share to be merged (a JSON-compatible copy)."""
        return json.loads(json.dumps(self._settings))

    def __len__(self) -> int:
        """Number of groups seen."""
        return self._n_groups

    def __repr__(self) -> str:
        return f"KpiAggregator(by={self._by!r}, window={self._settings['window']!r}, groups={self._n_groups})"

    def update(self, data: pa.Table | pa.RecordBatch) -> KpiAggregator:
        """Fold scored rows into the state; returns ``self``.

        Parameters
        ----------
        data : pyarrow.Table or pyarrow.RecordBatch
            Scored rows: score columns plus metadata columns. Columns are read in place (zero-copy)
            where their Arrow type allows.

        Raises
        ------
        ColumnNotFoundError
            A key column (or, with a window, the time column) is missing.
        InputError
            A value is outside its domain, or a column has an unusable type; the message names the
            column, the row (0-based, in ``data``) and the value. The state is left unchanged.
        """
        if not isinstance(data, (pa.RecordBatch, pa.Table)):
            raise InputError(f"update takes a pyarrow Table or RecordBatch, not {type(data).__name__}")
        if ASPECT_KEY in self._by:
            data = explode_aspects(data, self._emotions)
        batches = [data] if isinstance(data, pa.RecordBatch) else data.to_batches()
        names = data.schema.names
        for name in self._key_names[: len(self._by)] + ((self._settings["time"],) if self._settings["window"] else ()):
            if name not in names:
                raise ColumnNotFoundError(f"column {name!r} not found; the data has columns {names}")
        kinds = [key.type for key in self._keys]
        prepared = []
        row0 = 0
        for batch in batches:
            prepared.append(self._prepare(batch, row0, kinds))
            row0 += batch.num_rows
        self._seen |= self._seen_in(data.schema)
        for item in prepared:
            self._fold(item)
        return self

    def merge(self, other: KpiAggregator) -> KpiAggregator:
        """Add ``other``'s state into this one (exact; associative and commutative); returns ``self``.

        Raises
        ------
        IncompatibleStateError
            ``other`` was built with different settings (both values are named).
        """
        if not isinstance(other, KpiAggregator):
            raise InputError(f"can only merge a KpiAggregator, not {type(other).__name__}")
        if other._settings != self._settings:
            diffs = [
                f"{name}={self._settings[name]!r} vs {name}={other._settings[name]!r}"
                for name in self._settings
                if self._settings[name] != other._settings[name]
            ]
            raise IncompatibleStateError("cannot merge KPI states built with different settings: " + "; ".join(diffs))
        if other is self:
            other = other.copy()
        if other._n_groups:
            self._add_groups(self._groups_of(other), other)
        self._seen |= other._seen
        return self

    def copy(self) -> KpiAggregator:
        """An independent copy of the state."""
        return KpiAggregator.from_bytes(self.to_bytes())

    def result(self, *, level: float = 0.95, min_n: int = 0, deltas: bool = False) -> pa.Table:
        """The KPI table: one row per group, sorted by the keys, nulls last (see the class notes). Each
        KPI of counted observations comes with its base ``<kpi>_n`` and a ``level`` confidence interval
        ``<kpi>_low``/``<kpi>_high`` (:mod:`emoscore.kpi_stats`); a KPI on fewer than ``min_n``
        observations is null (its base says why), and so is ``clv`` when its churn rate is.

        ``deltas=True`` (with a window) adds, for NPS, CSAT, CES, the outcome rates, ``valence_mean`` and
        each ``<emotion>_share``, the change from the group's previous window with data:
        ``<kpi>_delta`` with its interval ``_delta_low``/``_delta_high``, ``_delta_p`` and
        ``_delta_significant`` (p < 1 - ``level``); null for a group's first window and for the null
        window."""
        z_score(level)     # a bad level fails here, once
        if deltas and not self._settings["window"]:
            raise InputError("deltas=True compares each window with the one before it: it needs a window")
        n_groups = self._n_groups
        counts = self._counts[:n_groups]
        total = counts.sum(axis=1)  # [G, F]
        seen = dict(zip(_SOURCES, self._seen[: len(_SOURCES)], strict=True))
        estimates = self._estimates(counts)
        out: list[tuple[str, pa.Array]] = [("n", pa.array(total[:, F_N]))]

        def add(*names: str) -> None:
            for name in names:
                if name in estimates:
                    out.extend(estimate_columns(name, estimates[name], level, min_n))

        add("nps", "csat", "ces")
        if seen["response_time"]:
            for label, q in (("frt_p50", 0.5), ("frt_p90", 0.9)):
                out.append((label, masked(*sketch.sparse_quantiles(self._sk, n_groups, q))))
            out.append(("frt_n", pa.array(sketch.sparse_totals(self._sk, n_groups))))
        add(*PROPORTIONS[1:])
        customers = None
        if seen["customer"]:
            customers = np.rint(sketch.sparse_hll_estimate(self._hl, n_groups))
            out.append(("customers", pa.array(customers.astype(np.int64))))
        if seen["revenue"]:
            revenue = self._revenue_total()
            out.append(("revenue", masked(revenue, total[:, F_REV_CNT] > 0)))
            if seen["event"] and customers is not None:
                churn = estimates["churn_rate"]
                ok = (churn.n > 0) & (churn.n >= min_n) & (churn.a > 0) & (customers > 0) & (total[:, F_REV_CNT] > 0)
                with np.errstate(divide="ignore", invalid="ignore"):
                    clv = revenue / customers / churn.value
                out.append(("clv", masked(clv, ok)))
        add("valence_mean", *(f"{name}_mean" for name in self._emotions))
        if seen["emotion"]:
            dominant = counts[:, : self._n_emotions, F_N]
            best = np.argmax(dominant, axis=1) if n_groups else np.zeros(0, np.int64)
            has = dominant.max(axis=1, initial=0) > 0
            names_arr = pa.array(list(self._emotions), pa.string())
            out.append(("dominant_emotion", names_arr.take(pa.array(best, mask=~has))))
            out.append(("emotion_n", pa.array(estimates[f"{self._emotions[0]}_share"].n)))
            for name in self._emotions:
                out += [c for c in estimate_columns(f"{name}_share", estimates[f"{name}_share"], level, min_n)
                        if c[0] != f"{name}_share_n"]  # emotion_n is every share's base
        if deltas:
            before = self._estimates(_take_or_zero(counts, self._previous_window()))
            out += self._change_columns(estimates, before, level, "_delta")
        columns = self._key_columns()
        table = pa.Table.from_arrays(columns + [a for _, a in out], names=list(self._key_names) + [n for n, _ in out])
        table = table.take(self._order(columns))
        return table.replace_schema_metadata({b"emoscore.kpi.settings": json.dumps(self._settings).encode()})

    def compare(self, baseline: KpiAggregator, *, level: float = 0.95) -> pa.Table:
        """This state's KPIs against ``baseline``'s (this month against last month, a region against
        the rest ...), one row per group of either state, sorted as in :meth:`result`: ``n`` and
        ``n_baseline``, then for NPS, CSAT, CES, the outcome rates, ``valence_mean`` and each
        ``<emotion>_share``: ``<kpi>`` and ``<kpi>_baseline``, ``<kpi>_delta`` (this minus baseline) with
        its interval ``_delta_low``/``_delta_high``, ``_delta_p`` and ``_delta_significant`` (p < 1 -
        ``level``). Nulls where a side has too few observations.

        Raises
        ------
        IncompatibleStateError
            The two states were built with different settings.
        """
        z_score(level)
        if not isinstance(baseline, KpiAggregator):
            raise InputError(f"can only compare with a KpiAggregator, not {type(baseline).__name__}")
        union = self.copy().merge(baseline)
        shape = (union._n_groups,) + self._counts.shape[1:]
        now, then = np.zeros(shape, np.int64), np.zeros(shape, np.int64)
        np.add.at(now, union._groups_of(self), self._counts[: self._n_groups])
        np.add.at(then, union._groups_of(baseline), baseline._counts[: baseline._n_groups])
        current, before = union._estimates(now), union._estimates(then)
        out = [("n", pa.array(now[:, :, F_N].sum(axis=1))), ("n_baseline", pa.array(then[:, :, F_N].sum(axis=1)))]
        changes = union._change_columns(current, before, level, "_delta")
        for name in dict.fromkeys(column[: -len("_delta")] for column, _ in changes if column.endswith("_delta")):
            out += [(name, masked(current[name].value, current[name].n > 0)),
                    (f"{name}_baseline", masked(before[name].value, before[name].n > 0))]
        out += changes
        columns = union._key_columns()
        table = pa.Table.from_arrays(columns + [a for _, a in out], names=list(union._key_names) + [n for n, _ in out])
        return table.take(union._order(columns))

    def drivers(self, target: str = "nps", *, level: float = 0.95) -> pa.Table:
        """Which emotions move a KPI: per group and emotion, the KPI among the documents that the
        emotion dominates against the KPI among the rest, with a test of the difference.

        Parameters
        ----------
        target : str
            One of :data:`DRIVER_TARGETS`.
        level : float
            Confidence level of the difference's interval; ``significant`` is ``q_value < 1 - level``.

        Returns
        -------
        pyarrow.Table
            The group keys, then ``emotion``; ``documents`` (documents it dominates); ``prevalence``
            (that count over the group's documents with a non-null ``emotion``); ``kpi_with`` and
            ``kpi_without`` (the target among those documents and among the group's other documents
            with a non-null ``emotion``, neutral included); ``support_with`` and ``support_without``
            (the observations behind each: answers, events or scores); ``difference`` =
            ``kpi_with - kpi_without`` with its interval ``difference_low``/``difference_high`` and
            ``p_value`` (NPS: both samples' variances; rates: two-proportion z-test; means: Welch);
            ``q_value`` (Benjamini-Hochberg over the table's p-values) and ``significant``;
            ``impact`` = ``prevalence × difference``. Nulls where a side has too few observations.
            Groups are sorted as in :meth:`result`; within a group, emotions by ``|impact|``,
            largest first (nulls last, then taxonomy order).
        """
        if target not in DRIVER_TARGETS:
            raise InputError(f"unknown driver target {target!r}; choose one of {DRIVER_TARGETS}")
        z_score(level)
        source = {"nps": "nps", "csat": "rating", "ces": "effort", "valence_mean": "valence"}.get(target, "event")
        seen = dict(zip(_SOURCES, self._seen[: len(_SOURCES)], strict=True))
        if not seen[source] or not seen["emotion"]:
            missing = [name for name in (source, "emotion") if not seen[name]]
            raise InputError(f"driver target {target!r} needs column(s) {missing}, which were never seen")
        order = self._order(self._key_columns())
        columns = [c.take(pa.array(order)) for c in self._key_columns()]
        table = driver_table(self._counts[: self._n_groups][order], columns, list(self._key_names), self._emotions,
                             target, level)
        return table.replace_schema_metadata({b"emoscore.kpi.target": target.encode()})

    def to_bytes(self) -> bytes:
        """Serialise the state: a 12-byte header (magic ``EMOKPI``, format version, CRC-32) followed by
        an Arrow IPC stream with one row per group (key columns ``key.<i>``, the counter arrays as
        fixed-size lists, the sparse sketches as lists of (bucket, count) and (register, rank)) whose
        schema metadata holds the settings (JSON) and the seen columns. Lossless; never pickle."""
        n_groups = self._n_groups
        arrays = [c for c in self._key_columns()]
        names = [f"key.{i}" for i in range(len(arrays))]

        def fixed(a: np.ndarray) -> pa.Array:
            width = int(np.prod(a.shape[1:]))
            return pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(a).reshape(-1)), width)

        for name, array in (
            ("counts", self._counts[:n_groups]), ("rev_hi", self._rev_hi[:n_groups]),
            ("rev_lo", self._rev_lo[:n_groups]),
        ):
            arrays.append(fixed(array))
            names.append(name)
        for rows, (col_name, col_type), (val_name, val_type) in (
            (self._sk, _SPARSE_COLUMNS["sketch_bucket"], _SPARSE_COLUMNS["sketch_count"]),
            (self._hl, _SPARSE_COLUMNS["hll_register"], _SPARSE_COLUMNS["hll_rank"]),
        ):
            keys, values = rows.entries()
            width = max(rows.width, 1)
            offsets = pa.array(np.searchsorted(keys // width, np.arange(n_groups + 1)), pa.int64())
            arrays.append(pa.LargeListArray.from_arrays(offsets, pa.array(keys % width, col_type)))
            arrays.append(pa.LargeListArray.from_arrays(offsets, pa.array(values, val_type)))
            names += [col_name, val_name]
        metadata = {
            b"emoscore.kpi.version": str(FORMAT_VERSION).encode(),
            b"emoscore.kpi.settings": json.dumps(self._settings).encode(),
            b"emoscore.kpi.seen": json.dumps([bool(x) for x in self._seen]).encode(),
        }
        table = pa.Table.from_arrays(arrays, names=names).replace_schema_metadata(metadata)
        return pack_state(table, magic=_MAGIC, version=FORMAT_VERSION)

    @classmethod
    def from_bytes(cls, data: bytes) -> KpiAggregator:
        """Rebuild a state written by :meth:`to_bytes`.

        Raises
        ------
        StateFormatError
            ``data`` is not a KPI state, is corrupt or truncated (CRC mismatch), or has a format
            version this release cannot read.
        """
        table = unpack_state(data, magic=_MAGIC, version=FORMAT_VERSION, what="KPI state")
        try:
            return cls._from_table(table)
        except StateFormatError:
            raise
        except Exception as exc:  # noqa: BLE001 - anything here means unreadable bytes
            raise StateFormatError(f"corrupt KPI state: {type(exc).__name__}: {exc}") from None

    @classmethod
    def _from_table(cls, table: pa.Table) -> KpiAggregator:
        """The aggregator of a decoded state table; every check of the layout and of the counters."""
        def bad(why: str) -> StateFormatError:
            return StateFormatError(f"corrupt KPI state: {why}")

        metadata = table.schema.metadata or {}
        if metadata.get(b"emoscore.kpi.version", str(FORMAT_VERSION).encode()) != str(FORMAT_VERSION).encode():
            raise bad("the format version in the metadata does not match the header")
        settings = json.loads(metadata[b"emoscore.kpi.settings"])
        seen = json.loads(metadata[b"emoscore.kpi.seen"])
        if not isinstance(settings, dict) or not isinstance(seen, list) or not all(isinstance(x, bool) for x in seen):
            raise bad("the settings or the seen-column flags are not what to_bytes writes")
        kwargs = {k: settings[k] for k in ("window", "nps", "rating", "effort", "response_time",
                                            "event", "revenue", "customer", "emotions")}
        kwargs["time"] = settings["time"] if settings["window"] else "ts"
        if not isinstance(settings["by"], list) or not isinstance(kwargs["emotions"], list):
            raise bad("the settings are not what to_bytes writes")
        agg = cls(tuple(settings["by"]), **kwargs)
        if agg._settings != settings:
            raise StateFormatError(f"KPI state written with engine settings {settings.get('engine')}, "
                                   f"this release uses {agg._settings['engine']}")
        if len(seen) != len(agg._seen):
            raise bad("the seen-column flags do not match the taxonomy")
        for source, flag in zip(_SOURCES[:7], seen, strict=False):
            if flag and settings[source] is None:
                raise bad(f"the {source!r} input is marked as seen, but the state has no {source} column")
        agg._seen[:] = seen
        n_keys = len(agg._key_names)
        arrays = (("counts", agg._counts), ("rev_hi", agg._rev_hi), ("rev_lo", agg._rev_lo))
        expected = [f"key.{i}" for i in range(n_keys)] + [name for name, _ in arrays] + list(_SPARSE_COLUMNS)
        if table.column_names != expected:
            raise bad(f"columns {table.column_names}, expected {expected}")
        n_groups = table.num_rows
        if n_groups >= (1 << 31) // agg._n_slots:
            raise bad(f"{n_groups} groups")
        state = {}
        for name, array in arrays:
            shape = (n_groups,) + array.shape[1:]
            width = int(np.prod(array.shape[1:]))
            column = table.column(name).combine_chunks()
            if width == 0:
                if not pa.types.is_null(column.type):
                    raise bad(f"state array {name!r} must be empty with these settings")
                state[name] = np.zeros(shape, array.dtype)
                continue
            kind = pa.list_(pa.from_numpy_dtype(array.dtype), width)
            if column.type != kind or column.null_count or column.values.null_count:
                raise bad(f"state array {name!r} has type {column.type}, expected {kind} without nulls")
            values = column.flatten().to_numpy(zero_copy_only=False)
            if values.dtype != array.dtype or values.size != int(np.prod(shape)):
                raise bad(f"state array {name!r} has the wrong size or type")
            state[name] = values.reshape(shape)
        counts = state["counts"]
        problem = counter_problem(counts, agg._n_emotions, _CELL_ROWS_MAX)
        if problem:
            raise bad(problem)
        sparse = {}
        for rows, (col_name, val_name), high in ((agg._sk, ("sketch_bucket", "sketch_count"), None),
                                                 (agg._hl, ("hll_register", "hll_rank"), 64 - sketch.HLL_P + 1)):
            lists = {}
            for name in (col_name, val_name):
                column = table.column(name).combine_chunks()
                kind = pa.large_list(_SPARSE_COLUMNS[name][1])
                if column.type != kind or column.null_count or column.values.null_count:
                    raise bad(f"sketch column {name!r} has type {column.type}, expected {kind} without nulls")
                lists[name] = column
            lengths = lists[col_name].value_lengths().to_numpy(zero_copy_only=False)
            if not np.array_equal(lengths, lists[val_name].value_lengths().to_numpy(zero_copy_only=False)):
                raise bad(f"{col_name!r} and {val_name!r} differ in length")
            where = lists[col_name].flatten().to_numpy(zero_copy_only=False).astype(np.int64)
            values = lists[val_name].flatten().to_numpy(zero_copy_only=False)
            row = np.repeat(np.arange(n_groups, dtype=np.int64), lengths)
            if len(where) and rows.width == 0:
                raise bad(f"{col_name!r} holds entries, but the state has no column for it")
            if ((where < 0) | (where >= max(rows.width, 1))).any() or (values <= 0).any() \
                    or (high is not None and (values > high).any()):
                raise bad(f"{col_name!r} / {val_name!r} hold out-of-range entries")
            keys = row * max(rows.width, 1) + where
            if (np.diff(keys) <= 0).any():
                raise bad(f"{col_name!r} is not strictly increasing within each group")
            if high is None:
                rows_of_group = counts[:, :, F_N].sum(axis=1)
                if (values > rows_of_group[row]).any() or \
                        (np.bincount(row, weights=values, minlength=n_groups) > rows_of_group + 0.5).any():
                    raise bad("the response-time sketch holds more values than its group has rows")
            sparse[col_name] = (where, values, row)
        columns = [table.column(f"key.{i}").combine_chunks() for i in range(n_keys)]
        for name, column in zip(agg._key_names, columns, strict=True):
            check_key_type(column.type, name)
        if agg._settings["window"] and not (pa.types.is_date32(columns[-1].type) or pa.types.is_null(columns[-1].type)):
            raise bad(f"window_start has type {columns[-1].type}, expected date32")
        if n_groups:
            gid_of_local, local = agg._group_ids(n_groups, [factorize(column) for column in columns])
            gid = gid_of_local[local]
            if agg._n_groups != n_groups:
                raise bad("duplicate group keys")
            agg._counts[gid] = counts
            agg._rev_hi[gid] = state["rev_hi"]
            agg._rev_lo[gid] = state["rev_lo"]
            for rows, name in ((agg._sk, "sketch_bucket"), (agg._hl, "hll_register")):
                where, values, row = sparse[name]
                rows.set_entries(gid[row].astype(np.int64) * rows.width + where, values)
            agg._order(agg._key_columns())  # the keys sort (result() needs it)
        return agg

    # ---------------------------------------------------------------------------------------------
    # internals
    # ---------------------------------------------------------------------------------------------

    def _output_names(self) -> list[str]:
        names = ["n", "frt_p50", "frt_p90", "customers", "revenue", "clv", "dominant_emotion", "emotion_n"]
        for kpi in ("nps", *PROPORTIONS, "ces", "valence_mean"):
            names += [kpi, f"{kpi}_n", f"{kpi}_low", f"{kpi}_high"]
        shares = [f"{e}_share{part}" for e in self._emotions for part in ("", "_low", "_high")]
        return names + [f"{e}_mean" for e in self._emotions] + shares

    def _estimates(self, counts: np.ndarray) -> dict[str, Estimate]:
        seen = dict(zip(_SOURCES + self._emotions, self._seen.tolist(), strict=True))
        return group_estimates(counts, self._emotions, seen)

    def _change_columns(self, now: dict[str, Estimate], before: dict[str, Estimate], level: float,
                        suffix: str) -> list[tuple[str, pa.Array]]:
        """The changes ``now - before`` of the KPIs that have them (not the emotion means: the shares say it)."""
        names = [name for name in now if not name.endswith("_mean") or name == "valence_mean"]
        return [column for name in names for column in change_columns(name + suffix, now[name], before[name], level)]

    def _previous_window(self) -> np.ndarray:
        """Per group, the group with the same keys in the previous window that has data (-1: none)."""
        columns = self._key_columns()
        order = self._order(columns)
        codes = self._codes[: self._n_groups, : len(self._by)][order]
        dated = ~columns[-1].is_null().to_numpy(zero_copy_only=False)[order]
        same = np.zeros(len(order), bool)
        same[1:] = (codes[1:] == codes[:-1]).all(axis=1) & dated[1:]
        previous = np.full(self._n_groups, -1, np.int64)
        previous[order[same]] = order[np.flatnonzero(same) - 1]
        return previous

    def _groups_of(self, other: KpiAggregator) -> np.ndarray:
        """This state's group of each of ``other``'s groups (registering the new ones): int64[other's groups]."""
        kinds = [key.type for key in self._keys]
        local_keys = []
        for k, (key, column) in enumerate(zip(self._keys, other._key_columns(), strict=True)):
            values, index, used = factorize(column)
            values, kinds[k] = key.conform(values, kinds[k])
            local_keys.append((values, index, used))
        gid_of_local, local = self._group_ids(other._n_groups, local_keys)
        return gid_of_local[local].astype(np.int64)

    def _seen_in(self, schema: pa.Schema) -> np.ndarray:
        s = self._settings
        names = set(schema.names)
        columns = [s["nps"], s["rating"], s["effort"], s["response_time"], s["event"], s["revenue"],
                   s["customer"], "valence", "emotion"] + list(self._emotions)
        return np.array([c is not None and c in names for c in columns], bool)

    def _prepare(self, batch: pa.RecordBatch, row0: int, kinds: list) -> _Prepared:
        """Validate one batch and compute everything that does not touch the state.

        A column of a type that pyarrow or a kernel cannot handle raises :class:`InputError` naming
        it (never a raw pyarrow or NumPy exception)."""
        with as_input_errors() as current:  # the column being read, for the error message
            return self._prepare_columns(batch, row0, kinds, current)

    def _prepare_columns(self, batch: pa.RecordBatch, row0: int, kinds: list, current: list) -> _Prepared:
        s = self._settings
        n = batch.num_rows
        p = _Prepared(n=n)
        names = batch.schema.names

        def column(name):
            arr = batch.column(name) if name is not None and name in names else None
            current[:] = [name, arr]
            return arr

        local_keys = []
        for name in self._by:
            arr = column(name)
            check_key_type(arr.type, name)
            local_keys.append(factorize(arr))
        if s["window"]:
            local_keys.append(window_keys(column(s["time"]), s["time"], s["window"]))
        for k, (key, (values, index, used)) in enumerate(zip(self._keys, local_keys, strict=True)):
            current[:] = [key.name, values]
            values, kinds[k] = key.conform(values, kinds[k])
            p.local_keys.append((values, index, used))
        # dominant emotion -> slot (E + 1 = no value)
        arr = column("emotion")
        if arr is None:
            p.slot = np.full(n, self._n_emotions + 1, np.int32)
        else:
            labels, index = categorical(arr, "emotion")
            lut = np.array([self._n_emotions + 1 if v is None else self._emotion_slot.get(v, -1) for v in labels]
                           + [self._n_emotions + 1], np.int32)
            p.slot = lut[index]
            if (lut < 0).any():
                row = int(np.argmax(p.slot < 0))
                raise InputError(
                    f"column 'emotion', row {row0 + row}: value {labels[index[row]]!r} is not an emotion of the "
                    f"taxonomy {self._emotions} nor 'neutral'"
                )
        for name, lo, hi, fields, what in SURVEY_SCALES:
            arr = column(s[name])
            if arr is not None:
                values, bitmap, offset = numeric(arr, s[name])
                check_range(values, bitmap, offset, lo, hi, values.dtype.kind == "f", s[name], arr, row0, what)
                p.scales.append((values, bitmap, offset) + fields)
        arr = column(s["response_time"])
        if arr is not None:
            values, bitmap, offset = numeric(arr, s["response_time"])
            check_range(values, bitmap, offset, 0, sketch.X_MAX, False, s["response_time"], arr, row0,
                        f"not a response time in seconds within [0, {sketch.X_MAX:g}]")
            p.frt = (readonly(values, np.float64), bitmap, offset)
        arr = column(s["revenue"])
        if arr is not None:
            values, bitmap, offset = numeric(arr, s["revenue"])
            check_range(values, bitmap, offset, -REVENUE_MAX, REVENUE_MAX, False, s["revenue"], arr, row0,
                        f"not a finite revenue within +-{REVENUE_MAX:g}")
            p.revenue = (readonly(values, np.float64), bitmap, offset)
        arr = column(s["event"])
        if arr is not None:
            labels, index = categorical(arr, s["event"])
            lut = np.array(
                [-1 if v is None else EVENTS.codes.get(v.strip().lower(), 0) for v in labels] + [-1], np.int8
            )
            p.events = lut[index]
        arr = column(s["customer"])
        if arr is not None:
            p.customers = hash_ids(arr)
        score_columns = [("valence", -1.0, 1.0, F_VAL_CNT, "not a valence in [-1, 1]")] + [
            (name, 0.0, 1.0, score_fields(e), "not an emotion score in [0, 1]") for e, name in enumerate(self._emotions)
        ]
        for name, low, high, f_count, what in score_columns:
            arr = column(name)
            if arr is not None:
                values, bitmap, offset = numeric(arr, name, float32_ok=True)
                if values.dtype == np.int64:
                    values = readonly(values, np.float64)
                check_range(values, bitmap, offset, low, high, False, name, arr, row0, what)
                p.fixed.append((values, bitmap, offset, f_count, f_count + 1, f_count + 2))
        return p

    def _group_ids(self, n: int, local_keys: list) -> tuple[np.ndarray, np.ndarray]:
        """Group ids of ``n`` rows, registering new groups: ``(gid_of_local int32[u], local int32[n])``.

        ``local_keys`` holds per key column the batch's distinct values, the index of each row's
        value and whether every value is used. Rows get a batch-local group number first — the
        key column's own index when there is one key column, else the distinct values of the
        mixed-radix combination of the indices (a Numba kernel) — and only the batch's distinct
        groups go through Python: their global key codes (:class:`KeyDictionary`) form the tuple
        that names a persistent group.
        """
        codes = [key.codes(values) for key, (values, _, _) in zip(self._keys, local_keys, strict=True)]
        if not local_keys:
            local = np.zeros(n, np.int32)
            tuples: Iterable[tuple] = [()] if n else []
        elif len(local_keys) == 1:
            values, local, used = local_keys[0]
            present = np.arange(len(values)) if used else np.flatnonzero(np.bincount(local, minlength=len(values)))
            gid_of_local = np.full(len(values), -1, np.int32)
            for j in present.tolist():
                gid_of_local[j] = self._gid((int(codes[0][j]),))
            return gid_of_local, local
        else:
            composite = local_keys[0][1]
            radix = len(local_keys[0][0])
            for values, index, _ in local_keys[1:]:
                size = max(len(values), 1)
                if radix * size >= 1 << 62:
                    composite, first = kpi_cpu.factorize_hash(composite.astype(np.int64))
                    radix = len(first)
                composite = kpi_cpu.combine_codes(composite, size, index)
                radix *= size
            if radix <= max(4 * n, 1 << 16):
                local, first = kpi_cpu.factorize_dense(composite, radix)
            else:
                local, first = kpi_cpu.factorize_hash(composite)
            group_codes = [c[index[first]].tolist() for c, (_, index, _) in zip(codes, local_keys, strict=True)]
            tuples = zip(*group_codes, strict=True)
        gid_of_local = np.array([self._gid(t) for t in tuples], np.int32)
        return gid_of_local, local

    def _gid(self, codes: tuple) -> int:
        gid = self._index.get(codes)
        return self._new_group(codes) if gid is None else gid

    def _new_group(self, codes: tuple) -> int:
        gid = self._n_groups
        if gid == self._counts.shape[0]:
            # doubling: the new half stays untouched zero pages (not resident) until groups use it;
            # growing by a quarter measured a higher peak RSS (3.3 vs 2.3 GB at 400k groups)
            cap = 2 * gid
            self._codes = _grow(self._codes, cap)
            self._counts = _grow(self._counts, cap)
            self._rev_hi = _grow(self._rev_hi, cap)
            self._rev_lo = _grow(self._rev_lo, cap)
        self._codes[gid] = codes
        self._index[codes] = gid
        self._n_groups = gid + 1
        return gid

    def _fold(self, p: _Prepared) -> None:
        if p.n == 0:
            return
        gid_of_local, local = self._group_ids(p.n, p.local_keys)
        n_slots = self._n_slots
        if self._n_groups * n_slots >= 1 << 31:
            raise InputError(f"too many groups ({self._n_groups}) for one KPI state")
        group = np.empty(p.n, np.int32)
        cell = np.empty(p.n, np.int32)
        kpi_cpu.make_cells(gid_of_local, local, p.slot, n_slots, group, cell)
        counts = self._counts.reshape(-1, self._n_fields)
        # only the batch's cells are touched: the cost of a batch does not grow with the groups seen
        cells, rows = np.unique(cell, return_counts=True)
        counts[cells, F_N] += rows
        if counts[cells, F_N].max() >= _CELL_ROWS_MAX:
            raise InputError("a (group, emotion) cell passed 2**32 rows; fixed-point sums could overflow")
        # the accumulation kernels: kpi_cpu's, or their CUDA twins (same calls, same integers)
        acc = kpi_cpu if self.backend == "cpu" else _device_fold()
        for values, bitmap, offset, f_ans, f_pos, pos_min, f_neg, neg_max, f_sum, f_sq in p.scales:
            acc.accum_scale(cell, values, bitmap, offset, counts, f_ans, f_pos, float(pos_min), f_neg,
                            float(neg_max), f_sum, f_sq)
        for values, bitmap, offset, f_count, f_sum, f_sq in p.fixed:
            if not len(bitmap):  # no nulls: the kernel adds only the sums
                counts[cells, f_count] += rows
            acc.accum_fixed(cell, values, bitmap, offset, counts, f_count, f_sum, f_sq, FIXED_SCALE)
        if p.revenue is not None:
            values, bitmap, offset = p.revenue
            acc.accum_revenue(cell, values, bitmap, offset, counts, F_REV_CNT,
                              self._rev_hi.reshape(-1), self._rev_lo.reshape(-1), _REVENUE_SCALE)
        if p.events is not None:
            acc.accum_codes(cell, p.events, counts, EVENTS.any_field, EVENTS.field_of_code)
        if acc is not kpi_cpu:
            acc.finish()
        # the sparse sketches are filled on the CPU whatever the backend (the same entries)
        if p.frt is not None and self._sk.width:
            values, bitmap, offset = p.frt
            with np.errstate(divide="ignore", invalid="ignore"):
                logs = np.log(values)
            keys = kpi_cpu.sketch_entries(group, values, logs, bitmap, offset, sketch.X_MIN, sketch.INV_LOG_GAMMA,
                                          sketch.KEY_MIN, sketch.N_BUCKETS)
            self._sk.add(keys, np.ones(len(keys), np.int64))
        if p.customers is not None and self._hl.width:
            hashes, bitmap, offset = p.customers
            self._hl.add(*kpi_cpu.hll_entries(group, hashes, bitmap, offset, sketch.HLL_P))

    def _add_groups(self, gid: np.ndarray, other: KpiAggregator) -> None:
        n = other._n_groups
        if len(np.unique(gid)) == n:
            self._counts[gid] += other._counts[:n]
            hi, lo = _add128(self._rev_hi[gid], self._rev_lo[gid], other._rev_hi[:n], other._rev_lo[:n])
            self._rev_hi[gid], self._rev_lo[gid] = hi, lo
        else:  # two of other's keys became one here (a lossy key cast): fold them one by one
            for j, g in enumerate(gid):
                self._counts[g] += other._counts[j]
                self._rev_hi[g], self._rev_lo[g] = _add128(
                    self._rev_hi[g], self._rev_lo[g], other._rev_hi[j], other._rev_lo[j])
        for mine, theirs in ((self._sk, other._sk), (self._hl, other._hl)):
            keys, values = theirs.entries()
            if len(keys):
                mine.add(gid[keys // theirs.width] * mine.width + keys % theirs.width, values)
        if self._counts[: self._n_groups, :, F_N].max(initial=0) >= _CELL_ROWS_MAX:
            raise InputError("a (group, emotion) cell passed 2**32 rows; fixed-point sums could overflow")

    def _key_columns(self) -> list[pa.Array]:
        return [key.values.take(pa.array(self._codes[: self._n_groups, k])) for k, key in enumerate(self._keys)]

    def _order(self, columns: list[pa.Array]) -> np.ndarray:
        if not columns or self._n_groups == 0:
            return np.arange(self._n_groups)
        table = pa.Table.from_arrays(columns, names=[f"k{i}" for i in range(len(columns))])
        try:
            keys: list[tuple[str, ...]] = [(f"k{i}", "ascending", "at_end") for i in range(len(columns))]
            indices = pc.sort_indices(table, options=pc.SortOptions(keys))
        except (TypeError, ValueError, pa.ArrowInvalid):  # pyarrow < 25: one global null placement
            keys = [(f"k{i}", "ascending") for i in range(len(columns))]
            indices = pc.sort_indices(table, sort_keys=keys, null_placement="at_end")
        return indices.to_numpy()

    def _revenue_total(self) -> np.ndarray:
        """Exact 128-bit revenue sum per group, rounded once to float64."""
        hi = np.zeros(self._n_groups, np.int64)
        lo = np.zeros(self._n_groups, np.uint64)
        for d in range(self._n_slots):
            hi, lo = _add128(hi, lo, self._rev_hi[: self._n_groups, d], self._rev_lo[: self._n_groups, d])
        exact = hi.astype(object) * (1 << 64) + lo.astype(object)
        return np.array([float(v) / (1 << REVENUE_BITS) for v in exact], np.float64)


def _take_or_zero(counts: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``counts[index]``, with zero counters where ``index`` is -1."""
    out = counts[np.maximum(index, 0)]
    out[index < 0] = 0
    return out


def _device_fold():
    from .kernels.kpi_cuda import DeviceFold  # imports numba.cuda: only for backend="cuda"

    return DeviceFold()


def _grow(a: np.ndarray, cap: int) -> np.ndarray:
    out = np.zeros((cap,) + a.shape[1:], a.dtype)
    out[: a.shape[0]] = a
    return out


def _add128(a_hi, a_lo, b_hi, b_lo):
    lo = a_lo + b_lo  # uint64, wraps
    carry = (lo < a_lo).astype(np.int64)
    return a_hi + b_hi + carry, lo
