"""The scoring inputs of the benchmarks, built in one place so every bench script times the same text.

- ``generated``: the seeded sample generator's feedback (short, ~59 bytes a document);
- ``amazon`` / ``movie``: the VADER Amazon and movie review snippets (real text, ~100-120 bytes);
- ``long``: those snippets, Amazon then movie, joined in file order into documents of ~800 bytes;
- ``french_reviews()``: the Allociné TV reviews of ``../shared/data/fr`` (~235 bytes), for the
  language rows of ``compare.py``.

The real sets hold a few thousand documents: they are tiled (repeated in order) up to about the
generated set's byte size, so a timing is as long as the generated set's. Everything is
deterministic: two commits time the same bytes.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

VADER_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "vader"
ALLOCINE_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fr" / "allocine_tv"
SNIPPETS = {"amazon": "amazonReviewSnippets_GroundTruth.txt", "movie": "movieReviewSnippets_GroundTruth.txt"}
LONG_DOC_BYTES = 800
SETS = ("generated", "amazon", "movie", "long")


def generated(docs: int) -> pa.StringArray:
    from emoscore.sample import generate

    return generate(docs, seed=1).column("text").combine_chunks()


@functools.cache
def snippets(name: str) -> tuple[str, ...]:
    """The text column of a VADER ground-truth file (tab-separated id, score, text)."""
    lines = (VADER_DATA / SNIPPETS[name]).read_text(encoding="utf-8").splitlines()
    return tuple(line.split("\t", 2)[2].strip() for line in lines if line.count("\t") >= 2)


@functools.cache
def french_reviews() -> tuple[str, ...]:
    """The Allociné TV reviews of the French development data (train and dev splits: tab-separated
    label, text), read in place: they are evaluation data and are never copied into the repository."""
    return tuple(line.split("\t", 1)[1] for split in ("train.tsv", "dev.tsv")
                 for line in (ALLOCINE_DATA / split).read_text(encoding="utf-8").splitlines())


def long_reviews() -> list[str]:
    """All snippets in file order, joined with spaces until a document reaches LONG_DOC_BYTES."""
    docs, parts, size = [], [], 0
    for text in snippets("amazon") + snippets("movie"):
        parts.append(text)
        size += len(text.encode()) + (size > 0)  # and the joining space
        if size >= LONG_DOC_BYTES:
            docs.append(" ".join(parts))
            parts, size = [], 0
    return docs  # the last, short remainder is dropped: every document is ~800 bytes


def tiled(texts: list[str] | tuple[str, ...], megabytes: float) -> pa.StringArray:
    """``texts`` repeated in order until about ``megabytes`` of text (at least one copy)."""
    once = pa.array(texts, pa.string())
    copies = max(1, round(megabytes * 1e6 / text_bytes(once)))
    return pa.concat_arrays([once] * copies)


def text_bytes(texts: pa.Array) -> int:
    return pc.sum(pc.binary_length(texts)).as_py() or 0


def build_sets(docs: int, sets: tuple[str, ...] = SETS) -> dict[str, pa.StringArray]:
    """Each named set; ``docs`` generated documents, the real sets tiled to the same byte size."""
    gen = generated(docs)
    megabytes = text_bytes(gen) / 1e6
    real = {"amazon": lambda: snippets("amazon"), "movie": lambda: snippets("movie"), "long": long_reviews}
    return {name: gen if name == "generated" else tiled(real[name](), megabytes) for name in sets}
