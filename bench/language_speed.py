"""What language detection costs next to scoring (issue 16's budget: at most 10% end to end on English).

On generated English feedback (``emoscore.sample.generate``), best of ``--repeats`` after a warm-up:

* ``score``: ``Scorer().score`` of the text column (tokenize + score, the default lexicon);
* ``detect``: ``emoscore.language.detect`` on its own (its own tokenizer pass over the words' table);
* in the scorer (what the scorer will pay once it adds a language column to the tokens it already has):
  ``tokenize +keys`` is the extra tokenizer time of the lexicon's table with the language words added
  (``tokenize`` over the merged table minus over the lexicon's own), ``cues`` the character-cue pass,
  ``detect_tokens`` the kernel over the token stream.

    python bench/language_speed.py [--docs 200000] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np

from emoscore import Scorer
from emoscore._tokenize import build_table, tokenize
from emoscore.language import LanguageTable, detect
from emoscore.sample import generate


def best_of(repeats: int, fn) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def merged_table(lexicon, language: LanguageTable):
    """The lexicon's tokenizer table with the language words added as new term ids, and their weights."""
    used = lexicon.table_keys != 0
    keys, ids = lexicon.table_keys[used], lexicon.table_ids[used]
    n_terms = int(ids.max()) + 1 if ids.size else 0
    new = np.setdiff1d(language.keys, keys)
    table_keys, table_ids = build_table(np.concatenate([keys, new]),
                                        np.concatenate([ids, np.arange(n_terms, n_terms + new.size)]).astype(np.int32))
    n_all = n_terms + int(new.size)
    return table_keys, table_ids, language.term_weights(table_keys, table_ids, n_all)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="Numba threads for both (default: Numba's)")
    args = parser.parse_args(argv)
    if args.threads:
        numba.set_num_threads(args.threads)
    data = generate(args.docs, seed=16)
    texts = data.column("text").combine_chunks()
    scorer = Scorer(threads=args.threads or None)
    language = LanguageTable.default()
    lex = scorer.lexicon
    table_keys, table_ids, weights = merged_table(lex, language)
    small = texts.slice(0, 2000)  # warm-up: compile or load every kernel
    scorer.score(data.slice(0, 2000))
    detect(small)
    stream = tokenize(texts, table_keys, table_ids, lex.stem_mask)
    language.detect_tokens(*stream, weights, language.cues(texts))

    rows = {}
    rows["score"], _ = best_of(args.repeats, lambda: scorer.score(data))
    rows["detect"], found = best_of(args.repeats, lambda: detect(texts))
    plain, _ = best_of(args.repeats, lambda: tokenize(texts, lex.table_keys, lex.table_ids, lex.stem_mask))
    merged, _ = best_of(args.repeats, lambda: tokenize(texts, table_keys, table_ids, lex.stem_mask))
    rows["tokenize +keys"] = max(merged - plain, 0.0)
    rows["cues"], cues = best_of(args.repeats, lambda: language.cues(texts))
    rows["detect_tokens"], _ = best_of(args.repeats, lambda: language.detect_tokens(*stream, weights, cues))
    in_scorer = rows["tokenize +keys"] + rows["cues"] + rows["detect_tokens"]

    megabytes = texts.nbytes / 1e6
    print(f"{args.docs:,} generated English documents, {megabytes:.1f} MB of text; best of {args.repeats}; "
          f"{numba.get_num_threads()} threads")
    print("| step | seconds | MB/s | vs score |")
    print("|---|---:|---:|---:|")
    for name, seconds in rows.items():
        speed = f"{megabytes / seconds:,.0f}" if seconds > 0 else "-"
        print(f"| {name} | {seconds:.4f} | {speed} | {seconds / rows['score']:.1%} |")
    print(f"| in the scorer (tokenize +keys, cues, detect_tokens) | {in_scorer:.4f} | - | "
          f"{in_scorer / rows['score']:.1%} |")
    english = found.to_pylist().count("en") / len(found)
    print(f"\ndetected en: {english:.1%} of the generated documents")


if __name__ == "__main__":
    main()
