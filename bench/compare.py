"""emoscore against its anchors, measured in one run: every figure is a ratio or a curve.

    python bench/compare.py                      # full run (sizes up to 10M documents; minutes)
    python bench/compare.py --smoke              # seconds-long CI version (tiny sizes)
    python bench/compare.py --only scoring,kpi --docs 200k --json out.json

Sections (``--only``, default all):

- ``scoring``: docs/s and MB/s of ``Scorer.score`` at each thread count (and with aspects off or explain on, when
  the Scorer has them) against VADER, NRCLex's lexicon lookup and pyarrow's tokenize-only kernels
  (``utf8_lower`` + ``utf8_split_whitespace``) on the same generated documents.
- ``kpi``: rows/s of ``KpiAggregator.update`` (+ ``result``) against polars and DuckDB computing the
  same KPIs per (touchpoint, channel, week) from the same scored Arrow data, at each thread count;
  the KPI tables are compared value by value.
- ``languages``: MB/s of ``Scorer(language="auto")`` on the generated English documents, of
  ``emoscore.language.detect`` alone, and of French reviews (Allociné, ``../shared/data/fr``) scored with
  ``language="fr"`` and ``"auto"``, and of English and French interleaved, against ``Scorer()`` on English.
- ``scaling``: docs/s at each ``--sizes`` and thread count; per-document cost at the largest size
  over the smallest (1.0 = linear).
- ``coldstart``: a fresh ``emoscore score`` process scoring one JSONL line, with empty Numba and
  compiled-lexicon caches and with warm ones: median time to the first scored line.
- ``memory``: peak RSS of ``emoscore sample --n N | emoscore run ...`` and of ``Scorer.score`` over a
  ``RecordBatchReader`` of N generated rows, at each ``--memory-sizes``.

Inputs come from the seeded sample generator. Anchors that are not installed (the ``bench`` extra:
``pip install -e ".[bench]"``) are reported as skipped. The report is printed and saved as JSON
(default ``bench/results/compare-<timestamp>.json``). How to read it: bench/README.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import functools
import inspect
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SECTIONS = ("scoring", "kpi", "languages", "scaling", "coldstart", "memory")
GROUP_BY = ("touchpoint", "channel")

# (full run, --smoke) defaults
DEFAULTS = {
    "docs": ("1M", "20k"),
    "anchor_docs": ("10k", "300"),
    "kpi_rows": ("2M", "50k"),
    "sizes": ("10k,100k,1M,10M", "2k,10k,50k"),
    "memory_sizes": ("1M,10M", "10k,50k"),
    "repeats": (3, 2),
    "cold_repeats": (2, 1),
    "warm_repeats": (5, 3),
}
SCALING_CHUNK = 1_000_000  # larger sizes are generated and scored in chunks of this many documents

# target: (section, figure in the section's "ratios" (else at its top level), "<=" or ">=", bound).
# A figure measured per input set ({set: value}) is a target on every set.
TARGETS = {
    "scoring_1t_vs_vader": ("scoring", "scoring_1t_vs_vader", ">=", 1000.0),
    "scoring_1t_vs_arrow_tokenize_only": ("scoring", "scoring_1t_vs_arrow_tokenize_only", ">=", 1.5),
    "scoring_1t_vs_arrow_tokenize_only_long_term": ("scoring", "scoring_1t_vs_arrow_tokenize_only", ">=", 4.0),
    "scoring_2t_vs_1t": ("scoring", "scoring_2t_vs_1t", ">=", 1.8),
    "kernel_vs_floor_time": ("scoring", "kernel_vs_floor_time", "<=", 2.5),
    "aspects_on_vs_off_time": ("scoring", "aspects_on_vs_off_time", "<=", 1.2),
    "tokenizer_vs_baseline_mb": ("scoring", "tokenizer_vs_baseline_mb", ">=", 2.0),
    "explain_on_vs_off_time": ("scoring", "explain_on_vs_off_time", "<=", 2.0),
    "kpi_1t_vs_polars": ("kpi", "kpi_1t_vs_polars", ">=", 10.0),
    "language_auto_vs_none_time": ("languages", "language_auto_vs_none_time", "<=", 1.10),
    "french_vs_english_mb": ("languages", "french_vs_english_mb", ">=", 0.80),
    "coldstart_cold_first_line_s": ("coldstart", "coldstart_cold_first_line_s", "<=", 5.0),
    "coldstart_warm_first_line_s": ("coldstart", "coldstart_warm_first_line_s", "<=", 1.0),
    "memory_peak_rss_largest_vs_smallest": ("memory", "memory_peak_rss_largest_vs_smallest", "<=", 1.10),
    "reader_peak_rss_largest_vs_smallest": ("memory", "reader_peak_rss_largest_vs_smallest", "<=", 1.10),
}


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def count(text: str) -> int:
    """``"10k"`` -> 10000, ``"1M"`` -> 1000000, ``"2500"`` -> 2500."""
    text = text.strip().lower().replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    value = float(text[:-1] if scale > 1 else text) * scale
    if value < 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"not a positive whole count: {text!r}")
    return int(value)


def counts(text: str) -> list[int]:
    return [count(part) for part in text.split(",") if part.strip()]


def best_of(repeats: int, fn) -> tuple[float, object]:
    """Fastest wall time of ``repeats`` calls (the least disturbed by other load) and the last result."""
    best, result = math.inf, None
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def ratio(a, b):
    return a / b if a and b else None


def fmt(value, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 10 ** -digits):
            return f"{value:.3g}"
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(rows: list[dict], columns: list[str]) -> None:
    cells = [[fmt(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(columns)]
    print("  " + "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in cells:
        print("  " + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


def emoscore_command() -> list[str]:
    """The ``emoscore`` console script of this interpreter, else ``python -m emoscore``."""
    script = Path(sys.executable).with_name("emoscore")
    return [str(script)] if script.exists() else [sys.executable, "-m", "emoscore"]


def thread_counts(requested: list[int]) -> tuple[list[int], list[str]]:
    import numba

    usable = [n for n in requested if 1 <= n <= numba.config.NUMBA_NUM_THREADS]
    skipped = [f"{n} threads: NUMBA_NUM_THREADS is {numba.config.NUMBA_NUM_THREADS}"
               for n in requested if n not in usable]
    return usable, skipped


def has_aspects() -> bool:
    from emoscore import Scorer

    return "aspects" in inspect.signature(Scorer).parameters


def has_explain() -> bool:
    from emoscore import Scorer

    return "explain" in inspect.signature(Scorer).parameters


def machine() -> dict:
    import numba
    import pyarrow

    import emoscore

    info = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                     if line.startswith("model name")), platform.processor()),
        "cores": os.cpu_count(),
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
        "versions": {"emoscore": emoscore.__version__, "numba": numba.__version__, "pyarrow": pyarrow.__version__},
    }
    from importlib.metadata import PackageNotFoundError, version

    for name in ("polars", "duckdb", "vaderSentiment", "NRCLex"):
        try:
            info["versions"][name] = version(name)
        except PackageNotFoundError:
            info["versions"][name] = None
    try:
        info["git"] = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                     text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        info["git"] = None
    return info


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def warm_kernels() -> None:
    """Compile (or load from the Numba cache) the scoring, floor and KPI kernels outside every timing."""
    from emoscore import KpiAggregator, Scorer
    from emoscore._tokenize import tokenize
    from emoscore.sample import generate
    from floor_kernel import floor_kernel

    sample = generate(500, seed=99)
    KpiAggregator(GROUP_BY, window="week").update(Scorer().score(sample)).result()
    if has_aspects():
        Scorer(aspects=False).score(sample)
    lex = Scorer().lexicon
    stream = tokenize(sample.column("text").combine_chunks(), lex.table_keys, lex.table_ids, lex.stem_mask)
    floor_kernel(*stream[:2], lex)


# --------------------------------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------------------------------


def baseline_tokenizer():
    """(module, None): the tokenizer as of c07d71f from ``bench/baseline_tokenizer.py``'s ``load()``; or
    (None, why not): building it may fail in any way, and the rest of the report still stands."""
    try:
        from baseline_tokenizer import load

        return load(), None
    except Exception as exc:  # noqa: BLE001 -- reported under skipped
        return None, f"baseline tokenizer: {type(exc).__name__}: {exc}"


def arrow_tokenize_only(texts):
    import pyarrow.compute as pc

    return pc.utf8_split_whitespace(pc.utf8_lower(texts))


def scoring_row(name, system, n_threads, docs, tokens, seconds, mb) -> dict:
    return {"set": name, "system": system, "threads": n_threads, "docs": docs, "tokens": tokens,
            "seconds": seconds, "docs_per_s": docs / seconds, "mb_per_s": mb / seconds,
            "ns_per_token": 1e9 * seconds / tokens}


def stage_rows(name, texts, on, off, explaining, baseline, repeats) -> list[dict]:
    """One input set's one-thread rows, each the fastest of ``repeats`` runs: end to end (aspects on
    and off, explanations on), the tokenizer (and its c07d71f baseline), the kernel alone on the pre-tokenized stream
    (aspects on and off), the floor kernel on the same stream, pyarrow's tokenize-only kernels."""
    from emoscore import _tokenize
    from emoscore.kernels.score_cpu import score_stream
    from floor_kernel import floor_kernel
    from scoring_sets import text_bytes

    def tokenizer(module, lex):
        return functools.partial(module.tokenize, texts, lex.table_keys, lex.table_ids, lex.stem_mask)

    stream = tokenizer(_tokenize, on.lexicon)()
    off_stream = off and tokenizer(_tokenize, off.lexicon)()  # the aspect-free lexicon has other term ids
    timed = {
        "emoscore": functools.partial(on.score, texts),
        "emoscore aspects off": off and functools.partial(off.score, texts),
        "emoscore explain": explaining and functools.partial(explaining.score, texts),
        "tokenizer": tokenizer(_tokenize, on.lexicon),
        "baseline tokenizer": baseline and tokenizer(baseline, on.lexicon),
        "kernel": functools.partial(score_stream, *stream, on.lexicon),
        "kernel aspects off": off and functools.partial(score_stream, *off_stream, off.lexicon),
        "floor kernel": functools.partial(floor_kernel, *stream[:2], on.lexicon),
        "pyarrow tokenize-only": functools.partial(arrow_tokenize_only, texts),
    }
    megabytes = text_bytes(texts) / 1e6
    return [scoring_row(name, system, 1, len(texts), len(stream[1]), best_of(repeats, fn)[0], megabytes)
            for system, fn in timed.items() if fn]


