"""``emoscore report``: one self-contained HTML page of scored records or of a saved KPI state.

- ``emoscore report -i scored.jsonl -o report.html``: scored records (any input format) are read,
  converted and folded exactly as ``emoscore kpi`` does (the same converter, the same rejections:
  read = written + rejected), into the tables of :class:`~emoscore.report.ReportBuilder`: the KPIs
  per ``--by`` group and per group and ``--window``, the alerts and example texts;
- ``emoscore report --state kpi.state -o report.html``: a state saved by ``emoscore kpi --state``
  alone (its own groups and window; no alerts, no examples: they need the rows).

The page is written through :class:`~.outputs.Output` (a temporary file renamed at the end). The
charts need plotly (``pip install "emoscore[report]"``): without it, one message and status 2, before
any input is read.
"""

from __future__ import annotations

import argparse
from typing import BinaryIO

from .arguments import add_input_arguments, add_run_arguments, at_least, check_paths
from .kpi import WINDOWS, Converter, Held, each_chunk, finishing, fold_chunk, parse_columns, parse_level
from .outputs import Output
from .session import EXIT_TABLE, ExitStatus, InputFailure, OutputFailure, Session, UsageError
from .sources import open_records

__all__ = ["ReportCommand"]

DEFAULT_BY = ("touchpoint",)
DEFAULT_WINDOW = "week"

REPORT_EPILOG = """\
input: scored records (the output of `emoscore score`; with `score --explain` the examples show
their evidence), read and converted as `emoscore kpi` reads them; rejected records are reported the
same way (one error line each). Columns used: the --by keys, --time, nps, rating, effort,
first_response_s, event, revenue, customer_id, the score columns, the text, intensity and evidence.
--state FILE: report a KPI state saved by `emoscore kpi --state` instead of reading records (its own
  --by and --window; the alerts and the examples need the records, so the page says they are not
  available). The state is only read.
the page: the emotion mix per group, NPS and CSAT with their intervals, the top drivers of --target
  with their intervals, NPS and CSAT per window with the significant shifts marked, the alerts, and
  example texts for each top driver. One HTML file; plotly's JavaScript is inlined, so it works
  offline. Needs plotly: pip install "emoscore[report]".

""" + EXIT_TABLE


