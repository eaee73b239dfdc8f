"""The ``evidence`` column of ``Scorer(explain=True)``: what each score is made of.

The kernel (``kernels/rules.py``, compiled with EXPLAIN) records one element per scoring unit and per
rule word, with its contributions after every rule (:class:`~emoscore.kernels.rules.Evidence`); this
module turns those records and the tokenizer's byte spans into the Arrow column :data:`EVIDENCE_TYPE`.

The elements are the score, not a second opinion. For a document with elements ``x``:

* ``S = sum(x.valence)``, ``A = sum(abs(x.valence))``, ``hits`` = the elements whose ``term`` has no rule
  role (rule words contribute 0), ``X[e] = sum(x.emotions[e])``;
* ``valence = S' / sqrt(S'**2 + alpha)`` with ``S' = S / max(hits, 1) ** valence_hits_power``,
  ``intensity = A / sqrt(A**2 + alpha)``, ``emotions[e] = 1 - exp(-emotion_gain * X[e])`` (the
  lexicon's params; ``tests/test_explain.py`` checks these identities against the kernel);
* an aspect's scores are the same formulas over the elements whose ``aspect`` lists it.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import NamedTuple

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .kernels.evidence_rules import RULE_NAMES, Evidence
from .lexicon import CompiledLexicon

__all__ = ["EVIDENCE_TYPE", "evidence_column"]

#: One element per scoring unit (a word, a stem match or a multi-word expression) and per rule word
#: (negator, booster, dampener, contrast or expectation word: contribution 0, the rule it applies), in
#: text order.
#: ``start``/``end``: code-point offsets into the text (``text[start:end]`` in Python is the span as
#: written; for byte offsets, ``len(text[:start].encode())``); ``term``: the lexicon entry matched (an
#: expression's canonical form, a stem with its ``*``); ``valence``: the signed contribution after every
#: rule (float32, as the scores; the kernel adds them up in float64); ``emotions``: the non-zero emotion
#: contributions; ``rules``: what changed it (names: ``kernels/rules.py``, RULE_NAMES); ``aspect``: the
#: aspects it was attributed to.
EVIDENCE_TYPE = pa.list_(pa.struct([
    pa.field("start", pa.int64(), nullable=False),
    pa.field("end", pa.int64(), nullable=False),
    pa.field("term", pa.string(), nullable=False),
    pa.field("valence", pa.float32(), nullable=False),
    pa.field("emotions", pa.list_(pa.struct([pa.field("emotion", pa.string(), nullable=False),
                                             pa.field("weight", pa.float32(), nullable=False)])), nullable=False),
    pa.field("rules", pa.list_(pa.string()), nullable=False),
    pa.field("aspect", pa.list_(pa.string()), nullable=False),
]))

_RULE_NAMES = pa.array(RULE_NAMES, pa.string())


def evidence_column(ev: Evidence, doc_offsets: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                    chunks: list[pa.Array], lexicon: CompiledLexicon) -> pa.Array:
    """The :data:`EVIDENCE_TYPE` column of the documents of ``chunks`` (string/large_string arrays, in
    order), from the kernel's evidence, the token stream's ``doc_offsets`` and the tokens' byte spans
    relative to their document (``tokenize(..., spans=True)``)."""
    counts = ev.count.astype(np.int64)
    list_offsets = np.zeros(counts.shape[0] + 1, np.int64)
    np.cumsum(counts, out=list_offsets[1:])
    names = _names(lexicon)
    flat = _gather(ev, doc_offsets, list_offsets, starts, ends, names.emotion_first, names.emotion_index,
                   names.emotion_weight, len(lexicon.aspects), len(RULE_NAMES))
    spans = _code_point_spans(flat.spans, list_offsets, chunks)
    emotion_type = EVIDENCE_TYPE.value_type.field("emotions").type
    emotions = pa.ListArray.from_arrays(
        pa.array(flat.emotion_offsets),
        pa.StructArray.from_arrays([names.emotions.take(pa.array(flat.emotion_index)), pa.array(flat.emotion_weight)],
                                   fields=list(emotion_type.value_type)), type=emotion_type)
    rules = pa.ListArray.from_arrays(pa.array(flat.rule_offsets), _RULE_NAMES.take(pa.array(flat.rule_index)))
    aspects = pa.ListArray.from_arrays(pa.array(flat.aspect_offsets), names.aspects.take(pa.array(flat.aspect_index)))
    items = pa.StructArray.from_arrays(
        [pa.array(spans[0::2]), pa.array(spans[1::2]), names.terms.take(pa.array(flat.term)),
         pa.array(flat.valence), emotions, rules, aspects],
        fields=list(EVIDENCE_TYPE.value_type))
    return pa.ListArray.from_arrays(pa.array(list_offsets.astype(np.int32)), items, type=EVIDENCE_TYPE)


@functools.lru_cache(maxsize=8)
def _names(lexicon: CompiledLexicon) -> SimpleNamespace:
    """The lexicon's terms, emotions and aspects as Arrow arrays, and its non-zero emotion weights as CSR
    by term (made once per lexicon)."""
    rows, emotions = np.nonzero(lexicon.weights)
    first = np.zeros(lexicon.weights.shape[0] + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=lexicon.weights.shape[0]), out=first[1:])
    return SimpleNamespace(**{kind: pa.array(getattr(lexicon, kind), pa.string())
                              for kind in ("terms", "emotions", "aspects")},
                           emotion_first=first, emotion_index=emotions.astype(np.int32),
                           emotion_weight=lexicon.weights[rows, emotions].astype(np.float64))


class _Flat(NamedTuple):
    """Every document's elements back to back, their lists as CSR (offsets per element, then items)."""

    term: np.ndarray            # int32[n]
    valence: np.ndarray         # float32[n]
    spans: np.ndarray           # int64[2n]: byte start, end of each element, relative to its document
    emotion_offsets: np.ndarray
    emotion_index: np.ndarray
    emotion_weight: np.ndarray  # float32
    rule_offsets: np.ndarray
    rule_index: np.ndarray
    aspect_offsets: np.ndarray
    aspect_index: np.ndarray


