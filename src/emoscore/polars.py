"""polars entry points: ``df.emo.score()`` and ``pl.col("text").emo.valence()``.

``import emoscore.polars`` registers an ``emo`` namespace on polars DataFrames and expressions (polars
itself is not a dependency of emoscore; this module needs it)::

    import emoscore.polars  # noqa: F401
    scored = df.emo.score()                                  # df's columns + the score columns
    df.with_columns(pl.col("body").emo.valence().alias("valence"), pl.col("body").emo.emotion())

The texts go to the scorer as Arrow (``string_view``, polars' text type, is copied once into a
``large_string``), and the scores come back as Arrow columns, without a copy.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from .api import Scorer, default_scorer
from .errors import InputError

__all__ = ["ScoreFrame", "ScoreExpr"]


@pl.api.register_dataframe_namespace("emo")
class ScoreFrame:
    """``df.emo``: score a DataFrame's text column."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self._frame = frame

    def score(self, text: str = "text", *, prefix: str = "", scorer: Scorer | None = None) -> pl.DataFrame:
        """The frame with the score columns (:attr:`emoscore.Scorer.columns`, named ``prefix + name``)
        after its own; ``scorer``: the default scorer when None. Errors as :meth:`emoscore.Scorer.score`."""
        scored = (scorer or default_scorer()).score(self._frame.to_arrow(), text=text, prefix=prefix)
        return pl.from_arrow(scored)


@pl.api.register_expr_namespace("emo")
class ScoreExpr:
    """``pl.col("text").emo``: one score column of a text expression, batch by batch."""

    def __init__(self, expr: pl.Expr) -> None:
        self._expr = expr

    def column(self, name: str, scorer: Scorer | None = None) -> pl.Expr:
        """Score column ``name`` (one of :attr:`emoscore.Scorer.columns`) of each text, in that column's type.

        Raises ``InputError`` at once when the scorer adds no column ``name``."""
        scorer = scorer or default_scorer()
        empty = scorer.score(pa.array([], pa.string()))
        if name not in empty.schema.names:
            raise InputError(f"the scorer adds no column {name!r}; its columns are {empty.schema.names}")
        dtype = pl.from_arrow(empty.column(name)).dtype

        def run(texts: pl.Series) -> pl.Series:
            return pl.Series(texts.name, scorer.score(texts.to_arrow()).column(name))

        return self._expr.map_batches(run, return_dtype=dtype)

    def valence(self, scorer: Scorer | None = None) -> pl.Expr:
        """Each text's valence (Float32, -1..1)."""
        return self.column("valence", scorer)

    def emotion(self, scorer: Scorer | None = None) -> pl.Expr:
        """Each text's dominant emotion, or "neutral" (String)."""
        return self.column("emotion", scorer)
