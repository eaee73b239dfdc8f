"""``emoscore kpi --format table``, ``--columns`` and ``--precision`` (emoscore.runner.present)."""

from __future__ import annotations

import io
import math
import sys

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pj
import pyarrow.parquet as pq
import pytest

import emoscore
import emoscore.cli as cli
from emoscore.kpi import KpiAggregator
from emoscore.runner.present import DRIVER_COLUMNS, KPI_COLUMNS, NULL, round_significant
from emoscore.sample import bundled_sample_path


def _main(argv, data: bytes = b""):
    out, err = io.BytesIO(), io.BytesIO()
    status = cli.main(argv, stdin=io.BytesIO(data), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def scored() -> bytes:
    status, out, err = _main(["score", "-q"], bundled_sample_path().read_bytes())
    assert status == 0, err
    return out


def _reference(scored: bytes, by: list[str], window: str | None = None) -> KpiAggregator:
    """The aggregator over the same scored records, read by pyarrow (the CLI's Arrow output equals it)."""
    return KpiAggregator(by, window=window).update(pj.read_json(io.BytesIO(scored)))


def _rounded(x: float | None, digits: int) -> float | None:
    """The documented rule: ``digits`` significant digits, never into the integer part; 0: exact."""
    if x is None or digits == 0 or x == 0 or not math.isfinite(x):
        return x
    return float(f"{x:.0f}") if abs(x) >= 10 ** (digits - 1) else float(f"{x:.{digits}g}")


def _table_decimals(values: list, digits: int = 4) -> int:
    """The decimals a text table shows a column (family) with: ``digits`` significant digits of its largest."""
    top = max((abs(v) for v in values if v is not None), default=0.0)
    return 0 if top == 0 else max(digits - 1 - math.floor(math.log10(top)), 0)


def _parse(text: str) -> tuple[list[str], list[list[str]], list[str]]:
    """(header names, rows of cells, the raw lines: header first, the rule skipped)."""
    lines = [line for line in text.splitlines() if line.strip()]
    header, body = lines[0], lines[2:]
    assert set(lines[1].strip()) <= {"-", "─", " "}, lines[1]
    return header.split(), [line.split() for line in body], [header, *body]


def _check_aligned(lines: list[str], names: list[str], numeric: set[str]) -> None:
    """Numbers end under the end of their header; other cells start under its start."""
    header = lines[0]
    at = 0
    for name in names:
        start = header.index(name, at)
        end = at = start + len(name)
        for line in lines[1:]:
            if name in numeric:
                assert line[end - 1] != " " and (end == len(line) or line[end] == " "), (name, line)
            else:
                assert line[start] != " " and (start == 0 or line[start - 1] == " "), (name, line)


@pytest.fixture(params=["rich", "plain"])
def renderer(request, monkeypatch):
    """Both text renderers: rich (a test dependency) and the plain fallback (rich hidden)."""
    if request.param == "plain":
        monkeypatch.setitem(sys.modules, "rich", None)
    else:
        pytest.importorskip("rich")
    return request.param


def test_table_default_columns_rounded_and_aligned(scored, renderer):
    status, out, err = _main(["kpi", "-q", "--by", "touchpoint,channel", "--window", "week", "--format", "table"],
                             scored)
    assert status == 0, err
    want = _reference(scored, ["touchpoint", "channel"], "week").result()
    names, rows, lines = _parse(out.decode())
    assert names == ["touchpoint", "channel", "window_start", *(c for c in KPI_COLUMNS if c in want.column_names)]
    assert "ces" not in names and "nps_n" not in names
    assert len(rows) == want.num_rows and max(map(len, lines)) <= 120
    numeric = {n for n in names if pa.types.is_integer(want.schema.field(n).type)
               or pa.types.is_floating(want.schema.field(n).type)}  # fmt: skip
    _check_aligned(lines, names, numeric)
    nps_family = [v for c in ("nps", "nps_low", "nps_high") for v in want.column(c).to_pylist()]
    decimals = {"nps": _table_decimals(nps_family), "nps_low": _table_decimals(nps_family),
                "nps_high": _table_decimals(nps_family), "csat": _table_decimals(want.column("csat").to_pylist()),
                "valence_mean": _table_decimals(want.column("valence_mean").to_pylist())}  # fmt: skip
    assert decimals["nps"] == 1 and decimals["valence_mean"] >= 4
    for row, cells in enumerate(rows):
        cell = dict(zip(names, cells, strict=True))
        assert cell["n"] == str(want.column("n")[row].as_py())
        assert cell["touchpoint"] == want.column("touchpoint")[row].as_py()
        assert cell["window_start"] == str(want.column("window_start")[row].as_py())
        for name, d in decimals.items():
            value = want.column(name)[row].as_py()
            assert cell[name] == (NULL if value is None else f"{value:.{d}f}"), (name, row)
    assert NULL in {c for cells in rows for c in cells}  # the sample has groups without an NPS answer


def test_table_of_drivers(scored, renderer):
    status, out, err = _main(["kpi", "-q", "--by", "touchpoint", "--drivers", "csat", "--output-format", "table"],
                             scored)
    assert status == 0, err
    want = _reference(scored, ["touchpoint"]).drivers("csat")
    names, rows, lines = _parse(out.decode())
    assert names == ["touchpoint", *DRIVER_COLUMNS]
    assert len(rows) == want.num_rows
    _check_aligned(lines, names, set(DRIVER_COLUMNS) - {"emotion"})
    d = _table_decimals([v for c in ("kpi_with", "kpi_without", "difference") for v in want.column(c).to_pylist()])
    impact = _table_decimals(want.column("impact").to_pylist())
    for row, cells in enumerate(rows):
        cell = dict(zip(names, cells, strict=True))
        for name, places in (("kpi_with", d), ("difference", d), ("impact", impact)):
            value = want.column(name)[row].as_py()
            assert cell[name] == (NULL if value is None else f"{value:.{places}f}"), (name, row)


def test_columns_select_in_order_after_the_keys(scored, renderer):
    status, out, err = _main(["kpi", "-q", "--by", "channel", "--format", "table", "--precision", "3",
                              "--columns", "churn_rate_n,channel,nps"], scored)  # fmt: skip
    assert status == 0, err
    want = _reference(scored, ["channel"]).result()
    names, rows, _ = _parse(out.decode())
    assert names == ["channel", "churn_rate_n", "nps"]
    d = _table_decimals(want.column("nps").to_pylist(), 3)
    assert [r[2] for r in rows] == [f"{v:.{d}f}" for v in want.column("nps").to_pylist()]
    # --columns selects for the other formats too (keys first); JSONL rounded to 3 digits
    status, out, err = _main(["kpi", "-q", "--by", "channel", "--columns", "nps_low,n", "--precision", "3"], scored)
    assert status == 0, err
    rows = [orjson.loads(line) for line in out.splitlines()]
    assert [list(r) for r in rows] == [["channel", "nps_low", "n"]] * want.num_rows
    assert [r["nps_low"] for r in rows] == [_rounded(v, 3) for v in want.column("nps_low").to_pylist()]


def test_misspelt_column_fails_before_reading(scored):
    status, out, err = _main(["kpi", "--by", "channel", "--format", "table", "--columns", "nps,npss,csat_hi"], scored)
    assert status == 2 and out == b""
    lines = [line for line in err.decode().splitlines() if line.startswith("emoscore: error:")]
    assert len(lines) == 1, err
    assert "'npss', 'csat_hi'" in lines[0] and "csat_high" in lines[0] and "nps_low" in lines[0]
    summary = orjson.loads(err.strip().splitlines()[-1])
    assert summary["read"] == 0
    status, _, err = _main(["kpi", "--drivers", "nps", "--columns", "nps"], scored)  # a KPI column, not a driver's
    assert status == 2 and b"kpi_with" in err


@pytest.mark.parametrize("digits", [4, 2, 0])
def test_precision_of_jsonl_and_csv(scored, tmp_path, digits):
    want = _reference(scored, ["touchpoint", "channel"], "week").result()
    floats = [f.name for f in want.schema if pa.types.is_floating(f.type)]
    precision = [] if digits == 4 else ["--precision", str(digits)]  # 4: the default
    status, out, err = _main(["kpi", "-q", "--by", "touchpoint,channel", "--window", "week", *precision], scored)
    assert status == 0, err
    rows = [orjson.loads(line) for line in out.splitlines()]
    assert len(rows) == want.num_rows
    for name in floats:
        assert [r[name] for r in rows] == [_rounded(v, digits) for v in want.column(name).to_pylist()], name
    assert [r["nps_n"] for r in rows] == want.column("nps_n").to_pylist()  # counts as they are
    path = tmp_path / "kpi.csv"
    status, _, err = _main(["kpi", "-q", "--by", "touchpoint,channel", "--window", "week", "-o", str(path),
                            *precision], scored)  # fmt: skip
    assert status == 0, err
    got = pa_csv.read_csv(path)
    for name in ("nps", "csat_low", "valence_mean", "revenue", "joy_share_high"):
        assert got.column(name).to_pylist() == [_rounded(v, digits) for v in want.column(name).to_pylist()], name


def test_arrow_and_parquet_stay_exact(scored, tmp_path):
    want = _reference(scored, ["channel"], "week").result()
    status, out, err = _main(["kpi", "-q", "--by", "channel", "--window", "week", "--precision", "2",
                              "--output-format", "arrow"], scored)  # fmt: skip
    assert status == 0, err
    assert pa.ipc.open_stream(out).read_all().equals(want)
    path = tmp_path / "kpi.parquet"
    status, _, err = _main(["kpi", "-q", "--by", "channel", "--window", "week", "-o", str(path)], scored)
    assert status == 0, err
    got = pq.read_table(path)
    for name in want.column_names:
        assert got.column(name).to_pylist() == want.column(name).to_pylist(), name


@pytest.mark.parametrize("name", ["kpi.parquet", "kpi.arrow"])
def test_table_refused_for_a_columnar_file(scored, tmp_path, name):
    path = tmp_path / name
    status, out, err = _main(["kpi", "--format", "table", "-o", str(path)], scored)
    assert status == 2 and out == b""
    assert b"--format table writes text" in err
    assert not path.exists()
    status, _, err = _main(["kpi", "-q", "--format", "table", "-o", str(tmp_path / "kpi.txt")], scored)
    assert status == 0, err
    assert (tmp_path / "kpi.txt").read_text().split()[:2] == ["n", "nps"]


def test_run_kpi_out_is_rounded(tmp_path):
    sample = bundled_sample_path()
    kpi_out = tmp_path / "kpi.jsonl"
    status, _, err = _main(["run", "-q", "--by", "channel", "--precision", "3", "--kpi-out", str(kpi_out),
                            "-o", str(tmp_path / "scored.arrow")], sample.read_bytes())  # fmt: skip
    assert status == 0, err
    want = KpiAggregator(["channel"]).update(emoscore.score(pj.read_json(sample))).result()
    rows = [orjson.loads(line) for line in kpi_out.read_bytes().splitlines()]
    for name in ("nps", "csat", "clv", "anger_share_low"):
        assert [r[name] for r in rows] == [_rounded(v, 3) for v in want.column(name).to_pylist()], name
    scored = pa.ipc.open_stream((tmp_path / "scored.arrow").read_bytes()).read_all()
    assert scored.column("valence").equals(emoscore.score(pj.read_json(sample)).column("valence"))  # not rounded


def test_round_significant_equals_python_round():
    rng = np.random.default_rng(17)
    values = np.concatenate([rng.normal(0, 1, 20_000) * 10.0 ** rng.integers(-9, 9, 20_000),
                             np.round(rng.normal(0, 50, 5_000), 3),  # many decimal ties: 0.125, -22.5 ...
                             [0.0, -0.0, np.nan, np.inf, -np.inf, 5e-324, 1e300, 9.99995, 0.285, 2.5, 999.95]])
    for digits in (1, 3, 4, 8, 15, 17):
        got = round_significant(values, digits)
        want = [_rounded(float(v), digits) for v in values]
        assert np.array_equal(got, np.array(want), equal_nan=True), digits
    assert np.array_equal(round_significant(values, 0), values, equal_nan=True)
