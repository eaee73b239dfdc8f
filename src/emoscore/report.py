"""The customer-experience report: one self-contained HTML page (plotly's JavaScript inlined, works
offline) of the emotion mix, NPS and CSAT with their intervals, the top emotion drivers, the trends
per time window with their significant shifts, the alerts and example texts for each top driver.

Arrow tables in, an HTML string out; no files, no network::

    builder = ReportBuilder(by=("touchpoint",), window="week")
    for batch in scored_batches:                  # the output of Scorer.score / emoscore score
        builder.update(batch)
    html = render(builder.data(target="nps"), title="Feedback, Q3")
    html = render(ReportData.from_state(KpiAggregator.from_bytes(saved)))   # from a KPI state alone

:class:`ReportBuilder` folds scored batches into two :class:`~emoscore.kpi.KpiAggregator` (per group,
and per group and window), an :class:`~emoscore.alerts.AlertStream` and a bounded set of example
texts (per group and dominant emotion the :data:`EXAMPLES` most intense, with their ``evidence``
when the rows were scored with ``explain=True``). :func:`render` needs plotly (``pip install
"emoscore[report]"``); without it, :class:`ReportDependencyError`. Every text from the data is
escaped, in the page and in the charts (plotly reads its labels as HTML-like markup).
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from . import __version__
from .alerts import RULES, AlertRules
from .errors import EmoscoreError
from .kpi import KpiAggregator
from .kpi_keys import ASPECT_KEY, explode_aspects

__all__ = [
    "EXAMPLES",
    "PLOTLY_MISSING",
    "TOP_DRIVERS",
    "ExampleKeeper",
    "ReportBuilder",
    "ReportData",
    "ReportDependencyError",
    "group_labels",
    "highlight",
    "render",
    "require_plotly",
    "top_drivers",
]

#: Drivers shown per group (the largest |impact| first).
TOP_DRIVERS = 3
#: Example texts kept per group and dominant emotion (the most intense).
EXAMPLES = 3
#: Alerts listed in the page (all are counted).
ALERTS_LISTED = 50
#: What :func:`render` raises without plotly.
PLOTLY_MISSING = 'the report needs plotly, which is not installed: pip install "emoscore[report]"'
NONE_LABEL = "(none)"
KEY_SEPARATOR = " · "
TREND_KPIS = ("nps", "csat")
KPI_TITLES = {"nps": "NPS", "csat": "CSAT (% satisfied)", "ces": "CES", "valence_mean": "mean valence"}
EMOTION_COLORS = {
    "anger": "#d62728", "anticipation": "#ff7f0e", "disgust": "#8c564b", "fear": "#9467bd",
    "joy": "#2ca02c", "sadness": "#1f77b4", "surprise": "#e377c2", "trust": "#17becf",
    "frustration": "#b5121b", "satisfaction": "#98df8a", "confusion": "#bcbd22", "neutral": "#c7c7c7",
}
FALLBACK_COLORS = ("#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d")


class ReportDependencyError(EmoscoreError, ImportError):
    """plotly, which the report's charts need, is not installed."""


# ==================================================================================================
# data: what the page shows, as Arrow tables
# ==================================================================================================


@dataclass
class ReportData:
    """The tables of a report.

    ``kpis``: :meth:`KpiAggregator.result` per group; ``drivers``: :meth:`KpiAggregator.drivers` of
    ``target`` (``None``: the target was never seen); ``trends``: the windowed ``result(deltas=True)``
    (``None``: no window); ``alerts``: the alert rows (``None``: not available, as from a state);
    ``examples``: :meth:`ExampleKeeper.table` (``None``: not available); ``notes``: sentences shown
    under the title."""

    kpis: pa.Table
    by: tuple[str, ...]
    emotions: tuple[str, ...]
    target: str = "nps"
    level: float = 0.95
    window: str | None = None
    drivers: pa.Table | None = None
    trends: pa.Table | None = None
    alerts: pa.Table | None = None
    examples: pa.Table | None = None
    rows: int | None = None
    notes: tuple[str, ...] = ()

    @classmethod
    def from_state(cls, agg: KpiAggregator, *, target: str = "nps", level: float = 0.95) -> ReportData:
        """The report of a saved KPI state. With a window, the mix, the KPIs and the drivers are each
        group's latest window, the trends every window; alerts and examples need the scored rows."""
        window = agg.settings["window"]
        notes = ["From a saved KPI state: the alerts and the example texts need the scored rows."]
        drivers = _drivers_or_none(agg, target, level)
        if window is None:
            notes.append("The state has no time window, so there are no trends (save one with --window).")
            return cls(agg.result(level=level), agg.by, agg.emotions, target, level, None, drivers,
                       notes=tuple(notes))  # fmt: skip
        trends = agg.result(level=level, deltas=True)
        notes.append(f"The state is kept per {window}: the mix, the KPIs and the drivers are each group's latest "
                     f"{window}; the trends show every {window}.")
        latest = _latest_windows(trends, agg.by)
        kpis = _only_windows(trends, agg.by, latest)
        drivers = _only_windows(drivers, agg.by, latest) if drivers is not None else None
        return cls(kpis, agg.by, agg.emotions, target, level, window, drivers, trends, notes=tuple(notes))


