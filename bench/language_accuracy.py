"""Accuracy of the language detector (emoscore.language.detect), printed as markdown tables.

Labelled texts:

* ``bench/data/language_sentences.tsv``: short customer-feedback texts written for emoscore, 40 per
  language (en fr de es it pt nl), 1 to 25 words;
* English, read at run time from ``../shared/data``: the VADER Amazon and movie review snippets, and the
  texts of ``bench/data/cx_sentences.tsv``;
* French, read at run time from ``../shared/data/fr`` (evaluation-only sets: never copied into the
  repository): the Allociné TV reviews' dev split and the DEFT 2017 tweets' validation texts.

Accuracy counts ``und`` as a miss; "decided" is the accuracy over the texts that got a language, and
the und rate is the share of ``und``. Length buckets count tokens as the tokenizer reads them.

    python bench/language_accuracy.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from emoscore._tokenize import fold_tokens
from emoscore.language import LANGUAGES, UND, detect

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parents[1] / "shared" / "data"
SENTENCES = HERE / "data" / "language_sentences.tsv"
CX_SENTENCES = HERE / "data" / "cx_sentences.tsv"
BUCKETS = ((1, 2), (3, 5), (6, 10), (11, 20), (21, None))


def load_sentences(path: Path = SENTENCES) -> list[tuple[str, str]]:
    """(language, text) rows of the hand-written multilingual set."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or line.startswith("language\t") or not line.strip():
            continue
        language, text = line.split("\t")
        rows.append((language, text))
    return rows


def load_sets(data: Path) -> dict[str, list[tuple[str, str]]]:
    """Every labelled set by name: (language, text) rows."""
    sets = {"written (7 languages)": load_sentences()}
    english = []
    for name in ("amazonReviewSnippets_GroundTruth.txt", "movieReviewSnippets_GroundTruth.txt"):
        with (data / "vader" / name).open(encoding="utf-8", errors="replace") as handle:
            english += [("en", parts[2]) for parts in (line.rstrip("\r\n").split("\t", 2) for line in handle)
                        if len(parts) == 3]
    sets["vader snippets (en)"] = english
    sets["cx_sentences (en)"] = [
        ("en", line.split("\t")[0]) for line in CX_SENTENCES.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#") and not line.startswith("text\t")]
    with (data / "fr" / "allocine_tv" / "dev.tsv").open(encoding="utf-8") as handle:
        sets["allocine dev (fr)"] = [("fr", line.rstrip("\n").split("\t", 1)[1]) for line in handle if "\t" in line]
    with (data / "fr" / "deft2017_tweets" / "val_text.txt").open(encoding="utf-8") as handle:
        sets["deft val (fr)"] = [("fr", line.rstrip("\n")) for line in handle if line.strip()]
    return sets


def bucket_of(text: str) -> str:
    n = len(fold_tokens(text))
    for low, high in BUCKETS:
        if high is None or n <= high:
            return f"{low}+" if high is None else f"{low}-{high}"
    raise AssertionError(n)


def tally(rows: list[tuple[str, str, str]], key) -> dict[str, list[int]]:
    """key(row) -> [n, correct, und]."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        cell = out[key(row)]
        cell[0] += 1
        cell[1] += row[0] == row[2]
        cell[2] += row[2] == UND
    return out


def table(title: str, counts: dict[str, list[int]], order) -> list[str]:
    lines = [f"| {title} | texts | accuracy | decided | und rate |", "|---|---:|---:|---:|---:|"]
    for name in order:
        if name not in counts:
            continue
        n, correct, und = counts[name]
        decided = f"{correct / (n - und):.3f}" if n > und else "-"
        lines.append(f"| {name} | {n} | {correct / n:.3f} | {decided} | {und / n:.3f} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    args = parser.parse_args(argv)
    sets = load_sets(args.data)
    rows = []  # (gold, text, detected, set)
    for name, pairs in sets.items():
        found = detect([text for _, text in pairs]).to_pylist()
        rows += [(gold, text, got, name) for (gold, text), got in zip(pairs, found, strict=True)]
    buckets = [f"{lo}-{hi}" if hi else f"{lo}+" for lo, hi in BUCKETS]
    written = [row for row in rows if row[3] == "written (7 languages)"]
    out = table("set", tally(rows, lambda r: r[3]), list(sets))
    out += ["", *table("all sets", {"overall": tally(rows, lambda r: "overall")["overall"]}, ["overall"])]
    out += ["", *table("language (all sets)", tally(rows, lambda r: r[0]), LANGUAGES)]
    out += ["", *table("tokens (all sets)", tally(rows, lambda r: bucket_of(r[1])), buckets)]
    out += ["", *table("tokens (written set)", tally(written, lambda r: bucket_of(r[1])), buckets)]
    misses = [row for row in written if row[0] != row[2]]
    out += ["", "Misses in the written set (gold -> detected: text):"]
    out += [f"- {gold} -> {got}: {text}" for gold, text, got, _ in misses]
    print("\n".join(out))


if __name__ == "__main__":
    main()
