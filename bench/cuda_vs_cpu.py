"""Scoring throughput of the CUDA backend against the CPU backend on the same generated documents.

    python bench/cuda_vs_cpu.py                  # 10M documents (an NVIDIA GPU machine; minutes)
    python bench/cuda_vs_cpu.py --docs 200k      # quicker
    python bench/cuda_vs_cpu.py --json out.json  # also save the figures

Prints ``no CUDA device: <why>`` and exits 0 where no GPU is usable (Numba's simulator does not
count: it has no timings). Otherwise, on the same documents from the seeded sample generator:

- ``end-to-end``: ``Scorer.score`` docs/s with ``backend="cpu"`` and ``backend="cuda"`` (both
  tokenize on the CPU; the CUDA one overlaps tokenizing the next batch with the GPU), and the ratio;
- ``kernel``: the same token streams scored by ``score_cpu.score_stream`` (all cores) and by
  ``CudaScorer.run`` (pinned buffers, two streams), docs/s and the ratio;
- the CUDA split, from CUDA events summed over the batches: host->device copy of the token streams,
  the aspect pass (kernel + 16 bytes/document round trip), the scoring kernel, device->host copy;
  the bytes moved per document each way and the effective copy bandwidth.

Compilation is excluded (both backends score a small batch first). Every figure is a ratio against
the CPU measured in the same run; nothing is asserted.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time

import pyarrow as pa


def count(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def best_of(repeat: int, fn):
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=count, default=count("10M"), help="documents (default 10M)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="best of N timed runs")
    parser.add_argument("--aspects", choices=("on", "off", "both"), default="both")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)

    from emoscore.backend import cuda_status

    usable, reason = cuda_status()
    if not usable or os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        print(f"no CUDA device: {reason if not usable else 'the simulator has no timings'}")
        return 0

    from emoscore import Scorer, sample
    from emoscore._tokenize import tokenize
    from emoscore.api import _concat_streams
    from emoscore.kernels import score_cpu
    from emoscore.kernels.score_cuda import CudaScorer

    print(f"device: {reason}; CPU threads: {os.cpu_count()}; generating {args.docs:,} documents ...", flush=True)
    texts = pa.chunked_array([b.column("text") for b in sample.iter_batches(args.docs, seed=args.seed,
                                                                            batch_size=1_000_000)])
    table = pa.table({"text": texts})
    n = table.num_rows
    mb = texts.nbytes / 1e6
    report = {"docs": n, "text_mb": mb, "device": reason, "runs": []}
    for aspects in ((True, False) if args.aspects == "both" else (args.aspects == "on",)):
        cpu = Scorer(aspects=aspects, backend="cpu")
        gpu = Scorer(aspects=aspects, backend="cuda")
        warm = table.slice(0, 1000)
        cpu.score(warm)
        gpu.score(warm)
        t_cpu, _ = best_of(args.repeat, functools.partial(cpu.score, table))
        t_gpu, _ = best_of(args.repeat, functools.partial(gpu.score, table))

        lex = cpu.lexicon
        streams = []                 # the same token streams for both kernels, tokenized once
        for chunk in texts.chunks:
            for start in range(0, len(chunk), 1 << 18):
                streams.append(tokenize(chunk.slice(start, 1 << 18), lex.table_keys, lex.table_ids, lex.stem_mask))
        offsets, ids, flags = _concat_streams(streams)
        n_tokens = ids.shape[0]
        k_cpu, _ = best_of(args.repeat, functools.partial(score_cpu.score_stream, offsets, ids, flags, lex))
        scorer = CudaScorer(lex)
        scorer.run(streams[:1], streams[0][0].shape[0] - 1)
        split = []

        def on_gpu(scorer=scorer, streams=streams, split=split):  # bound here (B023); called in this iteration only
            before = dict(scorer.timings)
            result = scorer.run(iter(streams), n)
            split.append({k: scorer.timings[k] - before[k] for k in ("h2d", "aspects", "kernel", "d2h")})
            return result

        k_gpu, out = best_of(args.repeat, on_gpu)
        ms = min(split, key=lambda s: sum(s.values()))
        h2d_bytes = 8 * (n + len(streams)) + 5 * n_tokens + (16 * n if aspects else 0)
        slot_bytes = 12 * int(out.aspect_offsets[-1])
        d2h_bytes = n * (4 + 4 + 4 * len(lex.emotions) + 2 + 4 + 4) + slot_bytes
        run = {
            "aspects": aspects, "tokens_per_doc": n_tokens / n,
            "end_to_end_docs_per_s": {"cpu": n / t_cpu, "cuda": n / t_gpu, "cuda_over_cpu": t_cpu / t_gpu},
            "kernel_docs_per_s": {"cpu": n / k_cpu, "cuda": n / k_gpu, "cuda_over_cpu": k_cpu / k_gpu},
            "cuda_split_ms": ms, "cuda_wall_ms": k_gpu * 1e3,
            "bytes_per_doc": {"h2d": h2d_bytes / n, "d2h": d2h_bytes / n},
            "copy_gb_per_s": {"h2d": h2d_bytes / max(ms["h2d"], 1e-9) / 1e6,
                              "d2h": d2h_bytes / max(ms["d2h"], 1e-9) / 1e6},
        }
        report["runs"].append(run)
        label = "aspects on " if aspects else "aspects off"
        e, k = run["end_to_end_docs_per_s"], run["kernel_docs_per_s"]
        print(f"[{label}] end-to-end: cpu {e['cpu']:,.0f} docs/s, cuda {e['cuda']:,.0f} docs/s, "
              f"cuda/cpu {e['cuda_over_cpu']:.2f}x  ({mb / t_cpu:,.0f} vs {mb / t_gpu:,.0f} MB/s)")
        print(f"[{label}] kernel only: cpu {k['cpu']:,.0f} docs/s, cuda {k['cuda']:,.0f} docs/s (copies included), "
              f"cuda/cpu {k['cuda_over_cpu']:.2f}x")
        total = sum(ms.values())
        print(f"[{label}] cuda split over {len(streams)} batches: "
              + ", ".join(f"{name} {value:,.1f} ms ({100 * value / total:.0f}%)" for name, value in ms.items())
              + f"; wall {k_gpu * 1e3:,.1f} ms (copies and kernels of different batches overlap)")
        print(f"[{label}] bytes/doc: h2d {run['bytes_per_doc']['h2d']:.0f}, d2h {run['bytes_per_doc']['d2h']:.0f} "
              f"({run['tokens_per_doc']:.1f} tokens/doc); copy bandwidth h2d {run['copy_gb_per_s']['h2d']:.1f} GB/s, "
              f"d2h {run['copy_gb_per_s']['d2h']:.1f} GB/s", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
