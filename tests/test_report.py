"""emoscore.report and ``emoscore report``: the page's content, escaping, a state-only report, the
missing-plotly message, the command, and the page in a real headless browser (chromium)."""

from __future__ import annotations

import io
import json
import os
import re
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
import pytest

import emoscore
import emoscore.cli as cli
from emoscore.kpi import KpiAggregator
from emoscore.report import PLOTLY_MISSING, ReportBuilder, ReportData, ReportDependencyError, highlight, render
from emoscore.runner.report import ReportCommand
from emoscore.sample import bundled_sample_path
from report_browser import missing, open_report

HOSTILE = "<script>alert(1)</script>"
HOSTILE_GROUP = '<img src=x onerror="alert(2)">'


@pytest.fixture(autouse=True)
def _commands(monkeypatch):
    commands = dict(cli.COMMANDS)
    commands["report"] = ReportCommand()
    monkeypatch.setattr(cli, "COMMANDS", commands)


@pytest.fixture(scope="module")
def scored() -> pa.Table:
    return emoscore.Scorer(explain=True).score(pj.read_json(bundled_sample_path()))


def _report(table: pa.Table, **options) -> str:
    builder = ReportBuilder(("touchpoint",), window="week")
    for batch in table.to_batches(max_chunksize=700):
        builder.update(batch)
    return render(builder.data(target="nps"), **options)


@pytest.fixture(scope="module")
def page(scored) -> str:
    return _report(scored, title="The sample")


@pytest.fixture(scope="module")
def hostile() -> str:
    """Every text starts with a script; the 'app' group is named by an img tag with a handler."""
    raw = pj.read_json(bundled_sample_path())
    text = pc.binary_join_element_wise(pa.scalar(HOSTILE + " "), raw.column("text"), "")
    touchpoint = pc.if_else(pc.equal(raw.column("touchpoint"), "app"), HOSTILE_GROUP, raw.column("touchpoint"))
    raw = raw.set_column(raw.schema.get_field_index("text"), "text", text)
    raw = raw.set_column(raw.schema.get_field_index("touchpoint"), "touchpoint", touchpoint)
    return _report(emoscore.Scorer(explain=True).score(raw), title=HOSTILE)


def _scripts(html: str) -> list[str]:
    return re.findall(r"<script[^>]*>", html)


# -- content -------------------------------------------------------------------------------------------


def test_the_page_has_every_section_and_works_offline(page):
    for anchor in ("mix", "kpis", "drivers", "trends", "alerts", "examples"):
        assert f'<section id="{anchor}">' in page
    assert _scripts(page) == ["<script>", "<script>"]  # plotly.js inlined, then the charts: no src
    assert "Plotly.newPlot" in page
    assert page.count('class="chart"') == 6  # mix, NPS, CSAT, drivers, NPS and CSAT trends
    assert "<mark class=\"hit\"" in page  # the examples' evidence is highlighted
    assert "not available from a saved KPI state" not in page


def test_drivers_and_shifts_use_the_intervals(scored, page):
    agg = KpiAggregator("touchpoint").update(scored)
    drivers = agg.drivers("nps")
    first = [r for r in drivers.to_pylist() if r["touchpoint"] == "app" and r["impact"] is not None]
    top = max(first, key=lambda r: abs(r["impact"]))
    interval = f"[{top['difference_low']:,.1f}, {top['difference_high']:,.1f}]"
    assert interval in page
    assert "significant shift" in page


# -- escaping ------------------------------------------------------------------------------------------


def test_hostile_texts_and_group_names_are_escaped(hostile):
    assert HOSTILE not in hostile and "<img src=x" not in hostile
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile  # the title and the example texts
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in hostile  # tables and headings
    assert _scripts(hostile) == ["<script>", "<script>"]
    charts = hostile[hostile.rindex("<script>"):]
    assert "<img" not in charts and "\\u0026lt;img" in charts  # chart labels: HTML-escaped, then JSON-escaped


def test_highlight_escapes_the_text_around_and_inside_spans():
    text = "a <b>great</b> & fine day"
    evidence = json.dumps([{"start": 2, "end": 14, "term": "<great>", "valence": 0.5,
                            "emotions": [{"emotion": "joy", "weight": 0.4}], "rules": [], "aspect": []},
                           {"start": 3, "end": 5, "term": "x", "valence": 0.1, "emotions": [], "rules": [],
                            "aspect": []},  # inside the first: left out
                           {"start": 20, "end": 99, "term": "bad span", "valence": 1, "emotions": [], "rules": [],
                            "aspect": []}])  # fmt: skip
    out = highlight(text, evidence, "joy")
    assert out == ('a <mark class="hit" title="&lt;great&gt;; valence +0.50; joy 0.40">&lt;b&gt;great&lt;/b&gt;</mark>'
                   " &amp; fine day")  # fmt: skip
    assert highlight(text, "not json", "joy") == "a &lt;b&gt;great&lt;/b&gt; &amp; fine day"


# -- from a state --------------------------------------------------------------------------------------