@numba.njit(cache=True, nogil=True, parallel=True)
def _gather(ev, doc_offsets, list_offsets, starts, ends, weight_first, weight_emotion, weight_value, n_aspects,
            n_rule_names):   # pragma: no cover - compiled
    """The elements of ``ev`` (document d's from index ``doc_offsets[d]``, to go to ``list_offsets[d]``)
    back to back, with their byte spans, their positive emotion contributions (each non-zero weight of the
    term, CSR ``weight_*``, times emotion_mult; the transfer joins its target emotion: the sums the rules
    add), their rule bits and their
    aspects (bits below n_aspects) as lists. Two parallel passes: count each element's list items, then
    (after a prefix sum) fill them."""
    n_docs = ev.count.shape[0]
    total = list_offsets[n_docs]
    term = np.empty(total, np.int32)
    valence = np.empty(total, np.float32)
    spans = np.empty(2 * total, np.int64)
    emotion_offsets = np.zeros(total + 1, np.int32)
    rule_offsets = np.zeros(total + 1, np.int32)
    aspect_offsets = np.zeros(total + 1, np.int32)
    emotion_index = np.empty(0, np.int32)
    emotion_weight = np.empty(0, np.float32)
    rule_index = np.empty(0, np.int32)
    aspect_index = np.empty(0, np.int32)
    for stage in range(2):      # count the list items, then fill them
        if stage == 1:
            emotion_offsets = np.cumsum(emotion_offsets).astype(np.int32)
            rule_offsets = np.cumsum(rule_offsets).astype(np.int32)
            aspect_offsets = np.cumsum(aspect_offsets).astype(np.int32)
            emotion_index = np.empty(emotion_offsets[total], np.int32)
            emotion_weight = np.empty(emotion_offsets[total], np.float32)
            rule_index = np.empty(rule_offsets[total], np.int32)
            aspect_index = np.empty(aspect_offsets[total], np.int32)
        for d in numba.prange(n_docs):
            i = list_offsets[d]
            for k in range(doc_offsets[d], doc_offsets[d] + ev.count[d]):
                # stage 0: the counts go to offsets[i + 1] (a prefix sum makes them offsets)
                n_e = emotion_offsets[i] if stage == 1 else 0
                n_r = rule_offsets[i] if stage == 1 else 0
                n_a = aspect_offsets[i] if stage == 1 else 0
                if ev.emotion_mult[k] != 0.0 or ev.transfer[k] != 0.0:     # (a rule word's are 0)
                    target = ev.target[k]
                    moved = ev.transfer[k] > 0.0 and target >= 0
                    t = ev.term[k]
                    for j in range(weight_first[t], weight_first[t + 1]):   # ascending emotions
                        e = weight_emotion[j]
                        if moved and target < e:        # the transfer's own item, in emotion order
                            if stage == 1:
                                emotion_index[n_e] = target
                                emotion_weight[n_e] = ev.transfer[k]
                            n_e += 1
                            moved = False
                        x = weight_value[j] * ev.emotion_mult[k]
                        if e == target and moved:
                            x += ev.transfer[k]
                            moved = False
                        if x > 0.0:
                            if stage == 1:
                                emotion_index[n_e] = e
                                emotion_weight[n_e] = x
                            n_e += 1
                    if moved:
                        if stage == 1:
                            emotion_index[n_e] = target
                            emotion_weight[n_e] = ev.transfer[k]
                        n_e += 1
                bits = np.int64(ev.rules[k]) & ((1 << n_rule_names) - 1)    # (not RULE_WORD)
                j = 0
                while bits != 0:
                    if bits & 1:
                        if stage == 1:
                            rule_index[n_r] = j
                        n_r += 1
                    bits >>= 1
                    j += 1
                mask = ev.aspects[k]
                a = 0
                while mask != 0 and a < n_aspects:
                    if mask & np.uint64(1):
                        if stage == 1:
                            aspect_index[n_a] = a
                        n_a += 1
                    mask >>= np.uint64(1)
                    a += 1
                if stage == 0:
                    emotion_offsets[i + 1] = n_e
                    rule_offsets[i + 1] = n_r
                    aspect_offsets[i + 1] = n_a
                    term[i] = ev.term[k]
                    valence[i] = ev.valence[k]
                    spans[2 * i] = starts[ev.first[k]]
                    spans[2 * i + 1] = ends[ev.last[k]]
                i += 1
    return _Flat(term, valence, spans, emotion_offsets, emotion_index, emotion_weight, rule_offsets, rule_index,
                 aspect_offsets, aspect_index)