class ReportCommand:
    name = "report"
    help = "write an HTML report of scored records or a KPI state: emotion mix, NPS/CSAT, drivers, trends, alerts"
    description = (
        "Read scored records (stdin or --input, any input format) or a saved KPI state (--state) and write one "
        "self-contained HTML page (stdout or --output): the emotion mix per group, NPS and CSAT with their "
        "intervals, the top emotion drivers, trends per --window with significant shifts, the alerts and "
        "example texts. Needs plotly: pip install \"emoscore[report]\"."
    )
    epilog = REPORT_EPILOG

    def configure(self, parser: argparse.ArgumentParser) -> None:
        from ..kpi import DRIVER_TARGETS
        from ..report import EXAMPLES

        add_input_arguments(parser)
        group = parser.add_argument_group("report")
        group.add_argument("-o", "--output", metavar="PATH",
                           help="write the HTML page to this file (default: stdout); replaced only at the end")
        group.add_argument("--by", type=parse_columns, metavar="COLS",
                           help="comma-separated group key columns (default: touchpoint); 'aspect' groups by "
                                "the scored aspects")  # fmt: skip
        group.add_argument("--window", choices=WINDOWS, help="the trends' time window (default: week)")
        group.add_argument("--time", default="ts", metavar="COL", help="the time column (default: ts)")
        group.add_argument("--customer", default="customer_id", metavar="COL",
                           help="customer id column: the KPI customers count and the alert rules (default: "
                                "customer_id)")  # fmt: skip
        group.add_argument("--target", choices=DRIVER_TARGETS, default="nps", metavar="KPI",
                           help=f"the KPI whose drivers are shown ({', '.join(DRIVER_TARGETS)}; default: nps)")
        group.add_argument("--level", type=parse_level, default=0.95,
                           help="confidence level of the intervals and the significance tests (default: 0.95)")
        group.add_argument("--title", default="Customer feedback report", help="the page's title")
        group.add_argument("--examples", type=at_least(0), default=EXAMPLES, metavar="N",
                           help=f"example texts per top driver (default: {EXAMPLES})")
        group.add_argument("--state", dest="saved_state", metavar="FILE",
                           help="report this saved KPI state (emoscore kpi --state) instead of reading records")
        add_run_arguments(parser)

    def run(self, args: argparse.Namespace, session: Session, *, stdin: BinaryIO | None = None,
            stdout: BinaryIO | None = None) -> ExitStatus:  # fmt: skip
        from ..report import ReportDependencyError, require_plotly

        try:
            check_paths(args, stdin=stdin, stdout=stdout)  # before anything is opened: no file hurts another
            try:
                require_plotly()
            except ReportDependencyError as exc:
                raise UsageError(f"emoscore report: {exc}") from None
            session.open_sink(args.errors)
            if args.saved_state:
                data = self._from_state(args)
            else:
                data = self._from_records(args, session, stdin)
            if data is not None:
                self._write(args, session, data, stdout)
        except (UsageError, InputFailure, OutputFailure) as exc:
            session.fail(exc)
        return session.status()

    # -- a saved state ------------------------------------------------------------------------------
    @staticmethod
    def _from_state(args: argparse.Namespace):
        from ..errors import EmoscoreError
        from ..kpi import KpiAggregator
        from ..report import ReportData

        if args.input and args.input != ["-"]:
            raise UsageError("--state reports a saved KPI state, --input reads records: give one of them")
        try:
            with open(args.saved_state, "rb") as f:
                agg = KpiAggregator.from_bytes(f.read())
        except OSError as exc:
            raise InputFailure(f"cannot read the state {args.saved_state}: {exc}") from None
        except EmoscoreError as exc:
            raise UsageError(f"cannot report the state {args.saved_state}: {exc}") from None
        settings = agg.settings
        for option, given, saved in (("--by", args.by, settings["by"]), ("--window", args.window, settings["window"])):
            if given is not None and given != saved:
                raise UsageError(f"{option} {given!r} differs from the state's {saved!r} ({args.saved_state}): a "
                                 "state is reported with the groups and window it was saved with")
        return ReportData.from_state(agg, target=args.target, level=args.level)

    # -- scored records -----------------------------------------------------------------------------
    def _from_records(self, args: argparse.Namespace, session: Session, stdin: BinaryIO | None):
        from ..errors import EmoscoreError
        from ..report import ReportBuilder

        by = DEFAULT_BY if args.by is None else tuple(args.by)
        try:
            builder = ReportBuilder(by, window=args.window or DEFAULT_WINDOW, time=args.time, customer=args.customer,
                                    text=args.text, id=args.id_field, examples=args.examples)  # fmt: skip
        except EmoscoreError as exc:
            raise UsageError(str(exc)) from None
        extra = tuple(n for n in (args.text, args.id_field, "intensity", "evidence") if n)
        convert = Converter(builder.windowed, list(by), args.time, extra)
        source = open_records(args, session, stdin, compare=convert.names)
        try:
            if source.schema is not None:
                convert.check_columns(source.schema.names, source.name, schema=source.schema)
            held = Held(session) if session.on_error == "fail" else None
            each_chunk(session, source, held,
                       lambda chunk: fold_chunk(session, chunk, convert, builder.update, held))  # fmt: skip
        finally:
            source.close()
        if not finishing(session):
            return None
        try:
            return builder.data(target=args.target, level=args.level)
        except EmoscoreError as exc:
            raise UsageError(str(exc)) from None

    # -- the page -----------------------------------------------------------------------------------
    @staticmethod
    def _write(args: argparse.Namespace, session: Session, data, stdout: BinaryIO | None) -> None:
        from ..report import render

        page = render(data, title=args.title).encode()
        output = Output.open(args.output, stdout=stdout)
        try:
            output.write(page)
            output.commit()
        except BaseException:
            output.discard()
            raise
        session.info.update(output=args.output or "<stdout>", groups=data.kpis.num_rows, bytes=len(page),
                            alerts=None if data.alerts is None else data.alerts.num_rows)  # fmt: skip
