"""Scoring throughput of emoscore at 1 and 2 threads against VADER and pyarrow, measured in one run.

    python bench/score_throughput.py --docs 1000000 --vader-docs 10000 [--json out.json]

Documents come from the seeded sample generator. Every figure is printed next to its anchor as a
ratio; absolute times on shared machines are noise, ratios measured in one run are the signal.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numba
import pyarrow as pa
import pyarrow.compute as pc

from emoscore import Scorer
from emoscore.sample import generate


def best_of(repeats: int, fn) -> float:
    """Fastest wall time of ``repeats`` calls: the least disturbed by other load on the machine."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def vader_rate(texts: list[str]) -> float | None:
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        return None
    analyzer = SentimentIntensityAnalyzer()
    seconds = best_of(1, lambda: [analyzer.polarity_scores(t) for t in texts])
    return len(texts) / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=1_000_000, help="documents scored by emoscore")
    parser.add_argument("--vader-docs", type=int, default=10_000, help="subset scored by VADER")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)

    texts = generate(args.docs, seed=1).column("text").combine_chunks()
    megabytes = pc.sum(pc.binary_length(texts)).as_py() / 1e6
    report: dict = {"docs": args.docs, "text_mb": round(megabytes, 2), "cores": numba.config.NUMBA_NUM_THREADS}

    Scorer().score(texts.slice(0, 1000))  # compile (or load from cache) outside the timings
    for threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
        scorer = Scorer(threads=threads)
        seconds = best_of(args.repeats, lambda: scorer.score(texts))
        report[f"emoscore_{threads}t_docs_per_s"] = args.docs / seconds
        report[f"emoscore_{threads}t_mb_per_s"] = megabytes / seconds

    # Anchor: pyarrow's own kernels doing only lower-casing and whitespace splitting, one thread.
    pa.set_cpu_count(1)
    arrow_seconds = best_of(args.repeats, lambda: pc.utf8_split_whitespace(pc.utf8_lower(texts)))
    report["arrow_tokenize_only_mb_per_s"] = megabytes / arrow_seconds

    subset = texts.slice(0, min(args.vader_docs, len(texts))).to_pylist()
    vader = vader_rate([t or "" for t in subset])
    report["vader_docs_per_s"] = vader
    one = report["emoscore_1t_docs_per_s"]
    report["ratio_1t_vs_vader"] = one / vader if vader else None
    report["ratio_1t_vs_arrow_tokenize_only"] = report["emoscore_1t_mb_per_s"] / report["arrow_tokenize_only_mb_per_s"]
    if "emoscore_2t_docs_per_s" in report:
        report["ratio_2t_vs_1t"] = report["emoscore_2t_docs_per_s"] / one

    for key, value in report.items():
        shown = f"{value:,.2f}" if isinstance(value, float) else value
        print(f"{key:28} {shown}")
    if vader is None:
        print("vader: skipped (vaderSentiment is not installed)", file=sys.stderr)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
