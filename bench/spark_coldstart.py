"""The first Spark task's time with empty kernel caches and with caches filled by ``emoscore warm``.

    python bench/spark_coldstart.py [--rows 20000]

For each case a new ``local[2]`` session is started whose executors use a fresh ``NUMBA_CACHE_DIR`` and
``EMOSCORE_CACHE_DIR`` (empty, or filled by ``emoscore warm`` beforehand, as an executor image would
be), and the first job scores ``--rows`` generated rows with ``emoscore.spark.score`` into Spark's
no-op sink; then a second, identical job. Session start is not timed. Prints seconds for each job and
how long ``emoscore warm`` took. The driver process imports emoscore but never scores a text.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from emoscore import spark as es
from emoscore.sample import generate


def jobs(rows: int, caches: str) -> tuple[float, float]:
    from pyspark.sql import SparkSession

    env = {"NUMBA_CACHE_DIR": os.path.join(caches, "numba"), "EMOSCORE_CACHE_DIR": os.path.join(caches, "lexicons")}
    builder = SparkSession.builder.master("local[2]").appName("emoscore-coldstart").config("spark.ui.enabled", "false")
    for name, value in env.items():
        builder = builder.config(f"spark.executorEnv.{name}", value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        df = spark.createDataFrame(generate(rows, seed=3).select(["id", "text"])).repartition(2).cache()
        df.count()  # the data is in Spark before the timed jobs
        times = []
        for _ in range(2):
            start = time.perf_counter()
            es.score(df).write.format("noop").mode("overwrite").save()
            times.append(time.perf_counter() - start)
    finally:
        spark.stop()
    return times[0], times[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    os.environ["PYSPARK_PYTHON"] = sys.executable
    with tempfile.TemporaryDirectory(prefix="emoscore-cold-") as empty, \
            tempfile.TemporaryDirectory(prefix="emoscore-warm-") as warmed:
        env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(warmed, "numba"),
                   EMOSCORE_CACHE_DIR=os.path.join(warmed, "lexicons"))
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "emoscore", "warm"], env=env, check=True, capture_output=True)
        warm_seconds = time.perf_counter() - start
        results = {"empty caches": jobs(args.rows, empty), "after emoscore warm": jobs(args.rows, warmed)}
    print(f"{args.rows:,} rows, local[2]; emoscore warm took {warm_seconds:.1f} s")
    print(f"{'':22}{'first job':>11}{'second job':>12}   (seconds)")
    for name, (first, second) in results.items():
        print(f"{name:22}{first:>11.2f}{second:>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
