"""The public scoring API: Arrow in, Arrow out."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources

import numba
import numpy as np
import pyarrow as pa

from ._tokenize import tokenize
from .aspects import AspectLexicon
from .backend import Backend
from .backend import resolve as _resolve_backend
from .errors import ColumnNotFoundError, InputError
from .evidence import evidence_column
from .kernels.score_cpu import explain_stream, score_stream
from .language import CODES, LANGUAGES, UND, LanguageTable, codes_array, detect
from .lexicon import CompiledLexicon, Lexicon
from .lexicon.cache import load_compiled

__all__ = ["Scorer", "score", "default_scorer", "SCORE_COLUMNS", "ASPECTS_TYPE", "LEXICON_LANGUAGES"]

#: The languages with a bundled lexicon, and its file in ``emoscore.lexicons``.
LEXICON_LANGUAGES = {"en": "default.tsv", "fr": "fr.tsv"}

#: Document-level score columns, in output order; the per-emotion columns follow them, then
#: ``aspects`` (when on).
SCORE_COLUMNS = ("valence", "intensity", "emotion", "tokens", "hits")

#: Type of the ``aspects`` column: one element per distinct aspect mentioned, in first-mention order.
ASPECTS_TYPE = pa.list_(pa.struct([
    pa.field("aspect", pa.string(), nullable=False),
    pa.field("valence", pa.float32(), nullable=False),
    pa.field("emotion", pa.string(), nullable=False),
    pa.field("intensity", pa.float32(), nullable=False),
]))

# Documents per GPU batch (backend="cuda"): the next batch is tokenized while the GPU scores this one.
_CUDA_BATCH_DOCS = 1 << 18
# Below this many text bytes a batch is tokenized on the calling thread: a thread pool costs more.
_PARALLEL_MIN_BYTES = 1 << 20


class Scorer:
    """Scores the emotions in texts with a compiled lexicon.

    A ``Scorer`` holds only its immutable compiled lexicon, so one instance may be shared by any
    number of threads.

    Parameters
    ----------
    lexicon : Lexicon, CompiledLexicon, str or os.PathLike, optional
        The lexicon to score with: a :class:`~emoscore.Lexicon`, an already compiled one, or the path
        of a lexicon file in emoscore's format. Default: the bundled customer-experience lexicon.
    backend : {"cpu", "cuda", "auto"}
        Where the scoring kernel runs (tokenizing is always on the CPU). ``"cuda"``: an NVIDIA GPU
        through Numba's CUDA target (``pip install 'emoscore[cuda]'``), same results as the CPU
        within float tolerance; ``"auto"``: the GPU when one is usable, else the CPU. The chosen
        one is :attr:`backend`.
    aspects : bool, AspectLexicon, str or os.PathLike
        What the feelings are about: ``True`` (default) finds the aspects of the bundled
        customer-journey aspect lexicon (:meth:`AspectLexicon.default`) and adds the ``aspects``
        column; an :class:`~emoscore.AspectLexicon` or the path of an aspect lexicon file replaces
        it (extend the default with ``AspectLexicon.default().merge(...)`` or ``.with_entries``);
        ``False`` turns aspects off (no ``aspects`` column, no extra cost). The aspect terms join
        the emotion terms in one hash table, so the text is still tokenized once, and the emotion
        scores are the same either way. A :class:`CompiledLexicon` is used as compiled: it finds
        aspects when it was compiled with them (``Lexicon.compile(aspects=...)``).
    threads : int, optional
        Threads used to tokenize and score one call; default: Numba's thread count
        (``NUMBA_NUM_THREADS``, normally the number of cores).
    language : None, "auto", a language code or a sequence of codes
        ``None`` (default): every text is scored with ``lexicon``, no language is detected.
        ``"auto"``: each text's language is detected (:mod:`emoscore.language`; en, fr, de, es, it,
        pt, nl) and the text is scored with its language's bundled lexicon (:data:`LEXICON_LANGUAGES`);
        a text in a language without one gets null scores, never an English reading. A sequence of
        codes: the same, scoring only those languages. One code (``"fr"``): every text is scored in
        that language, none detected. These add the ``language`` column (ISO 639-1, or ``und`` when
        a text is too short or ambiguous to tell).
    default_language : str
        How a text whose language is ``und`` is scored (default ``"en"``).
    explain : bool
        Add the ``evidence`` column (:data:`~emoscore.evidence.EVIDENCE_TYPE`): for each text, the
        words, stems and expressions that scored and the rule words that acted on them, with their
        spans, contributions, rules and aspects; the contributions add up to the scores (formulas
        in :mod:`emoscore.evidence`). Off (default), nothing of it is computed. On the ``"cuda"``
        backend an explaining scorer scores on the CPU: the evidence has a variable number of
        elements per text, which the CPU kernel writes in the same pass as the scores.
    """

    def __init__(
        self,
        lexicon: Lexicon | CompiledLexicon | str | os.PathLike | None = None,
        *,
        aspects: bool | AspectLexicon | str | os.PathLike = True,
        backend: Backend = "cpu",
        threads: int | None = None,
        explain: bool = False,
        language: str | Sequence[str] | None = None,
        default_language: str = "en",
    ) -> None:
        resolved = _resolve_backend(backend)  # BackendError: unknown name, or "cuda" with no usable GPU
        # numba.config sets its NUMBA_* names at import (from the environment): its stubs do not list them
        max_threads: int = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]
        if threads is not None and not 1 <= threads <= max_threads:
            raise InputError(f"threads={threads!r} must be between 1 and NUMBA_NUM_THREADS={max_threads}")
        self.backend = resolved
        self.threads = threads
        if not isinstance(explain, bool):
            raise InputError(f"explain must be True or False, not {explain!r}")
        self.explain = explain
        self.lexicon = _compile(lexicon, aspects)
        self._names = pa.array(list(self.lexicon.emotions) + ["neutral"], pa.string())
        self._aspect_names = pa.array(list(self.lexicon.aspects), pa.string())
        #: The languages scored (None: no language column); detected per text unless one code was given.
        self.language, self._detected = _languages(language, default_language, lexicon)
        self.default_language = default_language
        self._by_language = None
        if self.language is not None:
            self._by_language = {}
            for code in self.language:
                source = lexicon if lexicon is not None else _language_lexicon(code)
                if self._detected and code == default_language:  # its token stream also finds the language
                    source = _compile(source, aspects, LanguageTable.default().words)
                    self._by_language[code] = Scorer(source, aspects=bool(source.aspects), backend=backend,
                                                     threads=threads, explain=explain)
                    self._language_weights = LanguageTable.default().term_weights(
                        source.table_keys, source.table_ids, source.n_terms)
                else:
                    self._by_language[code] = Scorer(source, aspects=aspects, backend=backend, threads=threads,
                                                     explain=explain)
            self.lexicon = self._by_language[self.language[0]].lexicon
            if any(inner.emotions != self.emotions for inner in self._by_language.values()):
                raise InputError(f"the lexicons of {self.language} have different emotions: they cannot share columns")
        self._cuda = None
        if resolved == "cuda" and not explain and self._by_language is None:
            from .kernels.score_cuda import CudaScorer  # imports numba.cuda: only when asked for

            self._cuda = CudaScorer(self.lexicon)

    @property
    def detects_language(self) -> bool:
        """Whether each text's language is detected (``language="auto"`` or a list of codes)."""
        return self._detected

    @property
    def emotions(self) -> tuple[str, ...]:
        """The emotion taxonomy: one float32 output column per name, in this order."""
        return self.lexicon.emotions

    @property
    def aspects(self) -> tuple[str, ...]:
        """The aspect names (empty when aspects are off)."""
        return self.lexicon.aspects

    @property
    def columns(self) -> tuple[str, ...]:
        """Names of every column that :meth:`score` adds."""
        return (SCORE_COLUMNS + self.emotions + (("aspects",) if self.lexicon.aspects else ())
                + (("evidence",) if self.explain else ()) + (("language",) if self.language else ()))

    def score(self, data, *, text: str = "text", prefix: str = ""):
        """Score every text of ``data``.

        Parameters
        ----------
        data : a pyarrow Table, RecordBatch, Array, ChunkedArray or RecordBatchReader, or any object that
            exports Arrow data through the PyCapsule interface (``__arrow_c_stream__`` or
            ``__arrow_c_array__``: pandas >= 2.2 and polars DataFrames, DuckDB relations, nanoarrow ...)
            Texts as ``string``, ``large_string``, ``string_view`` or dictionary-of-string values.
            The string buffers are read in place (zero-copy) unless the type needs a cast
            (``string_view``, as polars exports text, is copied once into a ``large_string``).
        text : str
            The text column of a table-like ``data``.
        prefix : str
            Put before the name of every added column (``prefix="emo_"``: ``emo_valence`` ...), so that
            they never clash with the data's own columns.

        Returns
        -------
        pyarrow.Table, RecordBatch or RecordBatchReader
            For a table-like ``data``: the same type (a Table for a DataFrame or a relation) with every
            input column unchanged, followed by the :attr:`columns`. For an array: a Table of the
            :attr:`columns`. For a stream (a ``RecordBatchReader``, or an object with
            ``__arrow_c_stream__`` and no length, such as DuckDB's ``relation.arrow()``): a
            ``RecordBatchReader`` that reads and scores one batch at a time when it is read, so memory
            stays bounded by the batch size; its schema is known at once, and a missing text column
            fails here, not at the first batch.
            ``valence`` is in [-1, 1]; ``intensity`` and each emotion in [0, 1]; ``emotion`` is the
            dominant emotion or ``"neutral"``; ``tokens`` counts words, ``hits`` lexicon matches.
            With aspects on, ``aspects`` is a :data:`ASPECTS_TYPE` list: one element per distinct
            aspect mentioned, in order of first mention, with the aspect's own ``valence``,
            dominant ``emotion`` (or ``"neutral"``) and ``intensity`` from the emotions attributed
            to it (rules in ``kernels/rules.py``). With ``explain=True``, ``evidence`` lists what
            each score is made of (:data:`~emoscore.evidence.EVIDENCE_TYPE`). A null text scores as
            neutral with zero tokens, no aspects and no evidence.

        Raises
        ------
        ColumnNotFoundError
            ``text`` is not a column of ``data``.
        InputError
            The texts are not strings, or ``data`` already has a column the scores would add.
        """
        if not isinstance(prefix, str):
            raise InputError(f"prefix must be a string, not {prefix!r}")
        names = tuple(prefix + name for name in self.columns)
        data = _arrow_data(data)
        if isinstance(data, pa.RecordBatchReader):
            return self._score_reader(data, text, prefix)
        if isinstance(data, (pa.Table, pa.RecordBatch)):
            if text not in data.schema.names:
                raise ColumnNotFoundError(
                    f"text column {text!r} not found; the data has columns {data.schema.names}"
                )
            clash = [name for name in names if name in data.schema.names]
            if clash:
                raise InputError(
                    f"the data already has column(s) {clash} that scoring would add; "
                    "rename or drop them first, or pass prefix="
                )
            scores = self._score_columns(data.column(text), text)
            schema = data.schema
            for field in _score_fields(names, scores, nullable=self.language is not None):
                schema = schema.append(field)
            container = pa.RecordBatch if isinstance(data, pa.RecordBatch) else pa.Table
            return container.from_arrays(data.columns + scores, schema=schema)
        scores = self._score_columns(data, "<array>")
        fields = _score_fields(names, scores, nullable=self.language is not None)
        return pa.Table.from_arrays(scores, schema=pa.schema(fields))

    def _score_reader(self, reader: pa.RecordBatchReader, text: str, prefix: str) -> pa.RecordBatchReader:
        """A reader of ``reader``'s batches, each scored when it is read."""
        # the empty batch checks the text column and names now, and gives the output schema
        schema = self.score(reader.schema.empty_table(), text=text, prefix=prefix).schema

        def batches():
            with reader:
                for batch in reader:
                    yield self.score(batch, text=text, prefix=prefix)

        return pa.RecordBatchReader.from_batches(schema, batches())

    def _score_columns(self, texts: pa.Array | pa.ChunkedArray, column: str) -> list[pa.Array]:
        """The score arrays, in :attr:`columns` order, for the texts of ``column``."""
        if self._by_language is not None:
            return self._score_languages(texts, column)
        chunks = texts.chunks if isinstance(texts, pa.ChunkedArray) else [texts]
        chunks = [_as_utf8(chunk, column) for chunk in chunks]
        if self._cuda is not None:
            batches = (self._tokenize([piece]) for piece in _slices(chunks, _CUDA_BATCH_DOCS))
            scores = self._cuda.run(batches, sum(len(chunk) for chunk in chunks))
            return self._arrays(scores)
        return self._score_tokens(self._tokenize(chunks), chunks)

    def _score_tokens(self, stream: tuple[np.ndarray, ...], chunks: list[pa.Array]) -> list[pa.Array]:
        """The score arrays of a token stream of ``chunks`` (from :meth:`_tokenize`), on the CPU."""
        previous = numba.get_num_threads()
        if self.threads is not None:
            numba.set_num_threads(self.threads)  # thread-local in Numba: other callers are unaffected
        try:
            if not self.explain:
                return self._arrays(score_stream(*stream, self.lexicon))
            doc_offsets, term_ids, flags, starts, ends = stream
            scores, evidence = explain_stream(doc_offsets, term_ids, flags, self.lexicon)
        finally:
            numba.set_num_threads(previous)
        return self._arrays(scores) + [evidence_column(evidence, doc_offsets, starts, ends, chunks, self.lexicon)]

    def _score_languages(self, texts: pa.Array | pa.ChunkedArray, column: str) -> list[pa.Array]:
        """Score each text with its language's scorer; null scores where it has none; + ``language``."""
        assert self._by_language is not None and self.language is not None
        texts = _as_utf8(texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts, column)
        n = len(texts)
        if not self._detected:  # one language, told
            code = self.language[0]
            scores = self._by_language[code]._score_columns(texts, column)
            return scores + [pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int8)), pa.array([code]))]
        primary = self._by_language[self.default_language]
        stream = None
        if primary._cuda is None:  # the language from the default language's own token stream
            stream = primary._tokenize([texts])
            table = LanguageTable.default()
            doc_offsets, term_ids, flags = stream[:3]
            codes = table.detect_tokens(doc_offsets, term_ids, flags, self._language_weights, table.cues(texts))
            if texts.null_count:  # a null text's bytes may still hold characters the cues would read
                codes[np.asarray(texts.is_null())] = -1
            found = codes_array(codes)
        else:
            found = detect(texts)
        index = found.indices.to_numpy(zero_copy_only=False)
        scored_as = np.where(index == CODES.index(UND), CODES.index(self.default_language), index)
        parts: list[list[pa.Array]] = []
        rows: list[np.ndarray] = []  # the texts of each part, in order
        for code, scorer in self._by_language.items():
            mine = np.flatnonzero(scored_as == CODES.index(code))
            if not len(mine):
                continue
            subset = texts if len(mine) == n else texts.take(pa.array(mine))
            if scorer is primary and stream is not None:  # its stream is already tokenized: score its rows only
                parts.append(primary._score_tokens(_select_documents(stream, mine), [subset]))
            else:
                parts.append(scorer._score_columns(subset, column))
            rows.append(mine)
        scored = sum(len(mine) for mine in rows)
        if scored < n or not parts:  # languages without a lexicon: null scores
            rest = np.setdiff1d(np.arange(n), np.concatenate(rows)) if rows else np.arange(n)
            template = parts[0] if parts else primary._score_columns(pa.array([], pa.string()), column)
            parts.append([pa.nulls(len(rest), array.type) for array in template])
            rows.append(rest)
        if len(parts) == 1:
            return parts[0] + [found]
        position = np.empty(n, np.int64)  # where each text's scores are in the parts, concatenated
        position[np.concatenate(rows)] = np.arange(n)
        indices = pa.array(position)
        return [pa.concat_arrays([part[k] for part in parts]).take(indices) for k in range(len(parts[0]))] + [found]

    def _arrays(self, scores) -> list[pa.Array]:
        """Kernel outputs (``ScoreArrays``) as the Arrow score columns, in :attr:`columns` order."""
        dominant = np.where(scores.dominant < 0, len(self.emotions), scores.dominant)
        arrays = [
            pa.array(scores.valence),
            pa.array(scores.intensity),
            self._names.take(pa.array(dominant)),
            pa.array(scores.tokens),
            pa.array(scores.hits),
        ] + [pa.array(row) for row in scores.emotions]
        if self.lexicon.aspects:
            arrays.append(self._aspect_column(scores))
        return arrays

    def _aspect_column(self, scores) -> pa.Array:
        """The ``aspects`` list<struct> column from the kernel's per-document aspect CSR."""
        offsets = scores.aspect_offsets
        if offsets[-1] >= 1 << 31:
            raise InputError(f"{int(offsets[-1])} aspect mentions in one call; score fewer texts at a time")
        emotion = np.where(scores.aspect_emotion < 0, len(self.emotions), scores.aspect_emotion)
        items = pa.StructArray.from_arrays(
            [self._aspect_names.take(pa.array(scores.aspect)), pa.array(scores.aspect_valence),
             self._names.take(pa.array(emotion)), pa.array(scores.aspect_intensity)],
            fields=list(ASPECTS_TYPE.value_type),
        )
        return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), items, type=ASPECTS_TYPE)

    def _tokenize(self, chunks: list[pa.Array]) -> tuple[np.ndarray, ...]:
        """The token stream of ``chunks``: (doc_offsets, term_ids, flags), and the tokens' byte spans
        (starts, ends) when explaining."""
        lex = self.lexicon

        def run(piece: pa.Array):
            return tokenize(piece, lex.table_keys, lex.table_ids, lex.stem_mask, spans=self.explain)

        if not chunks:
            chunks = [pa.array([], pa.string())]
        threads = self.threads or numba.get_num_threads()
        if threads > 1 and sum(chunk.nbytes for chunk in chunks) >= _PARALLEL_MIN_BYTES:
            with ThreadPoolExecutor(max_workers=threads) as pool:  # tokenize releases the GIL
                return _concat_streams(list(pool.map(run, _split(chunks, threads))))
        if len(chunks) == 1:
            return run(chunks[0])
        return _concat_streams([run(chunk) for chunk in chunks])