def _drivers_or_none(agg: KpiAggregator, target: str, level: float) -> pa.Table | None:
    try:
        return agg.drivers(target, level=level)
    except EmoscoreError:  # the target's column (or the emotions) never seen
        return None


def _latest_windows(table: pa.Table, by: Sequence[str]) -> dict[str, Any]:
    """Group label -> its latest ``window_start``."""
    latest: dict[str, Any] = {}
    labels = group_labels(table, by).to_pylist()
    for label, start in zip(labels, table.column("window_start").to_pylist(), strict=True):
        if start is not None and (label not in latest or start > latest[label]):
            latest[label] = start
    return latest


def _only_windows(table: pa.Table, by: Sequence[str], latest: dict[str, Any]) -> pa.Table:
    labels = group_labels(table, by).to_pylist()
    keep = [latest.get(label) == start for label, start in zip(labels, table.column("window_start").to_pylist(),
                                                                strict=True)]  # fmt: skip
    return table.filter(pa.array(keep, pa.bool_())).drop_columns(["window_start"])


def group_labels(table: pa.Table | pa.RecordBatch, by: Sequence[str]) -> pa.Array:
    """One string per row naming its group: the ``by`` values as text joined by ``" · "``, a null as
    ``(none)``; ``"all"`` without keys."""
    if not by:
        return pa.array(["all"] * table.num_rows, pa.string())
    parts = [pc.fill_null(_as_text(table.column(name)), NONE_LABEL) for name in by]
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(*parts, KEY_SEPARATOR)


def _as_text(column) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    try:
        return column.cast(pa.string())
    except (pa.ArrowException, NotImplementedError):
        return pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())


# ==================================================================================================
# folding scored batches
# ==================================================================================================


class ExampleKeeper:
    """Per group and dominant emotion, the ``per`` most intense texts seen (ties: the first seen),
    with their evidence as JSON text when the rows have an ``evidence`` column. Bounded: groups ×
    emotions × ``per`` rows. With ``"aspect"`` in ``by`` a text counts in each aspect it mentions,
    under the emotion of that aspect."""

    SCHEMA = pa.schema([("group", pa.string()), ("emotion", pa.string()), ("rank", pa.float64()),
                        ("text", pa.string()), ("evidence", pa.string())])  # fmt: skip

    def __init__(self, by: Sequence[str], emotions: Sequence[str], *, text: str = "text", per: int = EXAMPLES) -> None:
        self.by, self.emotions, self.text, self.per = tuple(by), tuple(emotions), text, per
        self._kept = self.SCHEMA.empty_table()

    def add(self, data: pa.Table | pa.RecordBatch) -> None:
        """Consider the rows of ``data`` (scored rows; without a text or an ``emotion`` column, none)."""
        if self.text not in data.schema.names or "emotion" not in data.schema.names:
            return
        if ASPECT_KEY in self.by:
            data = explode_aspects(data, self.emotions)
        rows = self._candidates(data)
        rows = self._top(rows)
        self._kept = self._top(pa.concat_tables([self._kept, self._with_evidence_text(rows)]))

    def table(self) -> pa.Table:
        """The examples kept: ``group``, ``emotion``, ``rank`` (the intensity), ``text``, ``evidence``."""
        return self._kept

    def _candidates(self, data: pa.Table | pa.RecordBatch) -> pa.Table:
        emotion = _as_text(data.column("emotion"))
        text = _as_text(data.column(self.text))
        rank = _numbers(data.column("intensity")) if "intensity" in data.schema.names else \
            pa.nulls(data.num_rows, pa.float64())  # fmt: skip
        evidence = data.column("evidence") if "evidence" in data.schema.names else pa.nulls(data.num_rows, pa.string())
        table = pa.table({"group": group_labels(data, self.by), "emotion": emotion, "rank": rank, "text": text,
                          "evidence": evidence})  # fmt: skip
        wanted = pc.and_(pc.is_valid(text), pc.is_in(emotion, pa.array(self.emotions, pa.string())))
        return table.filter(pc.fill_null(wanted, False))

    def _top(self, table: pa.Table) -> pa.Table:
        """The first ``per`` rows of each (group, emotion) by rank, descending (nulls last; stable)."""
        if table.num_rows == 0:
            return table
        group = _codes(table.column("group"))
        emotion = _codes(table.column("emotion"))
        rank = pc.fill_null(table.column("rank"), -np.inf).to_numpy()
        order = np.lexsort((-rank, emotion, group))
        group, emotion = group[order], emotion[order]
        new_run = np.ones(len(order), bool)
        new_run[1:] = (group[1:] != group[:-1]) | (emotion[1:] != emotion[:-1])
        starts = np.maximum.accumulate(np.where(new_run, np.arange(len(order)), 0))
        keep = order[(np.arange(len(order)) - starts) < self.per]
        return table.take(pa.array(np.sort(keep)))

    @staticmethod
    def _with_evidence_text(table: pa.Table) -> pa.Table:
        evidence = table.column("evidence")
        if not pa.types.is_string(evidence.type):
            texts = [None if v is None else orjson.dumps(v).decode() for v in evidence.to_pylist()]
            table = table.set_column(4, "evidence", pa.array(texts, pa.string()))
        return table.cast(ExampleKeeper.SCHEMA)


