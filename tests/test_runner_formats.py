"""Formats, detection, compression and field selection, through ``emoscore.cli.main`` in-process
(the process-level behaviour — pipes, signals, bad input — is in the other test_runner files)."""

from __future__ import annotations

import gzip
import io

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

import emoscore
from emoscore import sample
from emoscore.cli import main


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return sample.generate(150, seed=5)


@pytest.fixture(scope="module")
def expected(table) -> pa.Table:
    return emoscore.score(table)


@pytest.fixture(scope="module")
def score_names() -> list[str]:
    return list(emoscore.Scorer().columns)


def run(args: list[str], data: bytes = b"") -> tuple[int, bytes, bytes]:
    stdout, stderr = io.BytesIO(), io.BytesIO()
    status = main(["score", *args], stdin=io.BytesIO(data), stdout=stdout, stderr=stderr)
    return status, stdout.getvalue(), stderr.getvalue()


def events(stderr: bytes, kind: str) -> list[dict]:
    lines = [orjson.loads(line) for line in stderr.splitlines() if line.startswith(b"{")]
    return [line for line in lines if line["event"] == kind]


def summary(stderr: bytes) -> dict:
    (found,) = events(stderr, "summary")
    assert found["reconciled"] is True
    return found


def jsonl_bytes(table: pa.Table) -> bytes:
    out = io.BytesIO()
    sample.write_jsonl(table.to_batches(), out)
    return out.getvalue()


def ipc_stream(table: pa.Table, chunk: int = 64) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=chunk)
    return sink.getvalue()


def write_inputs(tmp_path, table: pa.Table) -> dict[str, object]:
    files = {}
    files["jsonl"] = tmp_path / "in.jsonl"
    files["jsonl"].write_bytes(jsonl_bytes(table))
    files["jsonl.gz"] = tmp_path / "in.jsonl.gz"
    files["jsonl.gz"].write_bytes(gzip.compress(jsonl_bytes(table)))
    files["csv"] = tmp_path / "in.csv"
    pcsv.write_csv(table, files["csv"])
    files["tsv"] = tmp_path / "in.tsv"
    pcsv.write_csv(table, files["tsv"], pcsv.WriteOptions(delimiter="\t"))
    files["csv.zst"] = tmp_path / "in.csv.zst"
    with pa.CompressedOutputStream(str(files["csv.zst"]), "zstd") as stream:
        pcsv.write_csv(table, stream)
    files["arrows"] = tmp_path / "in.arrows"
    files["arrows"].write_bytes(ipc_stream(table))
    files["arrow"] = tmp_path / "in.arrow"  # the IPC *file* format
    with pa.ipc.new_file(str(files["arrow"]), table.schema) as writer:
        writer.write_table(table, max_chunksize=50)
    files["parquet"] = tmp_path / "in.parquet"
    pq.write_table(table, files["parquet"], row_group_size=40)
    return files


@pytest.mark.parametrize("kind", ["jsonl", "jsonl.gz", "csv", "tsv", "csv.zst", "arrows", "arrow", "parquet"])
def test_every_input_format_gives_the_same_scores(tmp_path, table, expected, score_names, kind):
    source = write_inputs(tmp_path, table)[kind]
    target = tmp_path / "out.arrows"
    status, stdout, stderr = run(["-i", str(source), "-o", str(target), "--keep", "id", "--batch-size", "32"])
    assert status == 0, stderr
    assert stdout == b""
    result = pa.ipc.open_stream(target.read_bytes()).read_all()
    assert result.schema.names == ["id", *score_names]
    ids = result.column("id").to_pylist()
    assert [int(i) for i in ids] == table.column("id").to_pylist()  # CSV fields stay strings
    assert result.select(score_names).equals(expected.select(score_names))
    found = summary(stderr)
    assert (found["read"], found["written"], found["rejected"]) == (150, 150, 0)
    assert found["input_format"] == kind.split(".")[0].replace("tsv", "csv").replace("arrows", "arrow")
    assert found["compression"] == {"gz": "gzip", "zst": "zstd"}.get(kind.rpartition(".")[2])


