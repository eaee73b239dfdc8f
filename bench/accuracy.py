"""Agreement with people: emoscore, VADER and NRCLex's lexicon lookup side by side, in one run.

    python bench/accuracy.py [--data-dir ../shared/data] [--limit N] [--json out.json] [--lexicon FILE]

Valence sets (VADER's human-rated Amazon and movie review snippets, `id<TAB>mean<TAB>text`): Pearson r
of the document valence against the human mean, and 3-class macro-F1 (human: positive if mean >= 0.5,
negative if <= -0.5, else neutral; system: positive if valence >= 0.05, negative if <= -0.05).
GoEmotions dev (single-label rows, mapped to Ekman's six + neutral): macro-F1 and accuracy of the
dominant emotion. CX sentences (``bench/data/cx_sentences.tsv``, written and labelled by the project:
delivery, billing, refunds, support, apps, thanks, sarcasm, negation, greetings, questions, urgency,
identity words): 3-class macro-F1 and accuracy of the polarity and accuracy of the dominant emotion in emoscore's
taxonomy (NRCLex: its own eight emotions; neutral when none), with ``--by-category`` per category.
French (``fr/`` of the data folder, when present; ``../shared/data/fr/README.md``): the Allociné TV
reviews' dev split and the DEFT 2017 tweets' val split, scored by emoscore with the French lexicon
(``lexicons/fr.tsv``, or ``--french-lexicon``), by vader_FR (``vaderSentiment-fr``) and by English VADER
unchanged. Binary rows (DEFT: its positive and negative tweets): ROC-AUC of the valence, and with the
thresholds +-0.05 accuracy and macro-F1 over the two classes (a neutral prediction counts as wrong);
DEFT also 3-class accuracy and macro-F1 on all tweets. Repeated texts are scored once (their first
label; a text given both labels is dropped).
Other labelled sets in the same formats can be evaluated with ``--data-dir``, and
another lexicon file (a candidate built to a different path, or your own) with ``--lexicon``.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa

from emoscore import Scorer

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FRENCH_LEXICON = Path(__file__).resolve().parents[1] / "lexicons" / "fr.tsv"
CX_SENTENCES = Path(__file__).resolve().parent / "data" / "cx_sentences.tsv"
VALENCE_SETS = {
    "amazon": "vader/amazonReviewSnippets_GroundTruth.txt",
    "movie": "vader/movieReviewSnippets_GroundTruth.txt",
}
EKMAN = ("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral")
# Where each emotion of emoscore's default taxonomy (and NRC's) falls among Ekman's six, following the
# grouping GoEmotions itself uses (annoyance -> anger, approval/optimism/gratitude -> joy, confusion -> surprise).
TO_EKMAN = {
    "anger": "anger",
    "frustration": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "joy": "joy",
    "satisfaction": "joy",
    "trust": "joy",
    "anticipation": "joy",
    "sadness": "sadness",
    "surprise": "surprise",
    "confusion": "surprise",
    "neutral": "neutral",
}
WORD = re.compile(r"[a-z']+")


# --- data ---------------------------------------------------------------------------------------


def load_valence_set(path: Path, limit: int | None) -> tuple[list[str], np.ndarray]:
    texts, gold = [], []
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        for line in handle:
            parts = line.rstrip("\r\n").split("\t", 2)
            if len(parts) == 3:
                gold.append(float(parts[1]))
                texts.append(parts[2])
            if limit and len(texts) >= limit:
                break
    return texts, np.array(gold)


def load_goemotions(directory: Path, limit: int | None) -> tuple[list[str], list[str]]:
    names = (directory / "emotions.txt").read_text(encoding="utf-8").split()
    groups = json.loads((directory / "ekman_mapping.json").read_text(encoding="utf-8"))
    ekman_of = {member: group for group, members in groups.items() for member in members}
    ekman_of["neutral"] = "neutral"
    texts, gold = [], []
    with (directory / "dev.tsv").open(encoding="utf-8") as handle:
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 2 or "," in parts[1]:
                continue  # single-label rows only
            texts.append(parts[0])
            gold.append(ekman_of[names[int(parts[1])]])
            if limit and len(texts) >= limit:
                break
    return texts, gold


def load_cx_sentences(path: Path, limit: int | None) -> list[tuple[str, str, str, str]]:
    """(text, polarity, emotion, category) rows of the CX sentence set."""
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("#") or line.startswith("text\t") or not line.strip():
                continue
            text, polarity, emotion, category = line.rstrip("\n").split("\t")
            rows.append((text, polarity, emotion, category))
            if limit and len(rows) >= limit:
                break
    return rows


def dedupe(rows: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """(text, label) rows with each text once, at its first place and label; texts with two labels go."""
    first: dict[str, str] = {}
    conflicting = set()
    for text, label in rows:
        if first.setdefault(text, label) != label:
            conflicting.add(text)
    kept = [(text, label) for text, label in first.items() if text not in conflicting]
    return [t for t, _ in kept], [g for _, g in kept]


def load_allocine(path: Path, limit: int | None) -> tuple[list[str], list[str]]:
    """Allociné TV reviews, ``label<TAB>text`` (1 positive, 0 negative), deduplicated."""
    rows = []
    with path.open(encoding="utf-8", newline="") as handle:
        for line in handle:
            label, sep, text = line.rstrip("\n").partition("\t")
            if sep:
                rows.append((text, "positive" if label == "1" else "negative"))
    texts, gold = dedupe(rows)
    return texts[:limit] if limit else texts, gold[:limit] if limit else gold


def load_deft(directory: Path, split: str, limit: int | None) -> tuple[list[str], list[str]]:
    """DEFT 2017 tweets (UMSAB French): ``{split}_text.txt`` and ``{split}_labels.txt`` line by line,
    0 negative, 1 neutral, 2 positive; deduplicated."""
    texts = (directory / f"{split}_text.txt").read_text(encoding="utf-8").split("\n")
    labels = (directory / f"{split}_labels.txt").read_text(encoding="utf-8").split()
    names = {"0": "negative", "1": "neutral", "2": "positive"}
    texts, gold = dedupe([(t, names[g]) for t, g in zip(texts, labels, strict=True)])
    return texts[:limit] if limit else texts, gold[:limit] if limit else gold


# --- metrics ------------------------------------------------------------------------------------


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    if np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def macro_f1(gold: list[str], predicted: list[str], classes: tuple[str, ...]) -> float:
    scores = []
    for label in classes:
        tp = sum(g == label and p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted, strict=True))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """ROC-AUC of ``scores`` for the boolean labels ``positive`` (Mann-Whitney U, ties at half)."""
    from scipy.stats import rankdata

    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def three_class(values: np.ndarray, threshold: float) -> list[str]:
    return ["positive" if v >= threshold else "negative" if v <= -threshold else "neutral" for v in values]


# --- systems ------------------------------------------------------------------------------------


class Emoscore:
    name = "emoscore"

    def __init__(self, lexicon: Path | None = None) -> None:
        self.scorer = Scorer(lexicon)

    def valence(self, texts: list[str]) -> np.ndarray:
        return self.scorer.score(pa.array(texts)).column("valence").to_numpy()

    def emotion(self, texts: list[str]) -> list[str]:
        return self.scorer.score(pa.array(texts)).column("emotion").to_pylist()

    def ekman(self, texts: list[str]) -> list[str]:
        return [TO_EKMAN.get(e, "neutral") for e in self.emotion(texts)]


class Vader:
    name = "VADER"

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.analyzer = SentimentIntensityAnalyzer()

    def valence(self, texts: list[str]) -> np.ndarray:
        return np.array([self.analyzer.polarity_scores(t)["compound"] for t in texts])

    ekman = emotion = None  # VADER scores valence only


class VaderFr(Vader):
    """vader_FR (``vaderSentiment-fr``), its ``polarity_scores`` (not the fuzzy ``polarity_scores_max``)."""

    name = "vader_FR"

    def __init__(self) -> None:
        import warnings

        with warnings.catch_warnings():  # fuzzywuzzy's "slow pure-python SequenceMatcher", unused here
            warnings.simplefilter("ignore")
            from vaderSentiment_fr.vaderSentiment import SentimentIntensityAnalyzer

        self.analyzer = SentimentIntensityAnalyzer()


class NrcLookup:
    """NRCLex's bundled NRC lexicon, looked up word by word (its ``load_token_list``)."""

    name = "NRCLex"

    def __init__(self) -> None:
        from nrclex import NRCLex

        self.lex = NRCLex()

    def _scores(self, text: str) -> dict[str, int]:
        self.lex.load_token_list(WORD.findall(text.lower()))
        return self.lex.raw_emotion_scores

    def valence(self, texts: list[str]) -> np.ndarray:
        out = []
        for text in texts:
            raw = self._scores(text)
            pos, neg = raw.get("positive", 0), raw.get("negative", 0)
            out.append((pos - neg) / (pos + neg) if pos + neg else 0.0)
        return np.array(out)

    def emotion(self, texts: list[str]) -> list[str]:
        out = []
        for text in texts:
            raw = {k: v for k, v in self._scores(text).items() if k in TO_EKMAN}
            out.append(max(sorted(raw), key=raw.get) if raw else "neutral")
        return out

    def ekman(self, texts: list[str]) -> list[str]:
        return [TO_EKMAN[e] for e in self.emotion(texts)]


