"""The feedback generator: determinism, batching, schema and ranges, realism, the bundled sample."""

from __future__ import annotations

import io
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from emoscore import sample
from emoscore.sample import (
    CHANNELS,
    EVENTS,
    LATENTS,
    SAMPLE_N,
    SAMPLE_SEED,
    SCHEMA,
    SOURCES,
    TOUCHPOINTS,
    bundled_sample_path,
    generate,
    iter_batches,
)

NEGATIVE = ("furious", "unacceptable", "keeps crashing", "a total joke", "outrageous", "livid", "disgrace")
POSITIVE = ("amazing", "no problems at all", "delighted", "fantastic", "smooth", "made my day")


@pytest.fixture(scope="module")
def big() -> pa.Table:
    return generate(30_000, seed=11, labels=True)


def column(table: pa.Table, name: str) -> list:
    return table.column(name).to_pylist()


def test_same_seed_same_rows_other_seed_other_rows():
    first = generate(3000, seed=5)
    assert first.equals(generate(3000, seed=5))
    other = generate(3000, seed=6)
    assert not first.equals(other)
    assert column(first, "text") != column(other, "text")


@pytest.mark.parametrize("batch_size", [997, 4096, 65_536, 100_000])
def test_batching_never_changes_the_rows(batch_size):
    n = 70_000  # more than one internal block
    whole = generate(n, seed=3)
    batches = list(iter_batches(n, seed=3, batch_size=batch_size))
    sizes = [batch.num_rows for batch in batches]
    assert all(size == batch_size for size in sizes[:-1]) and 0 < sizes[-1] <= batch_size
    assert sum(sizes) == n
    streamed = pa.Table.from_batches(batches)
    assert streamed.schema == SCHEMA
    assert streamed.equals(whole)


def test_small_and_empty():
    empty = generate(0)
    assert empty.num_rows == 0 and empty.schema == SCHEMA
    assert list(iter_batches(0)) == []
    for n in (1, 2, 7, 99):
        table = generate(n, seed=2)
        assert table.num_rows == n
        assert column(table, "id") == list(range(1, n + 1))
    with pytest.raises(ValueError):
        generate(-1)
    with pytest.raises(ValueError):
        list(iter_batches(10, batch_size=0))


def test_labels_only_add_a_column():
    plain = generate(5000, seed=4)
    labelled = generate(5000, seed=4, labels=True)
    assert labelled.schema.names == [*SCHEMA.names, "latent_emotion"]
    assert labelled.drop_columns(["latent_emotion"]).equals(plain)
    assert set(column(labelled, "latent_emotion")) == set(LATENTS)


def test_schema_and_ranges(big):
    table = big.drop_columns(["latent_emotion"])
    assert table.schema == SCHEMA
    n = table.num_rows
    assert column(table, "id") == list(range(1, n + 1))

    ts = table.column("ts").cast(pa.int64()).to_numpy()
    start = int(datetime(2026, 8, 1, tzinfo=UTC).timestamp())
    assert ts.min() >= start and ts.max() < start + 90 * 86400
    assert ts.max() - ts.min() > 85 * 86400  # spread over the whole window
    assert np.all(np.diff(ts) >= 0)

    assert set(column(table, "touchpoint")) == set(TOUCHPOINTS)
    assert set(column(table, "channel")) == set(CHANNELS)
    assert set(column(table, "source")) == set(SOURCES)
    assert set(column(table, "event")) == {None, *EVENTS}
    assert table.column("event").null_count > 0.8 * n

    for name, low, high in (("nps", 0, 10), ("rating", 1, 5), ("effort", 1, 7)):
        values = table.column(name)
        present = values.drop_null().to_numpy()
        assert present.min() == low and present.max() == high, name
        assert 0 < values.null_count < n, name

    source = np.array(column(table, "source"))
    nps_present = table.column("nps").is_valid().to_numpy(zero_copy_only=False)
    assert not nps_present[source == "review"].any()  # reviews carry a star rating, no NPS
    assert nps_present[source == "survey"].mean() > 0.9
    response = table.column("first_response_s")
    has_response = response.is_valid().to_numpy(zero_copy_only=False)
    assert np.array_equal(has_response, source == "support")  # support messages only
    seconds = response.drop_null().to_numpy()
    assert seconds.min() > 0 and np.median(seconds) < np.mean(seconds)  # right-skewed, log-normal-ish

    revenue = table.column("revenue")
    assert revenue.null_count == 0
    assert pc.min(revenue).as_py() < 0 < pc.max(revenue).as_py()  # refunds and orders

    customers = column(table, "customer_id")
    assert len(set(customers)) < n / 2  # customers come back
    assert all(c.startswith("C") and c[1:].isdigit() for c in customers)


def test_text_has_realistic_variety(big):
    texts = column(big, "text")
    present = [t for t in texts if t is not None]
    assert 0 < texts.count(None) < 0.05 * len(texts)
    assert "" in present
    assert any(0 < len(t) <= 3 for t in present)

    def share(predicate) -> float:
        return sum(1 for t in present if predicate(t)) / len(present)

    for phrase in ("no problems at all", "not bad", "not happy", "really ", "very ", " but ", "!!!", "can't", "don't"):
        assert share(lambda t, phrase=phrase: phrase in t) > 0.001, phrase
    assert share(lambda t: any(e in t for e in "😡🙂👍😍")) > 0.01
    assert share(lambda t: any(ord(c) > 127 and c.isalpha() for c in t)) > 0.005  # café, Zoë, ...
    assert share(lambda t: len(t) > 12 and t == t.upper() and t != t.lower()) > 0.002  # ALL CAPS
    mentions = {  # the text names its touchpoint, one way or another
        "onboarding": ("setup", "sign-up", "onboarding", "welcome"),
        "checkout": ("checkout", "payment", "paying", "paid"),
        "delivery": ("deliver", "courier", "parcel", "shipping"),
        "billing": ("bill", "invoice", "charg"),
        "support": ("support", "on hold", "agent", "helpdesk", "customer service"),
        "returns": ("return", "refund", "exchange"),
        "app": ("app",),
    }
    touchpoints = column(big, "touchpoint")
    for touchpoint, words in mentions.items():
        own = [t.lower() for t, tp in zip(texts, touchpoints, strict=True) if tp == touchpoint and t]
        assert sum(any(w in t for w in words) for t in own) > 0.8 * len(own), touchpoint
    assert any("minutes on hold" in t for t, tp in zip(texts, touchpoints, strict=True) if tp == "support" and t)
    assert len(set(present)) > 0.5 * len(present)  # not a handful of canned strings


