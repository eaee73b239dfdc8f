"""Stage 4: the runner end to end, in process through the CLI's own ``main`` (reading the JSONL
file, scoring, writing; ``run`` also aggregates KPIs and alerts). Process start-up is measured
separately by ``bench/compare.py --only coldstart``."""

import io
import os

from conftest import record
from emoscore import cli


def run_cli(argv):
    err = io.BytesIO()
    with open(os.devnull, "rb") as stdin:
        status = cli.main(argv, stdin=stdin, stdout=io.BytesIO(), stderr=err)
    assert status == 0, err.getvalue().decode(errors="replace")[-2000:]


def lines(path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for _ in handle)


def test_cli_score(benchmark, feedback_jsonl, scorer, tmp_path, bench_docs):
    out = tmp_path / "scored.jsonl"
    record(benchmark, bench_docs)
    benchmark.pedantic(run_cli, args=(["score", "-i", str(feedback_jsonl), "-o", str(out), "-q"],), rounds=3)
    assert lines(out) == bench_docs


def test_cli_run(benchmark, feedback_jsonl, scored, tmp_path, bench_docs):
    out, kpi, alerts = tmp_path / "scored.jsonl", tmp_path / "kpi.jsonl", tmp_path / "alerts.jsonl"
    argv = ["run", "-i", str(feedback_jsonl), "-o", str(out), "--kpi-out", str(kpi), "--alerts-out", str(alerts),
            "--by", "touchpoint,channel", "--window", "week", "-q"]
    record(benchmark, bench_docs)
    benchmark.pedantic(run_cli, args=(argv,), rounds=3)
    assert lines(out) == bench_docs and lines(kpi) > 0