def test_a_report_from_a_windowed_state(scored):
    agg = KpiAggregator("touchpoint", window="week").update(scored)
    data = ReportData.from_state(KpiAggregator.from_bytes(agg.to_bytes()))
    assert data.alerts is None and data.examples is None and data.trends is not None
    assert "window_start" not in data.kpis.column_names and data.kpis.num_rows == 7  # each group's latest week
    html = render(data)
    assert "Alerts are not available from a saved KPI state" in html
    assert "Example texts need the scored rows" in html
    assert html.count('class="chart"') == 6


def test_a_report_from_a_state_without_window(scored):
    data = ReportData.from_state(KpiAggregator("touchpoint").update(scored), target="csat")
    html = render(data)
    assert data.trends is None and "no trends" in html
    assert "Top drivers of CSAT" in html
    assert html.count('class="chart"') == 4


# -- without plotly ------------------------------------------------------------------------------------


@pytest.fixture
def no_plotly(monkeypatch):
    for name in [m for m in sys.modules if m == "plotly" or m.startswith("plotly.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "plotly", None)  # import plotly... raises ImportError


def test_without_plotly_render_says_what_to_install(no_plotly, scored):
    with pytest.raises(ReportDependencyError, match=re.escape('pip install "emoscore[report]"')):
        render(ReportData.from_state(KpiAggregator("touchpoint").update(scored)))
    assert 'pip install "emoscore[report]"' in PLOTLY_MISSING


def test_without_plotly_the_command_fails_with_one_message(no_plotly, tmp_path):
    status, _, err = _main(["report", "-o", str(tmp_path / "r.html")], b'{"text": "hi"}\n')
    assert status == 2
    assert 'pip install "emoscore[report]"' in err.decode()
    assert "Traceback" not in err.decode() and not (tmp_path / "r.html").exists()


# -- the command ---------------------------------------------------------------------------------------


def _main(argv, data: bytes = b""):
    out, err = io.BytesIO(), io.BytesIO()
    status = cli.main(argv, stdin=io.BytesIO(data), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def scored_files(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("scored")
    files = {fmt: folder / f"scored.{fmt}" for fmt in ("jsonl", "csv")}
    for path in files.values():
        status, _, err = _main(["score", "--explain", "-i", str(bundled_sample_path()), "-o", str(path)])
        assert status == 0, err
    return files


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_emoscore_report_writes_a_self_contained_page(scored_files, tmp_path, fmt):
    out = tmp_path / "r.html"
    status, _, err = _main(["report", "-i", str(scored_files[fmt]), "-o", str(out), "--title", "Weekly <report>"])
    assert status == 0, err
    html = out.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc\s*=", html)
    assert not re.search(r"""<(?:script|link|img)[^>]*(?:src|href)\s*=\s*["']?https?://""", html)
    assert "<title>Weekly &lt;report&gt;</title>" in html and html.count('class="chart"') == 6
    assert '<mark class="hit"' in html  # the evidence came through the format
    summary = json.loads(err.strip().splitlines()[-1])
    assert summary["read"] == summary["written"] == 2000 and summary["exit_status"] == 0


def test_emoscore_report_of_a_state(scored_files, tmp_path):
    state = tmp_path / "kpi.state"
    status, _, err = _main(["kpi", "-i", str(scored_files["jsonl"]), "--by", "touchpoint", "--window", "week",
                            "--state", str(state), "-o", str(tmp_path / "kpi.jsonl")])  # fmt: skip
    assert status == 0, err
    status, _, err = _main(["report", "--state", str(state), "-o", str(tmp_path / "r.html")])
    assert status == 0, err
    assert "not available from a saved KPI state" in (tmp_path / "r.html").read_text(encoding="utf-8")
    status, _, err = _main(["report", "--state", str(state), "--window", "day", "-o", str(tmp_path / "r2.html")])
    assert status == 2 and b"differs from the state" in err


def test_emoscore_report_rejects_like_kpi(tmp_path):
    lines = [b'{"text": "fine", "touchpoint": "app", "ts": "2026-08-03T10:00:00Z", "nps": 9, "valence": 0.5, '
             b'"emotion": "joy", "intensity": 0.4}',
             b'{"text": "bad", "touchpoint": "app", "ts": "2026-08-03T10:00:00Z", "nps": 11, "valence": 0.5, '
             b'"emotion": "joy"}']  # fmt: skip
    status, out, err = _main(["report"], b"\n".join(lines) + b"\n")
    assert status == 1 and out.startswith(b"<!DOCTYPE html>")
    assert b'"rejected"' in err and b"nps" in err


# -- in a real browser ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser_ready():
    why = missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"the report's browser test needs it: {why}", pytrace=False)
        pytest.skip(why)


def test_every_chart_renders_in_chromium(browser_ready, page, hostile, tmp_path):
    path = tmp_path / "report.html"
    path.write_text(page, encoding="utf-8")
    shot = tmp_path / "report.png"
    found = open_report(path, screenshot=shot)
    assert found["state"] == "rendered"
    assert len(found["charts"]) == found["chart_divs"] == 6
    for chart in found["charts"]:
        assert chart["svg"] >= 1 and chart["marks"] > 0, chart
    assert found["console"] == [] and found["errors"] == [] and found["dialogs"] == []
    assert shot.stat().st_size > 10_000
    path.write_text(hostile, encoding="utf-8")  # nothing in the hostile page runs
    found = open_report(path)
    assert found["state"] == "rendered" and found["dialogs"] == [] and found["errors"] == []
