"""Instructions and (simulated) branch misses per token of one stage: the tokenizer, the scoring
kernel (aspects on) or the floor kernel, on each input set of bench/scoring_sets.py.

    python bench/profile_counters.py                          # generated and long sets; minutes
    python bench/profile_counters.py --sets generated,amazon,movie,long --tokens 5M --json out.json

Hardware counters (``perf stat -e instructions,cycles,branch-misses``) are not available in every VM
(this one prints ``<not supported>``); the script says whether they are, and counts with valgrind
instead: ``cachegrind --cache-sim=no --branch-sim=yes`` (instructions executed, and branch misses of
cachegrind's simulated predictor: a relative figure, not the CPU's). Cycles: wall ns per token,
timed without valgrind.

A driver process scores one set under valgrind twice: once running the stage on the whole set once,
once running it ``1 + P`` times, P passes making at least ``--tokens`` tokens; everything else
(imports, loading the cached kernels, building the set, tokenizing it for the kernels, the first
pass's page faults) is the same in both, so the difference over ``P x tokens`` is the stage's own
cost per token. Two identical runs differ by up to ~10M instructions (Python is not deterministic
to the instruction); the default 10M tokens make that ~1 instruction per token. (Callgrind's
``--toggle-collect`` cannot single out a Numba function: its compiled code has no symbol valgrind
knows.) The Numba cache is warmed first, in a fixed ``NUMBA_CACHE_DIR``, so no compilation is counted.

Valgrind's virtual CPU is not the host's (no AVX-512, say): Numba would miss its cache under valgrind
and compile there. So every run, the timed one too, has Numba generate code for valgrind's CPU
(``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES`` as LLVM detects them under valgrind): the figures are
for that code, which may be slower than the host's own (bench/compare.py times that).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
STAGES = ("tokenizer", "kernel", "floor kernel")
COUNTERS = {"instructions": r"I\s+refs:\s+([\d,]+)", "branches": r"Branches:\s+([\d,]+)",
            "branch_misses": r"Mispredicts:\s+([\d,]+)"}


def driver(stage: str, set_name: str, docs: int, passes: int) -> None:
    """Run ``stage`` over the set ``passes`` times (after one pass on 100 documents, so the kernels are
    loaded in every run); print the tokens and the best pass's wall seconds as JSON."""
    import numba

    from emoscore import Scorer
    from emoscore._tokenize import tokenize
    from emoscore.kernels.score_cpu import score_stream
    from floor_kernel import floor_kernel
    from scoring_sets import build_sets

    numba.set_num_threads(1)
    lex = Scorer().lexicon
    texts = build_sets(docs, (set_name,))[set_name]

    def stage_call(piece):
        stream = tokenize(piece, lex.table_keys, lex.table_ids, lex.stem_mask)
        fn, fn_args = {"tokenizer": (tokenize, (piece, lex.table_keys, lex.table_ids, lex.stem_mask)),
                       "kernel": (score_stream, (*stream, lex)),
                       "floor kernel": (floor_kernel, (*stream[:2], lex))}[stage]
        return functools.partial(fn, *fn_args), len(stream[1])

    stage_call(texts.slice(0, 100))[0]()
    stage_fn, tokens = stage_call(texts)
    best = float("inf")
    for _ in range(passes):
        start = time.perf_counter()
        stage_fn()
        best = min(best, time.perf_counter() - start)
    print(json.dumps({"tokens": tokens, "seconds": best}))


def driver_command(stage, set_name, docs, passes) -> list[str]:
    return [sys.executable, __file__, "--driver", stage, "--sets", set_name, "--docs", str(docs),
            "--passes", str(passes)]


def counted(command: list[str], env: dict) -> dict:
    """Cachegrind's instruction and branch counts of one driver run."""
    proc = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--branch-sim=yes",
                           "--cachegrind-out-file=/dev/null", *command], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"valgrind run failed ({proc.returncode}): {proc.stderr[-800:]}")
    return {name: int(re.search(pattern, proc.stderr).group(1).replace(",", ""))
            for name, pattern in COUNTERS.items()}