def generated_only_rows(texts, tokens, threads, args, skipped) -> list[dict]:
    """The generated set's rows at more threads, and VADER's and NRCLex's on its first documents."""
    import numba

    from emoscore import Scorer
    from scoring_sets import text_bytes

    rows = []
    megabytes = text_bytes(texts) / 1e6
    for n in (n for n in threads if n != 1):  # one thread: the stage rows' "emoscore"
        numba.set_num_threads(n)
        seconds, _ = best_of(args.repeats, functools.partial(Scorer(threads=n).score, texts))
        rows.append(scoring_row("generated", "emoscore", n, len(texts), tokens, seconds, megabytes))
    numba.set_num_threads(1)

    n = min(args.anchor_docs, len(texts))
    subset = [t or "" for t in texts.slice(0, n).to_pylist()]
    subset_mb = text_bytes(texts.slice(0, n)) / 1e6
    sys.path.insert(0, str(BENCH))
    from accuracy import NrcLookup, Vader  # the anchors exactly as the accuracy report runs them

    for factory in (Vader, NrcLookup):
        try:
            system = factory()
        except ImportError as exc:
            skipped.append(f"{factory.name}: not installed ({exc.name}); pip install -e '.[bench]'")
            continue
        seconds, _ = best_of(1, functools.partial(system.valence, subset))
        # tokens: the generated documents are alike, so the subset's share of the set's tokens
        rows.append(scoring_row("generated", factory.name if factory is Vader else "NRCLex lexicon lookup", 1,
                                n, tokens * n / len(texts), seconds, subset_mb))
    return rows


