"""The HTML report in a real headless browser: Debian's ``chromium`` driven by playwright-python
(``executable_path``: the system browser, so ``playwright install`` is never needed).

Used by tests/test_report.py, and to make the README's screenshot::

    python tests/report_browser.py --screenshot docs/report.png
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

#: What a page reports once its charts are drawn (report.py's script sets it).
RENDERED = "document.body.dataset.charts === 'rendered' || document.body.dataset.charts === 'failed'"

# Per plotly chart container: whether it has its SVG and how many drawn marks (paths with a shape) it holds.
CHARTS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(el => ({
    id: el.id,
    svg: el.querySelectorAll('svg.main-svg').length,
    marks: Array.from(el.querySelectorAll('g.trace path')).filter(p => (p.getAttribute('d') || '').length > 2).length,
}))"""


def chromium_path() -> str | None:
    """The system chromium (``$CHROMIUM`` first), or None."""
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def missing() -> str | None:
    """Why the browser cannot run here (None: it can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if chromium_path() is None:
        return "no chromium on PATH (apt-get install chromium; .ci/run installs it)"
    return None


def open_report(path: Path, *, screenshot: Path | None = None, height: int | None = None) -> dict:
    """Load ``path`` (file://), wait for the charts and return ``{"charts", "chart_divs", "console",
    "errors", "dialogs", "state"}``: the per-chart marks, the chart divs of the page, console messages
    of type error or warning, page errors and JavaScript dialogs (alert ...). ``screenshot``: a PNG of
    the page (its first ``height`` pixels, else all of it)."""
    from playwright.sync_api import sync_playwright

    console: list[str] = []
    errors: list[str] = []
    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path())
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning")
                    else None)  # fmt: skip
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(Path(path).resolve().as_uri())
            page.wait_for_function(RENDERED, timeout=60_000)
            result = {"charts": page.evaluate(CHARTS), "chart_divs": page.locator("div.chart").count(),
                      "state": page.evaluate("document.body.dataset.charts")}  # fmt: skip
            if screenshot is not None:
                clip = {"x": 0, "y": 0, "width": 1280, "height": height} if height else None
                page.screenshot(path=str(screenshot), full_page=True, clip=clip)
        finally:
            browser.close()
    return {**result, "console": console, "errors": errors, "dialogs": dialogs}


def sample_report() -> str:
    """The report of the bundled sample, scored with explanations (what ``emoscore sample |
    emoscore score --explain | emoscore report`` writes)."""
    import pyarrow.json as pj

    from emoscore import Scorer
    from emoscore.report import ReportBuilder, render
    from emoscore.sample import bundled_sample_path

    scored = Scorer(explain=True).score(pj.read_json(bundled_sample_path()))
    builder = ReportBuilder(("touchpoint",), window="week")
    for batch in scored.to_batches(max_chunksize=8192):
        builder.update(batch)
    return render(builder.data(target="nps"), title="Customer feedback report: the bundled sample")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Screenshot the report of the bundled sample in chromium.")
    parser.add_argument("--screenshot", type=Path, required=True, help="the PNG to write (e.g. docs/report.png)")
    parser.add_argument("--height", type=int, default=1350, help="pixels of the page from the top (default: 1350)")
    args = parser.parse_args(argv)
    why = missing()
    if why:
        print(f"report_browser: {why}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "report.html"
        page.write_text(sample_report(), encoding="utf-8")
        found = open_report(page, screenshot=args.screenshot, height=args.height)
    print(f"{args.screenshot}: {args.screenshot.stat().st_size:,} bytes, {len(found['charts'])} charts")
    return 0 if not (found["console"] or found["errors"]) else 1


if __name__ == "__main__":
    sys.exit(main())
