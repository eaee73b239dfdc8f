"""The accuracy report (bench/accuracy.py) runs end to end on a few rows and gives well-formed numbers.

A smoke test only: no accuracy threshold is asserted here (the full report is run by hand or in CI's
benchmark job, see README). It needs the labelled data of ../shared/data; VADER and NRCLex (the `bench`
extra) are optional -- the report lists them as skipped when they are not installed.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

from shared_data import require

REPO = Path(__file__).resolve().parents[1]
SETS = ("amazon", "movie", "goemotions_dev_ekman", "cx_sentences")
FRENCH_SETS = ("fr/allocine_dev", "fr/deft_val", "fr/deft_val_3class")  # when ../shared/data/fr is there
pytestmark = pytest.mark.slow


@pytest.fixture
def data() -> Path:
    return require("vader/amazonReviewSnippets_GroundTruth.txt", "vader/movieReviewSnippets_GroundTruth.txt",
                   "goemotions/dev.tsv")


def _report_module():
    spec = importlib.util.spec_from_file_location("emoscore_bench_accuracy", REPO / "bench" / "accuracy.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_report_runs_on_200_rows_and_numbers_are_in_range(tmp_path, capsys, data):
    accuracy = _report_module()
    out = tmp_path / "report.json"
    assert accuracy.main(["--data-dir", str(data), "--limit", "200", "--json", str(out)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["limit"] == 200 and report["lexicon"] == "default"
    assert set(report["sets"]) == set(SETS) | (set(FRENCH_SETS) if (data / "fr").is_dir() else set())
    for name in SETS:
        result = report["sets"][name]
        assert result["n"] == 200, name
        assert "emoscore" in result["systems"], name
        for system, metrics in result["systems"].items():
            assert metrics, (name, system)
            for metric, value in metrics.items():
                assert math.isfinite(value), (name, system, metric)
                low = -1.0 if metric == "pearson_r" else 0.0
                assert low <= value <= 1.0, (name, system, metric, value)
    for name in ("amazon", "movie"):
        assert set(report["sets"][name]["systems"]["emoscore"]) == {"pearson_r", "macro_f1"}
    assert set(report["sets"]["goemotions_dev_ekman"]["systems"]["emoscore"]) == {"macro_f1", "accuracy"}
    assert set(report["sets"]["cx_sentences"]["systems"]["emoscore"]) == {"macro_f1", "polarity_acc", "emotion_acc"}
    for name in FRENCH_SETS if (data / "fr").is_dir() else ():
        for system, metrics in report["sets"][name]["systems"].items():
            assert all(0.0 <= value <= 1.0 for value in metrics.values()), (name, system, metrics)
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:5] == ["set", "n", "system", "metric", "value"]
    for name in SETS:
        assert f"{name} " in table


def test_report_scores_with_another_lexicon_file(tmp_path, data):
    accuracy = _report_module()
    lexicon = tmp_path / "tiny.tsv"
    lexicon.write_text("#!emoscore-lexicon 1\n# emotions: joy\nterm\tvalence\temotions\trole\n"
                       "good\t1.9\tjoy=1\t-\nbad\t-2.5\t-\t-\n", encoding="utf-8")
    report = accuracy.evaluate(data, 50, lexicon)
    assert report["lexicon"] == str(lexicon)
    for name in SETS:
        value = next(iter(report["sets"][name]["systems"]["emoscore"].values()))
        assert math.isnan(value) or -1.0 <= value <= 1.0