def available_systems(lexicon: Path | None = None) -> tuple[list, list[str]]:
    systems, skipped = [Emoscore(lexicon)], []
    for factory in (Vader, NrcLookup):
        try:
            systems.append(factory())
        except ImportError:
            skipped.append(factory.name)
    return systems, skipped


# --- report -------------------------------------------------------------------------------------


def evaluate_cx(systems: list, limit: int | None, by_category: bool) -> dict[str, dict]:
    """The CX sentence set as a whole and, with ``by_category``, per category."""
    rows = load_cx_sentences(CX_SENTENCES, limit)
    groups = {"cx_sentences": rows}
    if by_category:
        for category in sorted({r[3] for r in rows}):
            groups[f"cx/{category}"] = [r for r in rows if r[3] == category]
    sets = {}
    for name, group in groups.items():
        texts = [r[0] for r in group]
        results = {}
        for system in systems:
            gold, polarity = [r[1] for r in group], three_class(system.valence(texts), 0.05)
            metrics = {"macro_f1": macro_f1(gold, polarity, ("positive", "neutral", "negative")),
                       "polarity_acc": float(np.mean([g == p for g, p in zip(gold, polarity, strict=True)]))}
            if system.emotion is not None:
                metrics["emotion_acc"] = float(np.mean([r[2] == e for r, e in
                                                        zip(group, system.emotion(texts), strict=True)]))
            results[system.name] = metrics
        sets[name] = {"n": len(group), "systems": results}
    return sets