def _compile(lexicon, aspects=False, words: tuple[bytes, ...] = ()) -> CompiledLexicon:
    if aspects is None:
        aspects = False
    if isinstance(lexicon, CompiledLexicon):
        if aspects is False:
            return lexicon.without_aspects() if lexicon.aspects else lexicon
        if aspects is not True:
            raise InputError("a CompiledLexicon carries its own aspects; pass a Lexicon to score other aspects")
        return lexicon
    paths = (str, os.PathLike)
    if not isinstance(aspects, (bool, AspectLexicon, *paths)):
        raise InputError(f"aspects must be True, False, an AspectLexicon or a path, not {type(aspects).__name__}")
    if lexicon is None or isinstance(lexicon, paths):
        if not isinstance(aspects, AspectLexicon) and not words:  # files only: the arrays may come from the cache
            if lexicon is None and isinstance(aspects, bool):
                return _default_lexicon(aspects)
            return load_compiled(lexicon, aspects)
        lexicon = Lexicon.default() if lexicon is None else Lexicon.load(lexicon)
    elif not isinstance(lexicon, Lexicon):
        raise InputError(f"lexicon must be a Lexicon, CompiledLexicon or path, not {type(lexicon).__name__}")
    if isinstance(aspects, bool):
        aspects = AspectLexicon.default() if aspects else None
    elif isinstance(aspects, paths):
        aspects = AspectLexicon.load(aspects)
    return lexicon.compile(aspects=aspects, words=words)


