"""DuckDB entry point: score columns as SQL functions.

``emoscore.duckdb.register(con)`` adds one vectorized Arrow function per score column of one value
(DuckDB is not a dependency of emoscore; this module needs duckdb >= 1.4)::

    import duckdb, emoscore.duckdb
    con = duckdb.connect()
    emoscore.duckdb.register(con)
    con.sql("select channel, avg(emo_valence(body)) from 'tickets.parquet' group by channel")

``emo_valence``, ``emo_intensity`` (FLOAT), ``emo_emotion`` (VARCHAR), ``emo_tokens``, ``emo_hits``
(INTEGER) and one FLOAT function per emotion (``emo_joy`` ...). DuckDB hands each function a batch of
texts as Arrow, so a query scores in batches; a null text scores as neutral, as in
:meth:`emoscore.Scorer.score`. Every column at once, as a table: ``emoscore.score(con.sql(...).arrow())``.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from .api import Scorer, default_scorer

__all__ = ["register"]

_SQL_TYPES = {pa.float32(): "FLOAT", pa.int32(): "INTEGER", pa.string(): "VARCHAR"}


def register(con: duckdb.DuckDBPyConnection, scorer: Scorer | None = None, *, prefix: str = "emo_") -> list[str]:
    """Add the score functions to ``con`` (named ``prefix + column``); ``scorer``: the default
    :class:`~emoscore.Scorer` when None. Returns the names of the functions added."""
    scorer = scorer or default_scorer()
    empty = scorer.score(pa.array([], pa.string()))
    names = []
    for field in empty.schema:
        if field.type not in _SQL_TYPES:  # the aspects and evidence lists: use emoscore.score on the relation
            continue
        con.create_function(prefix + field.name, _column_function(scorer, field.name), [duckdb.sqltype("VARCHAR")],
                            duckdb.sqltype(_SQL_TYPES[field.type]), type="arrow", null_handling="special")
        names.append(prefix + field.name)
    return names


def _column_function(scorer: Scorer, name: str):
    """A one-argument function: the score column ``name`` of a batch of texts."""

    def column(texts: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
        return scorer.score(texts).column(name)

    return column
