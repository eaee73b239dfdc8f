"""A/B of the tokenizer in one process: the baseline (``baseline_tokenizer.load()``) against the
current ``emoscore._tokenize``, on generated feedback and on real review text.

    python bench/tokenizer_ab.py                        # all sets, 15 interleaved repeats, best-of
    python bench/tokenizer_ab.py --docs 100k --repeats 31 --only generated
    python bench/tokenizer_ab.py --profile long --which new --loops 1   # one side only (valgrind)

Sets: ``generated`` (``emoscore.sample.generate(n, seed=1)``, ~59 B/doc), ``vader`` (the VADER
Amazon and movie review snippets, repeated to about ``--vader-mb``) and ``long`` (those snippets
joined to ~800 bytes per document). The tokens are those of the default Scorer's lexicon (emotion and
aspect terms). Before timing, the two tokenizers' outputs must be identical array for array on every
set (and ``fold_tokens`` on a sample of documents), or the script stops with an error.
One thread; old and new alternate within each repeat, so load on a shared machine hits both alike.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baseline_tokenizer  # noqa: E402
from emoscore import _tokenize as new  # noqa: E402
from emoscore.lexicon.cache import load_compiled  # noqa: E402
from emoscore.sample import generate  # noqa: E402

VADER = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "vader"
SNIPPET_FILES = ("amazonReviewSnippets_GroundTruth.txt", "movieReviewSnippets_GroundTruth.txt")
LONG_BYTES = 800


def size(text: str) -> int:
    return int(float(text[:-1]) * {"k": 1e3, "M": 1e6}[text[-1]]) if text[-1] in "kM" else int(text)


def snippets() -> list[str]:
    """The review texts of the VADER snippet files (id, score, text; tab-separated)."""
    texts = []
    for name in SNIPPET_FILES:
        for line in (VADER / name).read_text(encoding="utf-8").splitlines():
            parts = line.split("\t", 2)
            if len(parts) == 3:
                texts.append(parts[2])
    return texts


def datasets(docs: int, vader_mb: float) -> dict[str, pa.StringArray]:
    sets = {"generated": generate(docs, seed=1).column("text").combine_chunks()}
    texts = snippets()
    one_pass = sum(len(t.encode()) for t in texts)
    repeat = max(1, round(vader_mb * 1e6 / one_pass))
    sets["vader"] = pa.array(texts * repeat, pa.string())
    longs, current = [], []
    for text in texts * repeat:  # consecutive snippets joined until a document reaches ~800 bytes
        current.append(text)
        if sum(len(t) for t in current) + len(current) >= LONG_BYTES:
            longs.append(" ".join(current))
            current = []
    sets["long"] = pa.array(longs, pa.string())
    return sets


def check_same(name: str, old, texts: pa.StringArray, table) -> int:
    """Stops with an error unless old and new give identical arrays; returns the token count."""
    got_old = old.tokenize(texts, *table)
    got_new = new.tokenize(texts, *table)
    for label, a, b in zip(("doc_offsets", "term_ids", "flags"), got_old, got_new, strict=True):
        if a.dtype != b.dtype or not np.array_equal(a, b):
            diff = np.flatnonzero(a != b)[:5] if a.shape == b.shape else f"shapes {a.shape} {b.shape}"
            raise SystemExit(f"MISMATCH on {name}: {label} differs (first positions {diff})")
    for text in texts.slice(0, 3000).to_pylist():
        if text is not None and old.fold_tokens(text) != new.fold_tokens(text):
            raise SystemExit(f"MISMATCH on {name}: fold_tokens({text!r})")
    return len(got_new[1])


def best_time(module, texts, table, loops: int) -> float:
    start = time.perf_counter()
    for _ in range(loops):
        module.tokenize(texts, *table)
    return (time.perf_counter() - start) / loops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", default="200k", help="generated documents (default 200k)")
    parser.add_argument("--vader-mb", type=float, default=8.0, help="size of the snippet sets, MB (default 8)")
    parser.add_argument("--repeats", type=int, default=15, help="interleaved repeats, best kept (default 15)")
    parser.add_argument("--only", default="generated,vader,long", help="comma-separated sets")
    parser.add_argument("--profile", help="run one set only, with --which, --loops times, untimed checks")
    parser.add_argument("--which", choices=("old", "new"), default="new")
    parser.add_argument("--loops", type=int, default=1)
    args = parser.parse_args()

    lexicon = load_compiled(None, True)
    table = (lexicon.table_keys, lexicon.table_ids, lexicon.stem_mask)
    old = baseline_tokenizer.load()
    sets = datasets(size(args.docs), args.vader_mb)

    if args.profile:  # for valgrind: just the tokenize calls of one side (no A/B check, no timing)
        module = old if args.which == "old" else new
        texts = sets[args.profile]
        for _ in range(args.loops):
            tokens = len(module.tokenize(texts, *table)[1])
        nbytes = pc.sum(pc.binary_length(texts)).as_py()
        print(f"{args.profile} {args.which}: {len(texts)} docs, {nbytes} bytes, {tokens} tokens per call")
        return

    names = args.only.split(",")
    info = {}
    for name in names:
        texts = sets[name]
        tokens = check_same(name, old, texts, table)
        nbytes = pc.sum(pc.binary_length(texts)).as_py()
        info[name] = (texts, tokens, nbytes)
        print(f"{name}: {len(texts)} docs, {nbytes / len(texts):.0f} B/doc, {tokens / len(texts):.1f} "
              f"tokens/doc, outputs identical")
    best = {(name, side): float("inf") for name in names for side in ("old", "new")}
    for _ in range(args.repeats):
        for name in names:
            texts = info[name][0]
            for side, module in (("old", old), ("new", new)):
                best[name, side] = min(best[name, side], best_time(module, texts, table, 1))

    print(f"\nbest of {args.repeats} interleaved repeats, one thread")
    print(f"{'set':<10} {'old MB/s':>9} {'new MB/s':>9} {'old ns/tok':>10} {'new ns/tok':>10} {'new/old':>8}")
    for name in names:
        _, tokens, nbytes = info[name]
        t_old, t_new = best[name, "old"], best[name, "new"]
        print(f"{name:<10} {nbytes / t_old / 1e6:9.1f} {nbytes / t_new / 1e6:9.1f} {t_old / tokens * 1e9:10.2f} "
              f"{t_new / tokens * 1e9:10.2f} {t_old / t_new:7.2f}x")


if __name__ == "__main__":
    main()