def _languages(language, default_language: str, lexicon) -> tuple[tuple[str, ...] | None, bool]:
    """``(languages scored, whether each text's language is detected)``, checked."""
    if language is None:
        return None, False
    if default_language not in LEXICON_LANGUAGES:
        raise InputError(f"default_language must be one of {tuple(LEXICON_LANGUAGES)}, got {default_language!r}")
    detected = not isinstance(language, str) or language == "auto"
    codes = tuple(LEXICON_LANGUAGES) if language == "auto" else (language,) if isinstance(language, str) \
        else tuple(language)
    bad = [code for code in codes if code not in LEXICON_LANGUAGES]
    if bad or not codes:
        raise InputError(f"language must be None, 'auto' or codes of {tuple(LEXICON_LANGUAGES)} (detected: "
                         f"{LANGUAGES}), got {language!r}")
    if lexicon is not None and detected:
        raise InputError("a lexicon scores one language: pass language='<its code>' with lexicon=")
    if detected and default_language not in codes:
        codes += (default_language,)  # how an undetermined text is scored
    return codes, detected


@functools.cache
def _language_lexicon(code: str):
    """The bundled lexicon of a language (a path the compiled-lexicon cache knows)."""
    return None if code == "en" else str(resources.files("emoscore.lexicons").joinpath(LEXICON_LANGUAGES[code]))


