"""The CLI over many files and into partitioned datasets, against one file in and one file out.

    python bench/datasets.py                          # 1M and 4M generated rows (minutes)
    python bench/datasets.py --rows 100k --repeats 1  # quick look

Each case is a fresh ``emoscore score`` process (warm Numba and lexicon caches) over the same
generated rows, stored as Parquet:

- ``one file -> one file``: ``-i rows.parquet -o out.parquet``, the baseline;
- ``-> --partition-by emotion`` and ``-> --partition-by touchpoint,emotion``: the same input written as a
  hive dataset (14 and 84 partitions);
- ``16 files ->`` and ``16 hive directories ->``: the rows split into 16 Parquet files in one directory,
  and into ``chunk=K/`` directories (one more string column), read in turn into one file.

For every case and size: the fastest wall time of ``--repeats`` runs and its ratio to the baseline at that
size, and the process's peak RSS (its own rusage) with its ratio to the same case at the smallest size (1.0 =
memory does not grow with the rows). The report is printed and saved as JSON (``--json``).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from compare import counts, emoscore_command, machine, save_report, table
from emoscore.sample import iter_batches

FILES = 16
CASES = {  # name: (input folder or file under the size's folder, extra arguments, output)
    "one file -> one file": ("rows.parquet", [], "out.parquet"),
    "one file -> --partition-by emotion": ("rows.parquet", ["--partition-by", "emotion"], "by-emotion"),
    "one file -> --partition-by touchpoint,emotion":
        ("rows.parquet", ["--partition-by", "touchpoint,emotion"], "by-touchpoint-emotion"),
    f"{FILES} files -> one file": ("files", [], "out.parquet"),
    f"{FILES} hive directories -> one file": ("hive", [], "out.parquet"),
}
BASELINE = "one file -> one file"


def write_inputs(rows: int, folder: Path) -> None:
    """``rows`` generated rows as one Parquet file, as 16 files, and as 16 ``chunk=K`` directories; row
    groups of 65,536 rows, as a streaming writer would leave them."""
    data = pa.Table.from_batches(list(iter_batches(rows, seed=1, batch_size=1 << 16)))
    pq.write_table(data, folder / "rows.parquet", row_group_size=1 << 16)
    per_file = math.ceil(rows / FILES)
    (folder / "files").mkdir()
    for k in range(FILES):
        part = data.slice(k * per_file, per_file)
        pq.write_table(part, folder / "files" / f"part-{k:02d}.parquet", row_group_size=1 << 16)
        (folder / "hive" / f"chunk={k:02d}").mkdir(parents=True)
        pq.write_table(part, folder / "hive" / f"chunk={k:02d}" / "part.parquet", row_group_size=1 << 16)


def one_run(folder: Path, case: str) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of one ``emoscore score`` process for ``case``; its output removed after."""
    source, extra, target = CASES[case]
    out = folder / "out" / target
    command = [*emoscore_command(), "score", "-i", str(folder / source), "-o", str(out), "-q", *extra]
    out.parent.mkdir()
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {child.stderr.read().decode()[-800:]}")
    child.stderr.close()
    shutil.rmtree(out.parent)
    return seconds, usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024) / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=counts, default=counts("1M,4M"), help="row counts (default 1M,4M)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per case, fastest kept (default 3)")
    parser.add_argument("--json", help="write the report here (default bench/results/datasets-<timestamp>.json)")
    parser.add_argument("--write-inputs", nargs=2, metavar=("ROWS", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.write_inputs:
        write_inputs(int(args.write_inputs[0]), Path(args.write_inputs[1]))
        return 0
    report: dict = {"machine": machine(), "files": FILES, "rows": []}
    # Compile (or load) the kernels and the lexicon once, outside every timing.
    subprocess.run([*emoscore_command(), "warm"], check=True, capture_output=True)
    sizes = sorted(args.rows)
    for rows in sizes:
        with tempfile.TemporaryDirectory(prefix="emoscore-datasets-") as tmp:
            folder = Path(tmp)
            # In a child: a process started from this one counts this one's memory in its peak RSS (the
            # exec happens in this process's address space), so this one must stay small.
            subprocess.run([sys.executable, __file__, "--write-inputs", str(rows), tmp], check=True)
            for case in CASES:
                runs = [one_run(folder, case) for _ in range(max(1, args.repeats))]
                report["rows"].append({"case": case, "rows": rows, "seconds": min(s for s, _ in runs),
                                       "peak_rss_mb": max(m for _, m in runs)})
    by_key = {(r["case"], r["rows"]): r for r in report["rows"]}
    for r in report["rows"]:
        r["time_vs_one_file"] = r["seconds"] / by_key[(BASELINE, r["rows"])]["seconds"]
        r["rss_vs_one_file"] = r["peak_rss_mb"] / by_key[(BASELINE, r["rows"])]["peak_rss_mb"]
        r["rss_vs_smallest"] = r["peak_rss_mb"] / by_key[(r["case"], sizes[0])]["peak_rss_mb"]
        r["rows_per_s"] = r["rows"] / r["seconds"]
    print(f"emoscore score over generated rows in Parquet, best of {args.repeats}; "
          f"{report['machine']['cpu']} ({report['machine']['cores']} cores)")
    table(report["rows"], ["case", "rows", "time_vs_one_file", "rss_vs_one_file", "rss_vs_smallest",
                           "rows_per_s", "peak_rss_mb"])
    print(f"report: {save_report(report, args.json, 'datasets')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