def set_ratio(rows, num: str, den: str, key: str, threads: tuple[int, int] = (1, 1)) -> dict:
    """{set: num row's ``key`` / den row's} over the sets that have both rows."""
    a = {r["set"]: r[key] for r in rows if (r["system"], r["threads"]) == (num, threads[0])}
    b = {r["set"]: r[key] for r in rows if (r["system"], r["threads"]) == (den, threads[1])}
    return {s: ratio(a[s], b[s]) for s in a if s in b}


def section_scoring(args) -> dict:
    import numba
    import pyarrow as pa

    from emoscore import Scorer
    from scoring_sets import build_sets, text_bytes

    sets = build_sets(args.docs)
    threads, skipped = thread_counts(args.threads)
    on = Scorer(threads=1)
    off = Scorer(threads=1, aspects=False) if has_aspects() else None
    if off is None:
        skipped.append("emoscore aspects off, kernel aspects off: this Scorer has no aspects option")
    explaining = Scorer(threads=1, explain=True) if has_explain() else None
    if explaining is None:
        skipped.append("emoscore explain: this Scorer has no explain option")
    baseline, why = baseline_tokenizer()
    if why:
        skipped.append(why)
    rows: list[dict] = []
    previous = pa.cpu_count()
    numba.set_num_threads(1)
    pa.set_cpu_count(1)  # one CPU for pyarrow's kernels too (emoscore's threads are its own)
    try:
        for name, texts in sets.items():
            rows += stage_rows(name, texts, on, off, explaining, baseline, args.repeats)
            if name == "generated":
                rows += generated_only_rows(texts, rows[-1]["tokens"], threads, args, skipped)
    finally:
        pa.set_cpu_count(previous)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)

    one = {r["set"]: r["mb_per_s"] for r in rows if (r["system"], r["threads"]) == ("emoscore", 1)}
    for r in rows:
        r["emoscore_1t_ratio"] = ratio(one.get(r["set"]), r["mb_per_s"])

    def generated(num, den, key, threads=(1, 1)):
        return set_ratio(rows, num, den, key, threads).get("generated")

    summary = {
        "scoring_1t_vs_vader": generated("emoscore", "VADER", "docs_per_s"),
        "scoring_1t_vs_nrclex": generated("emoscore", "NRCLex lexicon lookup", "docs_per_s"),
        "scoring_1t_vs_arrow_tokenize_only": generated("emoscore", "pyarrow tokenize-only", "mb_per_s"),
        "scoring_2t_vs_1t": generated("emoscore", "emoscore", "docs_per_s", threads=(2, 1)),
        # per set: time over time on the same documents, or MB/s over MB/s
        "kernel_vs_floor_time": set_ratio(rows, "kernel", "floor kernel", "seconds"),
        "aspects_on_vs_off_time": set_ratio(rows, "emoscore", "emoscore aspects off", "seconds"),
        "kernel_aspects_on_vs_off_time": set_ratio(rows, "kernel", "kernel aspects off", "seconds"),
        "explain_on_vs_off_time": set_ratio(rows, "emoscore explain", "emoscore", "seconds"),
        "tokenizer_vs_baseline_mb": set_ratio(rows, "tokenizer", "baseline tokenizer", "mb_per_s"),
    }
    anchor_docs = min(args.anchor_docs, args.docs)
    print(f"\n== scoring: best of {args.repeats} (VADER / NRCLex: 1 pass over the first {anchor_docs:,} "
          "generated documents); one thread (numba.set_num_threads(1), one pyarrow CPU) unless threads says")
    info = {name: {"docs": len(t), "text_mb": text_bytes(t) / 1e6,
                   "tokens": next(r["tokens"] for r in rows if r["set"] == name)} for name, t in sets.items()}
    for name, i in info.items():
        print(f"  {name}: {i['docs']:,} documents, {i['text_mb']:.1f} MB, {i['tokens'] / i['docs']:.1f} tokens each")
    table(rows, ["set", "system", "threads", "docs", "mb_per_s", "docs_per_s", "ns_per_token", "emoscore_1t_ratio"])
    return {"sets": info, "anchor_docs": anchor_docs, "rows": rows, "ratios": summary, "skipped": skipped}


# --------------------------------------------------------------------------------------------------
# languages
# --------------------------------------------------------------------------------------------------


