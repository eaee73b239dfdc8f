"""Tune a bundled lexicon's rule parameters on development data (prints; writes nothing).

Run by hand from the repository root, after a change to the builder, the seed or the rules::

    python lexicons/tune_params.py [--data-dir ../shared/data]                # the default lexicon
    python lexicons/tune_params.py --language fr [--data-dir ../shared/data]  # the French lexicon

then copy the printed values into ``PARAMS`` in ``lexicons/build_default.py`` (or those that differ
from the default lexicon's into ``lexicons/build_fr.py``) and rebuild the lexicon.
The word values are never tuned here: the lexicon is built once, from VADER, GoEmotions ``train.tsv``
and the seed, exactly as ``build_default.py`` builds it, and only its ``# param`` values vary.

Development data, and what each parameter is tuned on:

* the valence parameters (``VALENCE_GRID``) on VADER's human-rated Amazon and movie review snippets:
  the mean of the two Pearson r of the document valence against the human mean rating;
* the emotion parameter (``EMOTION_GRID``) on GoEmotions ``dev.tsv`` (single-label rows, mapped to
  Ekman's six + neutral): macro-F1 of the dominant emotion.

French (``--language fr``; ``fr/`` of the data folder): the valence parameters (``FRENCH_GRID``), from
``build_fr.PARAMS``, on the **train** splits only: the Allociné TV reviews (deduplicated,
without the texts that are also in dev) and the DEFT 2017 tweets' positive and negative rows; the
objective is the mean of ROC-AUC and macro-F1 (the accuracy report's ±0.05 thresholds) over the two.

Search: coordinate ascent from the defaults of ``kernels/rules.py`` (two rounds over the grids); a
value replaces the current one only when it improves the objective by more than ``MIN_GAIN``
(differences below that are noise on sets of this size), so a parameter keeps its default unless the
data clearly ask for a change. The metrics are the accuracy report's (``bench/accuracy.py``). (The
lexicon is built with the current ``PARAMS``, which the GoEmotions valence regression uses to weigh
words as the rules will; after a change of ``PARAMS``, rebuild and run this again to confirm.)
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pyarrow as pa

from emoscore import Scorer

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

VALENCE_GRID = {
    "valence_alpha": [10.0, 15.0, 20.0, 25.0],
    "valence_hits_power": [0.0, 0.25, 0.5, 0.75],
    "negation_scale": [-0.5, -0.6, -0.74, -0.9],
    "contrast_before": [0.1, 0.2, 0.3, 0.5],
    "contrast_after": [0.5, 0.6, 0.7, 0.8, 1.0, 1.5],
    "excl_boost": [0.15, 0.3, 0.5],
    "caps_boost": [0.0, 0.35, 0.6],
}
# The dominant emotion depends on emotion_gain and dominant_min only through the threshold
# -ln(1 - dominant_min) / emotion_gain on the weighted emotion sum, so the gain keeps its default (it
# sets the scale of the emotion columns) and only dominant_min is tuned.
EMOTION_GRID = {
    "dominant_min": [0.1, 0.125, 0.15, 0.175, 0.2, 0.225, 0.25, 0.3],
}
FRENCH_GRID = {
    "valence_hits_power": [0.0, 0.25, 0.5, 0.75],
    # not below 5: a smaller alpha saturates the valence (one mild word near +-1), which scores better on
    # the thresholded macro-F1 only because fewer texts stay within +-0.05, not because they rank better
    "valence_alpha": [5.0, 10.0, 15.0],
    "negation_scale": [-0.5, -0.6, -0.74, -0.9],
    "contrast_before": [0.1, 0.2, 0.3, 0.5],
    "contrast_after": [0.5, 0.7, 1.0, 1.5],
    "excl_boost": [0.0, 0.15, 0.3],
    "caps_boost": [0.0, 0.35, 0.6],
    "negation_reach": [2.0, 3.0, 4.0, 6.0],
}
MIN_GAIN = 0.001
ROUNDS = 2


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def ascend(grid: dict[str, list[float]], objective, params: dict, label: str) -> dict:
    """Coordinate ascent over ``grid`` from ``params`` (ROUNDS rounds), printing every cell; the
    parameters with their chosen values."""
    params = dict(params)
    print(f"# {label}")
    best = objective(params)
    print(f"start {best:.4f}")
    for round_ in range(ROUNDS):
        for name, values in grid.items():
            scores = {value: objective({**params, name: value}) for value in values}
            top = max(values, key=lambda v: scores[v])
            if scores[top] > best + MIN_GAIN:
                params[name] = top
                best = scores[top]
            cells = " ".join(f"{v:g}:{s:.4f}" for v, s in scores.items())
            print(f"round {round_ + 1} {name:18} {cells}  -> {params[name]:g}")
    print(f"final {best:.4f}")
    return params


def tune_default(data_dir: Path, report) -> dict:
    build_default = _load("build_default", HERE / "build_default.py")
    src = build_default.Sources(data_dir / "vader", data_dir / "goemotions")
    lexicon, _ = build_default.build(src)
    valence_sets = [report.load_valence_set(data_dir / rel, None) for rel in report.VALENCE_SETS.values()]
    ge_texts, ge_gold = report.load_goemotions(data_dir / "goemotions", None)
    valence_arrays = [pa.array(texts) for texts, _ in valence_sets]
    ge_array = pa.array(ge_texts)

    def valence_objective(params: dict) -> float:
        scorer = Scorer(lexicon.with_params(**params))
        rs = [report.pearson(scorer.score(array).column("valence").to_numpy(), gold)
              for array, (_, gold) in zip(valence_arrays, valence_sets, strict=True)]
        return sum(rs) / len(rs)

    def emotion_objective(params: dict) -> float:
        scorer = Scorer(lexicon.with_params(**params))
        emotions = scorer.score(ge_array).column("emotion").to_pylist()
        predicted = [report.TO_EKMAN.get(e, "neutral") for e in emotions]
        return report.macro_f1(ge_gold, predicted, report.EKMAN)

    from emoscore.kernels.params import DEFAULT_PARAMS

    params = {name: DEFAULT_PARAMS[name] for grid in (VALENCE_GRID, EMOTION_GRID) for name in grid}
    params = ascend(VALENCE_GRID, valence_objective, params, "mean Pearson r (amazon, movie)")
    return ascend(EMOTION_GRID, emotion_objective, params, "GoEmotions dev Ekman macro-F1")


def tune_french(data_dir: Path, report) -> dict:
    build_fr = _load("build_fr", HERE / "build_fr.py")
    french = data_dir / "fr"
    lexicon, _ = build_fr.build(build_fr.Sources(french / "vader_fr", french / "pattern_fr"))
    dev = set(report.load_allocine(french / "allocine_tv" / "dev.tsv", None)[0])
    sets = [list(zip(*report.load_allocine(french / "allocine_tv" / "train.tsv", None), strict=True)),
            list(zip(*report.load_deft(french / "deft2017_tweets", "train", None), strict=True))]
    sets[0] = [(text, gold) for text, gold in sets[0] if text not in dev]
    sets[1] = [(text, gold) for text, gold in sets[1] if gold != "neutral"]
    arrays = [(pa.array([text for text, _ in rows]), [gold for _, gold in rows]) for rows in sets]

    def objective(params: dict) -> float:
        scorer = Scorer(lexicon.with_params(**params))
        figures = []
        for texts, gold in arrays:
            metrics = report.polarity_metrics(scorer.score(texts).column("valence").to_numpy(), gold)
            figures += [metrics["auc"], metrics["macro_f1"]]
        return sum(figures) / len(figures)

    start = {name: build_fr.PARAMS[name] for name in FRENCH_GRID}  # from the current values: confirm or move
    return ascend(FRENCH_GRID, objective, start,
                  "mean of AUC and macro-F1, Allociné train (less dev texts) and DEFT train pos/neg")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data",
                        help="folder laid out like ../shared/data (vader/, goemotions/, fr/)")
    parser.add_argument("--language", choices=("en", "fr"), default="en",
                        help="en: the default lexicon (default); fr: the French lexicon")
    args = parser.parse_args(argv)
    report = _load("accuracy", REPO / "bench" / "accuracy.py")
    params = (tune_french if args.language == "fr" else tune_default)(args.data_dir, report)
    print("PARAMS = {")
    for name, value in params.items():
        print(f'    "{name}": {value!r},')
    print("}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
