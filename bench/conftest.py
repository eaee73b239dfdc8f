"""Shared inputs of the pytest-benchmark suites in bench/ (one suite per stage).

    pytest bench/ --benchmark-autosave                    # 100k generated documents per stage
    pytest bench/ --bench-docs 1000000 --benchmark-json=bench-1M.json
    pytest bench/ --benchmark-disable -q --bench-docs 2000   # CI: each benchmark runs once, as a test
    pytest-benchmark compare 0001 0002                      # two autosaved runs side by side

Every input comes from the seeded sample generator (``emoscore.sample``), so two commits benchmark the
same documents. Kernels are compiled (or loaded from the Numba cache) by the session fixtures, before
any timing. ``pytest`` alone (testpaths = tests) does not collect these.
"""

from __future__ import annotations

import os

import pytest

from emoscore import KpiAggregator, Scorer
from emoscore.sample import generate, write_jsonl

KPI_BY = ("touchpoint", "channel")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--bench-docs", type=int, default=int(os.environ.get("EMOSCORE_BENCH_DOCS", "100000")),
        help="generated documents per benchmark (default: $EMOSCORE_BENCH_DOCS or 100000)",
    )


@pytest.fixture(scope="session")
def bench_docs(request: pytest.FixtureRequest) -> int:
    return request.config.getoption("--bench-docs")


@pytest.fixture(scope="session")
def feedback(bench_docs: int):
    """Generated customer feedback: a pyarrow Table of ``--bench-docs`` rows."""
    return generate(bench_docs, seed=1)


@pytest.fixture(scope="session")
def texts(feedback):
    return feedback.column("text").combine_chunks()


@pytest.fixture(scope="session")
def scorer() -> Scorer:
    """The default Scorer, its kernels compiled or loaded before any benchmark times them."""
    scorer = Scorer()
    scorer.score(generate(200, seed=5))
    return scorer


@pytest.fixture(scope="session")
def scored(feedback, scorer):
    """The feedback with its scores, as the KPI engine receives it; KPI kernels warmed on a slice."""
    table = scorer.score(feedback)
    KpiAggregator(KPI_BY, window="week").update(table.slice(0, 500)).result()
    return table


@pytest.fixture(scope="session")
def feedback_jsonl(tmp_path_factory, feedback):
    """The feedback as a JSONL file, the runner's most common input."""
    path = tmp_path_factory.mktemp("bench") / "feedback.jsonl"
    with path.open("wb") as out:
        write_jsonl(feedback, out)
    return path


def record(benchmark, docs: int, nbytes: int | None = None) -> None:
    """Attach the input size, so throughput = docs / time can be read from the saved JSON."""
    benchmark.extra_info["docs"] = docs
    if nbytes is not None:
        benchmark.extra_info["text_bytes"] = nbytes