@functools.cache
def _default_lexicon(aspects: bool = False) -> CompiledLexicon:
    return load_compiled(None, aspects)


@functools.cache
def default_scorer() -> Scorer:
    """The ``Scorer()`` that :func:`score` uses (the default lexicon, on the CPU), built on first use."""
    return Scorer()


def score(data, *, text: str = "text", prefix: str = ""):
    """Score ``data`` with the default lexicon on the CPU; see :meth:`Scorer.score`."""
    return default_scorer().score(data, text=text, prefix=prefix)


def _arrow_data(data) -> pa.Table | pa.RecordBatch | pa.Array | pa.ChunkedArray | pa.RecordBatchReader:
    """``data`` as the pyarrow object it is or exports (PyCapsule interface): a stream without a length
    stays a stream (a ``RecordBatchReader``, read lazily); a table-like object is read whole."""
    if isinstance(data, (pa.Table, pa.RecordBatch, pa.Array, pa.ChunkedArray, pa.RecordBatchReader)):
        return data
    if hasattr(data, "__arrow_c_array__"):
        array = pa.array(data)
        return pa.RecordBatch.from_struct_array(array) if pa.types.is_struct(array.type) else array
    if hasattr(data, "__arrow_c_stream__"):
        if not hasattr(data, "__len__"):
            return pa.RecordBatchReader.from_stream(data)
        chunked = pa.chunked_array(data)  # a table exports a stream of struct arrays, a column of values
        if pa.types.is_struct(chunked.type):
            return pa.Table.from_struct_array(chunked)
        return chunked
    raise InputError(
        f"cannot score a {type(data).__name__}: pass a pyarrow Table, RecordBatch, Array, ChunkedArray or "
        "RecordBatchReader, or an object with __arrow_c_stream__ or __arrow_c_array__ (a pandas or polars "
        "DataFrame, a DuckDB relation ...)"
    )


