"""CUDA scoring kernel: the rules of :mod:`.rules` on an NVIDIA GPU, one thread per document.

The kernel is the CPU kernel's twin: each thread (grid-stride over documents) calls
:func:`.rules.score_document`, compiled by ``numba.cuda.jit(device=True)`` (its helpers inlined) from
the same source that ``score_cpu`` compiles with ``numba.njit``, with the same named tuples of arrays.
The kernel takes their fields flat and builds the tuples on the device; its parameter list is
generated from the tuples' fields, so an array added to them reaches both targets without a second
list to keep in step. The per-document scratch (``SCRATCH_ROWS * E`` float64) is a
``cuda.local.array``: E is baked into the kernel as a compile-time constant (one compiled kernel per
emotion count), and thread-local memory is interleaved across a warp, so the same scratch index in
neighbouring threads is one coalesced access -- a per-thread slice of a global scratch array would
not be.

:class:`CudaScorer` is the host side. It copies the lexicon to the device once and scores batches of
token streams through a small ring of *slots*, each with its own CUDA stream, pinned (page-locked)
host buffers and device buffers that grow geometrically and are reused across batches. Launching
batch k enqueues H2D copy -> kernel -> D2H copy on slot k's stream and returns at once, so while the
GPU works the caller tokenizes the next batch on the CPU, and the H2D copy of batch k+1 (another
stream) overlaps the kernel of batch k. CUDA events around the steps give the transfer/compute
split (:attr:`CudaScorer.timings`).

Aspects (a lexicon with aspect arrays) add the CPU kernel's first pass: a kernel computes each
document's aspect mask (``rules.document_aspects``), the masks come back (8 bytes per document), the
host prefix-sums their popcounts into the output slots and sends those offsets, then the scoring
kernel runs with a scratch sized for the batch's most aspects (rounded up to a power of two, so a
handful of kernel variants are compiled, not 64). To keep that round trip off the critical path a
batch is queued in two stages: stage 1 (copy in, aspect pass, masks back) right after it is
tokenized, stage 2 (offsets, scoring kernel, copy back) after the *next* batch is tokenized, when
its masks have long arrived; meanwhile the previous batch's scoring kernel runs on the other stream.

Import this module only after :func:`emoscore.backend.resolve` said CUDA is usable (or under the
simulator, ``NUMBA_ENABLE_CUDASIM=1``): importing it imports ``numba.cuda``.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Iterable

import numpy as np
from numba import cuda, float64

from ..errors import InputError
from . import rules
from .contract import (
    MAX_BLOCKS,
    THREADS_PER_BLOCK,
    AspectArrays,
    LexiconArrays,
    ScoreArrays,
    TokenStream,
    checked_stream,
    lexicon_arrays,
)
from .rules import MAX_ASPECTS, scratch_size

__all__ = ["CudaScorer"]

# The kernels take the arrays of the rules' named tuples flat, as "<tuple>_<field>" (plus the batch's
# doc_aspects), and build the tuples on the device; the host fills the arguments by those names.
_GROUPS = {"stream": TokenStream, "lex": LexiconArrays, "aspects": AspectArrays, "out": ScoreArrays}
# ScoreArrays fields written by the kernel: per document, then per aspect slot (aspect_offsets is
# computed on the host between the two kernels)
_DOC_OUT = {"valence": np.float32, "intensity": np.float32, "emotions": np.float32, "dominant": np.int16,
            "tokens": np.int32, "hits": np.int32}
_SLOT_OUT = {"aspect": np.int16, "aspect_valence": np.float32, "aspect_intensity": np.float32,
             "aspect_emotion": np.int16}
if set(ScoreArrays._fields) != set(_DOC_OUT) | set(_SLOT_OUT) | {"aspect_offsets"}:
    raise ImportError(f"score_cuda does not know every field of ScoreArrays{ScoreArrays._fields}")


def _kernel_source(name: str, groups: tuple[str, ...], extra: str, call: str, scratch: bool) -> str:
    params = [f"{group}_{field}" for group in groups for field in _GROUPS[group]._fields]
    lines = [f"def {name}({', '.join(params)}, {extra}):"]
    if scratch:   # N_SCRATCH is a constant of the kernel's globals, so this is a fixed-size local array
        lines.append("    scratch = cuda.local.array(N_SCRATCH, float64)")
    for group in groups:
        fields = ", ".join(f"{group}_{field}" for field in _GROUPS[group]._fields)
        lines.append(f"    {group} = {_GROUPS[group].__name__}({fields})")
    lines.append("    for d in range(cuda.grid(1), stream.doc_offsets.shape[0] - 1, cuda.gridsize(1)):")
    lines.append(f"        {call}")
    return "\n".join(lines) + "\n"


# The rules as this target compiles them (helpers inlined), bound once for every kernel variant.
_rules_for_cuda = rules.for_target(cuda.jit(device=True, inline="always"))
_DEVICE_RULES = {"score_document": cuda.jit(device=True)(_rules_for_cuda.score_document),
                 "document_aspects": cuda.jit(device=True)(_rules_for_cuda.document_aspects)}


def _make_kernel(name: str, groups: tuple[str, ...], extra: str, call: str, n_scratch: int | None):
    """A kernel taking the fields of ``groups`` flat and ``extra``, running ``call`` per document."""
    namespace = {"cuda": cuda, "float64": float64, "N_SCRATCH": max(n_scratch or 0, 1), **_DEVICE_RULES,
                 **{cls.__name__: cls for cls in _GROUPS.values()}}
    source = _kernel_source(name, groups, extra, call, n_scratch is not None)
    exec(compile(source, f"<score_cuda {name}>", "exec"), namespace)
    kernel = namespace[name]
    return cuda.jit(kernel), tuple(inspect.signature(kernel).parameters)


@functools.cache
def _score_kernel(n_scratch: int):
    """The scoring kernel with a thread-local scratch of ``n_scratch`` float64 (one per size)."""
    return _make_kernel("score_kernel", ("stream", "lex", "aspects", "out"), "doc_aspects",
                        "score_document(d, stream, lex, aspects, doc_aspects, scratch, out, None)", n_scratch)


@functools.cache
def _aspect_kernel():
    """One thread per document: its aspect mask (``rules.document_aspects``)."""
    return _make_kernel("aspect_kernel", ("stream", "lex", "aspects"), "out_doc_aspects",
                        "document_aspects(d, stream, lex, aspects, out_doc_aspects)", None)


def _slot_bucket(n_slots: int) -> int:
    """Aspect slots the scratch is sized for: the next power of two (a few kernel variants, not 64)."""
    if n_slots <= 0:
        return 0
    return min(1 << (n_slots - 1).bit_length(), MAX_ASPECTS)


class _Slot:
    """One batch in flight: a stream, pinned host buffers and device buffers, all reused."""

    def __init__(self) -> None:
        self.stream = cuda.stream()
        self.host: dict[str, np.ndarray] = {}
        self.device: dict[str, object] = {}
        # timing events (the default): start, tokens copied, aspects found, scored, copied back
        self.events = [cuda.event() for _ in range(5)]
        self.pending: tuple | None = None   # (first document, documents, aspect offsets or None)
        self.args: dict | None = None       # kernel arguments between the two stages

    def buffers(self, name: str, size: int, dtype) -> tuple[np.ndarray, object]:
        """Pinned host and device buffers of exactly ``size`` elements, views of allocations that
        grow geometrically (a stream of similar batches allocates a handful of times, not once per
        batch)."""
        have = self.host.get(name)
        if have is None or have.shape[0] < size:
            capacity = max(size, 1, 0 if have is None else 2 * have.shape[0])
            self.host[name] = cuda.pinned_array(capacity, dtype)
            self.device[name] = cuda.device_array(capacity, dtype, stream=self.stream)
        return self.host[name][:size], self.device[name][:size]

    def upload(self, name: str, array: np.ndarray):
        """``array`` on the device (via this slot's pinned buffer, asynchronously on its stream)."""
        pinned, device = self.buffers(name, array.shape[0], array.dtype)
        np.copyto(pinned, array)   # pageable -> pinned: what lets the copy run asynchronously
        if array.shape[0]:
            device.copy_to_device(pinned, stream=self.stream)
        return device


class CudaScorer:
    """Scores token streams with one compiled lexicon on the current CUDA device.

    Parameters
    ----------
    lex : CompiledLexicon or any object with its arrays
        Copied to the device once. With aspect arrays, documents' aspects are scored too.
    slots : int
        Batches in flight at once (each has its own stream and buffers); 2 lets the copy of one
        batch overlap the kernel of the other while the CPU prepares the next.

    Notes
    -----
    Thread-safe: calls are serialised (the buffers are shared); the GPU is one device anyway.
    """

    def __init__(self, lex, *, slots: int = 2) -> None:
        lexicon, aspects = lexicon_arrays(lex)
        self.n_terms = lexicon.valence.shape[0]
        self.n_emotions = lexicon.weights.shape[1]
        self.aspects = aspects.aspect_mask.shape[0] > 0
        self._resident = {f"{group}_{name}": cuda.to_device(np.ascontiguousarray(array))
                          for group, arrays in (("lex", lexicon), ("aspects", aspects))
                          for name, array in arrays._asdict().items()}
        self._empty = {"doc_aspects": cuda.to_device(np.zeros(0, np.uint64)),
                       "out_aspect_offsets": cuda.to_device(np.zeros(0, np.int64))}
        self._slots = [_Slot() for _ in range(max(slots, 1))]
        self._lock = threading.Lock()
        #: Milliseconds (CUDA events) in host->device copies of the token streams, the aspect pass
        #: (kernel and the small mask/offset round trip), the scoring kernel and device->host copies,
        #: summed over every batch since construction; negative under the simulator (no timing).
        self.timings = {"h2d": 0.0, "aspects": 0.0, "kernel": 0.0, "d2h": 0.0, "batches": 0}

    def score_stream(self, doc_offsets, term_ids, flags) -> ScoreArrays:
        """Score one CSR token stream; as :func:`score_cpu.score_stream`."""
        offsets = np.asarray(doc_offsets)
        return self.run([(doc_offsets, term_ids, flags)], max(offsets.shape[0] - 1, 0))

    def run(self, streams: Iterable[tuple], n_docs: int) -> ScoreArrays:
        """Score consecutive batches of one document sequence, ``n_docs`` documents in all.

        ``streams`` yields ``(doc_offsets, term_ids, flags)`` per batch; it is pulled lazily, so a
        generator that tokenizes on demand runs on the CPU while the GPU scores the batch before.
        Results land in one set of output arrays, in order.
        """
        out = ScoreArrays(
            **{name: np.empty(self._shape(name, n_docs), dtype) for name, dtype in _DOC_OUT.items()},
            aspect_offsets=np.zeros(n_docs + 1, np.int64),
            **{name: np.empty(0, dtype) for name, dtype in _SLOT_OUT.items()})
        slot_parts: list[tuple] = []
        with self._lock:
            first = 0
            k = 0
            waiting = None   # a slot whose aspect masks are on their way back (stage 2 not queued)
            try:
                for doc_offsets, term_ids, flags in streams:   # tokenizes batch k (CPU)
                    stream = checked_stream(doc_offsets, term_ids, flags, self.n_terms)
                    size = max(stream.doc_offsets.shape[0] - 1, 0)
                    if first + size > n_docs:
                        raise InputError(f"the batches hold more than the {n_docs} documents announced")
                    if not size:
                        continue
                    slot = self._slots[k % len(self._slots)]
                    if waiting is slot:                # one slot only: finish it before reuse
                        self._stage2(waiting)
                        waiting = None
                    if slot.pending is not None:       # batch k - slots: long done, normally
                        self._collect(slot, out, slot_parts)
                    self._stage1(slot, stream, first)
                    if waiting is not None:            # batch k - 1's masks arrived meanwhile
                        self._stage2(waiting)
                        waiting = None
                    if self.aspects:
                        waiting = slot                 # score it after tokenizing the next batch
                    else:
                        self._stage2(slot)
                    k += 1
                    first += size
            finally:
                if waiting is not None:
                    self._stage2(waiting)
                for j in range(k, k + len(self._slots)):   # in launch order
                    slot = self._slots[j % len(self._slots)]
                    if slot.pending is not None:
                        self._collect(slot, out, slot_parts)
            if first != n_docs:
                raise InputError(f"the batches hold {first} documents, not the {n_docs} announced")
        if slot_parts:
            out = out._replace(**{name: np.concatenate([part[i] for part in slot_parts])
                                  for i, name in enumerate(_SLOT_OUT)})
        return out

    def _shape(self, name: str, n_docs: int) -> tuple[int, ...]:
        return (self.n_emotions, n_docs) if name == "emotions" else (n_docs,)

    def _stage1(self, slot: _Slot, stream: TokenStream, first: int) -> None:
        """Queue the token streams' copy and, with aspects, the aspect pass and the masks' copy back."""
        n_docs = stream.doc_offsets.shape[0] - 1
        s = slot.stream
        e_start, e_copied = slot.events[:2]
        e_start.record(s)
        args = dict(self._resident)
        for name, array in stream._asdict().items():
            args["stream_" + name] = slot.upload(name, array)
        e_copied.record(s)
        if self.aspects:
            pinned, device = slot.buffers("doc_aspects", n_docs, np.uint64)
            args["out_doc_aspects"] = args["doc_aspects"] = device
            self._call(_aspect_kernel(), n_docs, s, args)
            device.copy_to_host(pinned, stream=s)
        else:
            args.update(self._empty)
        slot.pending = (first, n_docs, None)
        slot.args = args

    def _stage2(self, slot: _Slot) -> None:
        """Queue the scoring kernel and the copy back. With aspects: wait for this batch's masks
        (queued by stage 1 one batch earlier), size the output slots from their popcounts and send
        those offsets first (8 bytes per document each way)."""
        first, n_docs, _ = slot.pending
        s = slot.stream
        args = slot.args
        e_aspects, e_scored, e_back = slot.events[2:]
        n_slots = 0
        slot_offsets = None
        if self.aspects:
            s.synchronize()
            counts = np.bitwise_count(slot.host["doc_aspects"][:n_docs])
            slot_offsets = np.zeros(n_docs + 1, np.int64)
            np.cumsum(counts, out=slot_offsets[1:])
            n_slots = int(counts.max())
            args["out_aspect_offsets"] = slot.upload("aspect_offsets", slot_offsets)
        e_aspects.record(s)
        n_out = 0 if slot_offsets is None else int(slot_offsets[-1])
        outputs = {}
        for name, dtype in _DOC_OUT.items():
            shape = self._shape(name, n_docs)
            _, device = slot.buffers("out_" + name, int(np.prod(shape)), dtype)
            outputs[name] = device
            args["out_" + name] = device.reshape(shape)
        for name, dtype in _SLOT_OUT.items():
            _, outputs[name] = slot.buffers("out_" + name, n_out, dtype)
            args["out_" + name] = outputs[name]
        kernel = _score_kernel(scratch_size(self.n_emotions, _slot_bucket(n_slots)))
        self._call(kernel, n_docs, s, args)
        e_scored.record(s)
        for name, device in outputs.items():
            if device.shape[0]:
                device.copy_to_host(slot.host["out_" + name][: device.shape[0]], stream=s)
        e_back.record(s)
        slot.pending = (first, n_docs, slot_offsets)
        slot.args = None

    @staticmethod
    def _call(kernel_and_params, n_docs: int, stream, args: dict) -> None:
        kernel, params = kernel_and_params
        blocks = min(-(-n_docs // THREADS_PER_BLOCK), MAX_BLOCKS)
        kernel[blocks, THREADS_PER_BLOCK, stream](*(args[name] for name in params))

    def _collect(self, slot: _Slot, out: ScoreArrays, slot_parts: list) -> None:
        first, n_docs, slot_offsets = slot.pending
        slot.stream.synchronize()
        events = slot.events
        stages = zip(events, events[1:], strict=False)  # consecutive events: the 4 stages between 5 events
        for name, (a, b) in zip(("h2d", "aspects", "kernel", "d2h"), stages, strict=True):
            self.timings[name] += a.elapsed_time(b)
        self.timings["batches"] += 1
        end = first + n_docs
        for name in _DOC_OUT:
            target = getattr(out, name)
            shape = self._shape(name, n_docs)
            target[..., first:end] = slot.host["out_" + name][: int(np.prod(shape))].reshape(shape)
        if slot_offsets is not None:
            base = out.aspect_offsets[first]
            out.aspect_offsets[first + 1: end + 1] = slot_offsets[1:] + base
            n_out = int(slot_offsets[-1])
            slot_parts.append(tuple(slot.host["out_" + name][:n_out].copy() for name in _SLOT_OUT))
        slot.pending = None
