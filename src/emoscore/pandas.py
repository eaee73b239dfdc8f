"""pandas entry point: ``df.emo.score()``.

``import emoscore.pandas`` registers an ``emo`` accessor on pandas DataFrames (pandas itself is not a
dependency of emoscore; this module needs pandas >= 2.2)::

    import emoscore.pandas  # noqa: F401
    scored = df.emo.score("body", prefix="emo_")   # df's columns and index + the score columns

Only the text column goes to Arrow; the frame's own columns and index are kept as they are.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from .api import Scorer, default_scorer
from .errors import ColumnNotFoundError, InputError

__all__ = ["ScoreAccessor"]


@pd.api.extensions.register_dataframe_accessor("emo")
class ScoreAccessor:
    """``df.emo``: score a DataFrame's text column."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame

    def score(self, text: str = "text", *, prefix: str = "", scorer: Scorer | None = None) -> pd.DataFrame:
        """A new frame: the frame's columns and index, then the score columns
        (:attr:`emoscore.Scorer.columns`, named ``prefix + name``, as ``pyarrow``'s ``to_pandas`` gives
        them); ``scorer``: the default scorer when None. Errors as :meth:`emoscore.Scorer.score`."""
        if text not in self._frame.columns:
            raise ColumnNotFoundError(
                f"text column {text!r} not found; the data has columns {list(self._frame.columns)}")
        texts = pa.array(self._frame[text], from_pandas=True)
        scores = (scorer or default_scorer()).score(texts, prefix=prefix)
        clash = [name for name in scores.schema.names if name in self._frame.columns]
        if clash:
            raise InputError(f"the frame already has column(s) {clash} that scoring would add; pass prefix=")
        return pd.concat([self._frame, scores.to_pandas().set_index(self._frame.index)], axis=1)