def _as_utf8(array: pa.Array, column: str) -> pa.Array:
    """Return ``array`` as string/large_string, casting only the types that need it."""
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return array
    if pa.types.is_string_view(kind):
        return array.cast(pa.large_string())
    if pa.types.is_null(kind):
        return pa.nulls(len(array), pa.string())
    if pa.types.is_dictionary(kind) and (
        pa.types.is_string(kind.value_type) or pa.types.is_large_string(kind.value_type)
    ):
        return array.cast(kind.value_type)
    first = next((i for i, v in enumerate(array) if v.is_valid), None)
    where = "" if first is None else f"; row {first} holds {array[first].as_py()!r}"
    raise InputError(f"column {column!r} must hold strings, but its type is {kind}{where}")


def _split(chunks: list[pa.Array], threads: int) -> list[pa.Array]:
    """Cut the chunks into about ``threads`` zero-copy slices of similar byte size."""
    total = sum(chunk.nbytes for chunk in chunks)
    pieces: list[pa.Array] = []
    for chunk in chunks:
        parts = max(1, round(threads * chunk.nbytes / total))
        step = max(1, -(-len(chunk) // parts))
        pieces.extend(chunk.slice(start, step) for start in range(0, len(chunk), step))
    return pieces or chunks[:1]


def _slices(chunks: list[pa.Array], size: int):
    """The documents of ``chunks`` as zero-copy slices of at most ``size`` rows, in order (at least
    one slice, possibly empty, so that a batch always exists)."""
    yielded = False
    for chunk in chunks:
        for start in range(0, len(chunk), size):
            yielded = True
            yield chunk.slice(start, size)
    if not yielded:
        yield pa.array([], pa.string())


def _concat_streams(streams) -> tuple[np.ndarray, ...]:
    """Join CSR token streams of consecutive document ranges into one: (doc_offsets, then each
    per-token array of the streams, concatenated)."""
    n_docs = sum(len(stream[0]) - 1 for stream in streams)
    doc_offsets = np.empty(n_docs + 1, np.int64)
    doc_offsets[0] = 0
    row = token = 0
    for offsets, ids, *_ in streams:
        n = len(offsets) - 1
        np.add(offsets[1:], token, out=doc_offsets[row + 1 : row + 1 + n])
        row += n
        token += len(ids)
    return (doc_offsets, *(np.concatenate(arrays) for arrays in list(zip(*streams, strict=True))[1:]))


def _select_documents(stream: tuple[np.ndarray, ...], rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """The CSR token stream of documents ``rows`` (increasing) of ``stream`` (its offsets start at 0),
    in that order: (doc_offsets, then each per-token array)."""
    doc_offsets = stream[0]
    if len(rows) == len(doc_offsets) - 1:
        return stream
    lengths = np.diff(doc_offsets)
    selected = np.zeros(len(lengths), bool)
    selected[rows] = True
    tokens = np.repeat(selected, lengths)
    offsets = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(lengths[rows], out=offsets[1:])
    return (offsets, *(array[tokens] for array in stream[1:]))


def _score_fields(names: tuple[str, ...], arrays: list[pa.Array], nullable: bool = False) -> list[pa.Field]:
    """Score columns are never null (a null text scores as neutral) unless languages are detected: a
    text in a language without a lexicon has null scores."""
    return [pa.field(name, array.type, nullable=nullable) for name, array in zip(names, arrays, strict=True)]