def test_scores_follow_the_text(big):
    """Negative phrases come with low NPS / ratings / high effort / churn, positive ones the opposite."""
    texts = [t or "" for t in column(big, "text")]
    neg = np.array([any(p in t.lower() for p in NEGATIVE) for t in texts])
    pos = np.array([any(p in t.lower() for p in POSITIVE) for t in texts])
    only_neg, only_pos = neg & ~pos, pos & ~neg
    assert only_neg.sum() > 300 and only_pos.sum() > 300

    def mean(name: str, mask: np.ndarray) -> float:
        values = big.column(name).to_numpy(zero_copy_only=False).astype(float)  # nulls -> nan
        return float(np.nanmean(values[mask]))

    assert mean("nps", only_neg) + 3 < mean("nps", only_pos)
    assert mean("rating", only_neg) + 1.5 < mean("rating", only_pos)
    assert mean("effort", only_neg) > mean("effort", only_pos) + 1.5
    churn = np.array([e == "churn" for e in column(big, "event")])
    assert churn[only_neg].mean() > 3 * churn[only_pos].mean()

    # ... but not always: some promoters write furious comments, some detractors glowing ones.
    nps = big.column("nps").to_numpy(zero_copy_only=False).astype(float)
    assert np.sum(only_neg & (nps >= 9)) >= 3
    assert np.sum(only_pos & (nps <= 4)) >= 3


def test_latent_emotion_drives_nps(big):
    nps = big.column("nps").to_numpy(zero_copy_only=False).astype(float)
    latent = np.array(column(big, "latent_emotion"))
    means = {name: np.nanmean(nps[latent == name]) for name in LATENTS}
    assert means["anger"] < means["frustration"] < means["neutral"] < means["satisfaction"] < means["joy"]
    promoters = latent[nps >= 9]
    detractors = latent[nps <= 6]
    positive = {"joy", "satisfaction", "trust", "anticipation", "surprise"}
    assert np.isin(promoters, list(positive)).mean() > 0.7
    assert np.isin(detractors, list(positive)).mean() < 0.25
    # deliberate mismatches: a 9/10 with a furious comment, a 0-4 with a delighted one
    assert np.sum((latent == "anger") & (nps >= 9)) >= 10
    assert np.sum((latent == "joy") & (nps <= 4)) >= 10


def test_repeatedly_frustrated_customers(big):
    """Some customers write three or more frustrated or angry messages within 30 days, and little else.

    Frequent customers do that by chance too (about 55 of them in 30,000 rows without the planted
    episodes); the planted ones add n / 300 more.
    """
    history, total = defaultdict(list), defaultdict(int)
    rows = zip(column(big, "customer_id"), column(big, "ts"), column(big, "latent_emotion"), strict=True)
    for customer, ts, latent in rows:
        total[customer] += 1
        if latent in ("frustration", "anger"):
            history[customer].append(ts)
    repeated = [
        c for c, times in history.items()
        if any(times[i + 2] - times[i] <= timedelta(days=30) for i in range(len(times) - 2))
        and len(times) > total[c] / 2
    ]  # fmt: skip
    assert len(repeated) >= 0.9 * big.num_rows // 300


def test_bundled_sample_is_generate_exactly():
    data = bundled_sample_path().read_bytes()
    expected = io.BytesIO()
    assert sample.write_jsonl(generate(SAMPLE_N, seed=SAMPLE_SEED), expected) == SAMPLE_N
    assert data == expected.getvalue()

    rows = [orjson.loads(line) for line in data.splitlines()]
    table = generate(SAMPLE_N, seed=SAMPLE_SEED)
    assert len(rows) == SAMPLE_N
    assert all(list(row) == SCHEMA.names for row in rows)  # every key, nulls written as null
    for name in ("id", "customer_id", "text", "nps", "first_response_s", "event", "revenue"):
        assert [row[name] for row in rows] == column(table, name), name
    assert [row["ts"] for row in rows] == [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in column(table, "ts")]


def test_module_main_regenerates_the_bundled_sample():
    out = subprocess.run(
        [sys.executable, "-m", "emoscore.sample", "--n", str(SAMPLE_N), "--seed", str(SAMPLE_SEED)],
        capture_output=True,
        check=True,
    )
    assert out.stdout == bundled_sample_path().read_bytes()
    small = subprocess.run([sys.executable, "-m", "emoscore.sample", "--n", "3", "--seed", "1"], capture_output=True)
    assert small.returncode == 0
    assert [orjson.loads(line)["id"] for line in small.stdout.splitlines()] == [1, 2, 3]
    bad = subprocess.run([sys.executable, "-m", "emoscore.sample", "--n", "-1"], capture_output=True)
    assert bad.returncode == 2 and bad.stdout == b""
