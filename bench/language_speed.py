"""What languages cost (issue 16's budgets: detection at most 10% end to end on English; French scored at
English's MB/s within 20%).

Best of ``--repeats`` after a warm-up, interleaved, one process:

* ``score``: ``Scorer().score`` of generated English feedback (``emoscore.sample.generate``);
* ``score, language="auto"``: the same texts with each text's language detected in the scorer's own
  token stream (English: scored from that same stream);
* ``detect``: ``emoscore.language.detect`` on its own (its own tokenizer pass over the words' table);
* ``French, language="fr"`` and ``French, language="auto"``: the Allociné TV reviews (train and dev of
  ``../shared/data/fr/allocine_tv``, evaluation data read in place, never copied), repeated to the
  English text's size; compared in MB/s with ``score``.

    python bench/language_speed.py [--docs 200000] [--repeats 5] [--threads N] [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numba
import pyarrow as pa

from emoscore import Scorer
from emoscore.language import detect
from emoscore.sample import generate


def french_texts(data_dir: Path, megabytes: float) -> pa.Array:
    rows = []
    for split in ("train.tsv", "dev.tsv"):
        for line in (data_dir / "fr" / "allocine_tv" / split).read_text(encoding="utf-8").splitlines():
            rows.append(line.split("\t", 1)[1])
    texts = pa.array(rows, pa.string())
    return pa.concat_arrays([texts] * max(1, round(megabytes * 1e6 / texts.nbytes)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="Numba threads (default: Numba's)")
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    args = parser.parse_args(argv)
    if args.threads:
        numba.set_num_threads(args.threads)
    threads = args.threads or None
    english = generate(args.docs, seed=16).column("text").combine_chunks()
    french = french_texts(args.data_dir, english.nbytes / 1e6)
    plain, auto, told = Scorer(threads=threads), Scorer(language="auto", threads=threads), \
        Scorer(language="fr", threads=threads)
    runs = {
        "score": (english, plain.score),
        'score, language="auto"': (english, auto.score),
        "detect": (english, detect),
        'French, language="fr"': (french, told.score),
        'French, language="auto"': (french, auto.score),
    }
    for texts, run in runs.values():
        run(texts.slice(0, 2000))  # warm-up: compile or load every kernel
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(args.repeats):
        for name, (texts, run) in runs.items():
            start = time.perf_counter()
            run(texts)
            best[name] = min(best[name], time.perf_counter() - start)

    print(f"{args.docs:,} generated English documents ({english.nbytes / 1e6:.1f} MB), {len(french):,} French "
          f"reviews ({french.nbytes / 1e6:.1f} MB); best of {args.repeats}; {numba.get_num_threads()} threads")
    print("| run | seconds | MB/s | time vs score | MB/s vs score |")
    print("|---|---:|---:|---:|---:|")
    base_speed = english.nbytes / best["score"]
    for name, (texts, _) in runs.items():
        speed = texts.nbytes / best[name]
        print(f"| {name} | {best[name]:.4f} | {speed / 1e6:,.0f} | {best[name] / best['score']:.3f} | "
              f"{speed / base_speed:.3f} |")


if __name__ == "__main__":
    main()
