"""Two million rows through the real process: every record is accounted for, in order."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import orjson
import pyarrow as pa
import pytest

RUNNER = [sys.executable, "-m", "emoscore", "score"]
ENV = {**os.environ, "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", "/tmp/nbc_runner")}
N = 2_000_000
BAD_EVERY = 100_000  # the last record of every 100,000 is bad


@pytest.mark.slow
def test_two_million_rows_reconcile(tmp_path):
    bad = {i for i in range(BAD_EVERY - 1, N, BAD_EVERY)}
    source = tmp_path / "in.jsonl"
    with source.open("wb") as file:  # short texts, written in blocks: a second or so
        for start in range(0, N, BAD_EVERY):
            block = [b'{"id":%d,"text":"ok, thanks"}' % i for i in range(start, start + BAD_EVERY - 1)]
            block.append(b'{"id":%d,"text":%d}' % (start + BAD_EVERY - 1, start))  # text of the wrong type
            file.write(b"\n".join(block) + b"\n")
    errors = tmp_path / "errors.jsonl"
    args = ["--output-format", "arrow", "--keep", "id", "--batch-size", "200000", "--errors", str(errors)]
    with source.open("rb") as stdin:
        proc = subprocess.Popen(RUNNER + args, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
        reader = pa.ipc.open_stream(proc.stdout)  # streamed: the output is never held whole here either
        next_id, written = 0, 0
        for batch in reader:
            ids = batch.column("id").to_numpy()
            expected = np.arange(next_id, next_id + len(ids) + BAD_EVERY)
            expected = expected[~np.isin(expected, list(bad))][: len(ids)]
            assert np.array_equal(ids, expected)  # in order, none lost, none repeated
            assert batch.column("emotion").null_count == 0
            next_id = int(ids[-1]) + 1
            written += len(ids)
        stderr = proc.stderr.read()
        assert proc.wait(timeout=600) == 1, stderr
    assert written == N - len(bad)
    rejected = [orjson.loads(line) for line in errors.read_bytes().splitlines()]
    assert [r["line"] for r in rejected] == sorted(i + 1 for i in bad)
    assert all(r["field"] == "text" and "number" in r["reason"] for r in rejected)
    (summary,) = [orjson.loads(line) for line in stderr.splitlines() if line.startswith(b'{"event":"summary"')]
    assert (summary["read"], summary["written"], summary["rejected"]) == (N, N - len(bad), len(bad))
    assert summary["reconciled"] and summary["last_line"] == N
    assert f"read {N}, written {N - len(bad)}, rejected {len(bad)}".encode() in stderr