def polarity_metrics(values: np.ndarray, gold: list[str]) -> dict[str, float]:
    """Binary rows: AUC, and accuracy and macro-F1 with the +-0.05 thresholds (neutral counts as wrong)."""
    predicted = three_class(values, 0.05)
    return {"auc": roc_auc(values, np.array([g == "positive" for g in gold])),
            "macro_f1": macro_f1(gold, predicted, ("positive", "negative")),
            "accuracy": float(np.mean([g == p for g, p in zip(gold, predicted, strict=True)])),
            "zero": float(np.mean(values == 0))}


def evaluate_french(directory: Path, limit: int | None, lexicon: Path, skipped: list[str]) -> dict[str, dict]:
    """The French development sets: emoscore with ``lexicon``, vader_FR and English VADER."""
    systems: list = [Emoscore(lexicon)]
    for factory in (VaderFr, Vader):
        try:
            systems.append(factory())
        except ImportError:
            skipped.append(f"{factory.name} (French sets)")
    sets: dict[str, dict] = {}
    allocine = directory / "allocine_tv" / "dev.tsv"
    if allocine.exists():
        texts, gold = load_allocine(allocine, limit)
        sets["fr/allocine_dev"] = {"n": len(texts), "systems": {
            system.name: polarity_metrics(system.valence(texts), gold) for system in systems}}
    else:
        skipped.append(f"allocine_tv ({allocine} missing)")
    deft = directory / "deft2017_tweets"
    if (deft / "val_text.txt").exists():
        texts, gold = load_deft(deft, "val", limit)
        binary = [i for i, g in enumerate(gold) if g != "neutral"]
        rows, rows3 = {}, {}
        for system in systems:
            values = system.valence(texts)
            rows[system.name] = polarity_metrics(values[binary], [gold[i] for i in binary])
            predicted = three_class(values, 0.05)
            rows3[system.name] = {
                "macro_f1": macro_f1(gold, predicted, ("positive", "neutral", "negative")),
                "accuracy": float(np.mean([g == p for g, p in zip(gold, predicted, strict=True)]))}
        sets["fr/deft_val"] = {"n": len(binary), "systems": rows}
        sets["fr/deft_val_3class"] = {"n": len(texts), "systems": rows3}
    else:
        skipped.append(f"deft2017_tweets ({deft} missing)")
    return sets