def valgrind_cpu(env: dict) -> dict:
    """NUMBA_CPU_NAME and NUMBA_CPU_FEATURES of the CPU that LLVM sees under valgrind."""
    code = "import llvmlite.binding as ll; print(ll.get_host_cpu_name()); print(ll.get_host_cpu_features().flatten())"
    out = subprocess.run(["valgrind", "-q", sys.executable, "-c", code], env=env, check=True, capture_output=True,
                         text=True).stdout.split()
    return {"NUMBA_CPU_NAME": out[0], "NUMBA_CPU_FEATURES": out[1]}


def hardware_counters() -> str:
    """Whether ``perf stat`` can count instructions, cycles and branch misses here."""
    if not shutil.which("perf"):
        return "not available: no perf command"
    proc = subprocess.run(["perf", "stat", "-x,", "-e", "instructions,cycles,branch-misses", "true"],
                          capture_output=True, text=True)
    if proc.returncode != 0 or "<not supported>" in proc.stderr or "<not counted>" in proc.stderr:
        return "not available: perf stat prints <not supported> (a VM without PMU access)"
    return "available: perf stat counts them (this script still reports valgrind's, comparable everywhere)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="generated,long", help="input sets (default generated,long: short "
                                                                  "and long documents; a set takes minutes)")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"stages (default: {','.join(STAGES)})")
    parser.add_argument("--docs", default="50k", help="generated documents; the real sets are tiled to the "
                                                      "same bytes (default 50k, ~0.5M tokens)")
    parser.add_argument("--tokens", default="10M", help="tokens counted per stage and set (default 10M)")
    parser.add_argument("--passes", type=int, default=3, help=argparse.SUPPRESS)  # the driver's passes
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--driver", choices=STAGES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(BENCH))
    from compare import count, table

    docs = count(args.docs)
    if args.driver:
        driver(args.driver, args.sets, docs, args.passes)
        return 0
    if not shutil.which("valgrind"):
        print("valgrind is not installed (apt-get install valgrind): nothing to count")
        return 0
    env = dict(os.environ, PYTHONHASHSEED="0", NUMBA_NUM_THREADS="1")
    env.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="emoscore-profile-numba-"))
    env.update(valgrind_cpu(env))
    print(f"hardware counters: {hardware_counters()}")
    print(f"valgrind cachegrind, >= {args.tokens} tokens counted, NUMBA_CACHE_DIR={env['NUMBA_CACHE_DIR']}, "
          f"Numba code for valgrind's CPU: {env['NUMBA_CPU_NAME']}")
    rows = []
    for set_name in args.sets.split(","):
        for stage in args.stages.split(","):
            # native, best of 3 passes: the wall time, the token count, and the Numba cache warmed
            native = json.loads(subprocess.run(driver_command(stage, set_name, docs, 3), env=env, check=True,
                                               capture_output=True, text=True).stdout)
            passes = -(-count(args.tokens) // native["tokens"])
            base = counted(driver_command(stage, set_name, docs, 1), env)
            more = counted(driver_command(stage, set_name, docs, 1 + passes), env)
            per = passes * native["tokens"]
            rows.append({"set": set_name, "stage": stage, "tokens": per,
                         "instructions_per_token": (more["instructions"] - base["instructions"]) / per,
                         "branches_per_token": (more["branches"] - base["branches"]) / per,
                         "branch_misses_per_token": (more["branch_misses"] - base["branch_misses"]) / per,
                         "wall_ns_per_token": 1e9 * native["seconds"] / native["tokens"]})
            print(f"  {set_name} / {stage}: done", flush=True)
    table(rows, ["set", "stage", "tokens", "instructions_per_token", "branches_per_token", "branch_misses_per_token",
                 "wall_ns_per_token"])
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
