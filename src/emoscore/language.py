"""Language per document: a fast detector for en, fr, de, es, it, pt and nl, without a model.

The table (``emoscore.lexicons/languages.tsv``, written for emoscore; format in its header and in
``lexicons/README.md``) lists frequent function words and common customer-feedback words per
language, and characters that point at a language. A document's score per language is the sum of
the weights of its listed words (matched by the tokenizer's 64-bit keys, so a word is read exactly
as the scorer reads it) and of its listed characters; the best language wins unless the evidence is
too weak or too close to the second best, in which case the document is ``und`` (undetermined).

``detect(texts)`` tokenizes on its own. A caller that already has a token stream (the scorer) calls
:meth:`LanguageTable.detect_tokens` with it instead, so the text is not tokenized twice:

1. tokenize with a table that holds :attr:`LanguageTable.keys` as whole-word entries (for instance the
   lexicon's table with these keys added as terms); words whose keys are missing count nothing;
2. once per compiled table, ``weights = language_table.term_weights(table_keys, table_ids, n_terms)``
   (a :class:`TermWeights`);
3. per batch, ``codes = language_table.detect_tokens(doc_offsets, term_ids, flags, weights,
   cues=language_table.cues(chunk))`` where ``chunk`` is the string array that was tokenized (or the
   per-chunk cues concatenated in the same order), then ``codes_array(codes, valid)``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import NamedTuple

import numpy as np
import pyarrow as pa

from ._tokenize import build_table, fnv1a64, fold_tokens, tokenize
from .columns import string_like
from .errors import InputError, LexiconError

__all__ = ["LANGUAGES", "UND", "CODES", "LanguageTable", "Params", "TermWeights", "codes_array", "detect"]

LANGUAGES: tuple[str, ...] = ("en", "fr", "de", "es", "it", "pt", "nl")
UND = "und"
#: The dictionary of :func:`detect`'s result: index i < len(LANGUAGES) is LANGUAGES[i], the last is ``und``.
CODES: tuple[str, ...] = (*LANGUAGES, UND)
_KINDS = ("word", "char", "pair")
_UNITS, _MAX_UNITS = 4, 64  # kernels.language_cpu.UNITS, MAX_UNITS: weights in quarters, at most 16
_HITS_LANE = 7  # kernels.language_cpu.HITS_LANE


class TermWeights(NamedTuple):
    """The language weights of the terms of one tokenizer table (N terms), as
    :meth:`LanguageTable.detect_tokens` takes them: one row of two 64-bit words per term, so that a
    token costs two loads and two additions (layout: ``kernels.language_cpu.detect_stream``)."""

    packed: np.ndarray  #: uint64[N + 1, 2]: row t + 1 is term t, row 0 (a token outside the table) zeros

    @classmethod
    def of(cls, weights: np.ndarray) -> TermWeights:
        """From a float32[N, L] matrix of weights per term and language (multiples of 1/4, at most 16)."""
        matrix = np.asarray(weights, np.float32)
        units = np.rint(matrix * _UNITS)
        if matrix.ndim != 2 or matrix.shape[1] != len(LANGUAGES):
            raise InputError(f"language weights must have shape (terms, {len(LANGUAGES)}), not {matrix.shape}")
        if matrix.size and (np.any(units != matrix * _UNITS) or units.min() < 0 or units.max() > _MAX_UNITS):
            raise InputError(f"language weights must be multiples of 1/{_UNITS} from 0 to {_MAX_UNITS // _UNITS}")
        lanes = np.zeros((matrix.shape[0] + 1, 8), np.uint64)
        lanes[1:, :len(LANGUAGES)] = units
        lanes[1:, _HITS_LANE] = (units > 0).any(axis=1)
        shifts = np.array([0, 16, 32, 48], np.uint64)
        packed = np.stack([(lanes[:, :4] << shifts).sum(axis=1, dtype=np.uint64),
                           (lanes[:, 4:] << shifts).sum(axis=1, dtype=np.uint64)], axis=1)
        packed = np.ascontiguousarray(packed)
        packed.setflags(write=False)
        return cls(packed)


@dataclass(frozen=True)
class Params:
    """The decision rule (``# param`` lines of the table file)."""

    min_evidence: float = 1.0  #: the best language's score must reach this ...
    margin: float = 0.5  #: ... and exceed the second best's by at least this
    min_coverage: float = 0.1  #: documents of >= 6 word tokens need this share of listed words


@dataclass(frozen=True, eq=False)
class LanguageTable:
    """The compiled detector: read-only arrays for the tokenizer and the kernels.

    Attributes
    ----------
    words : tuple of bytes
        The listed words, folded as the tokenizer folds them; word ``i`` has key ``keys[i]``.
    keys : numpy.ndarray, uint64[W]
        ``fnv1a64`` of each word: the entries a tokenizer table needs for :meth:`detect_tokens`.
    word_weights : numpy.ndarray, float32[W, L]
        Each word's weight per language (L = ``len(LANGUAGES)``).
    table_keys, table_ids : numpy.ndarray
        ``build_table(keys, arange(W))``: the tokenizer's table of the words alone (used by :func:`detect`).
    lead : numpy.ndarray, uint8[256]
        Non-zero for the first byte of some listed byte pair.
    pair_index : numpy.ndarray, int16[65536]
        ``(first << 8) | second`` -> row of ``cue_weights``, or -1.
    cue_weights : numpy.ndarray, float32[K, L]
    params : Params
    own_weights : TermWeights
        ``word_weights`` for the words' own table (the stream of ``table_keys``/``table_ids``).
    """

    words: tuple[bytes, ...]
    keys: np.ndarray
    word_weights: np.ndarray
    table_keys: np.ndarray
    table_ids: np.ndarray
    lead: np.ndarray
    pair_index: np.ndarray
    cue_weights: np.ndarray
    params: Params
    own_weights: TermWeights

    @classmethod
    def default(cls) -> LanguageTable:
        """The bundled table (``emoscore.lexicons/languages.tsv``), compiled once per process."""
        return _default_table()

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LanguageTable:
        with open(path, encoding="utf-8-sig") as handle:
            return cls.parse(handle.read(), origin=os.fspath(path))

    @classmethod
    def parse(cls, text: str, origin: str = "<text>") -> LanguageTable:
        """Compile the table file format (see ``lexicons/README.md``); :class:`LexiconError` names the line."""
        words: dict[bytes, np.ndarray] = {}
        pairs: dict[bytes, np.ndarray] = {}
        params: dict[str, float] = {}
        seen: set[tuple[str, str, str]] = set()
        for number, line in enumerate(text.splitlines(), 1):
            where = f"{origin}, line {number}"
            if line.startswith("# param "):
                name, _, value = line[len("# param "):].partition(":")
                name = name.strip()
                if name not in Params.__dataclass_fields__ or name in params:
                    raise LexiconError(f"{where}: unknown or repeated param {name!r}")
                try:
                    params[name] = float(value)
                except ValueError:
                    raise LexiconError(f"{where}: param {name} must be a number, not {value.strip()!r}") from None
                continue
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) != 4 or fields[0] not in _KINDS or fields[1] not in LANGUAGES:
                raise LexiconError(f"{where}: expected kind (word, char, pair), language "
                                   f"({', '.join(LANGUAGES)}), weight and items, tab-separated")
            kind, language, weight_text, items = fields
            try:
                weight = float(weight_text)
            except ValueError:
                raise LexiconError(f"{where}: weight must be a number, not {weight_text!r}") from None
            if not 0 < weight <= _MAX_UNITS // _UNITS or weight * _UNITS != round(weight * _UNITS):
                raise LexiconError(f"{where}: weight must be a positive multiple of 1/{_UNITS} up to "
                                   f"{_MAX_UNITS // _UNITS}, not {weight_text!r}")
            lang = LANGUAGES.index(language)
            for item in items.split():
                if (kind, language, item) in seen:
                    raise LexiconError(f"{where}: {item!r} is listed twice for {language}")
                seen.add((kind, language, item))
                target = words if kind == "word" else pairs
                for key in _item_keys(kind, item, where):
                    row = target.setdefault(key, np.zeros(len(LANGUAGES), np.float32))
                    row[lang] = max(row[lang], weight)
        return cls._compile(words, pairs, Params(**params))

    @classmethod
    def _compile(cls, words: dict[bytes, np.ndarray], pairs: dict[bytes, np.ndarray], params: Params) -> LanguageTable:
        order = sorted(words)
        keys = np.array([int(fnv1a64(word)) for word in order], np.uint64)
        word_weights = np.array([words[word] for word in order], np.float32).reshape(-1, len(LANGUAGES))
        table_keys, table_ids = build_table(keys, np.arange(len(order), dtype=np.int32))
        lead = np.zeros(256, np.uint8)
        pair_index = np.full(65536, -1, np.int16)
        cue_order = sorted(pairs)
        for row, pair in enumerate(cue_order):
            lead[pair[0]] = 1
            pair_index[(pair[0] << 8) | pair[1]] = row
        cue_weights = np.array([pairs[pair] for pair in cue_order], np.float32).reshape(-1, len(LANGUAGES))
        arrays: list[np.ndarray] = [keys, word_weights, lead, pair_index, cue_weights]
        for array in arrays:
            array.setflags(write=False)
        return cls(tuple(order), keys, word_weights, table_keys, table_ids, lead, pair_index, cue_weights, params,
                   TermWeights.of(word_weights))

    def term_weights(self, table_keys: np.ndarray, table_ids: np.ndarray, n_terms: int) -> TermWeights:
        """The language weights of each term id of another tokenizer table.

        ``table_keys``/``table_ids`` are a table from ``build_table`` (a compiled lexicon's, with
        :attr:`keys` added as whole-word terms); term ids run below ``n_terms``. Term t gets the weights of
        the listed word whose key maps to id t, zero for every other term. Compute it once per table.
        """
        found = {int(k): int(i) for k, i in zip(np.asarray(table_keys), np.asarray(table_ids), strict=True) if k}
        out = np.zeros((n_terms, len(LANGUAGES)), np.float32)
        for key, weights in zip(self.keys.tolist(), self.word_weights, strict=True):
            term = found.get(key)
            if term is not None:
                if not 0 <= term < n_terms:
                    raise InputError(f"table id {term} is outside the {n_terms} terms")
                out[term] = weights
        return TermWeights.of(out)

    def cues(self, array: pa.Array) -> np.ndarray:
        """float32[D, L]: the character-cue score of each document of a string or large-string array."""
        from .kernels.language_cpu import cue_scores

        if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
            raise InputError(f"cues need a string or large_string array, not {array.type}")
        n = len(array)
        buffers = array.buffers()
        width = np.int64 if pa.types.is_large_string(array.type) else np.int32
        if buffers[1] is None or n == 0:
            offsets = np.zeros(n + 1, np.int64)
        else:
            offsets = np.frombuffer(buffers[1], width)[array.offset:array.offset + n + 1].astype(np.int64)
        data = np.frombuffer(buffers[2], np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
        if n and (offsets[0] < 0 or offsets[-1] > data.shape[0] or np.any(offsets[1:] < offsets[:-1])):
            raise InputError("the string array's offsets lie outside its data buffer")
        return cue_scores(offsets, data, self.lead, self.pair_index, self.cue_weights)

    def detect_tokens(self, doc_offsets: np.ndarray, term_ids: np.ndarray, flags: np.ndarray,
                      weights: TermWeights, cues: np.ndarray | None = None) -> np.ndarray:
        """int8[D]: each document's index into :data:`LANGUAGES`, or -1 for ``und``.

        Parameters
        ----------
        doc_offsets, term_ids, flags : numpy.ndarray
            The tokenizer's stream (int64[D+1], int32[T], uint8[T]) over a table with :attr:`keys`.
        weights : TermWeights
            :meth:`term_weights` of that table (N terms: every id in ``term_ids`` is below N), or
            :attr:`own_weights` when the stream came from :attr:`table_keys`/:attr:`table_ids`.
        cues : numpy.ndarray, float32[D, L], optional
            :meth:`cues` of the same documents; without them only words count.

        A null or empty document has no tokens and no cues: it is ``und``.
        """
        from .kernels.contract import checked_stream, readonly
        from .kernels.language_cpu import detect_stream

        packed = readonly(weights.packed, np.uint64)
        if packed.ndim != 2 or packed.shape[0] < 1 or packed.shape[1] != 2 or packed[0].any():
            raise InputError(f"weights must be TermWeights (packed uint64[N+1, 2], row 0 zeros), not {packed.shape}")
        stream = checked_stream(doc_offsets, term_ids, flags, packed.shape[0] - 1)
        n_docs = max(stream.doc_offsets.shape[0] - 1, 0)
        if n_docs and stream.doc_offsets[0] != 0:
            raise InputError(f"doc_offsets must start at 0, not {stream.doc_offsets[0]}")
        if cues is None:
            cue_array = np.zeros((n_docs, len(LANGUAGES)), np.float32)
        else:
            cue_array = readonly(cues, np.float32)
            if cue_array.shape != (n_docs, len(LANGUAGES)):
                raise InputError(f"cues must have shape ({n_docs}, {len(LANGUAGES)}), not {cue_array.shape}")
        if n_docs == 0:
            return np.zeros(0, np.int8)
        p = self.params
        return detect_stream(stream.doc_offsets, stream.term_ids, stream.flags, packed, cue_array,
                             p.min_evidence, p.margin, p.min_coverage)


def _item_keys(kind: str, item: str, where: str) -> list[bytes]:
    """The tokens of a word as the tokenizer folds them (``word``: usually one; a word it splits, such as
    an elided "c'est", lists each part), or the byte pairs of an item and of its upper case forms (``char``,
    ``pair``; an upper case form that is not one character, as "SS" for "ß", is left out)."""
    if kind == "word":
        tokens = [bytes(token) for token in fold_tokens(item)]
        if not tokens or item != item.lower():
            raise LexiconError(f"{where}: {item!r} is not a lower-case word")
        return tokens
    forms = [item, item.upper()] if kind == "char" else [item, item.upper(), item.capitalize()]
    if kind == "char" and len(forms[1]) != 1:
        forms.pop()
    out: list[bytes] = []
    for form in forms:
        raw = form.encode("utf-8")
        ok = (len(raw) == 2 and raw[0] >= 0xC2 and len(form) == 1) if kind == "char" else (
            len(raw) == 2 and form.isascii() and form.isalpha())
        if not ok:
            raise LexiconError(f"{where}: {item!r} is not a two-byte character" if kind == "char"
                               else f"{where}: {item!r} is not two ASCII letters")
        if raw not in out:
            out.append(raw)
    return out


@functools.cache
def _default_table() -> LanguageTable:
    resource = resources.files("emoscore.lexicons").joinpath("languages.tsv")
    return LanguageTable.parse(resource.read_text(encoding="utf-8"), origin="emoscore.lexicons/languages.tsv")


def codes_array(codes: np.ndarray, valid: np.ndarray | None = None) -> pa.DictionaryArray:
    """The language column: int8 ``codes`` (-1 = und) as a dictionary array over :data:`CODES`,
    ``und`` also where ``valid`` (bool[D]) is False."""
    indices = np.where(np.asarray(codes) < 0, len(LANGUAGES), codes).astype(np.int8)
    if valid is not None:
        indices[~np.asarray(valid, bool)] = len(LANGUAGES)
    return pa.DictionaryArray.from_arrays(pa.array(indices, pa.int8()), pa.array(CODES, pa.string()))


def _string_chunks(texts: pa.Array | pa.ChunkedArray | Sequence[str | None]) -> list[pa.Array]:
    if isinstance(texts, pa.ChunkedArray):
        chunks = list(texts.chunks)
    elif isinstance(texts, pa.Array):
        chunks = [texts]
    elif isinstance(texts, (str, bytes)):
        raise InputError("detect takes a sequence of texts, not one string")
    else:
        try:
            chunks = [pa.array(list(texts), pa.string())]
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as error:
            raise InputError(f"detect takes strings: {error}") from None
    out = []
    for chunk in chunks:
        chunk = string_like(chunk, "text")
        if pa.types.is_dictionary(chunk.type):
            chunk = chunk.cast(chunk.type.value_type)
        elif pa.types.is_null(chunk.type):
            chunk = pa.nulls(len(chunk), pa.string())
        out.append(chunk)
    return out


def detect(texts: pa.Array | pa.ChunkedArray | Sequence[str | None],
           table: LanguageTable | None = None) -> pa.DictionaryArray:
    """The language of each text: a dictionary array (int8 indices) over :data:`CODES`.

    ``texts``: a string, large-string, string-view, dictionary-of-string or null Arrow array, a
    ChunkedArray of those, or a list of ``str``/``None``. A null, empty or unrecognised text is ``und``.
    """
    table = table or LanguageTable.default()
    pieces: list[np.ndarray] = []
    for chunk in _string_chunks(texts):
        doc_offsets, term_ids, flags = tokenize(chunk, table.table_keys, table.table_ids, 0)
        codes = table.detect_tokens(doc_offsets, term_ids, flags, table.own_weights, table.cues(chunk))
        if chunk.null_count:
            codes[np.asarray(chunk.is_null())] = -1
        pieces.append(codes)
    codes = np.concatenate(pieces) if pieces else np.zeros(0, np.int8)
    return codes_array(codes)
