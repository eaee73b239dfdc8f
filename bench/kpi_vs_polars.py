"""KPI update throughput against a polars group-by computing the same KPIs, at one thread, in one run.

    NUMBA_NUM_THREADS=1 POLARS_MAX_THREADS=1 python bench/kpi_vs_polars.py [--rows 10000000] [--repeat 3]

Synthetic scored batches (1M rows each, 32 touchpoints); prints rows/s of both and their ratio (wall
and CPU time), then checks that both computed the same KPIs. polars comes with the `bench` extra.
"""
import argparse
import os
import time

os.environ.setdefault("POLARS_MAX_THREADS", "1")
import numpy as np
import pyarrow as pa

from emoscore.kpi import DEFAULT_EMOTIONS, KpiAggregator

E = list(DEFAULT_EMOTIONS)
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--rows", type=int, default=10_000_000)
parser.add_argument("--repeat", type=int, default=3)
args = parser.parse_args()
ROWS, REPEAT = args.rows, args.repeat
BATCH = min(1_000_000, ROWS)


def make_batch(n, seed, groups=32, customers=1_000_000):
    rng = np.random.default_rng(seed)
    names = np.array([f"touchpoint_{i:02d}" for i in range(groups)], object)
    emo_names = pa.array(E + ["neutral"])
    dom = rng.integers(0, len(E) + 1, n)
    nps = rng.integers(0, 11, n)
    cols = {
        "touchpoint": pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, groups, n).astype(np.int32)), pa.array(names.tolist())).cast(pa.string()),
        "ts": pa.array(rng.integers(1.7e9, 1.73e9, n) * 1_000_000, pa.timestamp("us", tz="UTC")),
        "customer_id": pa.array(rng.integers(0, customers, n)),
        "nps": pa.array(nps, mask=rng.random(n) < 0.5),
        "rating": pa.array(rng.integers(1, 6, n), mask=rng.random(n) < 0.5),
        "effort": pa.array(rng.integers(1, 8, n), mask=rng.random(n) < 0.7),
        "first_response_s": pa.array(rng.lognormal(6, 1.5, n), mask=rng.random(n) < 0.3),
        "event": pa.array(np.array(["churn", "renewal", "upsell", "cross_sell", "other"], object)[rng.integers(0, 5, n)], mask=rng.random(n) < 0.8),
        "revenue": pa.array(np.round(rng.gamma(2, 50, n), 2), mask=rng.random(n) < 0.8),
        "valence": pa.array(rng.uniform(-1, 1, n).astype(np.float32)),
        "intensity": pa.array(rng.uniform(0, 1, n).astype(np.float32)),
        "emotion": emo_names.take(pa.array(dom)),
        "tokens": pa.array(rng.integers(1, 50, n).astype(np.int32)),
        "hits": pa.array(rng.integers(0, 10, n).astype(np.int32)),
    }
    for e in E:
        cols[e] = pa.array(rng.uniform(0, 1, n).astype(np.float32))
    return pa.record_batch(cols)


batches = [make_batch(BATCH, s) for s in range(max(1, ROWS // BATCH))]
KpiAggregator("touchpoint").update(batches[0].slice(0, 1000))  # compile / load the Numba cache

def run_ours():
    agg = KpiAggregator("touchpoint")
    for b in batches:
        agg.update(b)
    return agg.result()

def timed(f):
    best_wall = best_cpu = float("inf")
    for _ in range(REPEAT):
        w, c = time.perf_counter(), time.process_time()
        out = f()
        best_wall = min(best_wall, time.perf_counter() - w)
        best_cpu = min(best_cpu, time.process_time() - c)
    return out, best_wall, best_cpu

ours, wall, cpu = timed(run_ours)
print(f"emoscore KpiAggregator.update+result: wall {wall:.2f} s ({ROWS/wall/1e6:.1f} M rows/s), "
      f"cpu {cpu:.2f} s ({ROWS/cpu/1e6:.1f} M rows/s), groups={ours.num_rows}")

import polars as pl
assert pl.thread_pool_size() == 1, pl.thread_pool_size()

def polars_kpis(df):
    ev = pl.col("event")
    churn, renew = (ev == "churn").sum(), (ev == "renewal").sum()
    exprs = [
        pl.len().alias("n"),
        (100 * ((pl.col("nps") >= 9).sum().cast(pl.Int64) - (pl.col("nps") <= 6).sum().cast(pl.Int64)) / pl.col("nps").count()).alias("nps"),
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
        *[((pl.col("emotion") == e).sum() / pl.col("emotion").count()).alias(f"{e}_share") for e in E],
    ]
    out = df.group_by("touchpoint").agg(exprs)
    churn_rate = pl.col("churn_rate")
    shares = pl.concat_list([pl.col(f"{e}_share") for e in E])
    return out.with_columns(
        (pl.col("revenue") / pl.col("customers") / churn_rate).alias("clv"),
        shares.list.arg_max().alias("dominant_idx"),
    ).sort("touchpoint")

EMO = pl.Enum(E + ["neutral"]); EVT = pl.Enum(["churn", "renewal", "upsell", "cross_sell", "other"])
def to_polars(b):
    return pl.from_arrow(b).with_columns(pl.col("emotion").cast(EMO), pl.col("event").cast(EVT),
                                         pl.col("touchpoint").cast(pl.Categorical))
frames = [to_polars(b) for b in batches]
df = pl.concat(frames, rechunk=True)
theirs, pwall, pcpu = timed(lambda: polars_kpis(df))
print(f"polars group_by (1 thread, data already in polars): wall {pwall:.2f} s ({ROWS/pwall/1e6:.1f} M rows/s), cpu {pcpu:.2f} s")
_, cwall, ccpu = timed(lambda: polars_kpis(pl.concat([to_polars(b) for b in batches], rechunk=False)))
print(f"polars incl. Arrow->polars conversion: wall {cwall:.2f} s ({ROWS/cwall/1e6:.1f} M rows/s), cpu {ccpu:.2f} s")
print(f"ratio emoscore/polars rows/s (wall): {pwall/wall:.2f}x  (cpu): {pcpu/cpu:.2f}x ; incl. conversion (wall): {cwall/wall:.2f}x")
a = ours.to_pandas().set_index("touchpoint")
b = theirs.with_columns(pl.col("touchpoint").cast(pl.String)).to_pandas().set_index("touchpoint").loc[a.index]
for col in ["nps", "csat", "ces", "churn_rate", "valence_mean", "joy_mean", "joy_share"]:
    assert np.allclose(a[col], b[col], rtol=1e-9, atol=1e-9), col
assert np.all(np.abs(a["frt_p50"] / b["frt_p50"] - 1) <= 0.01)
print("polars and emoscore agree on the checked KPIs")