def section_languages(args) -> dict:
    """Issue 16's budgets, one thread: detecting each text's language costs at most 10% on English, and
    French is scored at English's MB/s within 20%, told (``language="fr"``) or detected."""
    import numba
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from emoscore import Scorer
    from emoscore.language import detect
    from scoring_sets import french_reviews, generated, text_bytes, tiled

    english = generated(args.docs)
    french = tiled(french_reviews(), text_bytes(english) / 1e6)
    # half the English bytes and as many French bytes, interleaved in step with their running byte shares
    halves = [english.slice(0, len(english) // 2), tiled(french_reviews(), text_bytes(english) / 2e6)]
    shares = [np.cumsum(pc.binary_length(h).fill_null(0).to_numpy()) / text_bytes(h) for h in halves]
    mixed = pa.concat_arrays(halves).take(pa.array(np.argsort(np.concatenate(shares), kind="stable")))
    plain, auto, told = Scorer(threads=1), Scorer(language="auto", threads=1), Scorer(language="fr", threads=1)
    runs = {("english", "emoscore"): (english, plain.score),
            ("english", 'emoscore language="auto"'): (english, auto.score),
            ("english", "detect"): (english, detect),
            ("french", 'emoscore language="fr"'): (french, told.score),
            ("french", 'emoscore language="auto"'): (french, auto.score),
            ("mixed", 'emoscore language="auto"'): (mixed, auto.score)}
    numba.set_num_threads(1)
    try:
        for texts, run in runs.values():
            run(texts.slice(0, 500))  # compile or load every kernel outside the timings
        rows = [{"set": name, "system": system, "docs": len(texts), "text_mb": text_bytes(texts) / 1e6,
                 "seconds": best_of(args.repeats, functools.partial(run, texts))[0]}
                for (name, system), (texts, run) in runs.items()]
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for r in rows:
        r["mb_per_s"] = r["text_mb"] / r["seconds"]
    seconds = {(r["set"], r["system"]): r["seconds"] for r in rows}
    english_mb = rows[0]["mb_per_s"]
    for r in rows:
        r["vs_english"] = r["mb_per_s"] / english_mb
    by_name = {(r["set"], r["system"]): r["vs_english"] for r in rows}
    summary = {
        "language_auto_vs_none_time": seconds["english", 'emoscore language="auto"'] / seconds["english", "emoscore"],
        "french_vs_english_mb": {'language="fr"': by_name["french", 'emoscore language="fr"'],
                                 'language="auto"': by_name["french", 'emoscore language="auto"']},
        "mixed_vs_english_mb": by_name["mixed", 'emoscore language="auto"'],
    }
    print(f"\n== languages: best of {args.repeats}, one thread; vs_english: MB/s over Scorer() on the English "
          "documents; french: Allociné TV reviews tiled to the English size; mixed: English and French interleaved")
    table(rows, ["set", "system", "docs", "text_mb", "mb_per_s", "vs_english"])
    return {"rows": rows, "ratios": summary}


# --------------------------------------------------------------------------------------------------
# KPI aggregation
# --------------------------------------------------------------------------------------------------

EXACT_KPIS = ("n", "nps", "csat", "ces", "churn_rate", "renewal_rate", "upsell_rate", "cross_sell_rate",
              "valence_mean")
APPROX_KPIS = ("frt_p50", "frt_p90", "customers", "clv", "revenue")  # sketches, HLL, revenue rounding


def kpi_input(rows: int, scorer) -> pa.Table:
    """Generated feedback, scored, reduced to the columns the KPIs read."""
    import pyarrow as pa

    from emoscore.kpi import DEFAULT_EMOTIONS
    from emoscore.sample import iter_batches

    keep = list(GROUP_BY) + ["ts", "customer_id", "nps", "rating", "effort", "first_response_s", "event",
                             "revenue", "valence", "emotion", *DEFAULT_EMOTIONS]
    batches = [scorer.score(b).select(keep) for b in iter_batches(rows, seed=2, batch_size=1 << 18)]
    return pa.Table.from_batches(batches)


def emoscore_kpis(data, n_threads: int):
    """``KpiAggregator.update`` over the batches and ``result()``; with several threads each thread
    folds its share of the batches into its own state and the states are merged (the documented way)."""
    from emoscore import KpiAggregator

    batches = data.to_batches()

    def fold(part):
        agg = KpiAggregator(GROUP_BY, window="week")
        for batch in part:
            agg.update(batch)
        return agg

    if n_threads == 1:
        return fold(batches).result()
    with concurrent.futures.ThreadPoolExecutor(n_threads) as pool:
        states = list(pool.map(fold, [batches[i::n_threads] for i in range(n_threads)]))
    total = states[0]
    for other in states[1:]:
        total.merge(other)
    return total.result()


def polars_query(df):
    """The KPIs of ``KpiAggregator.result()`` (see the emoscore.kpi docstring) as one polars group_by."""
    import polars as pl

    from emoscore.kpi import DEFAULT_EMOTIONS as E

    ev, emo = pl.col("event"), pl.col("emotion")
    churn, renew = (ev == "churn").sum(), (ev == "renewal").sum()
    exprs = [
        pl.len().alias("n"),
        (100 * ((pl.col("nps") >= 9).sum().cast(pl.Int64) - (pl.col("nps") <= 6).sum().cast(pl.Int64))
         / pl.col("nps").count()).alias("nps"),
        (100 * (pl.col("rating") >= 4).sum() / pl.col("rating").count()).alias("csat"),
        pl.col("effort").mean().alias("ces"),
        pl.col("first_response_s").quantile(0.5, "lower").alias("frt_p50"),
        pl.col("first_response_s").quantile(0.9, "lower").alias("frt_p90"),
        (churn / (churn + renew)).alias("churn_rate"),
        (renew / (churn + renew)).alias("renewal_rate"),
        ((ev == "upsell").sum() / ev.count()).alias("upsell_rate"),
        ((ev == "cross_sell").sum() / ev.count()).alias("cross_sell_rate"),
        pl.col("customer_id").approx_n_unique().alias("customers"),
        pl.col("revenue").sum().alias("revenue"),
        pl.col("valence").cast(pl.Float64).mean().alias("valence_mean"),
        *[pl.col(e).cast(pl.Float64).mean().alias(f"{e}_mean") for e in E],
        *[(emo == e).sum().alias(f"{e}_count") for e in E],
        emo.count().alias("emotion_n"),
    ]
    week = pl.col("ts").dt.truncate("1w").dt.date().alias("window_start")
    out = df.group_by(*GROUP_BY, week).agg(exprs)
    dominant = pl.concat_list([pl.col(f"{e}_count") for e in E])
    return out.with_columns(
        (pl.col("revenue") / pl.col("customers") / pl.col("churn_rate")).alias("clv"),
        pl.when(dominant.list.max() > 0).then(dominant.list.arg_max()).alias("dominant_index"),
        *[(pl.col(f"{e}_count") / pl.col("emotion_n")).alias(f"{e}_share") for e in E],
    )


def duckdb_query() -> str:
    from emoscore.kpi import DEFAULT_EMOTIONS as E

    inner = ",\n".join([
        "count(*) AS n",
        "100.0 * (count(*) FILTER (WHERE nps >= 9) - count(*) FILTER (WHERE nps <= 6)) / count(nps) AS nps",
        "100.0 * count(*) FILTER (WHERE rating >= 4) / count(rating) AS csat",
        "avg(effort) AS ces",
        "quantile_disc(first_response_s, 0.5) AS frt_p50",
        "quantile_disc(first_response_s, 0.9) AS frt_p90",
        "count(*) FILTER (WHERE event = 'churn') AS churn_n",
        "count(*) FILTER (WHERE event = 'renewal') AS renewal_n",
        "count(*) FILTER (WHERE event = 'upsell') AS upsell_n",
        "count(*) FILTER (WHERE event = 'cross_sell') AS cross_sell_n",
        "count(event) AS event_n",
        "approx_count_distinct(customer_id) AS customers",
        "sum(revenue) AS revenue",
        "avg(valence::DOUBLE) AS valence_mean",
        *[f"avg({e}::DOUBLE) AS {e}_mean" for e in E],
        *[f"count(*) FILTER (WHERE emotion = '{e}') AS {e}_count" for e in E],
        "count(emotion) AS emotion_n",
    ])
    counts_list = "[" + ", ".join(f"{e}_count" for e in E) + "]"
    outer = ",\n".join([
        "*",
        "churn_n / nullif(churn_n + renewal_n, 0) AS churn_rate",
        "renewal_n / nullif(churn_n + renewal_n, 0) AS renewal_rate",
        "upsell_n / nullif(event_n, 0) AS upsell_rate",
        "cross_sell_n / nullif(event_n, 0) AS cross_sell_rate",
        "revenue / nullif(customers, 0) / nullif(churn_n / nullif(churn_n + renewal_n, 0), 0) AS clv",
        f"CASE WHEN list_max({counts_list}) > 0 THEN list_position({counts_list}, list_max({counts_list})) - 1 END"
        " AS dominant_index",
        *[f"{e}_count / nullif(emotion_n, 0) AS {e}_share" for e in E],
    ])
    return (f"SELECT {outer} FROM (SELECT {', '.join(GROUP_BY)}, CAST(date_trunc('week', ts) AS DATE) AS "
            f"window_start, {inner} FROM kpi_input GROUP BY ALL)")


def worker(engine: str, data_path: str, out_path: str, n_threads: int, repeats: int) -> dict:
    """Run in a child process: polars reads POLARS_MAX_THREADS once, at import."""
    import pyarrow as pa

    with pa.memory_map(data_path) as source:
        data = pa.ipc.open_file(source).read_all()
    report: dict = {"engine": engine, "threads": n_threads}
    if engine == "polars":
        import polars as pl

        report["pool_threads"] = pl.thread_pool_size()
        frame = pl.from_arrow(data)
        report["from_arrow_s"], _ = best_of(repeats, lambda: polars_query(pl.from_arrow(data)))
        report["engine_s"], result = best_of(repeats, lambda: polars_query(frame))
        # untimed: exact distinct customers, to show how far each engine's estimate is from the truth
        exact = frame.group_by(*GROUP_BY, pl.col("ts").dt.truncate("1w").dt.date().alias("window_start")).agg(
            pl.col("customer_id").drop_nulls().n_unique().alias("customers_exact"))
        result = result.join(exact, on=[*GROUP_BY, "window_start"]).to_arrow()
    else:
        import duckdb

        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET threads = {n_threads}")
        report["pool_threads"] = con.sql("SELECT current_setting('threads')").fetchall()[0][0]
        con.register("arrow_input", data)
        query = duckdb_query()

        def run(source):
            rel = con.sql(query.replace("FROM kpi_input", f"FROM {source}"))
            return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()

        report["from_arrow_s"], _ = best_of(repeats, lambda: run("arrow_input"))
        con.execute("CREATE TABLE native AS SELECT * FROM arrow_input")
        report["engine_s"], result = best_of(repeats, lambda: run("native"))
    with pa.OSFile(out_path, "wb") as sink, pa.ipc.new_file(sink, result.schema) as writer:
        writer.write_table(result)
    return report


def agreement(ours, theirs) -> dict:
    """Largest differences between emoscore's KPI table and an anchor's, matched by group."""
    import numpy as np

    from emoscore.kpi import DEFAULT_EMOTIONS as E

    keys = [*GROUP_BY, "window_start"]

    def index(tbl):
        cols = tbl.to_pydict()
        return {tuple(cols[k][i] for k in keys): i for i in range(tbl.num_rows)}, cols

    a_index, a = index(ours)
    b_index, b = index(theirs)
    common = sorted(set(a_index) & set(b_index), key=str)
    out = {"groups": len(a_index), "groups_matched": len(common),
           "groups_only_one_side": len(set(a_index) ^ set(b_index))}

    def diffs(name, relative):
        worst = 0.0
        for key in common:
            x, y = a[name][a_index[key]], b[name][b_index[key]]
            x = None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)
            y = None if y is None or (isinstance(y, float) and (math.isnan(y) or math.isinf(y))) else float(y)
            if x is None or y is None:
                if (x is None) != (y is None):
                    return math.inf  # a KPI present on one side only
                continue
            d = abs(x - y)
            worst = max(worst, d / max(abs(y), 1e-12) if relative else d)
        return worst

    exact = [*EXACT_KPIS, *(f"{e}_mean" for e in E), *(f"{e}_share" for e in E)]
    out["max_abs_diff_exact"] = max(diffs(name, False) for name in exact)
    out["max_rel_diff"] = {name: diffs(name, True) for name in APPROX_KPIS}
    if "customers_exact" in b:  # each side's distinct-customer estimate against the exact count
        for side, cols, idx in (("emoscore", a, a_index), ("anchor", b, b_index)):
            out[f"customers_rel_err_{side}"] = max(
                (abs(cols["customers"][idx[k]] - b["customers_exact"][b_index[k]])
                 / max(b["customers_exact"][b_index[k]], 1) for k in common), default=0.0)
    names = np.array(E, object)
    mismatched = 0
    for key in common:
        j = b["dominant_index"][b_index[key]]
        mismatched += (a["dominant_emotion"][a_index[key]] != (None if j is None else names[j]))
    out["dominant_emotion_mismatches"] = int(mismatched)
    return out


def section_kpi(args) -> dict:
    import numba
    import pyarrow as pa

    from emoscore import Scorer

    threads, skipped = thread_counts(args.threads)
    data = kpi_input(args.kpi_rows, Scorer())
    rows: list[dict] = []
    results = {}
    for n in threads:
        numba.set_num_threads(n)
        seconds, results[n] = best_of(args.repeats, functools.partial(emoscore_kpis, data, n))
        rows.append({"system": "emoscore KpiAggregator.update", "threads": n, "seconds": seconds})
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    ours = results[threads[0]] if threads else None
    agreements = {}
    with tempfile.TemporaryDirectory(prefix="emoscore-bench-") as tmp:
        data_path = os.path.join(tmp, "kpi_input.arrow")
        with pa.OSFile(data_path, "wb") as sink, pa.ipc.new_file(sink, data.schema) as writer:
            writer.write_table(data)
        del data
        for engine, module in (("polars", "polars"), ("duckdb", "duckdb")):
            try:
                __import__(module)
            except ImportError:
                skipped.append(f"{engine}: not installed; pip install -e '.[bench]'")
                continue
            for n in threads:
                out_path = os.path.join(tmp, f"{engine}-{n}.arrow")
                env = dict(os.environ, POLARS_MAX_THREADS=str(n))
                proc = subprocess.run(
                    [sys.executable, __file__, "--worker", engine, "--worker-data", data_path, "--worker-out",
                     out_path, "--threads", str(n), "--repeats", str(args.repeats)],
                    env=env, capture_output=True, text=True)
                if proc.returncode != 0:
                    skipped.append(f"{engine} {n} threads: worker failed: {proc.stderr.strip()[-500:]}")
                    continue
                report = json.loads(proc.stdout.strip().splitlines()[-1])
                if int(report["pool_threads"]) != n:
                    skipped.append(f"{engine} {n} threads: ran with {report['pool_threads']} threads")
                rows.append({"system": f"{engine} (data loaded)", "threads": n, "seconds": report["engine_s"]})
                rows.append({"system": f"{engine} from Arrow", "threads": n, "seconds": report["from_arrow_s"]})
                if n == threads[0] and ours is not None:
                    with pa.memory_map(out_path) as source:
                        agreements[engine] = agreement(ours, pa.ipc.open_file(source).read_all())
    for r in rows:
        r["rows_per_s"] = args.kpi_rows / r["seconds"]
    by = {(r["system"], r["threads"]): r for r in rows}
    for r in rows:
        same = by.get(("emoscore KpiAggregator.update", r["threads"]))
        r["emoscore_ratio"] = ratio(same and same["rows_per_s"], r["rows_per_s"])
    one = by.get(("emoscore KpiAggregator.update", 1))
    two = by.get(("emoscore KpiAggregator.update", 2))
    summary = {
        "kpi_1t_vs_polars": ratio(one and one["rows_per_s"], by.get(("polars (data loaded)", 1), {}).get("rows_per_s")),
        "kpi_1t_vs_polars_from_arrow": ratio(one and one["rows_per_s"],
                                             by.get(("polars from Arrow", 1), {}).get("rows_per_s")),
        "kpi_1t_vs_duckdb": ratio(one and one["rows_per_s"], by.get(("duckdb (data loaded)", 1), {}).get("rows_per_s")),
        "kpi_2t_vs_polars_2t": ratio(two and two["rows_per_s"],
                                     by.get(("polars (data loaded)", 2), {}).get("rows_per_s")),
        "kpi_2t_vs_1t": ratio(two and two["rows_per_s"], one and one["rows_per_s"]),
    }
    groups = ours.num_rows if ours is not None else None
    print(f"\n== KPI aggregation: {args.kpi_rows:,} generated, scored rows; by {', '.join(GROUP_BY)}, week "
          f"({groups} groups); best of {args.repeats}; ratio = emoscore rows/s at the same thread count / row's")
    table(rows, ["system", "threads", "rows_per_s", "emoscore_ratio"])
    for engine, agree in agreements.items():
        rel = ", ".join(f"{k} {fmt(v, 4)}" for k, v in agree["max_rel_diff"].items())
        print(f"  agreement with {engine}: {agree['groups_matched']}/{agree['groups']} groups matched; exact KPIs "
              f"max abs diff {agree['max_abs_diff_exact']:.2e}; dominant emotion mismatches "
              f"{agree['dominant_emotion_mismatches']}; approximate KPIs max rel diff: {rel}")
        if "customers_rel_err_emoscore" in agree:
            print(f"  distinct customers vs exact, max rel error: emoscore {agree['customers_rel_err_emoscore']:.4f}, "
                  f"{engine} {agree['customers_rel_err_anchor']:.4f}")
    return {"rows": args.kpi_rows, "groups": groups, "results": rows, "ratios": summary, "agreement": agreements,
            "skipped": skipped}


# --------------------------------------------------------------------------------------------------
# scaling
# --------------------------------------------------------------------------------------------------


def section_scaling(args) -> dict:
    import numba
    import pyarrow.compute as pc

    from emoscore import Scorer
    from emoscore.sample import iter_batches

    threads, skipped = thread_counts(args.threads)
    scorers = {n: Scorer(threads=n) for n in threads}
    rows = []
    for size in sorted(args.sizes):
        seconds = dict.fromkeys(threads, 0.0)
        megabytes = 0.0
        repeats = args.repeats if size <= SCALING_CHUNK else 1
        for batch in iter_batches(size, seed=3, batch_size=min(size, SCALING_CHUNK)):
            texts = batch.column("text")
            megabytes += pc.sum(pc.binary_length(texts)).as_py() / 1e6
            for n in threads:
                numba.set_num_threads(n)
                seconds[n] += best_of(repeats, functools.partial(scorers[n].score, texts))[0]
            del batch, texts
        for n in threads:
            rows.append({"docs": size, "threads": n, "docs_per_s": size / seconds[n],
                         "mb_per_s": megabytes / seconds[n], "ns_per_doc": 1e9 * seconds[n] / size, "repeats": repeats})
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    linearity = {}
    for n in threads:
        mine = [r for r in rows if r["threads"] == n]
        if len(mine) >= 2:
            linearity[f"{n}t_cost_per_doc_largest_vs_smallest"] = mine[-1]["ns_per_doc"] / mine[0]["ns_per_doc"]
    for r in rows:
        one = next((o for o in rows if o["docs"] == r["docs"] and o["threads"] == 1), None)
        r["vs_1t"] = ratio(r["docs_per_s"], one and one["docs_per_s"])
    print(f"\n== scaling: Scorer.score over generated documents (chunks of {SCALING_CHUNK:,}); best of "
          f"{args.repeats} up to {SCALING_CHUNK:,} docs, 1 pass above")
    table(rows, ["docs", "threads", "docs_per_s", "mb_per_s", "ns_per_doc", "vs_1t"])
    print("  per-doc cost, largest size / smallest (1.00 = linear): "
          + ", ".join(f"{k.split('_')[0]} {v:.2f}" for k, v in linearity.items()))
    return {"rows": rows, "linearity": linearity, "skipped": skipped}


# --------------------------------------------------------------------------------------------------
# cold start
# --------------------------------------------------------------------------------------------------


def one_start(cache_dir: str, line: bytes) -> tuple[float, float, float]:
    """Seconds from spawning ``emoscore score`` to its first scored line and to its exit, and the CPU
    seconds (user + system) it used: on a loaded machine the CPU time is the steadier figure."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, EMOSCORE_CACHE_DIR=cache_dir)  # kernels and compiled lexicons
    with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as err:
        stdin.write(line)
        stdin.seek(0)
        start = time.perf_counter()
        proc = subprocess.Popen([*emoscore_command(), "score", "-q"], stdin=stdin, stdout=subprocess.PIPE,
                                stderr=err, env=env)
        first = proc.stdout.readline()
        first_s = time.perf_counter() - start
        proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        exit_s = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
        proc.stdout.close()
        if proc.returncode != 0 or b'"valence"' not in first:
            err.seek(0)
            raise RuntimeError(f"emoscore score failed ({proc.returncode}): "
                               f"{err.read().decode(errors='replace')[-800:]}")
    return first_s, exit_s, usage.ru_utime + usage.ru_stime


def section_coldstart(args) -> dict:
    line = b'{"id": 1, "text": "Still waiting on my refund, this is so frustrating!"}\n'
    cold, warm = [], []
    with tempfile.TemporaryDirectory(prefix="emoscore-numba-warm-") as warm_dir:
        for _ in range(args.cold_repeats):
            with tempfile.TemporaryDirectory(prefix="emoscore-numba-cold-") as cold_dir:
                cold.append(one_start(cold_dir, line))
        one_start(warm_dir, line)  # fills the warm cache
        for _ in range(args.warm_repeats):
            warm.append(one_start(warm_dir, line))
    rows = []
    for label, runs in (("empty Numba cache", cold), ("warm Numba cache", warm)):
        if not runs:
            continue
        rows.append({"cache": label, "runs": len(runs), "first_line_s": statistics.median(r[0] for r in runs),
                     "exit_s": statistics.median(r[1] for r in runs), "min_first_line_s": min(r[0] for r in runs),
                     "cpu_s": statistics.median(r[2] for r in runs)})
    print(f"\n== cold start: `{' '.join(emoscore_command())} score` on one JSONL line; medians")
    table(rows, ["cache", "runs", "first_line_s", "exit_s", "min_first_line_s", "cpu_s"])
    first = {r["cache"]: r["first_line_s"] for r in rows}
    warm_s, cold_s = first.get("warm Numba cache"), first.get("empty Numba cache")
    return {"rows": rows, "coldstart_warm_first_line_s": warm_s, "coldstart_cold_first_line_s": cold_s,
            "cold_vs_warm": ratio(cold_s, warm_s)}


# --------------------------------------------------------------------------------------------------
# memory
# --------------------------------------------------------------------------------------------------


def peak_rss_of_run(n: int, tmp: str, fmt: str) -> dict:
    """``emoscore sample --n N | emoscore run ...``: the run process's peak RSS (its own rusage)."""
    command = emoscore_command()
    errors = os.path.join(tmp, f"errors-{n}.jsonl")
    start = time.perf_counter()
    sample = subprocess.Popen([*command, "sample", "--n", str(n), "--seed", "1", "--output-format", fmt],
                              stdout=subprocess.PIPE)
    with open(errors, "wb") as err:
        run = subprocess.Popen(
            [*command, "run", "--kpi-out", os.path.join(tmp, "kpi.jsonl"), "--alerts-out",
             os.path.join(tmp, "alerts.jsonl"), "--by", ",".join(GROUP_BY), "--window", "week", "-q"],
            stdin=sample.stdout, stdout=subprocess.DEVNULL, stderr=err)
    sample.stdout.close()
    _, status, usage = os.wait4(run.pid, 0)
    run.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
    seconds = time.perf_counter() - start
    sample.wait()
    if run.returncode != 0 or sample.returncode != 0:
        raise RuntimeError(f"sample | run failed ({sample.returncode}, {run.returncode}): "
                           f"{Path(errors).read_text(errors='replace')[-800:]}")
    return {"rows": n, "peak_rss_mb": usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024) / 1e6,
            "seconds": seconds, "rows_per_s": n / seconds}


