"""Stage 2: the scoring kernel alone on a token stream, and Scorer.score (tokenize + score + Arrow
columns) at one and two threads, with aspects on (the default) and off when the Scorer has them."""

import inspect

import numba
import pytest

from conftest import record
from emoscore import Scorer
from emoscore._tokenize import tokenize
from emoscore.kernels.score_cpu import score_stream

THREADS = [n for n in (1, 2) if n <= numba.config.NUMBA_NUM_THREADS]
HAS_ASPECTS = "aspects" in inspect.signature(Scorer).parameters


def test_score_kernel(benchmark, texts, scorer):
    lex = scorer.lexicon
    stream = tokenize(texts, lex.table_keys, lex.table_ids, lex.stem_mask)
    record(benchmark, len(texts))
    scores = benchmark(score_stream, *stream, lex)
    assert len(scores.valence) == len(texts)
    assert (scores.hits > 0).mean() > 0.5  # most generated feedback has lexicon words


@pytest.mark.parametrize("threads", THREADS)
def test_score(benchmark, texts, scorer, threads):
    one = Scorer(scorer.lexicon, threads=threads)
    record(benchmark, len(texts))
    table = benchmark(one.score, texts)
    assert table.num_rows == len(texts)


@pytest.mark.skipif(not HAS_ASPECTS, reason="this Scorer has no aspects option")
def test_score_aspects_off(benchmark, texts):
    off = Scorer(aspects=False, threads=1)
    off.score(texts.slice(0, 100))
    record(benchmark, len(texts))
    table = benchmark(off.score, texts)
    assert table.num_rows == len(texts) and "aspects" not in table.column_names
