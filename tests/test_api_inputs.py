"""What Scorer.score takes besides pyarrow objects: anything that speaks the Arrow PyCapsule interface
(pandas and polars DataFrames, DuckDB relations and readers, a polars Series), and streams, which come
back as streams scored batch by batch when read; and ``prefix=`` for the added columns' names."""

from __future__ import annotations

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from emoscore import Scorer
from emoscore.errors import ColumnNotFoundError, InputError

TEXTS = ["Delivery was fast, thanks!", "The refund never came and support ignored me", None, "ok", "great app"]


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer()


@pytest.fixture(scope="module")
def expected(scorer) -> pa.Table:
    return scorer.score(pa.table({"id": list(range(len(TEXTS))), "text": pa.array(TEXTS, pa.string())}))


def scores(table: pa.Table, scorer: Scorer) -> pa.Table:
    return table.select(list(scorer.columns))


def test_pandas_and_polars_dataframes_come_back_as_tables(scorer, expected):
    frames = [pd.DataFrame({"id": range(len(TEXTS)), "text": TEXTS}),
              pl.DataFrame({"id": range(len(TEXTS)), "text": TEXTS})]
    for frame in frames:
        out = scorer.score(frame)
        assert isinstance(out, pa.Table) and out.num_rows == len(TEXTS)
        assert scores(out, scorer).equals(scores(expected, scorer)), type(frame)
        assert out.column("id").to_pylist() == list(range(len(TEXTS)))  # the input columns are kept
    # polars exports text as string_view: kept as it is in the output, read as text for the scores
    assert scorer.score(frames[1]).schema.field("text").type == pa.string_view()


def test_a_polars_series_is_a_column_of_texts(scorer, expected):
    out = scorer.score(pl.Series(TEXTS))
    assert out.schema.names == list(scorer.columns)
    assert out.equals(scores(expected, scorer))


def test_a_duckdb_relation_is_read_whole_and_its_reader_is_scored_as_a_stream(scorer, expected):
    con = duckdb.connect()
    con.register("feedback", pa.table({"id": list(range(len(TEXTS))), "text": pa.array(TEXTS, pa.string())}))
    relation = con.sql("select id, text from feedback order by id")
    out = scorer.score(relation)
    assert isinstance(out, pa.Table) and scores(out, scorer).equals(scores(expected, scorer))
    reader = con.sql("select id, text from feedback order by id").arrow()  # a reader since DuckDB 1.4
    assert isinstance(reader, pa.RecordBatchReader)
    stream = scorer.score(reader)
    assert isinstance(stream, pa.RecordBatchReader)
    assert scores(stream.read_all(), scorer).equals(scores(expected, scorer))


def test_a_stream_is_scored_one_batch_at_a_time_when_read(scorer, expected):
    pulled = []
    schema = pa.schema([("id", pa.int64()), ("text", pa.string())])

    def batches():
        for start in range(0, len(TEXTS), 2):
            pulled.append(start)
            yield pa.record_batch([pa.array(range(start, min(start + 2, len(TEXTS)))),
                                   pa.array(TEXTS[start:start + 2], pa.string())], schema=schema)

    stream = scorer.score(pa.RecordBatchReader.from_batches(schema, batches()), prefix="emo_")
    assert pulled == []                                   # nothing is read before the caller reads
    assert stream.schema.names[:3] == ["id", "text", "emo_valence"]
    first = stream.read_next_batch()
    assert pulled == [0] and first.num_rows == 2          # one batch in, one batch out
    rest = stream.read_all()
    assert pulled == [0, 2, 4]
    together = pa.Table.from_batches([first, *rest.to_batches()])
    assert together.column("emo_valence").equals(expected.column("valence"))


def test_a_missing_text_column_in_a_stream_fails_at_the_call_not_at_the_first_batch(scorer):
    def never():
        raise AssertionError("read")
        yield  # pragma: no cover

    reader = pa.RecordBatchReader.from_batches(pa.schema([("body", pa.string())]), never())
    with pytest.raises(ColumnNotFoundError, match="text column 'text' not found.*'body'"):
        scorer.score(reader)


def test_prefix_names_the_added_columns_so_they_never_clash(scorer):
    table = pa.table({"text": ["great"], "valence": [0.5], "emotion": ["mine"]})
    with pytest.raises(InputError, match=r"\['valence', 'emotion'\].*prefix="):
        scorer.score(table)
    out = scorer.score(table, prefix="emo_")
    assert out.schema.names == ["text", "valence", "emotion"] + [f"emo_{name}" for name in scorer.columns]
    assert out.column("valence").to_pylist() == [0.5] and out.column("emo_valence")[0].as_py() > 0
    with pytest.raises(InputError, match="prefix must be a string"):
        scorer.score(table, prefix=1)


def test_objects_that_are_not_arrow_are_refused_with_what_is_accepted(scorer):
    with pytest.raises(InputError, match="cannot score a dict: .*__arrow_c_stream__"):
        scorer.score({"text": ["great"]})
