"""``emoscore score --explain`` in every output format and ``emoscore explain`` for people: JSON, plain
text when stdout is not a terminal, and rich colour on a real pseudo-terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess

import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from emoscore import Scorer
from test_cli import ENV, RUNNER, inproc, jsonl

TEXTS = ["Not happy with the new pricing", "The delivery was fast but the refund took three weeks!!", None]


@pytest.fixture(scope="module")
def expected():
    return Scorer(explain=True).score(pa.table({"text": pa.array(TEXTS, pa.string())})).column("evidence").to_pylist()


def close_to(got: list[dict], want: list[dict]) -> None:
    assert [x["term"] for x in got] == [x["term"] for x in want]
    for a, b in zip(got, want, strict=True):
        assert (a["start"], a["end"], a["rules"], a["aspect"]) == (b["start"], b["end"], b["rules"], b["aspect"])
        assert a["valence"] == pytest.approx(b["valence"], abs=6e-5)
        assert [e["emotion"] for e in a["emotions"]] == [e["emotion"] for e in b["emotions"]]


def test_score_explain_jsonl_is_a_json_array(expected):
    result = inproc(["score", "--explain", "-q"], jsonl(*({"text": t, "id": i} for i, t in enumerate(TEXTS))))
    assert result.returncode == 0, result.stderr
    rows = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [row["id"] for row in rows] == [0, 1, 2]
    for row, want in zip(rows, expected, strict=True):
        close_to(row["evidence"], want)


@pytest.mark.parametrize("fmt", ["arrow", "parquet", "csv"])
def test_score_explain_columnar_outputs(tmp_path, expected, fmt):
    source = tmp_path / "in.jsonl"
    source.write_bytes(jsonl(*({"text": t} for t in TEXTS)))
    out = tmp_path / f"out.{fmt}"
    result = inproc(["score", "--explain", "-q", "-i", str(source), "-o", str(out)])
    assert result.returncode == 0, result.stderr
    if fmt == "arrow":
        with pa.ipc.open_stream(out.read_bytes()) as reader:
            column = reader.read_all().column("evidence")
    elif fmt == "parquet":
        column = pq.read_table(out).column("evidence")
    else:   # CSV: JSON text
        column = pa.array([orjson.loads(v) for v in pa_csv.read_csv(out).column("evidence").to_pylist()])
    for got, want in zip(column.to_pylist(), expected, strict=True):
        close_to(got, want)


def test_explain_json_for_machines(expected):
    result = inproc(["explain", "--json", *TEXTS[:2]])
    assert result.returncode == 0, result.stderr
    rows = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [row["text"] for row in rows] == TEXTS[:2]
    close_to(rows[0]["evidence"], expected[0])
    assert set(Scorer().columns) <= set(rows[0])


def test_explain_plain_text_marks_every_span():
    result = inproc(["explain", "Not happy with the new pricing"])
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "\x1b[" not in out                   # not a terminal: no escape codes
    assert "[Not]{negated} [happy]{" in out and "negated" in out.splitlines()[0]
    assert "valence -" in out and "span" in out and "term" in out


def test_explain_reads_records_and_reports_bad_ones():
    data = jsonl({"text": "Great support, thanks!"}) + b"not json\n" + jsonl({"text": "Awful delay"})
    result = inproc(["explain", "--json"], data)
    assert result.returncode == 1
    assert [orjson.loads(line)["text"] for line in result.stdout.splitlines()] == ["Great support, thanks!",
                                                                                   "Awful delay"]
    assert b'"line":2' in result.stderr.replace(b" ", b"")


def test_explain_on_a_terminal_is_coloured():
    # a real pseudo-terminal as stdout: rich draws the highlighted spans and the table
    leader, follower = pty.openpty()
    process = subprocess.Popen([*RUNNER, "explain", "Not happy with the new pricing"], stdout=follower,
                               stderr=subprocess.PIPE, env={**ENV, "COLUMNS": "100", "TERM": "xterm-256color"})
    os.close(follower)
    out = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        if not ready:
            break
        try:
            piece = os.read(leader, 65536)
        except OSError:     # the child closed the terminal
            break
        if not piece:
            break
        out += piece
    os.close(leader)
    assert process.wait(timeout=120) == 0, process.stderr.read()
    text = out.decode()
    assert "\x1b[" in text                      # colour
    assert "happy" in text and "negated" in text and "valence" in text