# A child process that scores a stream of N generated rows through Scorer.score(RecordBatchReader),
# reading the scored batches one at a time and dropping them, as a consumer writing them out would.
READER_CHILD = """
import sys
import pyarrow as pa
from emoscore import Scorer
from emoscore.sample import iter_batches
n = int(sys.argv[1])
first = next(iter_batches(1, seed=1))
reader = pa.RecordBatchReader.from_batches(first.schema, iter_batches(n, seed=1, batch_size=1 << 16))
rows = sum(batch.num_rows for batch in Scorer().score(reader))
assert rows == n, (rows, n)
"""


def peak_rss_of_reader(n: int) -> dict:
    """``Scorer().score(reader)`` over ``n`` generated rows in a child process: its peak RSS."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", READER_CHILD, str(n)], stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"scoring a reader of {n} rows failed: {child.stderr.read().decode()[-800:]}")
    return {"rows": n, "peak_rss_mb": usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024) / 1e6,
            "seconds": seconds, "rows_per_s": n / seconds}


def section_memory(args) -> dict:
    """Measured by a fresh process: a process started from this one counts this one's peak RSS as its
    own (the exec happens in this one's address space), and the sections before may have grown it."""
    with tempfile.TemporaryDirectory(prefix="emoscore-bench-") as tmp:
        out = os.path.join(tmp, "memory.json")
        subprocess.run([sys.executable, __file__, "--worker", "memory", "--worker-out", out, "--memory-sizes",
                        ",".join(map(str, args.memory_sizes)), "--memory-format", args.memory_format], check=True)
        return json.loads(Path(out).read_text(encoding="utf-8"))


def measure_memory(args) -> dict:
    sizes = sorted(args.memory_sizes)
    with tempfile.TemporaryDirectory(prefix="emoscore-bench-") as tmp:
        rows = [{"what": "emoscore run", **peak_rss_of_run(n, tmp, args.memory_format)} for n in sizes]
    rows += [{"what": "Scorer.score(reader)", **peak_rss_of_reader(n)} for n in sizes]
    smallest = {r["what"]: r["peak_rss_mb"] for r in rows if r["rows"] == sizes[0]}
    for r in rows:
        r["vs_smallest"] = r["peak_rss_mb"] / smallest[r["what"]]
    print("\n== memory: peak RSS of `emoscore run --by touchpoint,channel --window week --kpi-out ... --alerts-out ...`"
          f" reading `emoscore sample --n N --output-format {args.memory_format}` from a pipe, JSONL out; and of "
          "Scorer().score(RecordBatchReader) over N generated rows in batches of 65,536, read batch by batch")
    table(rows, ["what", "rows", "peak_rss_mb", "vs_smallest", "rows_per_s"])
    last = {r["what"]: r["vs_smallest"] for r in rows if r["rows"] == sizes[-1]} if len(sizes) > 1 else {}
    return {"format": args.memory_format, "rows": rows,
            "memory_peak_rss_largest_vs_smallest": last.get("emoscore run"),
            "reader_peak_rss_largest_vs_smallest": last.get("Scorer.score(reader)")}


# --------------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------------


def targets(report: dict) -> list[dict]:
    """One row per target (per target and input set for per-set figures) of the sections that ran."""
    out = []
    for name, (section, figure, op, bound) in TARGETS.items():
        if section not in report:
            continue
        part = report[section]
        value = part.get("ratios", {}).get(figure, part.get(figure))
        for set_name, v in (value.items() if isinstance(value, dict) else [(None, value)]):
            met = None if v is None else (v <= bound if op == "<=" else v >= bound)
            out.append({"target": name, "set": set_name, "wanted": f"{op} {bound:g}", "measured": v, "met": met,
                        "gap": None if v is None else (v / bound if op == "<=" else bound / v)})
    return out


def save_report(report: dict, path: str | None, name: str) -> Path:
    """Write ``report`` as JSON to ``path``, by default ``bench/results/<name>-<timestamp>.json``."""
    where = Path(path) if path else BENCH / "results" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    where.parent.mkdir(parents=True, exist_ok=True)
    where.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    return where


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: the whole run in well under a minute")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections to run (default: all of {','.join(SECTIONS)})")
    parser.add_argument("--docs", type=count, help="scoring: documents (full 1M, smoke 20k)")
    parser.add_argument("--anchor-docs", type=count, help="scoring: documents scored by VADER / NRCLex (10k, 300)")
    parser.add_argument("--kpi-rows", type=count, help="kpi: scored rows aggregated (2M, 50k)")
    parser.add_argument("--sizes", type=counts, help="scaling: document counts (10k,100k,1M,10M; 2k,10k,50k)")
    parser.add_argument("--memory-sizes", type=counts, help="memory: rows streamed through `emoscore run` "
                                                            "(1M,10M; 10k,50k)")
    parser.add_argument("--memory-format", choices=("jsonl", "arrow"), default="jsonl",
                        help="memory: what `emoscore sample` pipes into `emoscore run` (default jsonl)")
    parser.add_argument("--threads", type=counts, default=[1, 2], help="thread counts (default 1,2)")
    parser.add_argument("--repeats", type=int, help="timed repeats, best kept (3; smoke 2)")
    parser.add_argument("--cold-repeats", type=int, help="coldstart: runs with an empty Numba cache (2; 1)")
    parser.add_argument("--warm-repeats", type=int, help="coldstart: runs with a warm Numba cache (5; 3; >= 1)")
    parser.add_argument("--json", help="write the report here (default bench/results/compare-<timestamp>.json)")
    parser.add_argument("--worker", choices=("polars", "duckdb", "memory"), help=argparse.SUPPRESS)
    parser.add_argument("--worker-data", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name, (full, smoke) in DEFAULTS.items():
        if getattr(args, name) is None:
            value = smoke if args.smoke else full
            parse = counts if name.endswith("sizes") else count
            setattr(args, name, value if isinstance(value, int) else parse(value))
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(args.only) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {','.join(SECTIONS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker == "memory":
        Path(args.worker_out).write_text(json.dumps(measure_memory(args)), encoding="utf-8")
        return 0
    if args.worker:
        print(json.dumps(worker(args.worker, args.worker_data, args.worker_out, args.threads[0], args.repeats)))
        return 0
    started = time.perf_counter()
    report: dict = {"machine": machine(), "smoke": args.smoke,
                    "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])}
    print(f"emoscore bench/compare.py on {report['machine']['cpu']} ({report['machine']['cores']} cores), "
          f"load average {report['machine']['load_avg_start']}")
    if {"scoring", "kpi", "scaling"} & set(args.only):
        warm_kernels()
    for section in SECTIONS:
        if section in args.only:
            report[section] = globals()[f"section_{section}"](args)
    report["machine"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    report["targets"] = targets(report)
    report["seconds"] = time.perf_counter() - started
    print("\n== targets (gap: how far the figure is from its target, >1 = missed by that factor)")
    table([{**t, "met": {True: "yes", False: "NO", None: "-"}[t["met"]]} for t in report["targets"]],
          ["target", "set", "wanted", "measured", "met", "gap"])
    skipped = [s for section in SECTIONS for s in report.get(section, {}).get("skipped", [])]
    for line in skipped:
        print(f"  skipped: {line}")
    path = save_report(report, args.json, "compare")
    print(f"\nreport: {path} ({report['seconds']:.0f} s; load average now {report['machine']['load_avg_end']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