def evaluate(data_dir: Path, limit: int | None, lexicon: Path | None = None, by_category: bool = False,
             french_lexicon: Path = FRENCH_LEXICON) -> dict:
    systems, skipped = available_systems(lexicon)
    report: dict = {"data_dir": str(data_dir), "limit": limit, "lexicon": str(lexicon) if lexicon else "default",
                    "french_lexicon": str(french_lexicon), "skipped": skipped, "sets": {}}
    for name, relative in VALENCE_SETS.items():
        path = data_dir / relative
        if not path.exists():
            report["skipped"].append(f"{name} ({path} missing)")
            continue
        texts, gold = load_valence_set(path, limit)
        gold_classes = three_class(gold, 0.5)
        rows = {}
        for system in systems:
            predicted = system.valence(texts)
            rows[system.name] = {
                "pearson_r": pearson(predicted, gold),
                "macro_f1": macro_f1(gold_classes, three_class(predicted, 0.05), ("positive", "neutral", "negative")),
            }
        report["sets"][name] = {"n": len(texts), "systems": rows}
    goemotions = data_dir / "goemotions"
    if (goemotions / "dev.tsv").exists():
        texts, gold = load_goemotions(goemotions, limit)
        rows = {}
        for system in systems:
            if system.ekman is None:
                continue
            predicted = system.ekman(texts)
            rows[system.name] = {
                "macro_f1": macro_f1(gold, predicted, EKMAN),
                "accuracy": float(np.mean([g == p for g, p in zip(gold, predicted, strict=True)])),
            }
        report["sets"]["goemotions_dev_ekman"] = {"n": len(texts), "systems": rows}
    else:
        report["skipped"].append(f"goemotions ({goemotions} missing)")
    report["sets"].update(evaluate_cx(systems, limit, by_category))
    if (data_dir / "fr").is_dir():
        report["sets"].update(evaluate_french(data_dir / "fr", limit, french_lexicon, report["skipped"]))
    else:
        report["skipped"].append(f"French sets ({data_dir / 'fr'} missing)")
    return report


def print_table(report: dict) -> None:
    print(f"{'set':24} {'n':>6} {'system':10} {'metric':10} {'value':>7}  vs emoscore")
    for set_name, result in report["sets"].items():
        ours = result["systems"]["emoscore"]
        for system, metrics in result["systems"].items():
            for metric, value in metrics.items():
                delta = "" if system == "emoscore" else f"{ours[metric] - value:+.3f}"
                print(f"{set_name:24} {result['n']:>6} {system:10} {metric:10} {value:7.3f}  {delta}")
    for item in report["skipped"]:
        print(f"skipped: {item}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="folder laid out like ../shared/data")
    parser.add_argument("--limit", type=int, help="evaluate only the first N rows of each set (smoke runs)")
    parser.add_argument("--json", type=Path, help="also write the report to this file")
    parser.add_argument("--lexicon", type=Path, help="score emoscore with this lexicon file (default: the bundled one)")
    parser.add_argument("--by-category", action="store_true", help="also report each category of the CX sentences")
    parser.add_argument("--french-lexicon", type=Path, default=FRENCH_LEXICON,
                        help="score the French sets with this lexicon file (default: lexicons/fr.tsv)")
    args = parser.parse_args(argv)
    report = evaluate(args.data_dir, args.limit, args.lexicon, args.by_category, args.french_lexicon)
    print_table(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    values = [v for s in report["sets"].values() for m in s["systems"].values() for v in m.values()]
    if not report["sets"] or not all(math.isfinite(v) and -1 <= v <= 1 for v in values):
        print("accuracy report: no sets evaluated or a metric out of range", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
