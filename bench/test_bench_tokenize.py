"""Stage 1: the Cython tokenizer over the generated texts (one thread, the calling one)."""

import pyarrow.compute as pc

from conftest import record
from emoscore._tokenize import tokenize


def test_tokenize(benchmark, texts, scorer):
    lex = scorer.lexicon
    record(benchmark, len(texts), pc.sum(pc.binary_length(texts)).as_py())
    offsets, term_ids, flags = benchmark(tokenize, texts, lex.table_keys, lex.table_ids, lex.stem_mask)
    assert len(offsets) == len(texts) + 1
    assert offsets[-1] == len(term_ids) == len(flags) > len(texts)  # generated texts average many words
