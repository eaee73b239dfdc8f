"""``emoscore warm`` fills empty caches so that the commands a job runs afterwards compile nothing.

Numba reports each cache load and save when ``NUMBA_DEBUG_CACHE`` is set: a "data saved" line
means a kernel was compiled. The check that this line appears during ``warm`` itself shows the
probe can see compilation at all.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow
EMOSCORE = [sys.executable, "-m", "emoscore"]


def run(args, env, stdin=b""):
    done = subprocess.run(EMOSCORE + args, input=stdin, env=env, capture_output=True, timeout=900)
    assert done.returncode == 0, done.stderr.decode()[-4000:]
    return done


def test_after_warm_the_commands_compile_nothing(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"), EMOSCORE_CACHE_DIR=str(tmp_path / "emoscore"),
               NUMBA_DEBUG_CACHE="1")  # fmt: skip
    warm = run(["warm"], env)
    assert b"data saved" in warm.stdout + warm.stderr  # compiled now
    assert list((tmp_path / "emoscore" / "lexicons").glob("*.npz"))  # the compiled-lexicon cache

    # outputs go to files: Numba prints its cache lines on stdout
    inp, scored, table = (str(tmp_path / name) for name in ("in.jsonl", "scored.jsonl", "scored.parquet"))
    (tmp_path / "in.jsonl").write_bytes(run(["sample", "--n", "3000", "--seed", "5"], dict(os.environ)).stdout)
    jobs = [
        run(["score", "-i", inp, "-o", scored], env),
        run(["score", "--no-aspects", "-i", inp, "-o", table], env),
        run(["kpi", "--by", "channel,source", "--window", "month", "-i", scored, "-o", str(tmp_path / "k1.csv")], env),
        run(["kpi", "--by", "touchpoint", "--drivers", "valence_mean", "-i", table, "-o", str(tmp_path / "d.jsonl")],
            env),
        run(["run", "-i", inp, "-o", str(tmp_path / "r.csv"), "--by", "aspect", "--kpi-out", str(tmp_path / "k2.jsonl"),
             "--alerts-out", str(tmp_path / "a.jsonl")], env),
    ]  # fmt: skip
    assert (tmp_path / "scored.jsonl").read_bytes().count(b"\n") == 3000
    for job in jobs:
        assert b"data saved" not in job.stdout + job.stderr, " ".join(map(str, job.args))
        assert b"data loaded" in job.stdout + job.stderr  # the kernels came from the cache
