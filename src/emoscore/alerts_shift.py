"""The ``kpi_shift`` alert rule: a group's NPS, CSAT or an emotion share that moves significantly from
one time window to the next, found as windows close in a stream of scored batches.

:class:`ShiftWatch` keeps the KPIs per (group, window) of the rows seen (a :class:`~emoscore.KpiAggregator`)
and the day before which every window has been evaluated. A window closes when a row of a later window
arrives, so rows are expected in rough time order: a late row still counts in its window's KPIs but does
not raise that window's alerts again. :meth:`ShiftWatch.flush` closes the windows still open at the end
of a stream. A window is compared with the group's previous window that has data (the test of
:meth:`KpiAggregator.result` with ``deltas=True``); an alert needs ``p < 1 - level`` and at least
``min_n`` observations on both sides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .kpi import KpiAggregator
from .kpi_keys import window_keys

__all__ = ["ShiftWatch"]

_OFF = {"effort": None, "response_time": None, "event": None, "revenue": None, "customer": None}


class ShiftWatch:
    """Window-to-window KPI shifts per group (see the module notes); ``emotion`` names the dominant
    emotion column, read as the aggregator's ``emotion``."""

    def __init__(self, *, by: Sequence[str], window: str, time: str, nps: str | None, rating: str | None,
                 emotion: str | None, emotions: Sequence[str] | None, level: float, min_n: int) -> None:
        self._columns = {name: name for name in by}
        self._columns.update({time: time, **{c: c for c in (nps, rating) if c is not None}})
        if emotion is not None:
            self._columns[emotion] = "emotion"
        self._settings: dict[str, Any] = dict(by=list(by), window=window, time=time, nps=nps, rating=rating,
                                              emotions=emotions, **_OFF)
        self._agg = KpiAggregator(**self._settings)
        self._time, self._window = time, window
        self._level, self._min_n = level, min_n
        self._through: int | None = None  # windows starting before this day (since 1970) are evaluated

    def prepare(self, data: pa.Table | pa.RecordBatch) -> tuple[KpiAggregator, np.ndarray]:
        """Validate ``data`` without touching the state: its own KPIs and each row's window (days since
        1970; -1: no time). Raises the aggregator's :class:`~emoscore.InputError`, naming the row."""
        names = data.schema.names
        present = [(name, as_name) for name, as_name in self._columns.items() if name in names]
        part = data.select([name for name, _ in present]).rename_columns([as_name for _, as_name in present])
        batch_agg = KpiAggregator(**self._settings).update(part)
        time = data.column(self._time)
        time = time.combine_chunks() if isinstance(time, pa.ChunkedArray) else time
        starts, index, _ = window_keys(time, self._time, self._window)
        days = pc.fill_null(starts.cast(pa.int32()), -1).to_numpy(zero_copy_only=False)
        return batch_agg, days[index] if len(index) else np.zeros(0, np.int32)

    def commit(self, prepared: tuple[KpiAggregator, np.ndarray]) -> tuple[np.ndarray, list[str]]:
        """Fold a prepared batch in; the alerts of the windows it closes: ``(row that closed them, evidence)``."""
        batch_agg, days = prepared
        self._agg.merge(batch_agg)
        newest = int(days.max(initial=-1))
        if newest < 0 or (self._through is not None and newest <= self._through):
            return np.zeros(0, np.int64), []
        found, _ = self._evaluate(self._through, newest)
        self._through = newest
        row = int(np.argmax(days == newest))
        return np.full(len(found), row, np.int64), found

    def flush(self) -> list[str]:
        """Close every window still open: the evidence of their alerts."""
        found, days = self._evaluate(self._through, None)
        if len(days):
            self._through = int(days.max()) + 1
        return found

    def to_state(self) -> tuple[bytes, int | None]:
        return self._agg.to_bytes(), self._through

    def restore(self, state: bytes, through: int | None) -> None:
        agg = KpiAggregator.from_bytes(state)
        if agg.settings != self._agg.settings:
            raise ValueError("the kpi_shift state was built with other settings")
        self._agg, self._through = agg, through

    def _evaluate(self, start: int | None, stop: int | None) -> tuple[list[str], np.ndarray]:
        """Evidence of every significant shift into a window starting in ``[start, stop)``, and the
        window start (days since 1970) of every row of the KPI table."""
        table = self._agg.result(deltas=True, level=self._level)
        days = self._window_days(table)
        low, high = -(1 << 31) if start is None else start, (1 << 31) if stop is None else stop
        chosen = (days >= low) & (days < high)
        rows = table.to_pylist()
        kpis = [(k, f"{k}_n") for k in ("nps", "csat") if f"{k}_delta" in table.column_names]
        kpis += [(f"{e}_share", "emotion_n") for e in self._agg.emotions if f"{e}_share_delta" in table.column_names]
        found = []
        for i in np.flatnonzero(chosen).tolist():
            after, before = rows[i], rows[i - 1] if i else None
            for kpi, base in kpis:
                if not after[f"{kpi}_delta_significant"] or before is None:
                    continue
                if min(after[base], before[base]) < self._min_n:
                    continue
                found.append(self._evidence(after, before, kpi, base))
        return found, days

    def _evidence(self, after: dict, before: dict, kpi: str, base: str) -> str:
        group = ", ".join(f"{name}={after[name]}" for name in self._agg.by) or "all"
        pct = f"{self._level:.0%}"
        return (f"{group}: {kpi} {after[kpi]:.4g} (n={after[base]}, {self._window} of {after['window_start']}) "
                f"vs {before[kpi]:.4g} (n={before[base]}, {self._window} of {before['window_start']}); change "
                f"{after[kpi + '_delta']:+.4g} [{pct} CI {after[kpi + '_delta_low']:.4g}, "
                f"{after[kpi + '_delta_high']:.4g}], p={after[kpi + '_delta_p']:.2g}")

    @staticmethod
    def _window_days(table: pa.Table) -> np.ndarray:
        days = pc.fill_null(table.column("window_start").cast(pa.int32()), -(1 << 31) + 1)
        return days.to_numpy(zero_copy_only=False)