def _code_point_spans(byte_spans: np.ndarray, list_offsets: np.ndarray, chunks: list[pa.Array]) -> np.ndarray:
    """``byte_spans`` (start, end pairs of each document's elements, relative to the document, in text
    order; document d's from pair ``list_offsets[d]``) as code-point offsets, chunk by chunk."""
    out = byte_spans.copy()     # right as it is for ASCII text: one byte per code point
    doc = 0
    for chunk in chunks:
        n_docs = len(chunk)
        wide = pc.fill_null(pc.not_equal(pc.utf8_length(chunk), pc.binary_length(chunk)), False)
        if pc.any(wide).as_py():    # some document has a character of several bytes
            width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
            value_offsets = np.frombuffer(chunk.buffers()[1], width)[chunk.offset:chunk.offset + n_docs + 1]
            _count_code_points(np.frombuffer(chunk.buffers()[2], np.uint8), value_offsets.astype(np.int64),
                               list_offsets[doc:doc + n_docs + 1], wide.to_numpy(zero_copy_only=False), out)
        doc += n_docs
    return out


@numba.njit(cache=True, nogil=True, parallel=True)
def _count_code_points(data, value_offsets, list_offsets, wide, spans):   # pragma: no cover - compiled
    """In place: each byte offset of ``spans`` (document d's pairs from ``list_offsets[d]``) of the
    documents with a character of several bytes (``wide[d]``) as the number of code points before it in
    its document (UTF-8: the bytes that are not continuation bytes); a document's offsets never
    decrease, so one walk per document."""
    for d in numba.prange(value_offsets.shape[0] - 1):
        if not wide[d]:
            continue
        base = value_offsets[d]
        pos = 0
        cp = 0
        for k in range(2 * list_offsets[d], 2 * list_offsets[d + 1]):
            target = spans[k]
            while pos < target:
                if (data[base + pos] & 0xC0) != 0x80:
                    cp += 1
                pos += 1
            spans[k] = cp
