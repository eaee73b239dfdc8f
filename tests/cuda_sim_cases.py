"""CUDA kernels against the CPU kernels under Numba's CUDA simulator (run by tests/test_cuda.py).

Not collected by a plain ``pytest`` run (the name does not start with ``test_``): the simulator has
to be switched on before ``numba.cuda`` is first imported, so ``test_cuda.py`` runs this module in
its own process with ``NUMBA_ENABLE_CUDASIM=1``, leaving the CPU tests' process untouched. Inputs
are small: the simulator runs every GPU thread as a Python thread.

Tolerance: float outputs must match within 1e-6 (absolute and relative). Under the simulator they
match exactly (the same float64 maths in the same order); on a GPU, NVVM fuses multiply-adds and
libdevice's ``exp``/``pow`` may differ from the CPU's by an ulp, which can move a float32 result by
one ulp (~6e-8 relative). Integer outputs match exactly; ``dominant`` may differ only where the top
two emotion scores are within the tolerance (a near-tie). KPI states are integers: bit-identical.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pytest

if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":  # pragma: no cover - run by test_cuda.py only
    raise RuntimeError("run this module with NUMBA_ENABLE_CUDASIM=1 (tests/test_cuda.py does)")

from emoscore import Scorer, api, sample  # noqa: E402
from emoscore._tokenize import tokenize  # noqa: E402
from emoscore.backend import cuda_status, resolve  # noqa: E402
from emoscore.errors import InputError  # noqa: E402
from emoscore.kernels import contract, score_cpu, score_cuda  # noqa: E402
from emoscore.kpi import KpiAggregator  # noqa: E402
from reference_kpi import scored_table  # noqa: E402

TOL = 1e-6

EDGE_TEXTS = [
    None, "", "   ", "😡😡😡", "GREAT!!! JUST GREAT", "not bad, not great.", "Never not happy?!?",
    "The checkout was fast but delivery took weeks. However, support refunded me. Price is fair!!",
    "I don't know, it's good", "Fast delivery. However, the refund took weeks.",
    "The app crashed at login, the courier lost the parcel, the invoice was wrong and nobody called back "
    "about my return or the warranty, but the price and the staff were great",
    "café très bien", "very VERY good", "well, done", "x" * 300,
]


def texts(n: int, seed: int = 5) -> pa.Array:
    generated = sample.generate(n, seed=seed).column("text").combine_chunks()
    return pa.concat_arrays([pa.array(EDGE_TEXTS, pa.string()), generated.cast(pa.string())])


def assert_scores_match(cpu: contract.ScoreArrays, gpu: contract.ScoreArrays) -> None:
    assert gpu._fields == cpu._fields
    for name in cpu._fields:
        a, b = getattr(cpu, name), getattr(gpu, name)
        assert b.dtype == a.dtype and b.shape == a.shape, name
        if a.dtype.kind == "f":
            np.testing.assert_allclose(b, a, rtol=TOL, atol=TOL, err_msg=name)
        elif name in ("dominant", "aspect_emotion"):
            differ = np.flatnonzero(a != b)
            if name == "dominant" and differ.size:  # allowed only at near-ties of the top two emotions
                top = np.sort(cpu.emotions[:, differ], axis=0)
                assert np.all(top[-1] - top[-2] <= TOL), (name, differ[:5])
            else:
                assert differ.size == 0, (name, differ[:5])
        else:
            np.testing.assert_array_equal(b, a, err_msg=name)


def test_simulator_counts_as_a_device_when_asked_for():
    usable, reason = cuda_status()
    assert usable and "simulator" in reason
    assert resolve("auto") == "cuda"


@pytest.mark.parametrize("aspects", [True, False])
def test_score_kernel_matches_cpu_on_every_output(aspects):
    scorer = Scorer(aspects=aspects, backend="cpu")
    lex = scorer.lexicon
    assert bool(lex.aspects) == aspects
    docs = texts(250)
    offsets, ids, flags = tokenize(docs, lex.table_keys, lex.table_ids, lex.stem_mask)
    cpu = score_cpu.score_stream(offsets, ids, flags, lex)
    gpu = score_cuda.CudaScorer(lex).score_stream(offsets, ids, flags)
    assert_scores_match(cpu, gpu)
    # the inputs exercise what they should: scores, neutral documents and (when on) aspects
    assert (cpu.hits > 0).sum() > 100 and (cpu.dominant == -1).sum() > 5
    assert (cpu.aspect_offsets[-1] > 100) == aspects


def test_batches_in_flight_give_one_result_in_order_and_reuse_buffers():
    scorer = Scorer(backend="cpu")
    lex = scorer.lexicon
    docs = texts(120, seed=9)
    offsets, ids, flags = tokenize(docs, lex.table_keys, lex.table_ids, lex.stem_mask)
    cpu = score_cpu.score_stream(offsets, ids, flags, lex)
    gpu = score_cuda.CudaScorer(lex, slots=2)
    cuts = [0, 40, 40, 41, 90, 135]   # an empty batch, a one-document batch, uneven sizes
    batches = [(offsets[a:b + 1] - offsets[a], ids[offsets[a]:offsets[b]], flags[offsets[a]:offsets[b]])
               for a, b in zip(cuts, cuts[1:], strict=False)]
    assert_scores_match(cpu, gpu.run(iter(batches), len(docs)))
    assert gpu.timings["batches"] == 4
    buffers = {id(array) for slot in gpu._slots for array in slot.host.values()}
    assert_scores_match(cpu, gpu.run(iter(batches), len(docs)))   # same sizes again: no new buffer
    assert {id(array) for slot in gpu._slots for array in slot.host.values()} == buffers
    whole = gpu.run([(offsets, ids, flags)], len(docs))             # larger: buffers grew, still right
    assert_scores_match(cpu, whole)
    assert {id(array) for slot in gpu._slots for array in slot.host.values()} != buffers
    with pytest.raises(InputError, match="not the 136 announced"):
        gpu.run(iter(batches), len(docs) + 1)
    assert_scores_match(cpu, score_cuda.CudaScorer(lex, slots=1).run(iter(batches), len(docs)))


def test_scorer_cuda_backend_equals_cpu_across_chunks_and_batches(monkeypatch):
    monkeypatch.setattr(api, "_CUDA_BATCH_DOCS", 37)   # several GPU batches per call
    docs = texts(100, seed=11)
    data = pa.table({"id": np.arange(len(docs)), "text": pa.chunked_array(
        [docs.slice(0, 30), docs.slice(30, 0), docs.slice(30, 50), docs.slice(80)])})
    gpu = Scorer(backend="cuda")
    assert gpu.backend == "cuda"
    assert_tables_match(Scorer(backend="cpu").score(data), gpu.score(data))
    assert gpu.score(pa.array([], pa.string())).num_rows == 0


def test_languages_on_the_cuda_backend_are_the_cpu_languages_and_scores():
    # on the GPU the languages come from the standalone detector, not the default language's stream
    mixed = ["La livraison était rapide, merci beaucoup !", "Le service client est vraiment nul",
             "Die Lieferung war super schnell und der Service ist toll!", "ok", None]
    docs = pa.concat_arrays([pa.array(mixed, pa.string()), texts(30, seed=7)])
    gpu = Scorer(backend="cuda", language="auto")
    cpu_table, gpu_table = Scorer(backend="cpu", language="auto").score(docs), gpu.score(docs)
    assert_tables_match(cpu_table, gpu_table)
    assert gpu_table.column("language").to_pylist()[:5] == ["fr", "fr", "de", "und", "und"]
    assert gpu_table.column("valence")[2].as_py() is None and gpu_table.column("valence")[0].as_py() > 0.3
    told = Scorer(backend="cuda", language="fr")
    assert_tables_match(Scorer(backend="cpu", language="fr").score(docs), told.score(docs))


def assert_tables_match(cpu_table: pa.Table, gpu_table: pa.Table) -> None:
    assert gpu_table.schema == cpu_table.schema
    for name in cpu_table.schema.names:
        a, b = cpu_table.column(name), gpu_table.column(name)
        if pa.types.is_floating(a.type):  # a null score (a language without a lexicon) is NaN on both
            np.testing.assert_allclose(b.to_numpy(), a.to_numpy(), rtol=TOL, atol=TOL, err_msg=name)
        else:
            assert b.equals(a), name   # emotion names, ints, languages and the aspects lists (exact here)


def test_explaining_on_the_cuda_backend_is_the_cpu_explanation():
    # documented fallback: explain=True scores on the CPU (the evidence is written in the same pass)
    data = pa.table({"text": pa.chunked_array([texts(40, seed=3).slice(0, 25), texts(40, seed=3).slice(25)])})
    explaining = Scorer(backend="cuda", explain=True)
    assert explaining.backend == "cuda"
    assert explaining.score(data).equals(Scorer(backend="cpu", explain=True).score(data))


def test_bad_token_stream_is_refused_before_the_device():
    lex = Scorer(aspects=False).lexicon
    gpu = score_cuda.CudaScorer(lex)
    with pytest.raises(InputError, match="decrease at document 1"):
        gpu.score_stream(np.array([0, 2, 1, 3]), np.zeros(3, np.int32), np.zeros(3, np.uint8))
    with pytest.raises(InputError, match=r"term_ids\[1\]"):
        gpu.score_stream(np.array([0, 2]), np.array([0, 10**6], np.int32), np.zeros(2, np.uint8))


# the simulator does the revenue's uint64 wrap-around adds on NumPy scalars, which warn
@pytest.mark.filterwarnings("ignore:overflow encountered in scalar add:RuntimeWarning")
@pytest.mark.parametrize("by", [("channel", "tier"), ()])
def test_kpi_update_on_cuda_is_bit_identical(by):
    table = scored_table(150, 3)
    cpu = KpiAggregator(by, window="week")
    gpu = KpiAggregator(by, window="week", backend="cuda")
    assert gpu.backend == "cuda"
    for start in (0, 70):   # two batches: the second adds groups and touches more cells
        cpu.update(table.slice(start, 80))
        gpu.update(table.slice(start, 80))
    for name in ("_counts", "_rev_hi", "_rev_lo", "_sketch", "_hll"):
        np.testing.assert_array_equal(getattr(gpu, name), getattr(cpu, name), err_msg=name)
    assert gpu.to_bytes() == cpu.to_bytes()
    assert gpu.result().equals(cpu.result())
    assert cpu._counts.any() and cpu._sketch.any() and cpu._hll.any() and cpu._rev_lo.any()
