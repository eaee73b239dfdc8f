"""The command-line runner, driven as a user drives it: a real subprocess with real pipes where the
process matters (the main JSONL path, bad lines, pipes between processes, a reader that goes away,
the entry points); in-process through ``emoscore.cli.main`` with byte streams elsewhere (each
process costs a second or two to start)."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
import orjson
import pyarrow as pa
import pytest

import emoscore
from emoscore import sample

RUNNER = [sys.executable, "-m", "emoscore"]
SUMMARY = "read {}, written {}, rejected {}"


@pytest.fixture(scope="module")
def columns() -> tuple[str, ...]:
    return emoscore.Scorer().columns


ENV = {**os.environ, "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", "/tmp/nbc_runner")}


def run(args: list[str], data: bytes = b"", **kwargs) -> subprocess.CompletedProcess:
    """The real ``python -m emoscore`` process."""
    return subprocess.run(RUNNER + args, input=data, capture_output=True, timeout=300, env=ENV, **kwargs)


def inproc(args: list[str], data: bytes = b"") -> subprocess.CompletedProcess:
    """``emoscore.cli.main`` in this process, with byte streams for stdin, stdout and stderr."""
    from emoscore.cli import main

    stdout, stderr = io.BytesIO(), io.BytesIO()
    status = main(args, stdin=io.BytesIO(data), stdout=stdout, stderr=stderr)
    return subprocess.CompletedProcess(args, status, stdout.getvalue(), stderr.getvalue())


def jsonl(*objects) -> bytes:
    return b"".join(orjson.dumps(obj) + b"\n" for obj in objects)


def rejections(stderr: bytes) -> list[dict]:
    lines = [orjson.loads(line) for line in stderr.splitlines() if line.startswith(b"{")]
    return [line for line in lines if line["event"] == "rejected"]


def expected_scores(texts: list[str | None]) -> list[dict]:
    return emoscore.score(pa.array(texts, pa.string())).to_pylist()


def assert_scores_match(row: dict, expected: dict) -> None:
    for name, value in expected.items():
        if isinstance(value, float):
            assert isinstance(row[name], float), name
            assert row[name] == round(value, 4), name  # rounded to 4 decimals, nothing else
        elif name == "aspects":  # a list of objects: their floats rounded alike
            assert len(row[name]) == len(value), name
            for got, want in zip(row[name], value, strict=True):
                assert_scores_match(got, want)
        else:
            assert row[name] == value, name


def read_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.BufferReader(data)).read_all()


def write_ipc(*batches: pa.RecordBatch) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, batches[0].schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
    return sink.getvalue()


def test_jsonl_keeps_each_input_object_and_appends_the_scores(columns):
    lines = [
        b'{"id": 1, "text": "I love it, no problems at all!", "nps": 10}',
        b'{"text":"The checkout kept failing \xf0\x9f\x98\xa1","price":1.50,"tags":["a",{"b":null}],"id":2}',
        b'  {"z": true, "text": "caf\xc3\xa9 was NOT good", "a": "\\"quoted\\" \\u00e9"}  \t\r',
        b'{"text": "", "empty": {}}',
    ]
    out = run(["score"], b"\n".join(lines) + b"\n")
    assert out.returncode == 0, out.stderr
    output = out.stdout.splitlines()
    assert len(output) == len(lines)
    texts = [orjson.loads(line)["text"] for line in lines]
    for raw, line, expected in zip(lines, output, expected_scores(texts), strict=True):
        # byte for byte: the input object up to its closing brace, then the score fields
        assert line.startswith(raw.strip()[:-1] + b',"valence":'), line
        row = orjson.loads(line)
        original = orjson.loads(raw)
        assert list(row)[: len(original)] == list(original)
        assert list(row)[len(original) :] == list(columns)
        assert {k: row[k] for k in original} == original
        assert_scores_match(row, expected)
    assert SUMMARY.format(4, 4, 0) in out.stderr.decode()
    assert output[0] != output[1]  # the scores differ with the text
    assert orjson.loads(output[0])["valence"] > 0 > orjson.loads(output[1])["valence"]


def test_text_option_picks_the_field():
    data = jsonl(
        {"text": "I love it", "body": "terrible, awful, furious"},
        {"body": "great service, thank you", "id": 2},
    )
    out = inproc(["score", "--text", "body"], data)
    assert out.returncode == 0, out.stderr
    rows = [orjson.loads(line) for line in out.stdout.splitlines()]
    expected_rows = expected_scores(["terrible, awful, furious", "great service, thank you"])
    for row, expected in zip(rows, expected_rows, strict=True):
        assert_scores_match(row, expected)
    assert rows[0]["valence"] < 0 < rows[1]["valence"]
    # the default field is "text": the second record has none
    default = inproc(["score"], data)
    assert default.returncode == 1
    assert [(r["line"], r["field"]) for r in rejections(default.stderr)] == [(2, "text")]


def test_bad_lines_are_reported_skipped_and_fail_the_run():
    good = [{"text": "fine", "n": i} for i in range(3)]
    lines = [
        orjson.dumps(good[0]),  # 1
        b"{not json",  # 2
        b"",  # 3 blank: skipped, not a record
        b"[1, 2, 3]",  # 4
        orjson.dumps({"text": 42}),  # 5
        orjson.dumps(good[1]),  # 6
        orjson.dumps({"body": "no text here"}),  # 7
        b'{"text": "bad utf-8 \xff"}',  # 8
        b'"just a string"',  # 9
        orjson.dumps({"text": ["a"]}),  # 10
        orjson.dumps(good[2]),  # 11
    ]
    out = run(["score", "--batch-size", "2"], b"\n".join(lines) + b"\n")
    assert out.returncode == 1
    assert [orjson.loads(line)["n"] for line in out.stdout.splitlines()] == [0, 1, 2]
    reported = rejections(out.stderr)
    assert [(r["line"], r["field"]) for r in reported] == [
        (2, None), (4, None), (5, "text"), (7, "text"), (8, None), (9, None), (10, "text")
    ]  # fmt: skip
    reasons = {r["line"]: r["reason"] for r in reported}
    assert "invalid JSON" in reasons[2] and "object" in reasons[4] and "array" in reasons[4]
    assert "number" in reasons[5] and "missing" in reasons[7] and "array" in reasons[10]
    assert SUMMARY.format(10, 3, 7) in out.stderr.decode()
    assert b"Traceback" not in out.stderr


def test_null_text_scores_neutral():
    out = inproc(["score"], jsonl({"text": None, "id": 1}, {"id": 2, "text": "I love it"}))
    assert out.returncode == 0, out.stderr
    null, love = (orjson.loads(line) for line in out.stdout.splitlines())
    assert null["text"] is None and null["emotion"] == "neutral"
    assert null["tokens"] == 0 and null["hits"] == 0 and null["valence"] == 0.0
    assert love["emotion"] != "neutral"


def test_empty_input():
    for data in (b"", b"\n\n  \n"):
        out = inproc(["score"], data)
        assert out.returncode == 0, out.stderr
        assert out.stdout == b""
        assert SUMMARY.format(0, 0, 0) in out.stderr.decode()
    arrow = inproc(["score", "--output-format", "arrow"], b"")
    assert arrow.returncode == 0, arrow.stderr
    table = read_ipc(arrow.stdout)
    assert table.num_rows == 0 and "valence" in table.schema.names


def test_empty_and_odd_objects_stay_valid_json(columns):
    lines = [b'{"text":"ok"}', b'{ "text" : "ok"   }', b'{"text":"ok","valence":"mine","x":1}']
    out = inproc(["score"], b"\n".join(lines))  # no final newline
    assert out.returncode == 0, out.stderr
    rows = [orjson.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 3
    assert list(rows[2]) == ["text", "x", *columns]  # the input's "valence" is replaced by the score
    assert isinstance(rows[2]["valence"], float)
    assert b"replaced" in out.stderr


def test_arrow_stream_in_and_out():
    table = pa.table(
        {
            "id": pa.array(range(10), pa.int64()),
            "text": ["I love it", None, "terrible", "ok", "", "NOT HAPPY!!!", "café", "😡", "fine", "meh"],
            "nps": pa.array([10, None, 1, 7, 5, 2, 8, 0, 9, 6], pa.int8()),
        }
    )
    batches = table.to_batches(max_chunksize=6)
    expected = emoscore.score(table)
    for args in (["score", "--input-format", "arrow", "--output-format", "arrow"],
                 ["score", "--output-format", "arrow"]):
        out = inproc(args + ["--batch-size", "4"], write_ipc(*batches))  # detected by the 0xFFFFFFFF marker
        assert out.returncode == 0, out.stderr
        result = read_ipc(out.stdout)
        assert result.schema == expected.schema
        assert result.equals(expected)
        assert SUMMARY.format(10, 10, 0) in out.stderr.decode()


def test_arrow_in_jsonl_out_and_jsonl_in_arrow_out(columns):
    table = pa.table({"text": ["I love it", None], "nps": pa.array([10, None], pa.int8())})
    out = inproc(["score"], write_ipc(*table.to_batches()))
    assert out.returncode == 0, out.stderr
    rows = [orjson.loads(line) for line in out.stdout.splitlines()]
    assert [list(row) for row in rows] == [["text", "nps", *columns]] * 2
    assert rows[1]["nps"] is None and rows[1]["emotion"] == "neutral"
    for row, expected in zip(rows, expected_scores(["I love it", None]), strict=True):
        assert_scores_match(row, expected)

    data = jsonl({"id": 1, "text": "I love it"}, {"id": 2, "text": None}, {"id": 3, "text": "bad", "extra": 1})
    back = inproc(["score", "--output-format", "arrow", "--batch-size", "2"], data)
    assert back.returncode == 1  # the third record (second batch) has a field the first batch did not
    result = read_ipc(back.stdout)
    assert result.column("id").to_pylist() == [1, 2]
    assert result.schema.names == ["id", "text", *columns]
    assert [(r["line"], r["field"]) for r in rejections(back.stderr)] == [(3, "extra")]


def test_arrow_errors_name_the_problem():
    table = pa.table({"body": ["x"]})
    out = inproc(["score", "--input-format", "arrow"], write_ipc(*table.to_batches()))
    assert out.returncode == 4 and out.stdout == b""  # 4: the input cannot be used
    assert b"'text'" in out.stderr and b"body" in out.stderr and b"Traceback" not in out.stderr
    numbers = pa.table({"text": [1, 2]})
    out = inproc(["score"], write_ipc(*numbers.to_batches()))
    assert out.returncode == 4 and b"Traceback" not in out.stderr and b"text" in out.stderr
    garbage = inproc(["score", "--input-format", "arrow"], b"not arrow at all")
    assert garbage.returncode == 4 and b"Arrow" in garbage.stderr and b"Traceback" not in garbage.stderr


def test_sample_bundled_and_generated():
    bundled = inproc(["sample"])
    assert bundled.returncode == 0
    assert bundled.stdout == sample.bundled_sample_path().read_bytes()
    assert len(bundled.stdout.splitlines()) == sample.SAMPLE_N
    generated = inproc(["sample", "--n", "25", "--seed", "3"])
    assert generated.returncode == 0
    expected = io.BytesIO()
    sample.write_jsonl(sample.generate(25, seed=3), expected)
    assert generated.stdout == expected.getvalue()
    arrow = inproc(["sample", "--n", "25", "--seed", "3", "--output-format", "arrow"])
    assert read_ipc(arrow.stdout).equals(sample.generate(25, seed=3))


def test_sample_piped_into_score(columns):
    producer = subprocess.Popen(RUNNER + ["sample"], stdout=subprocess.PIPE, env=ENV)
    consumer = subprocess.Popen(
        RUNNER + ["score"], stdin=producer.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV
    )
    producer.stdout.close()
    stdout, stderr = consumer.communicate(timeout=300)
    assert producer.wait(timeout=60) == 0
    assert consumer.returncode == 0, stderr
    rows = [orjson.loads(line) for line in stdout.splitlines()]
    assert [row["id"] for row in rows] == list(range(1, sample.SAMPLE_N + 1))
    assert all(list(row)[-len(columns) :] == list(columns) for row in rows)
    emotions = {row["emotion"] for row in rows}
    assert len(emotions) > 5  # the generated feedback is not all one emotion
    valence = np.array([row["valence"] for row in rows])
    nps = np.array([row["nps"] if row["nps"] is not None else np.nan for row in rows])
    assert np.nanmean(nps[valence < -0.3]) < np.nanmean(nps[valence > 0.3])
    assert SUMMARY.format(sample.SAMPLE_N, sample.SAMPLE_N, 0) in stderr.decode()


@pytest.mark.parametrize("output_format", ["jsonl", "arrow"])
def test_reader_that_goes_away_early_is_not_an_error_trace(tmp_path, output_format):
    big = tmp_path / "big.jsonl"
    big.write_bytes(sample.bundled_sample_path().read_bytes() * 5)  # ~3 MB out: more than a pipe holds
    if output_format == "jsonl":  # literally `emoscore score < big | head`
        script = 'python -m emoscore score --batch-size 500 < "$1" 2> "$2" | head -n 2; echo "status ${PIPESTATUS[0]}"'
        errors = tmp_path / "stderr"
        env = {**ENV, "PATH": os.path.dirname(sys.executable) + os.pathsep + ENV.get("PATH", "")}
        out = subprocess.run(["bash", "-c", script, "bash", str(big), str(errors)], capture_output=True,
                             timeout=300, env=env)  # fmt: skip
        lines = out.stdout.splitlines()
        assert len(lines) == 3 and all(orjson.loads(line)["emotion"] for line in lines[:2])
        assert lines[2] == b"status 141"
        stderr = errors.read_bytes()
    else:
        with big.open("rb") as stdin:
            proc = subprocess.Popen(
                RUNNER + ["score", "--batch-size", "500", "--output-format", output_format],
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=ENV,
            )
            proc.stdout.read(100)  # like `head -c 100`
            proc.stdout.close()
            stderr = proc.stderr.read()
            assert proc.wait(timeout=300) == 141
    assert b"Traceback" not in stderr and b"Exception ignored" not in stderr
    assert b"BrokenPipe" not in stderr and b"error" not in stderr


def test_usage_errors_and_help():
    for args in (
        ["score", "--batch-size", "0"],
        ["score", "--input-format", "xml"],
        ["score", "--output-format", "parquet"],  # Parquet needs --output PATH
        ["score", "--no-such-option"],
        ["sample", "--n", "-5"],
        ["frobnicate"],
        [],
    ):
        out = inproc(args, b'{"text": "x"}\n')
        assert out.returncode == 2, args
        assert out.stdout == b"", args
    helped = run(["score", "--help"])
    assert helped.returncode == 0
    for code in (b"0 ", b"1 ", b"2 ", b"3 ", b"4 ", b"5 ", b"130", b"141", b"143"):
        assert code in helped.stdout
    assert b"exit status" in helped.stdout


def test_batch_size_does_not_change_the_output():
    data = sample.bundled_sample_path().read_bytes()[:60_000]
    data = data[: data.rfind(b"\n") + 1]
    outputs = {size: inproc(["score", "--batch-size", str(size), "--quiet"], data) for size in (1, 7, 8192)}
    assert all(out.returncode == 0 and out.stderr == b"" for out in outputs.values())
    assert outputs[1].stdout == outputs[7].stdout == outputs[8192].stdout
    assert len(outputs[1].stdout.splitlines()) == len(data.splitlines())


def test_console_script_entry_point_matches_module():
    from emoscore.cli import main

    assert main(["score", "--batch-size", "0"]) == 2
    assert main(["--help"]) == 0
    via_function = subprocess.run(
        [sys.executable, "-c", "import sys; from emoscore.cli import main; sys.exit(main(['sample']))"],
        capture_output=True,
        env=ENV,
        timeout=300,
    )
    assert via_function.returncode == 0
    assert via_function.stdout == sample.bundled_sample_path().read_bytes()


def test_score_fields_are_written_as_orjson_writes_the_rounded_values():
    """The column-wise JSON encoder (lookup tables for the common case, pyarrow casts otherwise)
    against the obvious per-value reference: orjson.dumps of round(value, 4)."""
    from emoscore.runner.jsontext import json_fields

    rng = np.random.default_rng(5)
    floats = np.concatenate(
        [
            rng.uniform(-1, 1, 500).astype(np.float32),
            np.array([0.0, -0.0, 1.0, -1.0, 0.00005, -0.00005, 0.99995, 0.12345, 1e-7], np.float32),
        ]
    )
    wide = np.array([12.5, -3.0, 1e20, 123456.78901, 2.0, 0.5], np.float64)  # outside [-1, 1]
    counts = np.array([0, 1, 16383, 16384, 10**9, 7], np.int64)
    words = ["joy", 'quo"te', "é\n", None, "joy", "neutral"]
    cases = {
        "in range": pa.table({"valence": floats, "n": np.arange(len(floats), dtype=np.int32)}),
        "general": pa.table(
            {
                "x": pa.array(wide),
                "maybe": pa.array([0.5, None, float("nan"), 1.0, float("inf"), -0.25]),
                "count": pa.array(counts),
                "neg": pa.array([-1, 2, None, 4, 5, 6], pa.int32()),
                "word": pa.array(words),
                "flag": pa.array([True, False, None, True, True, False]),
            }
        ),
    }
    for name, table in cases.items():
        fragments = json_fields(table).to_pylist()
        for row, fragment in zip(table.to_pylist(), fragments, strict=True):
            expected = {}
            for key, value in row.items():
                if isinstance(value, float):  # rounded, -0.0 written as 0.0, NaN and inf as null
                    value = round(value, 4) + 0.0 if np.isfinite(value) else None
                expected[key] = value
            assert fragment == orjson.dumps(expected).decode()[1:-1], (name, row)


def test_summary_file_holds_the_json_summary_even_when_quiet(tmp_path):
    data = jsonl({"text": "great", "channel": "web"}, {"text": 42}, {"text": "awful", "channel": "app"})
    loud = inproc(["score", "--summary", str(tmp_path / "loud.json")], data)
    printed = [orjson.loads(line) for line in loud.stderr.splitlines() if line.startswith(b'{"event":"summary"')]
    written = orjson.loads((tmp_path / "loud.json").read_bytes())
    assert printed == [written] and written["read"] == 3 and written["rejected"] == 1 and written["reconciled"]
    quiet = inproc(["kpi", "-q", "--by", "channel", "--summary", str(tmp_path / "quiet.json")], data)
    assert quiet.returncode == 1 and b'"event":"summary"' not in quiet.stderr
    assert orjson.loads((tmp_path / "quiet.json").read_bytes())["command"] == "kpi"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loud.json", "quiet.json"]  # no temporary file left
    # asked for and not written: an output error, said once
    failed = inproc(["score", "-q", "--summary", str(tmp_path / "missing" / "s.json")], jsonl({"text": "ok"}))
    assert failed.returncode == 5 and failed.stdout.count(b"\n") == 1
    assert failed.stderr.decode().count("cannot write the summary") == 1
