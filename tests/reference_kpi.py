"""Independent reference implementations for the KPI engine and a generator of scored test data.

Everything here is deliberately naive: pandas group-bys and plain Python over the raw rows, written
without looking at the engine's state layout, so that the tests compare two independent computations.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pyarrow as pa

TAXONOMY = (
    "anger anticipation disgust fear joy sadness surprise trust frustration satisfaction confusion".split()
)
EVENTS = ["churn", "renewal", "upsell", "cross_sell", "Churn ", "cross-sell", "RENEWAL", "trial", "other"]


# --------------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------------


def scored_table(n: int, seed: int, *, emotions=TAXONOMY, tz: str | None = "America/New_York",
                 start: str = "2024-02-20", days: int = 60, null_rate: float = 0.15) -> pa.Table:
    """Synthetic scored rows: metadata (keys of several Arrow types, survey answers, events, revenue,
    response times, customers, timestamps) plus the scorer's columns, with nulls everywhere."""
    rng = np.random.default_rng(seed)

    def mask(rate=null_rate):
        return rng.random(n) < rate

    channel = rng.choice(np.array(["email", "chat", "phone", "store", "app"], object), n)
    channel[rng.random(n) < 0.02] = "solo-" + str(seed)  # a rare (often one-row) group
    tier = rng.integers(1, 4, n)
    start_us = int(pd.Timestamp(start, tz="UTC").value // 1000)
    ts = start_us + rng.integers(0, days * 86_400_000_000, n)
    names = list(emotions) + ["neutral"]
    emotion = np.array(names, object)[rng.integers(0, len(names), n)]
    frt = rng.lognormal(6, 2, n)
    frt[rng.random(n) < 0.03] = 0.0
    frt[rng.random(n) < 0.02] = 5e-4
    columns = {
        "channel": pa.array(channel, pa.string(), mask=mask(0.05)),
        "tier": pa.array(tier, pa.int64(), mask=mask(0.05)),
        "vip": pa.array(rng.random(n) < 0.3, pa.bool_(), mask=mask(0.05)),
        "region": pa.array(np.array(["north", "south", "east"], object)[rng.integers(0, 3, n)],
                           mask=mask(0.05)).dictionary_encode(),
        "ts": pa.array(ts, pa.timestamp("us", tz=tz), mask=mask(0.03)),
        "nps": pa.array(rng.integers(0, 11, n), pa.int64(), mask=mask(0.4)),
        "rating": pa.array(rng.integers(1, 6, n).astype(np.int8), pa.int8(), mask=mask(0.4)),
        "effort": pa.array(rng.integers(1, 8, n).astype(np.float64), pa.float64(), mask=mask(0.5)),
        "first_response_s": pa.array(frt, mask=mask(0.3)),
        "event": pa.array(np.array(EVENTS, object)[rng.integers(0, len(EVENTS), n)], mask=mask(0.5)),
        "revenue": pa.array(np.round(rng.normal(80, 60, n), 2), mask=mask(0.3)),
        "customer_id": pa.array([f"cust-{c}" for c in rng.integers(0, max(2, n // 4), n)], mask=mask(0.1)),
        "text": pa.array([f"text {i}" for i in range(n)]),
        "valence": pa.array(rng.uniform(-1, 1, n).astype(np.float32), mask=mask(0.05)),
        "intensity": pa.array(rng.uniform(0, 1, n).astype(np.float32)),
        "emotion": pa.array(emotion, pa.string(), mask=mask(0.05)),
        "tokens": pa.array(rng.integers(0, 40, n).astype(np.int32)),
        "hits": pa.array(rng.integers(0, 6, n).astype(np.int32)),
    }
    for e in emotions:
        values = rng.uniform(0, 1, n).astype(np.float32)
        values[rng.random(n) < 0.1] = 0.0
        values[rng.random(n) < 0.02] = 1.0
        columns[e] = pa.array(values, mask=mask(0.05))
    return pa.table(columns)


# --------------------------------------------------------------------------------------------------
# reference KPIs
# --------------------------------------------------------------------------------------------------


def _py(value):
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def window_start(times: pa.Array, window: str) -> list:
    """Window start dates computed with pandas' calendar tools (local time of a zoned timestamp)."""
    if pa.types.is_date(times.type):
        series = pd.Series(pd.to_datetime(pd.Series(times.to_pylist(), dtype="object")))
    else:
        series = pd.Series(times.to_pandas())
        if getattr(series.dt, "tz", None) is not None:
            series = series.dt.tz_localize(None)  # wall-clock time in the column's zone
    if window == "day":
        starts = series.dt.floor("D")
    elif window == "week":
        starts = series.dt.to_period("W-SUN").dt.start_time
    else:
        starts = series.dt.to_period("M").dt.start_time
    return [None if pd.isna(v) else v.date() for v in starts]


def reference_kpis(table: pa.Table, by, *, window=None, time="ts", emotions=TAXONOMY) -> dict:
    """KPIs per group key tuple (keys then window start), as plain Python numbers (None = null)."""
    by = [by] if isinstance(by, str) else list(by)
    keys = [table.column(k).to_pylist() for k in by]
    if window:
        keys.append(window_start(table.column(time).combine_chunks(), window))
    frame = pd.DataFrame({"_row": np.arange(table.num_rows)})
    frame["_key"] = list(zip(*keys, strict=True)) if keys else [()] * table.num_rows

    def column(name):
        if name in table.column_names:
            return pd.Series(table.column(name).to_pylist(), dtype="object")
        return pd.Series([None] * table.num_rows, dtype="object")

    for name in ["nps", "rating", "effort", "first_response_s", "revenue", "valence", *emotions]:
        frame[name] = pd.to_numeric(column(name), errors="raise").astype("float64")
    for name in ["event", "customer_id", "emotion"]:
        frame[name] = column(name)
    out = {}
    for key, g in frame.groupby("_key", sort=False):
        key = tuple(_py(k) for k in key)
        r = {"n": len(g)}
        nps = g["nps"].dropna()
        r["nps"] = 100.0 * ((nps >= 9).sum() - (nps <= 6).sum()) / len(nps) if len(nps) else None
        rating = g["rating"].dropna()
        r["csat"] = 100.0 * (rating >= 4).sum() / len(rating) if len(rating) else None
        effort = g["effort"].dropna()
        r["ces"] = float(effort.mean()) if len(effort) else None
        frt = g["first_response_s"].dropna().to_numpy()
        r["frt_p50"] = float(np.quantile(frt, 0.5, method="lower")) if len(frt) else None
        r["frt_p90"] = float(np.quantile(frt, 0.9, method="lower")) if len(frt) else None
        events = g["event"].dropna().map(lambda s: s.strip().lower())
        churn = int((events == "churn").sum())
        renewal = int((events == "renewal").sum())
        upsell = int((events == "upsell").sum())
        cross = int(events.isin(["cross_sell", "cross-sell"]).sum())
        r["churn_rate"] = churn / (churn + renewal) if churn + renewal else None
        r["renewal_rate"] = renewal / (churn + renewal) if churn + renewal else None
        r["upsell_rate"] = upsell / len(events) if len(events) else None
        r["cross_sell_rate"] = cross / len(events) if len(events) else None
        r["customers"] = int(g["customer_id"].dropna().nunique())
        revenue = g["revenue"].dropna()
        r["revenue"] = float(revenue.sum()) if len(revenue) else None
        ok = len(revenue) and r["customers"] and r["churn_rate"]
        r["clv"] = r["revenue"] / r["customers"] / r["churn_rate"] if ok else None
        valence = g["valence"].dropna()
        r["valence_mean"] = float(valence.mean()) if len(valence) else None
        for e in emotions:
            values = g[e].dropna()
            r[f"{e}_mean"] = float(values.mean()) if len(values) else None
        dominant = g["emotion"].dropna()
        counts = {e: int((dominant == e).sum()) for e in emotions}
        best = max(emotions, key=lambda e: (counts[e], -emotions.index(e)))
        r["dominant_emotion"] = best if counts[best] else None
        for e in emotions:
            r[f"{e}_share"] = counts[e] / len(dominant) if len(dominant) else None
        out[key] = r
    return out


def reference_drivers(table: pa.Table, by, target: str, *, emotions=TAXONOMY) -> dict:
    """{(key tuple, emotion): (prevalence, kpi_with, kpi_without)} computed row by row in Python."""
    by = [by] if isinstance(by, str) else list(by)
    keys = list(zip(*[table.column(k).to_pylist() for k in by], strict=True))
    rows = table.to_pylist()

    def kpi(subset):
        if target == "nps":
            values = [r["nps"] for r in subset if r.get("nps") is not None]
            return 100.0 * (sum(v >= 9 for v in values) - sum(v <= 6 for v in values)) / len(values) if values else None
        if target == "csat":
            values = [r["rating"] for r in subset if r.get("rating") is not None]
            return 100.0 * sum(v >= 4 for v in values) / len(values) if values else None
        if target == "ces":
            values = [r["effort"] for r in subset if r.get("effort") is not None]
            return sum(values) / len(values) if values else None
        if target == "valence_mean":
            values = [r["valence"] for r in subset if r.get("valence") is not None]
            return sum(values) / len(values) if values else None
        events = [r["event"].strip().lower() for r in subset if r.get("event") is not None]
        if target in ("churn_rate", "renewal_rate"):
            churn, renewal = events.count("churn"), events.count("renewal")
            if not churn + renewal:
                return None
            return (churn if target == "churn_rate" else renewal) / (churn + renewal)
        name = "upsell" if target == "upsell_rate" else "cross_sell"
        hits = sum(e == name or (name == "cross_sell" and e == "cross-sell") for e in events)
        return hits / len(events) if events else None

    groups: dict = {}
    for key, row in zip(keys, rows, strict=True):
        groups.setdefault(key, []).append(row)
    out = {}
    for key, members in groups.items():
        scored = [r for r in members if r.get("emotion") is not None]
        for e in emotions:
            inside = [r for r in scored if r["emotion"] == e]
            rest = [r for r in scored if r["emotion"] != e]
            prevalence = len(inside) / len(scored) if scored else None
            out[(key, e)] = (prevalence, kpi(inside), kpi(rest))
    return out


def exact_quantile(values: np.ndarray, q: float) -> float:
    """The quantile definition the sketch approximates: numpy's ``method="lower"``."""
    return float(np.quantile(values, q, method="lower"))


def week_monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())
