"""emoscore.spark in local mode against the single-machine API, on the same generated data.

    python bench/spark_local.py --rows 1000000

Writes ``--rows`` generated rows as Parquet files, then times on those files:

- the single-machine API (pyarrow reads the files; ``Scorer().score``, ``KpiAggregator``,
  ``AlertStream``) with all of Numba's threads;
- ``emoscore.spark`` (Spark reads the files) in ``local[1]`` and ``local[2]``, and over a local Spark
  Connect session on ``local[2]`` (``SparkSession.builder.remote``): ``score`` written to Spark's no-op
  sink, ``kpi`` and ``alerts`` of the scored frame (each re-scores: nothing is cached).

Session start and the first compilation of the kernels are not timed (a warm-up job loads them in
every worker). It prints seconds, rows/s and the ratios local[2] / local[1] and Spark / single
machine, and checks that Spark's KPI table and alerts equal the single-machine API's on the rows as
Spark holds them (``toArrow()``: Spark orders file splits by size, and alerts depend on the row
order); exit status 1 if not. The machine's load average is printed before and after: timings on a shared machine vary.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import pyarrow.parquet as pq

import emoscore
from emoscore import spark as es
from emoscore.sample import generate

KPI = {"by": ("touchpoint", "channel"), "window": "week"}


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def single_machine(path: str) -> dict:
    table = pq.read_table(path)
    scorer = emoscore.Scorer()
    warm = scorer.score(table.slice(0, 2000))  # load (or compile) every kernel outside the timings
    emoscore.KpiAggregator(**KPI).update(warm).result()
    emoscore.AlertStream().evaluate(warm)
    t_score, scored = timed(lambda: scorer.score(table))
    t_kpi, kpi = timed(lambda: emoscore.KpiAggregator(**KPI).update(scored).result())
    t_alerts, alerts = timed(lambda: emoscore.AlertStream().evaluate(scored))
    return {"score": t_score, "kpi": t_kpi, "alerts": t_alerts, "kpi_table": kpi, "alerts_table": alerts}


def on_spark(path: str, cores: int, partition_bytes: str, connect: bool = False) -> dict:
    from pyspark.sql import SparkSession
    from pyspark.sql.functions import spark_partition_id

    master = f"local[{cores}]"
    builder = SparkSession.builder.remote(master) if connect else SparkSession.builder.master(master)
    spark = (
        builder.appName(f"emoscore-bench-local{cores}")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(2 * cores))
        .config("spark.sql.files.maxPartitionBytes", partition_bytes)  # several partitions per core
        .config("spark.executorEnv.NUMBA_CACHE_DIR", os.environ["NUMBA_CACHE_DIR"])
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
    if not connect:  # a Connect client has no SparkContext
        spark.sparkContext.setLogLevel("ERROR")
    try:
        df = spark.read.parquet(path)
        partitions = df.select(spark_partition_id()).distinct().count()
        # Warm-up: every worker loads the kernels (a task per core, each on a few rows).
        warm = df.limit(200).repartition(cores)
        es.kpi(es.score(warm), **KPI)
        es.alerts(es.score(warm))
        scored = es.score(df)
        t_score, _ = timed(lambda: scored.write.format("noop").mode("overwrite").save())
        t_kpi, kpi = timed(lambda: es.kpi(scored, **KPI))
        t_alerts, alerts = timed(lambda: es.alerts(scored))
        # The single-machine answer for the rows as Spark holds them: Spark orders file splits by
        # size, and alerts depend on the row order (KPIs do not).
        data = emoscore.Scorer().score(df.toArrow())
        checks = {
            "kpi": kpi.equals(emoscore.KpiAggregator(**KPI).update(data).result(), check_metadata=True),
            "alerts": alerts.equals(emoscore.AlertStream().evaluate(data)),
        }
    finally:
        spark.stop()
    return {"score": t_score, "kpi": t_kpi, "alerts": t_alerts, "kpi_table": kpi, "alerts_table": alerts,
            "partitions": partitions, "checks": checks}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--files", type=int, default=8, help="Parquet files the rows are written to")
    parser.add_argument("--partition-bytes", default="8m", help="spark.sql.files.maxPartitionBytes")
    args = parser.parse_args()
    os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="numba-"))
    os.environ["PYSPARK_PYTHON"] = sys.executable  # workers must import this environment's emoscore

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}  (cores: {os.cpu_count()})")
    with tempfile.TemporaryDirectory(prefix="emoscore-spark-bench-") as folder:
        table = generate(args.rows, seed=args.seed)
        step = -(-args.rows // args.files)
        for i, start in enumerate(range(0, args.rows, step)):
            pq.write_table(table.slice(start, step), os.path.join(folder, f"part-{i:03d}.parquet"))
        mb = table.column("text").nbytes / 1e6
        del table
        print(f"{args.rows:,} generated rows ({mb:.0f} MB of text) in {args.files} Parquet files")

        single = single_machine(folder)
        runs = {"local[1]": on_spark(folder, 1, args.partition_bytes),
                "local[2]": on_spark(folder, 2, args.partition_bytes),
                "connect local[2]": on_spark(folder, 2, args.partition_bytes, connect=True)}

    print(f"\n{'':32}{'score':>10}{'score+kpi':>11}{'score+alerts':>14}   (seconds; Spark rows/s for score)")
    # The Spark kpi/alerts timings include scoring (the scored frame is not cached); add it to the
    # single-machine ones so that the columns compare the same work.
    rows = [("single machine (API)", single["score"], single["score"] + single["kpi"],
             single["score"] + single["alerts"])]
    for label, run in runs.items():
        rows.append((f"spark {label} ({run['partitions']} parts)", run["score"], run["kpi"], run["alerts"]))
    for name, *values in rows:
        print(f"{name:32}" + "".join(f"{v:>{w}.2f}" for v, w in zip(values, (10, 11, 14), strict=True))
              + f"   {args.rows / values[0]:,.0f} rows/s")
    one, two, connect = runs["local[1]"], runs["local[2]"], runs["connect local[2]"]
    print("\nratios")
    for key, label in (("score", "score"), ("kpi", "score+kpi"), ("alerts", "score+alerts")):
        base = single[key] if key == "score" else single["score"] + single[key]
        print(f"  {label:13} local[1]/local[2] = {one[key] / two[key]:.2f}x speed-up;  "
              f"local[2]/single machine = {two[key] / base:.2f}x the time;  "
              f"local[1]/single machine = {one[key] / base:.2f}x;  "
              f"connect/classic local[2] = {connect[key] / two[key]:.2f}x the time")

    ok = True
    for label, run in runs.items():
        # KPIs do not depend on the row order: also equal to the single-machine run timed above.
        same_kpi = run["kpi_table"].equals(single["kpi_table"], check_metadata=True)
        ok &= same_kpi and run["checks"]["kpi"] and run["checks"]["alerts"]
        print(f"{label}: KPI table equal to the single machine's: {run['checks']['kpi']} "
              f"(and to the timed run's: {same_kpi}; {run['kpi_table'].num_rows} groups); alerts equal to "
              f"AlertStream over the same rows in Spark's order: {run['checks']['alerts']} "
              f"({run['alerts_table'].num_rows} alerts; single machine in file order: "
              f"{single['alerts_table'].num_rows})")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
