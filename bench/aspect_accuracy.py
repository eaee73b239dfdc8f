"""Aspect detection against hand labels: precision, recall and F1 per aspect, and polarity agreement.

    python bench/aspect_accuracy.py [--labels tests/data/aspects_labelled.tsv] [--data-dir ../shared/data]
                                    [--json report.json | --json -]

The labels (`tests/data/aspects_labelled.tsv`, guideline in `tests/data/ASPECT_LABELLING.md`) are 400 VADER
review snippets (300 Amazon, 100 movie) labelled by hand with the aspects they talk about and the writer's
polarity towards each. When the data folder is present, every labelled text is first checked against
the source file's text for its id. The texts are scored with ``emoscore.Scorer()``; its ``aspects``
column (one struct per aspect found: aspect, valence, emotion, intensity) is the detection.

Detection is scored per (snippet, aspect) pair: per-aspect precision, recall and F1, their micro
average over all pairs and their macro average over the aspects that occur in the labels (an aspect
with no gold label has no recall; its false positives still count in the micro figures and are listed).
Polarity agreement is measured on the correctly detected pairs only: the system's polarity is ``pos``
when the aspect's valence >= 0.05, ``neg`` when <= -0.05, else ``neu``. Exit status: 0 on success,
2 when the labels are malformed, a text differs from its source, or the scorer has no ``aspects`` column.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from emoscore import Scorer
from emoscore.errors import InputError

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LABELS = REPO / "tests" / "data" / "aspects_labelled.tsv"
DEFAULT_DATA = REPO.parent / "shared" / "data"
# The fixed aspect contract of issue 9, in the order the label file lists them.
ASPECTS = ("onboarding", "checkout", "pricing", "delivery", "returns", "quality", "usability", "support",
           "cancellation")
POLARITIES = ("pos", "neg", "neu")
SOURCES = {
    "amazon": "vader/amazonReviewSnippets_GroundTruth.txt",
    "movie": "vader/movieReviewSnippets_GroundTruth.txt",
}
HEADER = ["source", "id", "aspects", "polarity", "text"]
POLARITY_THRESHOLD = 0.05  # the same cut the document-level accuracy report uses


@dataclass(frozen=True)
class Label:
    source: str
    id: str
    aspects: dict[str, str]  # aspect -> gold polarity
    text: str
    line: int


# --- labels and sources ---------------------------------------------------------------------------


def load_labels(path: Path) -> list[Label]:
    """Read and validate the label file; a malformed row raises InputError naming its line and field."""
    labels: list[Label] = []
    seen: dict[tuple[str, str], int] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        if header != HEADER:
            raise InputError(f"{path}:1: header must be {HEADER}, got {header}")
        for number, raw in enumerate(handle, start=2):
            line = raw[:-1] if raw.endswith("\n") else raw
            fields = line.split("\t", 4)
            where = f"{path}:{number}"
            if len(fields) != 5:
                raise InputError(f"{where}: expected 5 tab-separated fields, got {len(fields)}")
            source, ident, aspects, polarity, text = fields
            if "\r" in line:
                raise InputError(f"{where}: field 'text' contains a carriage return")
            if source not in SOURCES:
                raise InputError(f"{where}: field 'source' must be one of {sorted(SOURCES)}, got {source!r}")
            if not ident:
                raise InputError(f"{where}: field 'id' is empty")
            if (source, ident) in seen:
                raise InputError(f"{where}: field 'id' {source}/{ident} repeats line {seen[source, ident]}")
            seen[source, ident] = number
            names = aspects.split(",") if aspects else []
            marks = polarity.split(",") if polarity else []
            if len(names) != len(marks):
                raise InputError(f"{where}: field 'polarity' has {len(marks)} values for {len(names)} aspects")
            for name in names:
                if name not in ASPECTS:
                    raise InputError(f"{where}: field 'aspects' has unknown aspect {name!r}")
            for mark in marks:
                if mark not in POLARITIES:
                    raise InputError(f"{where}: field 'polarity' has {mark!r}, not one of {POLARITIES}")
            if len(set(names)) != len(names):
                raise InputError(f"{where}: field 'aspects' repeats an aspect: {aspects!r}")
            if not text.strip():
                raise InputError(f"{where}: field 'text' is empty")
            labels.append(Label(source, ident, dict(zip(names, marks, strict=True)), text, number))
    return labels


def load_source(path: Path) -> dict[str, str]:
    """id -> text of a VADER snippet file (tab-separated `id, mean, text`, no header, CRLF)."""
    texts = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for raw in handle:
            parts = raw.rstrip("\r\n").split("\t", 2)
            if len(parts) == 3:
                texts[parts[0]] = parts[2]
    return texts


def check_texts(labels: list[Label], data_dir: Path) -> int:
    """Raise InputError if a labelled text differs from its source; return how many were checked."""
    checked = 0
    for source, relative in SOURCES.items():
        rows = [label for label in labels if label.source == source]
        if not rows or not (data_dir / relative).exists():
            continue
        texts = load_source(data_dir / relative)
        for label in rows:
            if label.id not in texts:
                raise InputError(f"line {label.line}: id {source}/{label.id} is not in {data_dir / relative}")
            if texts[label.id] != label.text:
                raise InputError(f"line {label.line}: field 'text' of {source}/{label.id} differs from "
                                 f"{relative}: {label.text!r} != {texts[label.id]!r}")
            checked += 1
    return checked


# --- detection ------------------------------------------------------------------------------------


def polarity_of(valence: float) -> str:
    return "pos" if valence >= POLARITY_THRESHOLD else "neg" if valence <= -POLARITY_THRESHOLD else "neu"


def detect(texts: list[str]) -> list[dict[str, str]]:
    """aspect -> system polarity for each text, from ``Scorer().score(...)['aspects']``."""
    table = Scorer().score(pa.array(texts, pa.string()))
    if "aspects" not in table.column_names:
        raise LookupError("emoscore.Scorer().score() returned no 'aspects' column (aspect detection, issue 9, "
                          f"is not there yet); its columns are: {', '.join(table.column_names)}")
    found = []
    for row, items in enumerate(table.column("aspects").to_pylist()):
        per_text: dict[str, str] = {}
        for item in items or []:
            name = item["aspect"]
            if name not in ASPECTS:
                raise ValueError(f"row {row}: 'aspects' names {name!r}, outside the fixed set {ASPECTS}")
            if name in per_text:
                raise ValueError(f"row {row}: 'aspects' lists {name!r} twice (the contract is one element per aspect)")
            per_text[name] = polarity_of(item["valence"])
        found.append(per_text)
    return found


# --- metrics --------------------------------------------------------------------------------------


def ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def prf(tp: int, fp: int, fn: int) -> dict:
    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    f1 = ratio(2 * tp, 2 * tp + fp + fn) if tp + fp + fn else None
    return {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall, "f1": f1}


def evaluate(labels: list[Label], predicted: list[dict[str, str]]) -> dict:
    per_aspect = {}
    agree = total_tp = 0
    for aspect in ASPECTS:
        tp = fp = fn = same = 0
        for label, found in zip(labels, predicted, strict=True):
            gold, hit = aspect in label.aspects, aspect in found
            tp += gold and hit
            fp += hit and not gold
            fn += gold and not hit
            same += gold and hit and label.aspects[aspect] == found[aspect]
        per_aspect[aspect] = {"gold": tp + fn, **prf(tp, fp, fn), "polarity_agreement": ratio(same, tp)}
        agree += same
        total_tp += tp
    counts = [per_aspect[a] for a in ASPECTS]
    micro = prf(sum(c["tp"] for c in counts), sum(c["fp"] for c in counts), sum(c["fn"] for c in counts))
    # Macro over the aspects that occur in the labels; a precision with no detections counts as 0.
    present = [a for a in ASPECTS if per_aspect[a]["gold"]]
    macro = {
        key: sum(per_aspect[a][key] or 0.0 for a in present) / len(present) if present else None
        for key in ("precision", "recall", "f1")
    }
    by_source = {}
    for source in SOURCES:
        pairs = [(label, found) for label, found in zip(labels, predicted, strict=True) if label.source == source]
        tp = sum(len(set(label.aspects) & set(found)) for label, found in pairs)
        fp = sum(len(set(found) - set(label.aspects)) for label, found in pairs)
        fn = sum(len(set(label.aspects) - set(found)) for label, found in pairs)
        by_source[source] = {"n": len(pairs), **prf(tp, fp, fn)}
    return {
        "n": len(labels),
        "aspects": per_aspect,
        "micro": micro,
        "macro": {**macro, "over": present},
        "polarity_agreement": {"agree": agree, "of": total_tp, "rate": ratio(agree, total_tp)},
        "by_source": by_source,
        "no_gold_labels": [a for a in ASPECTS if not per_aspect[a]["gold"]],
    }


def print_report(report: dict, out=sys.stdout) -> None:
    def cell(value: float | None) -> str:
        return "    -" if value is None else f"{value:5.3f}"

    def emit(line: str) -> None:
        print(line, file=out)

    emit(f"{'aspect':13} {'gold':>4} {'tp':>4} {'fp':>4} {'fn':>4} {'prec':>5} {'rec':>5} {'f1':>5} {'pol':>5}")
    for aspect, m in report["aspects"].items():
        emit(f"{aspect:13} {m['gold']:4d} {m['tp']:4d} {m['fp']:4d} {m['fn']:4d} {cell(m['precision'])} "
             f"{cell(m['recall'])} {cell(m['f1'])} {cell(m['polarity_agreement'])}")
    micro, macro, pol = report["micro"], report["macro"], report["polarity_agreement"]
    emit(f"{'micro':13} {micro['tp'] + micro['fn']:4d} {micro['tp']:4d} {micro['fp']:4d} {micro['fn']:4d} "
         f"{cell(micro['precision'])} {cell(micro['recall'])} {cell(micro['f1'])} {cell(pol['rate'])}")
    emit(f"{'macro':13} {'':>19} {cell(macro['precision'])} {cell(macro['recall'])} {cell(macro['f1'])}"
         f"   (over the {len(macro['over'])} aspects with gold labels)")
    for source, m in report["by_source"].items():
        emit(f"source {source}: n {m['n']}, tp {m['tp']}, fp {m['fp']}, fn {m['fn']}, "
             f"precision {cell(m['precision']).strip()}, recall {cell(m['recall']).strip()}")
    emit(f"polarity agreement on correctly detected aspects: {pol['agree']}/{pol['of']}")
    if report["no_gold_labels"]:
        emit(f"no gold labels (false positives only): {', '.join(report['no_gold_labels'])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS, help="the hand-labelled TSV")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA,
                        help="folder laid out like ../shared/data, to check the labelled texts against")
    parser.add_argument("--json", help="also write the report as JSON to this file ('-' for stdout)")
    args = parser.parse_args(argv)
    try:
        labels = load_labels(args.labels)
        checked = check_texts(labels, args.data_dir)
    except (OSError, InputError) as error:
        print(f"aspect accuracy: bad labels: {error}", file=sys.stderr)
        return 2
    if checked < len(labels):
        print(f"aspect accuracy: {len(labels) - checked} of {len(labels)} texts not checked against their source "
              f"({args.data_dir} missing)", file=sys.stderr)
    try:
        predicted = detect([label.text for label in labels])
    except (LookupError, ValueError) as error:
        print(f"aspect accuracy: {error}", file=sys.stderr)
        return 2
    report = {"labels": str(args.labels), "texts_checked": checked, **evaluate(labels, predicted)}
    print_report(report, sys.stderr if args.json == "-" else sys.stdout)
    if args.json:
        text = json.dumps(report, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