def test_every_output_format(tmp_path, table, expected, score_names):
    data = jsonl_bytes(table)
    for kind in ("jsonl", "csv", "arrows", "parquet"):
        target = tmp_path / f"out.{kind}"
        status, _, stderr = run(["-o", str(target), "--batch-size", "40"], data)
        assert status == 0, (kind, stderr)
        assert summary(stderr)["output_format"] == kind.replace("arrows", "arrow")
        if kind == "jsonl":
            rows = [orjson.loads(line) for line in target.read_bytes().splitlines()]
            result = pa.Table.from_pylist([{k: row[k] for k in score_names} for row in rows])
        elif kind == "csv":
            result = pcsv.read_csv(target, convert_options=pcsv.ConvertOptions(strings_can_be_null=True))
        elif kind == "arrows":
            result = pa.ipc.open_stream(target.read_bytes()).read_all()
        else:
            result = pq.read_table(target)
            assert pq.ParquetFile(target).metadata.num_rows == 150
        assert result.num_rows == 150, kind
        if kind != "jsonl":
            assert result.column_names == [*table.column_names, *score_names], kind
            assert result.column("id").to_pylist() == table.column("id").to_pylist()
            assert result.column("text").to_pylist() == table.column("text").to_pylist(), kind
        for name in score_names:
            got, want = result.column(name).to_pylist(), expected.column(name).to_pylist()
            if isinstance(want[0], float):
                if kind in ("jsonl", "csv"):  # written at 4 decimals
                    np.testing.assert_allclose(got, np.round(np.array(want, np.float64), 4), atol=1e-6)
                else:
                    assert got == want, (kind, name)
            elif name == "aspects" and kind in ("jsonl", "csv"):  # JSON text, floats at 4 decimals
                got = [orjson.loads(v) if isinstance(v, str) else v for v in got]
                rounded = [[{k: round(v, 4) if isinstance(v, float) else v for k, v in a.items()} for a in row]
                           for row in want]
                assert got == rounded, (kind, name)
            else:
                assert got == want, (kind, name)


def test_detection_from_stdin(table):
    jsonl = jsonl_bytes(table.slice(0, 20))
    csv_sink = io.BytesIO()
    pcsv.write_csv(table.slice(0, 20), csv_sink, pcsv.WriteOptions(delimiter=";"))
    stream = ipc_stream(table.slice(0, 20))
    zstd_stream = pa.BufferOutputStream()
    with pa.CompressedOutputStream(zstd_stream, "zstd") as out:
        out.write(stream)
    file_sink = io.BytesIO()
    with pa.ipc.new_file(file_sink, table.schema) as writer:
        writer.write_table(table.slice(0, 20))
    cases = {
        "jsonl": (jsonl, "jsonl", None),
        "csv ;": (csv_sink.getvalue(), "csv", None),
        "arrow": (stream, "arrow", None),
        "arrow file": (file_sink.getvalue(), "arrow", None),
        "gzip jsonl": (gzip.compress(jsonl), "jsonl", "gzip"),
        "zstd arrow": (zstd_stream.getvalue().to_pybytes(), "arrow", "zstd"),
    }
    for name, (data, fmt, compression) in cases.items():
        status, stdout, stderr = run(["--keep", "id"], data)
        assert status == 0, (name, stderr)
        rows = [orjson.loads(line) for line in stdout.splitlines()]
        assert [int(row["id"]) for row in rows] == list(range(1, 21)), name
        found = summary(stderr)
        assert (found["input_format"], found["compression"]) == (fmt, compression), name
    pq_sink = io.BytesIO()
    pq.write_table(table, pq_sink)
    status, stdout, stderr = run([], pq_sink.getvalue())
    assert status == 2 and b"Parquet input needs a path" in stderr and stdout == b""


def test_field_selection(tmp_path, table, score_names):
    data = jsonl_bytes(table.slice(0, 5))
    status, stdout, _ = run(["--keep", "nps,text", "--id", "id"], data)
    assert status == 0
    rows = [orjson.loads(line) for line in stdout.splitlines()]
    assert [list(row) for row in rows] == [["id", "nps", "text", *score_names]] * 5  # id first, then as asked
    status, stdout, _ = run(["--keep", ""], data)  # the scores only
    assert status == 0 and all(list(orjson.loads(line)) == score_names for line in stdout.splitlines())
    status, stdout, _ = run(["--keep", "", "--output-format", "arrow"], data)
    assert status == 0 and pa.ipc.open_stream(stdout).read_all().column_names == score_names
    # Parquet: only the columns needed are read
    source = tmp_path / "in.parquet"
    pq.write_table(table, source)
    status, stdout, stderr = run(["-i", str(source), "--keep", "channel", "--id", "id", "--text", "text"])
    assert status == 0, stderr
    assert list(orjson.loads(stdout.splitlines()[0])) == ["id", "channel", *score_names]
    # a --keep column that a schema-bearing input lacks is an input error
    status, _, stderr = run(["-i", str(source), "--keep", "nope"])
    assert status == 4 and b"nope" in stderr


def test_csv_output_quoting_nested_values_and_nulls():
    data = b"\n".join([
        orjson.dumps({"id": 1, "text": 'says "hi", then\nleaves', "tags": ["a", {"b": None}], "note": None}),
        orjson.dumps({"id": 2, "text": "", "tags": [], "note": ""}),
    ])  # fmt: skip
    status, stdout, stderr = run(["--output-format", "csv", "--keep", "text,tags,note", "--delimiter", ";"], data)
    assert status == 0, stderr
    convert = pcsv.ConvertOptions(strings_can_be_null=True, quoted_strings_can_be_null=False,
                                  column_types={"tags": pa.string(), "note": pa.string()})
    back = pcsv.read_csv(io.BytesIO(stdout), parse_options=pcsv.ParseOptions(delimiter=";", newlines_in_values=True),
                         convert_options=convert)
    assert back.column("text").to_pylist() == ['says "hi", then\nleaves', ""]
    assert [orjson.loads(t) for t in back.column("tags").to_pylist()] == [["a", {"b": None}], []]
    assert back.column("note").to_pylist() == [None, ""]  # null and the empty string stay apart