def _codes(column) -> np.ndarray:
    encoded = pc.dictionary_encode(column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column)
    return pc.fill_null(encoded.indices, -1).to_numpy().astype(np.int64)


def _numbers(column) -> pa.Array:
    """A score column as float64 (CSV text included); a value that is no number: null."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    try:
        return column.cast(pa.float64())
    except (pa.ArrowException, NotImplementedError):
        pass
    out: list[float | None] = []
    for value in column.to_pylist():
        try:
            out.append(float(value))
        except (TypeError, ValueError):
            out.append(None)
    return pa.array(out, pa.float64())


class ReportBuilder:
    """Folds scored batches into what :func:`render` shows (see the module docstring).

    ``by``, ``window``, ``time``, ``customer``, ``emotions``: as for :class:`KpiAggregator`
    (``window=None``: no trends); ``text``, ``id``: the text and row-id columns of the alerts and the
    examples. :meth:`update` is all or nothing: a batch with a value outside its domain raises
    :class:`~emoscore.InputError` and changes nothing."""

    def __init__(self, by: str | Sequence[str] = ("touchpoint",), *, window: str | None = "week", time: str = "ts",
                 customer: str | None = "customer_id", text: str = "text", id: str | None = None,  # noqa: A002
                 emotions: Sequence[str] | None = None, examples: int = EXAMPLES) -> None:  # fmt: skip
        self.overall = KpiAggregator(by, time=time, customer=customer, emotions=emotions)
        self.windowed = KpiAggregator(by, window=window, time=time, customer=customer, emotions=emotions) \
            if window is not None else None  # fmt: skip
        self.stream = AlertRules(customer=customer, time=time, text=text, id=id).stream()
        self.examples = ExampleKeeper(self.overall.by, self.overall.emotions, text=text, per=examples)
        self.rows = 0
        self._alerts: list[pa.Table] = []

    def update(self, batch: pa.Table | pa.RecordBatch) -> ReportBuilder:
        """Fold the rows of ``batch``; returns ``self``."""
        self.stream.check(batch)  # raises before anything changed
        if self.windowed is not None:
            self.windowed.update(batch)  # checks the time column too: the stricter of the two first
        self.overall.update(batch)
        found = self.stream.evaluate(batch)
        if found.num_rows:
            self._alerts.append(found.drop_columns(["row"]))
        self.examples.add(batch)
        self.rows += batch.num_rows
        return self

    def data(self, *, target: str = "nps", level: float = 0.95) -> ReportData:
        """The tables of the report of what was folded."""
        agg, windowed = self.overall, self.windowed
        trends = windowed.result(level=level, deltas=True) if windowed is not None else None
        alerts = pa.concat_tables(self._alerts, promote_options="permissive") if self._alerts else \
            pa.table({"rule": pa.array([], pa.string())})  # fmt: skip
        return ReportData(agg.result(level=level), agg.by, agg.emotions, target, level,
                          windowed.settings["window"] if windowed is not None else None,
                          _drivers_or_none(agg, target, level), trends, alerts, self.examples.table(),
                          rows=self.rows)  # fmt: skip


# ==================================================================================================
# rendering
# ==================================================================================================


def require_plotly():
    """plotly's ``graph_objects`` module and ``get_plotlyjs``; :class:`ReportDependencyError` (which
    says ``pip install "emoscore[report]"``) when plotly is not installed."""
    try:
        import plotly.graph_objects as go
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise ReportDependencyError(PLOTLY_MISSING) from None
    return go, get_plotlyjs


def esc(value: Any) -> str:
    """Text for HTML (and for plotly's HTML-like labels): ``&``, ``<``, ``>`` and quotes escaped."""
    return html.escape("" if value is None else str(value), quote=True)


class _Page:
    """The charts of a page: each a ``<div>`` now, drawn by one script at the end."""

    def __init__(self, go) -> None:
        self.go = go
        self.figures: list[tuple[str, str]] = []

    def chart(self, figure, caption: str) -> str:
        chart_id = f"chart-{len(self.figures) + 1}"
        figure.update_layout(template="plotly_white", margin={"l": 60, "r": 20, "t": 40, "b": 60},
                             font={"family": "system-ui, sans-serif", "size": 12})  # fmt: skip
        self.figures.append((chart_id, _script_json(figure.to_json())))
        height = f' style="height: {int(figure.layout.height)}px"' if figure.layout.height else ""
        return (f'<figure><div class="chart" id="{chart_id}"{height}></div>'
                f"<figcaption>{esc(caption)}</figcaption></figure>")

    def script(self) -> str:
        calls = ",\n".join(f'["{chart_id}", {figure}]' for chart_id, figure in self.figures)
        return SCRIPT.replace("/*CHARTS*/", calls)


def _script_json(text: str) -> str:
    """JSON that is safe inside a ``<script>`` element (no ``</script>``, no ``<!--``)."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") \
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")  # fmt: skip


SCRIPT = """<script>
(function () {
  var charts = [
/*CHARTS*/
  ];
  var config = {displaylogo: false, responsive: true};
  Promise.all(charts.map(function (c) {
    return Plotly.newPlot(c[0], c[1].data, c[1].layout, config).then(function (el) { el.dataset.rendered = "1"; });
  })).then(function () { document.body.dataset.charts = "rendered"; },
           function (err) { document.body.dataset.charts = "failed"; console.error(err); });
}());
</script>"""

STYLE = """<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; padding: 0 1rem; color: #222; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ddd; padding-bottom: .3rem; }
.meta, .note, figcaption { color: #555; font-size: .9rem; }
figure { margin: 1rem 0; } .chart { width: 100%; height: 420px; }
table { border-collapse: collapse; font-size: .85rem; margin: .5rem 0 1rem; }
th, td { border-bottom: 1px solid #e4e4e4; padding: .25rem .6rem; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.sig { font-weight: 600; color: #b5121b; }
blockquote { margin: .4rem 0 .8rem; padding: .3rem .8rem; border-left: 3px solid #ccc; background: #fafafa; }
mark { background: #eee; border-radius: 2px; padding: 0 1px; }
mark.hit { background: #ffd8a8; } mark.rule { background: #d0ebff; }
</style>"""


def render(data: ReportData, *, title: str = "Customer feedback report") -> str:
    """The report as one HTML document (plotly's JavaScript inlined: no network needed)."""
    go, plotly_js = require_plotly()
    page = _Page(go)
    body = [_header(data, title)]
    for section in (_mix_section, _kpi_section, _drivers_section, _trend_section, _alerts_section,
                    _examples_section):  # fmt: skip
        body.append(section(data, page))
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>", STYLE, f"<script>{plotly_js()}</script>", "</head><body>",
        *body, page.script(), "</body></html>",
    ])  # fmt: skip


def _header(data: ReportData, title: str) -> str:
    facts = [f"groups: {', '.join(data.by) or 'all rows'}", f"intervals at {data.level:.0%}",
             f"emoscore {__version__}"]  # fmt: skip
    if data.rows is not None:
        facts.insert(0, f"{data.rows:,} scored rows")
    if data.window:
        facts.insert(2, f"trends per {data.window}")
    notes = "".join(f'<p class="note">{esc(note)}</p>' for note in data.notes)
    return f'<h1>{esc(title)}</h1><p class="meta">{esc(" · ".join(facts))}</p>{notes}'


def _section(anchor: str, heading: str, *parts: str) -> str:
    return f'<section id="{anchor}"><h2>{esc(heading)}</h2>{"".join(parts)}</section>'


def _note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def _rows(table: pa.Table) -> list[dict]:
    return table.to_pylist()


def _by_text(data: ReportData) -> str:
    return " and ".join(data.by) if data.by else "all rows"


# -- the emotion mix -------------------------------------------------------------------------------


def _color(emotion: str, index: int) -> str:
    return EMOTION_COLORS.get(emotion, FALLBACK_COLORS[index % len(FALLBACK_COLORS)])


def _mix_section(data: ReportData, page: _Page) -> str:
    heading = f"Emotion mix per {_by_text(data)}"
    shares = [e for e in data.emotions if f"{e}_share" in data.kpis.column_names]
    if not shares or data.kpis.num_rows == 0:
        return _section("mix", heading, _note("No dominant-emotion values in the data: no emotion mix."))
    labels = [esc(v) for v in group_labels(data.kpis, data.by).to_pylist()]
    fig = page.go.Figure()
    total = np.zeros(len(labels))
    for i, emotion in enumerate(shares):
        values = np.array([v if v is not None else 0.0 for v in data.kpis.column(f"{emotion}_share").to_pylist()])
        total += values
        fig.add_trace(page.go.Bar(name=esc(emotion), x=labels, y=values, marker_color=_color(emotion, i),
                                  hovertemplate="%{x}: %{y:.1%} " + esc(emotion) + "<extra></extra>"))
    fig.add_trace(page.go.Bar(name="neutral", x=labels, y=np.clip(1 - total, 0, 1),
                              marker_color=EMOTION_COLORS["neutral"],
                              hovertemplate="%{x}: %{y:.1%} neutral<extra></extra>"))  # fmt: skip
    fig.update_layout(barmode="stack", yaxis={"tickformat": ".0%", "title": "share of documents"},
                      legend={"traceorder": "normal"})  # fmt: skip
    caption = "Share of each group's documents that each emotion dominates (neutral: none does)."
    return _section("mix", heading, page.chart(fig, caption))


# -- NPS and CSAT with intervals ---------------------------------------------------------------------


def _kpi_section(data: ReportData, page: _Page) -> str:
    heading = f"NPS and CSAT per {_by_text(data)}"
    present = [k for k in ("nps", "csat") if k in data.kpis.column_names]
    if not present or data.kpis.num_rows == 0:
        return _section("kpis", heading, _note("No NPS or rating values in the data."))
    labels = group_labels(data.kpis, data.by).to_pylist()
    rows = _rows(data.kpis)
    charts = [page.chart(_kpi_figure(page.go, kpi, labels, rows), _kpi_caption(kpi, data.level)) for kpi in present]
    return _section("kpis", heading, *charts, _kpi_table(present, labels, rows))


def _kpi_caption(kpi: str, level: float) -> str:
    return f"{KPI_TITLES[kpi]} per group with its {level:.0%} interval; n: the answers it rests on."


def _kpi_figure(go, kpi: str, labels: list[str], rows: list[dict]):
    value = [row.get(kpi) for row in rows]
    above = [_gap(row.get(f"{kpi}_high"), v) for row, v in zip(rows, value, strict=True)]
    below = [_gap(v, row.get(f"{kpi}_low")) for row, v in zip(rows, value, strict=True)]
    names = [f"{esc(label)} (n={row.get(f'{kpi}_n') or 0})" for label, row in zip(labels, rows, strict=True)]
    bar = go.Bar(x=names, y=value, marker_color="#4c78a8",
                 error_y={"type": "data", "symmetric": False, "array": above, "arrayminus": below},
                 customdata=[[row.get(f"{kpi}_low"), row.get(f"{kpi}_high")] for row in rows],
                 hovertemplate="%{x}: %{y:.1f} [%{customdata[0]:.1f}, %{customdata[1]:.1f}]<extra></extra>")
    fig = go.Figure(bar)
    fig.update_layout(title={"text": KPI_TITLES[kpi]}, yaxis={"title": KPI_TITLES[kpi]}, showlegend=False)
    return fig


def _gap(high, low) -> float | None:
    return None if high is None or low is None else high - low


def _kpi_table(present: list[str], labels: list[str], rows: list[dict]) -> str:
    head = "".join(f"<th>{esc(KPI_TITLES[k].split(' ')[0])}</th><th>interval</th><th>n</th>" for k in present)
    body = []
    for label, row in zip(labels, rows, strict=True):
        cells = "".join(f'{_num(row.get(k), 1)}<td class="num">{_interval(row, k, 1)}</td>{_num(row.get(f"{k}_n"))}'
                        for k in present)  # fmt: skip
        body.append(f"<tr><td>{esc(label)}</td>{_num(row.get('n'))}{cells}</tr>")
    return f'<table><tr><th>group</th><th>documents</th>{head}</tr>{"".join(body)}</table>'


def _num(value, digits: int = 0, *, percent: bool = False) -> str:
    return f'<td class="num">{esc(_fmt(value, digits, percent=percent))}</td>'


def _fmt(value, digits: int = 0, *, percent: bool = False) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if percent:
        return f"{value:.{digits}%}"
    if isinstance(value, int) and digits == 0:
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _interval(row: dict, name: str, digits: int) -> str:
    low, high = row.get(f"{name}_low"), row.get(f"{name}_high")
    if low is None or high is None:
        return "–"
    return esc(f"[{_fmt(low, digits)}, {_fmt(high, digits)}]")


# -- drivers ---------------------------------------------------------------------------------------


def top_drivers(drivers: pa.Table, by: Sequence[str], n: int = TOP_DRIVERS) -> list[dict]:
    """Per group (in the table's order) its ``n`` drivers of largest |impact| (nulls left out), as
    rows with a ``group`` label."""
    labels = group_labels(drivers, by).to_pylist()
    groups: dict[str, list[dict]] = {}
    for label, row in zip(labels, _rows(drivers), strict=True):
        row["group"] = label
        groups.setdefault(label, [])
        if row.get("impact") is not None and row.get("documents"):
            groups[label].append(row)
    chosen = (sorted(rows, key=lambda r: -abs(r["impact"]))[:n] for rows in groups.values())
    return list(itertools.chain.from_iterable(chosen))


def _drivers_section(data: ReportData, page: _Page) -> str:
    target = KPI_TITLES.get(data.target, data.target)
    heading = f"Top drivers of {target}"
    if data.drivers is None:
        return _section("drivers", heading, _note(f"No drivers: the data has no {data.target} values or no "
                                                  "dominant emotions."))  # fmt: skip
    rows = top_drivers(data.drivers, data.by)
    if not rows:
        return _section("drivers", heading, _note("No emotion dominates documents on both sides of the target."))
    caption = (f"{target} among the documents an emotion dominates minus {target} among the group's other "
               f"documents, with its {data.level:.0%} interval; per group the {TOP_DRIVERS} emotions of largest "
               "|impact| (prevalence × difference). Dark bars: significant after Benjamini-Hochberg.")
    return _section("drivers", heading, page.chart(_drivers_figure(page.go, rows, data.emotions), caption),
                    _drivers_table(rows))  # fmt: skip


def _drivers_figure(go, rows: list[dict], emotions: Sequence[str]):
    rows = rows[::-1]  # the first group on top
    names = [f"{esc(r['group'])} · {esc(r['emotion'])}" for r in rows]
    has_interval = any(r.get("difference_low") is not None for r in rows)
    error = {"type": "data", "symmetric": False,
             "array": [_gap(r.get("difference_high"), r["difference"]) for r in rows],
             "arrayminus": [_gap(r["difference"], r.get("difference_low")) for r in rows]} if has_interval else None
    colors = [_color(r["emotion"], list(emotions).index(r["emotion"]) if r["emotion"] in emotions else 0)
              for r in rows]  # fmt: skip
    opacity = [1.0 if r.get("significant") in (True, None) else 0.45 for r in rows]
    custom = [[r["impact"], r["prevalence"], r.get("q_value")] for r in rows]
    bar = go.Bar(x=[r["difference"] for r in rows], y=names, orientation="h", error_x=error, customdata=custom,
                 marker={"color": colors, "opacity": opacity},
                 hovertemplate="%{y}: difference %{x:.1f}, impact %{customdata[0]:.1f}, prevalence "
                               "%{customdata[1]:.1%}, q %{customdata[2]:.3g}<extra></extra>")  # fmt: skip
    fig = go.Figure(bar)
    fig.update_layout(height=max(320, 26 * len(rows) + 120), showlegend=False,
                      xaxis={"title": "difference (with − without)", "zeroline": True})  # fmt: skip
    return fig


def _drivers_table(rows: list[dict]) -> str:
    head = ("<tr><th>group</th><th>emotion</th><th>prevalence</th><th>with</th><th>without</th><th>difference</th>"
            "<th>interval</th><th>impact</th><th>q</th><th>significant</th></tr>")
    body = []
    for r in rows:
        mark = ' class="sig"' if r.get("significant") else ""
        body.append(f"<tr{mark}><td>{esc(r['group'])}</td><td>{esc(r['emotion'])}</td>"
                    f"{_num(r['prevalence'], 1, percent=True)}{_num(r.get('kpi_with'), 1)}"
                    f"{_num(r.get('kpi_without'), 1)}{_num(r['difference'], 1)}"
                    f'<td class="num">{_interval(r, "difference", 1)}</td>{_num(r["impact"], 1)}'
                    f"{_num(r.get('q_value'), 3)}<td>{esc(_fmt(r.get('significant')))}</td></tr>")  # fmt: skip
    return f"<table>{head}{''.join(body)}</table>"


# -- trends ----------------------------------------------------------------------------------------


def _trend_section(data: ReportData, page: _Page) -> str:
    heading = f"Trends per {data.window}" if data.window else "Trends"
    if data.trends is None:
        return _section("trends", heading, _note("No trends: the report has no time window."))
    present = [k for k in TREND_KPIS if k in data.trends.column_names]
    if not present:
        return _section("trends", heading, _note("No NPS or rating values in the data: no trends."))
    labels = group_labels(data.trends, data.by).to_pylist()
    rows = _rows(data.trends)
    parts = []
    for kpi in present:
        caption = (f"{KPI_TITLES[kpi]} per {data.window} and group. Ringed points: a significant shift from the "
                   f"group's previous {data.window} (its {data.level:.0%} interval of the change excludes 0).")
        parts.append(page.chart(_trend_figure(page.go, kpi, labels, rows, data.window), caption))
    if not any(f"{k}_delta_significant" in data.trends.column_names for k in present):
        parts.append(_note("The KPI table has no shift tests (<kpi>_delta columns): no shifts are marked."))
    parts.append(_shifts_table(present, labels, rows, data.window))
    return _section("trends", heading, *parts)


def _day(value) -> str | None:
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else None if value is None else str(value)


def _trend_figure(go, kpi: str, labels: list[str], rows: list[dict], window: str | None):
    fig = go.Figure()
    series: dict[str, list[dict]] = {}
    for label, row in zip(labels, rows, strict=True):
        if row.get("window_start") is not None:
            series.setdefault(label, []).append(row)
    for label, points in series.items():
        points.sort(key=lambda r: r["window_start"])
        fig.add_trace(go.Scatter(
            x=[_day(r["window_start"]) for r in points], y=[r.get(kpi) for r in points], mode="lines+markers",
            name=esc(label),
            customdata=[[r.get(f"{kpi}_low"), r.get(f"{kpi}_high"), r.get(f"{kpi}_n")] for r in points],
            hovertemplate=esc(label) + " %{x}: %{y:.1f} [%{customdata[0]:.1f}, %{customdata[1]:.1f}], "
                          "n=%{customdata[2]}<extra></extra>"))  # fmt: skip
    shifts = [(label, r) for label, points in series.items() for r in points if r.get(f"{kpi}_delta_significant")]
    if shifts:
        fig.add_trace(go.Scatter(
            x=[_day(r["window_start"]) for _, r in shifts], y=[r.get(kpi) for _, r in shifts], mode="markers",
            name="significant shift", marker={"symbol": "circle-open", "size": 16, "line": {"width": 2.5},
                                               "color": "#b5121b"},
            customdata=[[esc(label), r.get(f"{kpi}_delta"), r.get(f"{kpi}_delta_p")] for label, r in shifts],
            hovertemplate="%{customdata[0]} %{x}: shift %{customdata[1]:+.1f} (p %{customdata[2]:.3g})"
                          "<extra></extra>"))  # fmt: skip
    fig.update_layout(title={"text": KPI_TITLES[kpi]}, xaxis={"title": f"{window} starting", "type": "date"},
                      yaxis={"title": KPI_TITLES[kpi]}, hovermode="closest")  # fmt: skip
    return fig


def _shifts_table(present: list[str], labels: list[str], rows: list[dict], window: str | None) -> str:
    found = [(kpi, label, row) for kpi in present for label, row in zip(labels, rows, strict=True)
             if row.get(f"{kpi}_delta_significant")]  # fmt: skip
    if not found:
        return _note(f"No significant shift from one {window} to the next.")
    body = "".join(f"<tr><td>{esc(KPI_TITLES[kpi])}</td><td>{esc(label)}</td><td>{esc(_day(row['window_start']))}"
                   f"</td>{_num(row.get(kpi), 1)}{_num(row.get(f'{kpi}_delta'), 1)}"
                   f'<td class="num">{_interval(row, f"{kpi}_delta", 1)}</td>{_num(row.get(f"{kpi}_delta_p"), 3)}</tr>'
                   for kpi, label, row in found)  # fmt: skip
    return (f"<table><tr><th>KPI</th><th>group</th><th>{esc(window)} starting</th><th>value</th><th>shift</th>"
            f"<th>interval</th><th>p</th></tr>{body}</table>")


# -- alerts ----------------------------------------------------------------------------------------


def _alerts_section(data: ReportData, page: _Page) -> str:
    if data.alerts is None:
        return _section("alerts", "Alerts", _note(
            "Alerts are not available from a saved KPI state: they are raised row by row, so they need the "
            "scored rows (emoscore report --input scored.jsonl)."))
    rules = data.alerts.column("rule").to_pylist()
    counts = ", ".join(f"{rule.replace('_', ' ')}: {rules.count(rule)}" for rule in RULES)
    listed = data.alerts.slice(0, ALERTS_LISTED)
    columns = [c for c in listed.column_names if c != "row"]
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{esc(_fmt_cell(row[c]))}</td>" for c in columns) + "</tr>"
                   for row in _rows(listed))  # fmt: skip
    more = _note(f"The first {ALERTS_LISTED} of {len(rules)} alerts.") if len(rules) > ALERTS_LISTED else ""
    return _section("alerts", "Alerts", _note(f"{len(rules)} alerts ({counts})."),
                    f"<table><tr>{head}</tr>{body}</table>", more)  # fmt: skip


def _fmt_cell(value) -> str:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M %Z").rstrip()
    return "" if value is None else str(value)


# -- examples --------------------------------------------------------------------------------------


def _examples_section(data: ReportData, page: _Page) -> str:
    heading = "Examples of the top drivers"
    if data.examples is None:
        return _section("examples", heading, _note("Example texts need the scored rows: not available from a "
                                                   "saved KPI state."))  # fmt: skip
    if data.drivers is None:
        return _section("examples", heading, _note("No drivers, so no examples."))
    kept: dict[tuple[str, str], list[dict]] = {}
    for row in _rows(data.examples):
        kept.setdefault((row["group"], row["emotion"]), []).append(row)
    parts = []
    for driver in top_drivers(data.drivers, data.by):
        examples = kept.get((driver["group"], driver["emotion"]), [])
        quotes = "".join(f"<blockquote>{highlight(e['text'], e['evidence'], driver['emotion'])}</blockquote>"
                         for e in examples) or _note("No example kept.")  # fmt: skip
        parts.append(f"<h3>{esc(driver['group'])}: {esc(driver['emotion'])} "
                     f'<span class="note">(impact {esc(_fmt(driver["impact"], 1))})</span></h3>{quotes}')
    legend = _note("Highlighted: the words and expressions the score came from (orange: they carry the driver's "
                   "emotion; blue: rule words such as negators). Hover a word for its contribution.")
    return _section("examples", heading, legend, *parts)


def highlight(text: str, evidence: str | None, emotion: str) -> str:
    """``text`` as HTML with its evidence spans (JSON text of :data:`~emoscore.evidence.EVIDENCE_TYPE`
    elements; code-point offsets) marked; everything escaped."""
    spans = _spans(evidence, len(text))
    out, position = [], 0
    for item in spans:
        start, end = item["start"], item["end"]
        if start < position:
            continue  # overlapping spans: the first one wins
        out.append(esc(text[position:start]))
        out.append(f'<mark class="{_mark_class(item, emotion)}" title="{esc(_describe(item))}">'
                   f"{esc(text[start:end])}</mark>")
        position = end
    out.append(esc(text[position:]))
    return "".join(out)


def _spans(evidence: str | None, length: int) -> list[dict]:
    if not evidence:
        return []
    try:
        items = json.loads(evidence)
    except ValueError:
        return []
    if not isinstance(items, list):
        return []
    good = [i for i in items if isinstance(i, dict) and isinstance(i.get("start"), int)
            and isinstance(i.get("end"), int) and 0 <= i["start"] < i["end"] <= length]  # fmt: skip
    return sorted(good, key=lambda i: (i["start"], -i["end"]))


def _weights(item: dict) -> dict[str, float]:
    out = {}
    for entry in item.get("emotions") or ():
        if isinstance(entry, dict) and isinstance(entry.get("weight"), (int, float)):
            out[str(entry.get("emotion"))] = float(entry["weight"])
    return out


def _mark_class(item: dict, emotion: str) -> str:
    if _weights(item).get(emotion, 0.0) > 0:
        return "hit"
    return "rule" if item.get("rules") and not item.get("valence") and not _weights(item) else "other"


def _describe(item: dict) -> str:
    parts = [str(item.get("term", ""))]
    valence = item.get("valence")
    if isinstance(valence, (int, float)) and valence:
        parts.append(f"valence {valence:+.2f}")
    parts += [f"{name} {weight:.2f}" for name, weight in _weights(item).items()]
    if item.get("rules"):
        parts.append("rules: " + ", ".join(map(str, item["rules"])))
    return "; ".join(parts)
