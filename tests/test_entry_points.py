"""The DataFrame and SQL entry points, against the real libraries: emoscore.pandas (``df.emo.score()``),
emoscore.polars (``df.emo.score()``, ``pl.col(...).emo.valence()``) and emoscore.duckdb (SQL functions);
each gives what Scorer.score gives for the same texts."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import emoscore.duckdb
import emoscore.pandas  # noqa: F401 - registers df.emo
import emoscore.polars  # noqa: F401 - registers df.emo and pl.col(...).emo
from emoscore import Scorer
from emoscore.errors import ColumnNotFoundError, InputError

TEXTS = ["Delivery was fast, thanks!", "The refund never came and support ignored me", None, "ok",
         "La livraison était rapide, merci !"]
IDS = [3, 1, 4, 1, 5]


@pytest.fixture(scope="module")
def expected() -> pa.Table:
    return Scorer().score(pa.array(TEXTS, pa.string()))


def test_pandas_accessor_keeps_the_frame_and_adds_the_scores(expected):
    frame = pd.DataFrame({"id": IDS, "body": TEXTS}, index=[10, 20, 30, 40, 50])
    out = frame.emo.score("body", prefix="emo_")
    assert list(out.columns) == ["id", "body"] + [f"emo_{name}" for name in Scorer().columns]
    assert list(out.index) == [10, 20, 30, 40, 50] and out["id"].tolist() == IDS
    np.testing.assert_array_equal(out["emo_valence"].to_numpy(), expected.column("valence").to_numpy())
    assert out["emo_emotion"].tolist() == expected.column("emotion").to_pylist()
    french = Scorer(language="auto")
    assert frame.emo.score("body", scorer=french)["language"].tolist() == ["en", "en", "und", "und", "fr"]
    with pytest.raises(ColumnNotFoundError, match="'text' not found"):
        frame.emo.score()
    with pytest.raises(InputError, match=r"\['valence'\].*prefix="):
        frame.assign(valence=1.0).emo.score("body")


def test_polars_namespaces_score_frames_and_expressions(expected):
    frame = pl.DataFrame({"id": IDS, "body": TEXTS})
    out = frame.emo.score("body")
    assert out.columns == ["id", "body", *Scorer().columns] and out["id"].to_list() == IDS
    assert out["valence"].to_arrow().equals(expected.column("valence").combine_chunks())
    columns = frame.lazy().with_columns(pl.col("body").emo.valence().alias("v"),
                                        pl.col("body").emo.emotion().alias("emotion"),
                                        pl.col("body").emo.column("joy").alias("joy")).collect()
    assert columns.schema["v"] == pl.Float32 and columns.schema["joy"] == pl.Float32
    assert columns["v"].to_list() == expected.column("valence").to_pylist()
    assert columns["emotion"].to_list() == expected.column("emotion").to_pylist()
    means = frame.group_by("id", maintain_order=True).agg(pl.col("body").emo.valence().mean().alias("mean"))
    valence = expected.column("valence").to_pylist()
    assert means["mean"].to_list() == pytest.approx([valence[0], (valence[1] + valence[3]) / 2, valence[2], valence[4]])
    with pytest.raises(InputError, match="no column 'happiness'"):
        pl.col("body").emo.column("happiness")


def test_duckdb_functions_score_in_sql(expected):
    con = duckdb.connect()
    names = emoscore.duckdb.register(con)
    assert {"emo_valence", "emo_emotion", "emo_tokens", "emo_joy", "emo_frustration"} <= set(names)
    con.register("feedback", pa.table({"id": list(range(len(TEXTS))), "body": pa.array(TEXTS, pa.string())}))
    rows = con.sql("select emo_valence(body), emo_emotion(body), emo_tokens(body), emo_joy(body) "
                   "from feedback order by id").fetchall()
    assert [r[1] for r in rows] == expected.column("emotion").to_pylist()
    assert [r[2] for r in rows] == expected.column("tokens").to_pylist()
    np.testing.assert_array_equal(np.array([r[0] for r in rows], np.float32), expected.column("valence").to_numpy())
    np.testing.assert_array_equal(np.array([r[3] for r in rows], np.float32), expected.column("joy").to_numpy())
    # many rows: DuckDB calls the function once per vector of texts, in any order of batches
    big = con.sql("select count(*), sum(emo_tokens(body)) from feedback, range(3000)").fetchall()[0]
    assert big == (len(TEXTS) * 3000, sum(expected.column("tokens").to_pylist()) * 3000)