def test_jsonl_to_columnar_rejects_records_that_do_not_fit_and_can_stop():
    data = b"\n".join([
        orjson.dumps({"id": 1, "text": "fine"}),
        orjson.dumps({"id": 2, "text": "fine"}),
        orjson.dumps({"id": "three", "text": "does not fit int64"}),
        orjson.dumps({"id": 4, "text": "fine"}),
    ])  # fmt: skip
    status, stdout, stderr = run(["--output-format", "arrow", "--batch-size", "2"], data)
    assert status == 1
    assert pa.ipc.open_stream(stdout).read_all().column("id").to_pylist() == [1, 2, 4]
    assert [e["line"] for e in events(stderr, "rejected")] == [3]
    status, stdout, stderr = run(["--output-format", "arrow", "--on-error", "fail", "--batch-size", "2"], data)
    assert status == 3
    assert pa.ipc.open_stream(stdout).read_all().column("id").to_pylist() == [1, 2]
    found = summary(stderr)
    assert (found["read"], found["written"], found["rejected"], found["last_line"]) == (3, 2, 1, 3)


def test_missing_input_unwritable_output_bad_lexicon(tmp_path):
    status, stdout, stderr = run(["-i", str(tmp_path / "nope.jsonl")])
    assert status == 4 and b"No such file" in stderr and stdout == b""
    target = tmp_path / "no-dir" / "out.jsonl"
    status, _, stderr = run(["-o", str(target)], b'{"text": "x"}\n')
    assert status == 5 and b"No such file or directory" in stderr and not target.parent.exists()
    lexicon = tmp_path / "bad.tsv"
    lexicon.write_text("# emoscore-lexicon 1\n# emotions: joy\nterm\tvalence\temotions\trole\ngood\tnot-a-number\t\t\n")
    status, _, stderr = run(["--lexicon", str(lexicon)], b'{"text": "x"}\n')
    assert status == 2, stderr
    assert f"{lexicon}:".encode() in stderr and b"Traceback" not in stderr  # names the file and line


def test_output_file_replaced_only_at_the_end(tmp_path, table):
    target = tmp_path / "out.jsonl"
    target.write_bytes(b"previous contents\n")
    stream = ipc_stream(table, chunk=50)
    status, _, stderr = run(["-o", str(target)], stream[: len(stream) - 100])  # cut in the last batch
    assert status == 4, stderr
    rows = target.read_bytes().splitlines()  # the complete batches before the cut
    assert [orjson.loads(row)["id"] for row in rows] == list(range(1, 101))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_empty_inputs(tmp_path, table, score_names):
    status, stdout, stderr = run(["--input-format", "csv"], b"id,text\n")
    assert status == 0 and stdout == b"" and summary(stderr)["read"] == 0
    status, _, stderr = run(["--input-format", "csv"], b"")
    assert status == 4 and b"header" in stderr
    source = tmp_path / "empty.parquet"
    pq.write_table(table.slice(0, 0), source)
    target = tmp_path / "out.parquet"
    status, _, stderr = run(["-i", str(source), "-o", str(target)])
    assert status == 0, stderr
    assert pq.read_table(target).column_names == [*table.column_names, *score_names]


def test_score_named_input_fields_are_replaced(score_names):
    batch = pa.table({"text": ["I love it"], "valence": ["mine"], "x": [1]})
    status, stdout, stderr = run(["--output-format", "arrow"], ipc_stream(batch))
    assert status == 0, stderr
    result = pa.ipc.open_stream(stdout).read_all()
    assert result.column_names == ["text", "x", *score_names]
    assert result.column("valence").type == pa.float32()
    assert b"replaced" in stderr


def test_reading_machinery_is_reusable_by_other_subcommands(table):
    """What a subcommand such as ``emoscore kpi`` needs: any input as typed record batches."""
    from emoscore.runner import READERS, Session, arrow_chunks, open_input

    session = Session("kpi", stderr=io.BytesIO())
    data = jsonl_bytes(table.slice(0, 10)) + b"not json\n"
    source = open_input(None, session, stdin=io.BytesIO(data))
    reader = READERS[source.format](source, text="text", batch_size=4, session=session)
    batches = [chunk.batch for chunk in arrow_chunks(reader, session, text="text")]
    result = pa.Table.from_batches(batches)
    assert result.column("id").to_pylist() == list(range(1, 11))
    assert result.column("nps").type == pa.int64() and result.column("text").type == pa.string()
    assert (session.read, session.rejected) == (11, 1)
