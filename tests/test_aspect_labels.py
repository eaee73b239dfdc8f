"""The hand-labelled aspect set (tests/data/aspects_labelled.tsv) is well formed and is the documented sample.

Independent of the aspect detector: nothing here scores a text. The evaluation itself is
bench/aspect_accuracy.py (run by hand or in CI's benchmark job; no accuracy threshold is asserted here).
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import pytest

from emoscore.errors import InputError
from shared_data import require

REPO = Path(__file__).resolve().parents[1]
LABELS = REPO / "tests" / "data" / "aspects_labelled.tsv"


@pytest.fixture
def data() -> Path:
    return require("vader/amazonReviewSnippets_GroundTruth.txt", "vader/movieReviewSnippets_GroundTruth.txt")


# The draw documented in tests/data/ASPECT_LABELLING.md.
SEED, DRAWN = 9, {"amazon": 300, "movie": 100}


def _bench():
    spec = importlib.util.spec_from_file_location("emoscore_bench_aspect_accuracy",
                                                  REPO / "bench" / "aspect_accuracy.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench = _bench()


def test_label_file_is_well_formed():
    labels = bench.load_labels(LABELS)
    assert len(labels) >= 300
    assert sum(label.source == "amazon" for label in labels) >= 300
    assert len({(label.source, label.id) for label in labels}) == len(labels)
    for label in labels:
        assert set(label.aspects) <= set(bench.ASPECTS), label.line
        assert set(label.aspects.values()) <= {"pos", "neg", "neu"}, label.line
        assert label.text == label.text.strip("\r\n") and "\t" not in label.text, label.line
    # The columns are aligned in the file itself, in the documented aspect order.
    with LABELS.open(encoding="utf-8", newline="") as handle:
        rows = [line.rstrip("\n").split("\t", 4) for line in handle][1:]
    for number, (_, _, aspects, polarity, _) in enumerate(rows, start=2):
        names = aspects.split(",") if aspects else []
        assert len(names) == len(polarity.split(",") if polarity else []), number
        assert names == sorted(names, key=bench.ASPECTS.index), number
    # Enough labels for the evaluation to say something: most aspects of the contract occur.
    assert sum(bool(label.aspects) for label in labels) >= 150


def test_texts_equal_the_source_files(data):
    labels = bench.load_labels(LABELS)
    assert bench.check_texts(labels, data) == len(labels)


def test_rows_are_the_documented_seeded_draw(data):
    labels = bench.load_labels(LABELS)
    for source, k in DRAWN.items():
        ids = list(bench.load_source(data / bench.SOURCES[source]))  # file order
        drawn = [ids[i] for i in sorted(random.Random(SEED).sample(range(len(ids)), k))]
        assert [label.id for label in labels if label.source == source] == drawn, source


DEV = REPO / "tests" / "data" / "aspects_dev.tsv"
DEV_SEED, DEV_DRAWN = 2026, 250  # the development draw documented in tests/data/README.md


def test_dev_file_is_well_formed_and_disjoint_from_the_evaluation_set():
    dev = bench.load_labels(DEV)
    assert len(dev) == DEV_DRAWN and all(label.source == "amazon" for label in dev)
    # tuning the lexicon on the dev set must not leak into the evaluation
    assert not {label.id for label in dev} & {label.id for label in bench.load_labels(LABELS)}


def test_dev_rows_are_the_documented_draw_and_equal_the_source(data):
    dev = bench.load_labels(DEV)
    assert bench.check_texts(dev, data) == len(dev)
    evaluation = {label.id for label in bench.load_labels(LABELS)}
    candidates = [i for i in bench.load_source(data / bench.SOURCES["amazon"]) if i not in evaluation]
    drawn = [candidates[i] for i in sorted(random.Random(DEV_SEED).sample(range(len(candidates)), DEV_DRAWN))]
    assert [label.id for label in dev] == drawn


def _write(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "labels.tsv"
    path.write_text("source\tid\taspects\tpolarity\ttext\n" + "".join(row + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize(("row", "message"), [
    ("amazon\t1_1\tshipping\tneg\tlate", "unknown aspect 'shipping'"),
    ("amazon\t1_1\tquality,pricing\tneg\tbad and dear", "1 values for 2 aspects"),
    ("amazon\t1_1\tquality\tbad\tbroken", "'bad'"),
    ("amazon\t1_1\tquality,quality\tneg,neg\tbroken", "repeats an aspect"),
    ("imdb\t1\t\t\tgood film", "field 'source'"),
    ("amazon\t1_1\tquality\tneg", "expected 5 tab-separated fields"),
])
def test_malformed_rows_are_rejected_with_line_and_field(tmp_path, row, message):
    path = _write(tmp_path, "movie\t7\t\t\tfine", row)
    with pytest.raises(InputError, match=":3: .*" + message.replace("(", r"\(")):
        bench.load_labels(path)


def test_repeated_id_and_changed_text_are_rejected(tmp_path):
    with pytest.raises(InputError, match="repeats line 2"):
        bench.load_labels(_write(tmp_path, "movie\t7\t\t\tfine", "movie\t7\t\t\tfine again"))
    source = tmp_path / "vader" / "movieReviewSnippets_GroundTruth.txt"
    source.parent.mkdir()
    source.write_bytes(b"7\t1.5\tfine\r\n8\t-1.0\tdull\r\n")
    assert bench.check_texts(bench.load_labels(_write(tmp_path, "movie\t7\t\t\tfine")), tmp_path) == 1
    with pytest.raises(InputError, match="movie/8 differs"):
        bench.check_texts(bench.load_labels(_write(tmp_path, "movie\t8\t\t\tdull!")), tmp_path)


def test_metrics_count_pairs_and_polarity_on_true_positives(tmp_path):
    labels = bench.load_labels(_write(
        tmp_path,
        "amazon\ta\tpricing,quality\tpos,neg\tgreat price, broke in a week",
        "amazon\tb\tsupport\tneg\tno one answers the phone",
        "movie\tc\t\t\ta delight",
    ))
    predicted = [{"pricing": "pos", "quality": "pos"}, {}, {"delivery": "neu"}]
    report = bench.evaluate(labels, predicted)
    assert report["micro"] == {"tp": 2, "fp": 1, "fn": 1, "precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3}
    assert report["aspects"]["support"]["recall"] == 0.0 and report["aspects"]["support"]["precision"] is None
    assert report["aspects"]["delivery"]["fp"] == 1 and "delivery" in report["no_gold_labels"]
    assert report["polarity_agreement"] == {"agree": 1, "of": 2, "rate": 0.5}
    assert report["macro"]["over"] == ["pricing", "quality", "support"]
    assert report["macro"]["recall"] == pytest.approx(2 / 3)
    assert report["by_source"]["movie"]["fp"] == 1
    assert [bench.polarity_of(v) for v in (0.05, 0.0499, -0.05)] == ["pos", "neu", "neg"]


def test_readme_counts_match_the_labels():
    labels = bench.load_labels(LABELS)
    table = {}
    for line in (REPO / "tests" / "data" / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if cells[0] in bench.ASPECTS:
            table[cells[0]] = [int(cell) for cell in cells[1:]]
    assert set(table) == set(bench.ASPECTS)
    for aspect in bench.ASPECTS:
        counts = [sum(aspect in label.aspects for label in labels if label.source == source)
                  for source in bench.SOURCES]
        counts += [sum(label.aspects.get(aspect) == mark for label in labels) for mark in ("pos", "neg", "neu")]
        assert table[aspect] == counts, aspect
