"""The floor kernel (bench/floor_kernel.py) on the generated token stream, checked against numpy, and
the real-text input sets of bench/scoring_sets.py."""

import numpy as np
import pytest

from conftest import record
from emoscore._tokenize import tokenize
from floor_kernel import floor_kernel
from scoring_sets import LONG_DOC_BYTES, VADER_DATA, build_sets, text_bytes


def test_floor_kernel(benchmark, texts, scorer):
    lex = scorer.lexicon
    offsets, ids, _ = tokenize(texts, lex.table_keys, lex.table_ids, lex.stem_mask)
    record(benchmark, len(texts))
    valence, emotions = benchmark(floor_kernel, offsets, ids, lex)
    doc = np.repeat(np.arange(len(texts)), np.diff(offsets))[ids >= 0]
    hit = ids[ids >= 0]
    v = np.bincount(doc, lex.valence[hit].astype(np.float64), len(texts))
    sums = np.stack([np.bincount(doc, lex.weights[hit, e].astype(np.float64), len(texts))
                     for e in range(lex.weights.shape[1])])
    np.testing.assert_allclose(valence, v / np.sqrt(v * v + 15), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(emotions, 1 - np.exp(-sums), rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not VADER_DATA.is_dir(), reason="no ../shared/data/vader beside the repository")
def test_scoring_sets():
    sets = build_sets(2000)
    assert list(sets) == ["generated", "amazon", "movie", "long"]
    megabytes = text_bytes(sets["generated"])
    for name in ("amazon", "movie", "long"):  # tiled to about the generated set's bytes, at least once
        assert text_bytes(sets[name]) >= 0.5 * megabytes
    long_docs = sets["long"].to_pylist()
    assert min(len(t.encode()) for t in long_docs) >= LONG_DOC_BYTES
    assert build_sets(2000)["long"].equals(sets["long"])  # deterministic
