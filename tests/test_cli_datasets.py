"""Many inputs (files, globs, hive-partitioned directories), partitioned Parquet datasets out, and
resuming a stopped run: the ``emoscore`` commands as a data job drives them, on real files."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time

import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from emoscore import sample

RUNNER = [sys.executable, "-m", "emoscore"]
ENV = {**os.environ, "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", "/tmp/nbc_runner")}


def inproc(args: list[str], data: bytes = b"") -> subprocess.CompletedProcess:
    from emoscore.cli import main

    stdout, stderr = io.BytesIO(), io.BytesIO()
    status = main(args, stdin=io.BytesIO(data), stdout=stdout, stderr=stderr)
    return subprocess.CompletedProcess(args, status, stdout.getvalue(), stderr.getvalue())


def lines_of(path) -> list[bytes]:
    with open(path, "rb") as f:
        return f.read().splitlines()


def errors_of(stderr: bytes) -> list[dict]:
    found = [orjson.loads(line) for line in stderr.splitlines() if line.startswith(b"{")]
    return [line for line in found if line["event"] != "summary"]


def summary_of(path) -> dict:
    with open(path, "rb") as f:
        return orjson.loads(f.read())


@pytest.fixture(scope="module")
def records() -> list[bytes]:
    """300 sample records (JSONL lines), each with its id."""
    buffer = io.BytesIO()
    sample.write_jsonl(sample.iter_batches(300, seed=11, batch_size=100), buffer)
    return buffer.getvalue().splitlines()


@pytest.fixture()
def tree(tmp_path, records):
    """A hive-partitioned directory of JSONL files (country=de, country=fr) plus a loose file."""
    (tmp_path / "in" / "country=de").mkdir(parents=True)
    (tmp_path / "in" / "country=fr").mkdir(parents=True)
    parts = {"in/country=de/a.jsonl": records[:100], "in/country=fr/b.jsonl": records[100:200],
             "loose.jsonl": records[200:]}  # fmt: skip
    for name, lines in parts.items():
        (tmp_path / name).write_bytes(b"\n".join(lines) + b"\n")
    (tmp_path / "in" / "_SUCCESS").write_bytes(b"")  # a marker, not an input
    (tmp_path / "in" / ".hidden.jsonl").write_bytes(b"not json\n")
    return tmp_path


def test_directories_and_globs_are_read_in_turn_with_partition_columns_and_per_file_accounting(tree, records):
    (tree / "in" / "country=fr" / "c.jsonl").write_bytes(b'{"id": -1, "text": "fine"}\nnot json\n\n')
    out, summary = tree / "out.jsonl", tree / "s.json"
    done = inproc(["score", "-i", str(tree / "in"), "-i", str(tree / "loose*.jsonl"), "-o", str(out), "-q",
                   "--summary", str(summary)])  # fmt: skip
    assert done.returncode == 1, done.stderr
    rows = [orjson.loads(line) for line in lines_of(out)]
    assert [row["id"] for row in rows] == [orjson.loads(r)["id"] for r in records[:200]] + [-1] + [
        orjson.loads(r)["id"] for r in records[200:]]
    assert [row.get("country") for row in rows] == ["de"] * 100 + ["fr"] * 101 + [None] * 100
    # the records of a partitioned file gain the partition field, byte for byte otherwise
    assert lines_of(out)[0].startswith(records[0][:-1] + b',"country":"de"')
    (error,) = errors_of(done.stderr)
    assert error["input"] == str(tree / "in" / "country=fr" / "c.jsonl") and error["line"] == 2
    found = summary_of(summary)
    assert found["reconciled"] and found["inputs"] == 4 and "input" not in found
    files = [(f["input"].removeprefix(str(tree) + "/"), f["read"], f["written"], f["rejected"], f["blank_lines"],
              f["last_line"], f["complete"], f["reconciled"], f.get("partitions")) for f in found["files"]]  # fmt: skip
    assert files == [
        ("in/country=de/a.jsonl", 100, 100, 0, 0, 100, True, True, {"country": "de"}),
        ("in/country=fr/b.jsonl", 100, 100, 0, 0, 100, True, True, {"country": "fr"}),
        ("in/country=fr/c.jsonl", 2, 1, 1, 1, 3, True, True, {"country": "fr"}),
        ("loose.jsonl", 100, 100, 0, 0, 100, True, True, None),
    ]
    assert sum(f["read"] for f in found["files"]) == found["read"] == 302


def test_a_partitioned_parquet_dataset_is_written_and_read_back_with_the_same_kpis(tree, records):
    data = tree / "all.jsonl"
    data.write_bytes(b"\n".join(records) + b"\n")
    dataset = tree / "scored"
    done = inproc(["score", "-i", str(data), "-o", str(dataset), "--partition-by", "touchpoint,emotion", "-q"])
    assert done.returncode == 0, done.stderr
    files = sorted(p.relative_to(dataset).as_posix() for p in dataset.rglob("*.parquet"))
    assert files and all(f.startswith("touchpoint=") and "/emotion=" in f for f in files)
    table = ds.dataset(str(dataset), partitioning="hive").to_table()
    assert table.num_rows == 300 and "touchpoint" not in pq.read_schema(dataset / files[0]).names
    flat = inproc(["score", "-i", str(data), "-o", str(tree / "flat.parquet"), "-q"])
    assert flat.returncode == 0
    expected = pq.read_table(tree / "flat.parquet").sort_by("id")
    got = table.sort_by("id")
    for name in ("id", "text", "valence", "emotion", "touchpoint"):
        assert got.column(name).to_pylist() == expected.column(name).to_pylist(), name
    # the dataset directory is an input like any other: its partitions are columns again
    by_dir = inproc(["kpi", "-i", str(dataset), "--by", "touchpoint", "--columns", "n,nps,csat,valence_mean"])
    by_file = inproc(["kpi", "-i", str(tree / "flat.parquet"), "--by", "touchpoint", "--columns",
                      "n,nps,csat,valence_mean"])  # fmt: skip
    assert by_dir.returncode == by_file.returncode == 0, by_dir.stderr
    assert by_dir.stdout == by_file.stdout and by_dir.stdout.count(b"\n") >= 4


def test_a_dataset_written_in_many_rounds_and_files_keeps_every_record_once_in_order(tmp_path, monkeypatch):
    """The partitioned writer's bounds: with a budget of one batch and three files open, each batch is
    written out at once and partitions go on in new files; values that need escaping name directories
    as pyarrow.dataset reads them."""
    from emoscore.runner import outputs

    monkeypatch.setattr(outputs, "PARTITION_BUFFER_BYTES", 1)
    monkeypatch.setattr(outputs, "PARTITION_FILES_OPEN", 3)
    data = sample.generate(600, seed=5).select(["id", "text"])
    regions = pa.array([["a/b", "é x", None, "", "50%=half"][i % 5] for i in range(600)])
    pq.write_table(data.append_column("region", regions), tmp_path / "in.parquet")
    dataset = tmp_path / "scored"
    done = inproc(["score", "-i", str(tmp_path / "in.parquet"), "-o", str(dataset), "--partition-by",
                   "region,emotion", "--batch-size", "64", "-q"])  # fmt: skip
    assert done.returncode == 0, done.stderr
    files = list(dataset.rglob("*.parquet"))
    partitions = {f.parent for f in files}
    assert len(files) > len(partitions) > 10  # partitions went on in new files after theirs was closed
    assert sum(pq.ParquetFile(f).metadata.num_row_groups for f in files) > len(files)  # written in rounds
    got = ds.dataset(str(dataset), partitioning="hive").to_table()
    assert sorted(got.column("id").to_pylist()) == data.column("id").to_pylist()
    region_of = dict(zip(data.column("id").to_pylist(), regions.to_pylist(), strict=True))
    assert all(region_of[i] == r for i, r in zip(got.column("id").to_pylist(), got.column("region").to_pylist(),
                                                 strict=True))  # fmt: skip
    for folder in partitions:  # within a partition, the records keep their input order across files
        numbered = sorted(folder.glob("*.parquet"), key=lambda f: int(f.stem.rsplit("-", 1)[1]))
        ids = [i for f in numbered for i in pq.ParquetFile(f).read(columns=["id"]).column("id").to_pylist()]
        assert ids == sorted(ids)


def test_a_partition_that_cannot_be_written_fails_the_run_and_leaves_no_dataset(tmp_path):
    """A value too long for a directory name: the writing thread's OSError is the run's output error
    (status 5, one message), the dataset is not made and its records are counted as not written."""
    data = sample.generate(200, seed=5).select(["id", "text"])
    pq.write_table(data.append_column("region", pa.array(["x" * 300 if i == 150 else "ok" for i in range(200)])),
                   tmp_path / "in.parquet")  # fmt: skip
    dataset, summary = tmp_path / "scored", tmp_path / "summary.json"
    done = inproc(["score", "-i", str(tmp_path / "in.parquet"), "-o", str(dataset), "--partition-by", "region",
                   "--summary", str(summary), "-q"])  # fmt: skip
    assert done.returncode == 5, done.stderr
    [said] = [line for line in done.stderr.decode().splitlines() if line.startswith("emoscore: error")]
    assert f"cannot write the dataset {dataset}: File name too long" in said
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet", "summary.json"]  # nothing partial left
    found = summary_of(summary)
    assert (found["read"], found["written"], found["not_written"], found["reconciled"]) == (200, 0, 200, True)


def test_run_writes_a_dataset_and_kpis_over_many_inputs(tree):
    dataset, kpis = tree / "scored", tree / "kpi.jsonl"
    done = inproc(["run", "-i", str(tree / "in"), "-i", str(tree / "loose.jsonl"), "-o", str(dataset),
                   "--partition-by", "country", "--by", "country", "--kpi-out", str(kpis), "-q"])  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in dataset.iterdir()) == ["country=__HIVE_DEFAULT_PARTITION__", "country=de",
                                                         "country=fr"]  # fmt: skip
    table = {row["country"]: row["n"] for row in map(orjson.loads, lines_of(kpis))}
    assert table == {"de": 100, "fr": 100, None: 100}


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "arrow", "parquet"])
def test_skip_records_passes_over_the_first_records_and_keeps_their_numbers(tmp_path, records, fmt):
    table = pa.Table.from_pylist([orjson.loads(r) for r in records[:50]]).select(["id", "text"])
    table = table.set_column(1, "text", pa.array(["fine"] * 50, pa.string()))
    path = tmp_path / f"in.{fmt}"
    if fmt == "jsonl":
        path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in table.to_pylist()))
    elif fmt == "csv":
        pa_csv.write_csv(table, path)
    elif fmt == "arrow":
        with pa.OSFile(str(path), "wb") as f, pa.ipc.new_stream(f, table.schema) as writer:
            writer.write_table(table, max_chunksize=7)
    else:
        pq.write_table(table, path, row_group_size=7)
    skip = 20 if fmt != "csv" else 21  # CSV: line 21 is the 20th record (the header is line 1)
    out, summary = tmp_path / "out.jsonl", tmp_path / "s.json"
    done = inproc(["score", "-i", str(path), "--skip-records", str(skip), "-o", str(out), "-q", "--summary",
                   str(summary)])  # fmt: skip
    assert done.returncode == 0, done.stderr
    ids = [int(orjson.loads(line)["id"]) for line in lines_of(out)]
    assert ids == table.column("id").to_pylist()[20:]
    found = summary_of(summary)
    assert found["read"] == 30 and found["files"][0][f"last_{'row' if fmt in ('arrow', 'parquet') else 'line'}"] == (
        50 if fmt != "csv" else 51)


def test_a_run_stopped_by_a_signal_in_its_second_input_is_resumed_from_its_summary(tmp_path, records):
    first, third, fifo = tmp_path / "a.jsonl", tmp_path / "c.jsonl", tmp_path / "b.pipe"
    first.write_bytes(b"\n".join(records[:100]) + b"\n")
    third.write_bytes(b"\n".join(records[200:]) + b"\n")
    os.mkfifo(fifo)
    inputs = ["-i", str(first), "-i", str(fifo), "-i", str(third)]
    summary, out1 = tmp_path / "s1.json", tmp_path / "out1.jsonl"
    proc = subprocess.Popen(RUNNER + ["score", *inputs, "-o", str(out1), "--batch-size", "10", "--summary",
                                      str(summary), "-q"], stderr=subprocess.PIPE, env=ENV)  # fmt: skip
    with open(fifo, "wb") as pipe:  # the second input: 37 records, then it waits
        pipe.write(b"\n".join(records[100:137]) + b"\n")
        pipe.flush()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (tmp_path / f".out1.jsonl.emoscore-{proc.pid}.partial").exists():
            time.sleep(0.05)
        time.sleep(1.0)  # the reader holds the 37 lines: the stop comes while it waits for more
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    stopped = summary_of(summary)
    assert [(f["input"], f["complete"]) for f in stopped["files"]] == [(str(first), True), (str(fifo), False)]
    assert stopped["files"][1]["last_line"] == 37 and stopped["files"][1]["read"] == 37
    # the same inputs again, the pipe fed from its start: the resumed run reads only what the first did not
    out2, summary2 = tmp_path / "out2.jsonl", tmp_path / "s2.json"
    feeder = threading.Thread(target=lambda: fifo.write_bytes(b"\n".join(records[100:200]) + b"\n"))
    feeder.start()
    done = subprocess.run(RUNNER + ["score", *inputs, "-o", str(out2), "--resume", str(summary), "--summary",
                                    str(summary2), "-q"], capture_output=True, env=ENV, timeout=300)  # fmt: skip
    feeder.join()
    assert done.returncode == 0, done.stderr
    ids = [orjson.loads(line)["id"] for line in lines_of(out1) + lines_of(out2)]
    assert ids == [orjson.loads(r)["id"] for r in records]
    resumed = summary_of(summary2)
    assert [(f["read"], f["last_line"], f["complete"]) for f in resumed["files"]] == [(0, 100, True), (63, 100, True),
                                                                                      (100, 100, True)]  # fmt: skip
    # a summary of inputs that this run does not have is refused
    again = inproc(["score", *inputs[:2], *inputs[4:], "--resume", str(summary2), "-q"])
    assert again.returncode == 2 and b"not among the inputs" in again.stderr


@pytest.mark.parametrize(
    ("make", "args", "status", "message"),
    [
        (None, ["-i", "{d}/nothing*.jsonl"], 4, "no file matches"),
        (None, ["-i", "{d}/in", "-i", "{d}/in/country=de/a.jsonl"], 2, "twice"),
        (None, ["-i", "-", "-i", "{d}/loose.jsonl"], 2, "stdin (-i -) is read alone"),
        ("in/country=fr/z.csv", ["-i", "{d}/in"], 4, "is csv, but"),
        ("mixed", ["-i", "{d}/p1.parquet", "-i", "{d}/p2.parquet"], 4, "differ from those of"),
        ("deeper", ["-i", "{d}/in"], 4, "partitioned by different keys"),
        (None, ["-i", "{d}/loose.jsonl", "--skip-records", "3", "-i", "{d}/in"], 2, "--skip-records passes over"),
        (None, ["-i", "{d}/loose.jsonl", "-o", "{d}/in", "--partition-by", "emotion"], 2, "already holds files"),
        (None, ["-i", "{d}/in", "-o", "{d}/in/out", "--partition-by", "emotion"], 2, "overlap"),
        (None, ["-i", "{d}/loose.jsonl", "-o", "{d}/ds", "--partition-by", "emotoin"], 2, "no such column"),
        (None, ["-i", "{d}/loose.jsonl", "-o", "{d}/ds", "--partition-by", "valence"], 2, "cannot name directories"),
        (None, ["-i", "{d}/loose.jsonl", "--partition-by", "emotion"], 2, "give it with --output DIR"),
        ("lost", ["-i", "{d}/loose.jsonl", "--resume", "{d}/lost.json"], 2, "lost records"),
    ],
)
def test_mistakes_fail_once_with_one_message(tree, make, args, status, message):
    if make == "mixed":
        pq.write_table(pa.table({"text": ["a"], "n": [1]}), tree / "p1.parquet")
        pq.write_table(pa.table({"text": ["a"], "n": ["1"]}), tree / "p2.parquet")
    elif make == "deeper":
        (tree / "in" / "x=1" / "y=2").mkdir(parents=True)
        (tree / "in" / "x=1" / "y=2" / "d.jsonl").write_bytes(b'{"text": "a"}\n')
    elif make == "lost":
        (tree / "lost.json").write_bytes(orjson.dumps({"event": "summary", "status": "output_error", "files": [
            {"input": str(tree / "loose.jsonl"), "read": 5, "written": 0, "not_written": 5, "last_line": 5,
             "complete": False}]}))  # fmt: skip
    elif make:
        (tree / make).write_bytes(b"text\nfine\n")
    done = inproc(["score", *[a.replace("{d}", str(tree)) for a in args], "-q"])
    assert done.returncode == status, done.stderr
    said = [line for line in done.stderr.decode().splitlines() if line.startswith("emoscore: error")]
    assert len(said) == 1 and message in said[0], done.stderr
    assert not (tree / "ds").exists() and not list(tree.glob(".ds.emoscore-*"))
