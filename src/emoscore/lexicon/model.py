"""Lexicons: the text format, loaders of public formats, and compilation into flat arrays.

A :class:`Lexicon` is an immutable value: an emotion taxonomy, a tuple of :class:`Entry` objects and
rule-parameter overrides, plus descriptive metadata. :meth:`Lexicon.compile` turns it into a
:class:`CompiledLexicon`, the read-only arrays that the tokenizer and the scoring kernels take as
arguments (layout in ``docs/internals.md``). The file format is specified in ``lexicons/README.md``.

Folding, hashing and hash-table building are done by :mod:`emoscore._tokenize` only, so a term is
looked up exactly as the tokenizer reads it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from importlib import resources
from types import MappingProxyType
from typing import cast

import numpy as np

from .. import _tokenize
from ..errors import LexiconError
from ..kernels import rules
from . import _terms, compiler, loaders
from ._terms import (
    BadValue,
    PathLike,
    TermTable,
    TextFormat,
    TextReader,
    check_emotion_name,
    decode,
    finite,
    format_number,
    parse_number,
    term_key,
)
from .compiler import ARRAY_DTYPES, CompiledLexicon, compile_lexicon
from .entry import Entry, EntryError

__all__ = ["CompiledLexicon", "Entry", "Lexicon", "cache_dir", "load_compiled"]

MAGIC = "#!emoscore-lexicon"
FORMAT_VERSION = 1
COLUMN_LINE = "term\tvalence\temotions\trole"
ParamValue = float | str | None

_PARAM = re.compile(r"#\s*param\s+(\S+)\s*:\s*(.*?)\s*$")
_PARAM_START = re.compile(r"#\s*param\b")


def _parse_fields(term: str, valence: str, emotions: str, role: str) -> Entry:
    value = None if valence == "-" else parse_number(valence, "valence")
    weights = []
    if emotions != "-":
        for pair in emotions.split(","):
            name, eq, weight = pair.strip().partition("=")
            if not eq or not name or not weight:
                raise BadValue(f"emotions are name=weight pairs separated by commas, or '-' ({pair!r})")
            weights.append((name.strip(), parse_number(weight.strip(), f"the weight of {name.strip()!r}")))
    strength = None
    if role == "-":
        role_name = None
    elif role in ("negator", "contrast"):
        role_name = role
    else:
        role_name, eq, amount = role.partition("=")
        if role_name not in ("booster", "dampener") or not eq:
            raise BadValue(f"role is '-', 'negator', 'booster=X', 'dampener=X' or 'contrast' ({role!r})")
        strength = parse_number(amount, f"{role_name} strength")
    try:
        return Entry(term, value, tuple(weights), role_name, strength)
    except EntryError as exc:
        raise BadValue(exc.detail) from None


# --- the lexicon value ------------------------------------------------------------------------------


class Lexicon(TermTable):
    """An immutable lexicon: an emotion taxonomy, entries, rule-parameter overrides and metadata.

    Parameters
    ----------
    entries : iterable of Entry
        The entries; two entries with the same folded key ("Great" and "great") are an error.
    emotions : iterable of str
        The emotion taxonomy, in column order (may be empty: valence only).
    params : mapping, optional
        Overrides of ``kernels.rules.DEFAULT_PARAMS`` by name; emotion-valued ones take an emotion of
        the taxonomy or ``None``.
    name : str
        A short name.
    sources, licences : iterable of str
        Where the data came from and under which licences (one line each).

    Raises
    ------
    LexiconError
        When an entry, emotion name or parameter is invalid (the message names the entry).
    """

    __slots__ = ("_emotions", "_entries", "_keys", "_index", "_params", "_name", "_sources", "_licences",
                 "_compiled", "_compiled_with")

    def __init__(
        self,
        entries: Iterable[Entry] = (),
        *,
        emotions: Iterable[str] = (),
        params: Mapping[str, ParamValue] | None = None,
        name: str = "",
        sources: Iterable[str] = (),
        licences: Iterable[str] = (),
    ) -> None:
        entries = tuple(entries)
        keys = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, Entry):
                raise LexiconError(f"entry {i} is not an Entry ({entry!r})")
            try:
                keys.append(term_key(entry.term))
            except BadValue as exc:
                raise LexiconError(f"entry {i}: {exc} ({entry.term!r})") from None
        self._init(entries, keys, emotions, params or {}, name, sources, licences, duplicates="error")

    def _init(self, entries, keys, emotions, params, name, sources, licences, *, duplicates) -> None:
        """Validate and store; ``keys`` are the entries' folded keys, already computed."""
        emotions, sources, licences = tuple(emotions), tuple(sources), tuple(licences)
        try:
            _check_taxonomy(emotions)
            texts = [("name", name)] + [("source", s) for s in sources] + [("licence", s) for s in licences]
            for label, text in texts:
                if not isinstance(text, str) or "\n" in text or "\r" in text:
                    raise BadValue(f"the {label} is one line of text ({text!r})")
            checked = {key: _check_param(key, value, emotions) for key, value in params.items()}
        except BadValue as exc:
            raise LexiconError(f"{name or 'lexicon'}: {exc}") from None
        known = set(emotions)
        index: dict[tuple, int] = {}
        kept_entries: list[Entry] = []
        kept_keys: list[tuple] = []
        for i, (entry, key) in enumerate(zip(entries, keys, strict=True)):
            for emotion, _ in entry.emotions:
                if emotion not in known:
                    raise LexiconError(
                        f"entry {i}: unknown emotion, not in the taxonomy {' '.join(emotions)!r} "
                        f"({entry.term!r}: {emotion!r})"
                    )
            at = index.get(key)
            if at is None:
                index[key] = len(kept_entries)
                kept_entries.append(entry)
                kept_keys.append(key)
            elif duplicates == "error":
                raise LexiconError(
                    f"entry {i}: duplicate term, same folded key as {kept_entries[at].term!r} "
                    f"({entry.term!r})"
                )
            else:  # "replace": later entries win, keeping the first one's position
                kept_entries[at] = entry
        self._emotions = emotions
        self._entries = tuple(kept_entries)
        self._keys = tuple(kept_keys)
        self._index = index
        self._params = MappingProxyType(checked)
        self._name = name
        self._sources = tuple(dict.fromkeys(sources))
        self._licences = tuple(dict.fromkeys(licences))
        self._compiled: CompiledLexicon | None = None
        self._compiled_with: dict = {}  # aspect lexicon -> compiled (a few at most)

    @classmethod
    def _make(cls, entries, keys, *, duplicates="error", **kwargs) -> Lexicon:
        self = cls.__new__(cls)
        self._init(entries, keys, kwargs.pop("emotions", ()), kwargs.pop("params", {}),
                   kwargs.pop("name", ""), kwargs.pop("sources", ()), kwargs.pop("licences", ()),
                   duplicates=duplicates)
        return self

    # --- read access -----------------------------------------------------------------------------

    @property
    def emotions(self) -> tuple[str, ...]:
        """The emotion taxonomy, in column order."""
        return self._emotions

    @property
    def params(self) -> Mapping[str, ParamValue]:
        """The parameter overrides of this lexicon (read-only); see :meth:`resolved_params`."""
        return self._params

    @property
    def fingerprint(self) -> str:
        """The fingerprint of the compiled lexicon (see :class:`CompiledLexicon`)."""
        return self.compile().fingerprint

    def __reduce__(self):
        return (_rebuild, (self._entries, self._emotions, dict(self._params), self._name, self._sources,
                           self._licences))

    def _state(self) -> tuple:
        return (self._emotions, self._entries, tuple(sorted(self._params.items(), key=lambda kv: kv[0])),
                self._name, self._sources, self._licences)

    def __repr__(self) -> str:
        emotions = " ".join(self._emotions)
        return f"Lexicon({self._name or 'unnamed'!r}, {len(self)} entries, emotions={emotions!r})"

    def resolved_params(self) -> dict[str, float]:
        """Every rule parameter as a number: defaults, overridden, emotions as their index (-1 = none)."""
        resolved = {}
        for name in rules.PARAM_NAMES:
            value = self._params[name] if name in self._params else rules.DEFAULT_PARAMS[name]
            if name in rules.EMOTION_PARAMS:
                resolved[name] = float(self._emotions.index(value)) if value in self._emotions else -1.0
            else:
                resolved[name] = float(cast(float, value))  # a number: _check_param made sure
        return resolved

    # --- making new lexicons ---------------------------------------------------------------------

    def with_entries(self, entries: Iterable[Entry]) -> Lexicon:
        """A copy with ``entries`` added; an entry with the same folded key as an existing one replaces it.

        The entries must use this lexicon's taxonomy; among ``entries`` themselves, later ones win.
        """
        entries = tuple(entries)
        keys = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, Entry):
                raise LexiconError(f"entry {i} is not an Entry ({entry!r})")
            try:
                keys.append(term_key(entry.term))
            except BadValue as exc:
                raise LexiconError(f"entry {i}: {exc} ({entry.term!r})") from None
        return Lexicon._make(self._entries + entries, self._keys + tuple(keys), duplicates="replace",
                             **self._meta())

    def with_params(self, **params: ParamValue) -> Lexicon:
        """A copy with these parameter overrides added (``name=None`` for "no emotion")."""
        meta = self._meta()
        meta["params"].update(params)
        return Lexicon._make(self._entries, self._keys, **meta)

    def merge(self, other: Lexicon) -> Lexicon:
        """Layer ``other`` over this lexicon: its entries replace entries with the same folded key.

        The taxonomy is this one's followed by the emotions of ``other`` that it lacks (weights are
        matched by emotion name), parameter overrides of ``other`` win, and sources and licences are
        concatenated. The name stays this lexicon's. Typical use: put a lexicon of another format over
        the default one's rule words, ``Lexicon.default().merge(Lexicon.from_nrc(path))``.
        """
        if not isinstance(other, Lexicon):
            raise TypeError(f"merge takes a Lexicon, not {type(other).__name__}")
        emotions = self._emotions + tuple(e for e in other._emotions if e not in self._emotions)
        return Lexicon._make(
            self._entries + other._entries,
            self._keys + other._keys,
            duplicates="replace",
            emotions=emotions,
            params={**self._params, **other._params},
            name=self._name,
            sources=self._sources + other._sources,
            licences=self._licences + other._licences,
        )

    def _meta(self) -> dict:
        return {"emotions": self._emotions, "params": dict(self._params), "name": self._name,
                "sources": self._sources, "licences": self._licences}

    def compile(self, *, aspects=None) -> CompiledLexicon:
        """The flat arrays of this lexicon (computed once, then cached on this immutable value).

        ``aspects``, an :class:`~emoscore.AspectLexicon`, merges its terms into the same hash table
        (one tokenizer pass) and adds the aspect arrays. The emotion scores are the same with or
        without it: aspect-only terms have no valence, weights or role, and a term added for the
        aspects takes the values of the emotion stem that would otherwise have matched it.
        """
        if aspects is None:
            if self._compiled is None:
                self._compiled = compile_lexicon(self)
            return self._compiled
        compiled = self._compiled_with.get(aspects)
        if compiled is None:
            if len(self._compiled_with) >= 4:
                self._compiled_with.clear()
            compiled = self._compiled_with[aspects] = compile_lexicon(self, aspects)
        return compiled

    # --- the text format -------------------------------------------------------------------------

    @classmethod
    def default(cls) -> Lexicon:
        """The bundled customer-experience lexicon (``emoscore.lexicons/default.tsv``), loaded once."""
        return _default_lexicon()

    @classmethod
    def from_text(cls, text: str, *, origin: str = "<text>") -> Lexicon:
        """Parse the text of a lexicon file; ``origin`` names it in error messages."""
        return _parse(text, origin)

    def to_text(self, *, comments: Iterable[str] = ()) -> str:
        """The lexicon in the text format; ``comments`` become ``#`` lines after the header."""
        lines = [f"{MAGIC} {FORMAT_VERSION}"]
        if self._name:
            lines.append(f"# name: {self._name}")
        lines.append(f"# emotions: {' '.join(self._emotions)}".rstrip())
        lines += [f"# source: {source}" for source in self._sources]
        lines += [f"# licence: {licence}" for licence in self._licences]
        for name in rules.PARAM_NAMES:
            if name in self._params:
                value = self._params[name]
                if name in rules.EMOTION_PARAMS:
                    text = "none" if value is None else value
                else:
                    text = format_number(cast(float, value))  # a number: _check_param made sure
                lines.append(f"# param {name}: {text}")
        for comment in comments:
            lines += [f"# {line}".rstrip() for line in comment.splitlines() or [""]]
        lines.append(COLUMN_LINE)
        lines += [entry.to_line() for entry in self._entries]
        return "\n".join(lines) + "\n"

    # --- other formats ---------------------------------------------------------------------------

    @classmethod
    def from_vader(cls, path: PathLike, *, emotions: Iterable[str] = (), name: str | None = None) -> Lexicon:
        """Read a VADER-style lexicon: ``token<TAB>mean valence[<TAB>…]`` per line (valence only).

        Hyphenated or spaced tokens become multi-word expressions; tokens the tokenizer can never
        produce (emoticons such as ``:)``) are skipped; a token listed twice (same folded key) takes
        its later valence, as in VADER itself. ``emotions`` sets the (unused) taxonomy.
        """
        return cls._from_loaded(loaders.read_vader(path, emotions=emotions, name=name))

    @classmethod
    def from_nrc(cls, path: PathLike, *, name: str | None = None) -> Lexicon:
        """Read the NRC Emotion Lexicon, word-level: ``word<TAB>emotion<TAB>0|1`` per line.

        Its emotions become the taxonomy (in order of first appearance) with weight 1.0 for each
        association; ``positive`` and ``negative`` become valence +2.0 and -2.0 (both: 0). Words with no
        association are left out, so that layering this lexicon over another one does not erase it.
        """
        return cls._from_loaded(loaders.read_nrc(path, name=name))

    @classmethod
    def from_liwc(
        cls, path: PathLike, *, categories: Iterable[str] | None = None, name: str | None = None
    ) -> Lexicon:
        """Read a LIWC dictionary (``.dic``): a ``%``-delimited block of ``id<TAB>category`` lines, then
        ``word<TAB>id<TAB>id…`` lines; ``word*`` is a stem.

        Categories become emotions with weight 1.0, except ``posemo``/``negemo`` (LIWC-22:
        ``emo_pos``/``emo_neg``), which give valence +2.0 / -2.0. ``categories`` restricts the
        taxonomy to the named categories (default: all). Words left with no category or valence are
        left out; a word listed twice gets the union of its categories.
        """
        return cls._from_loaded(loaders.read_liwc(path, categories=categories, name=name))

    @classmethod
    def _from_loaded(cls, loaded: loaders.Loaded) -> Lexicon:
        return cls._make(loaded.entries, loaded.keys, duplicates=loaded.duplicates, emotions=loaded.emotions,
                         name=loaded.name, sources=(loaded.source,))


# --- checks -------------------------------------------------------------------------------------------


def _check_taxonomy(emotions: tuple[str, ...]) -> None:
    for emotion in emotions:
        check_emotion_name(emotion)
    if len(set(emotions)) != len(emotions):
        dup = next(e for e in emotions if emotions.count(e) > 1)
        raise BadValue(f"emotion named twice in the taxonomy ({dup!r})")


def _check_param(name: str, value: ParamValue, emotions: tuple[str, ...]) -> ParamValue:
    if name not in rules.PARAM_NAMES:
        raise BadValue(f"unknown param, expected one of {', '.join(rules.PARAM_NAMES)} ({name!r})")
    if name in rules.EMOTION_PARAMS:
        if value is None or value == "none":
            return None
        if value not in emotions:
            raise BadValue(f"param {name} takes an emotion of the taxonomy or 'none' ({value!r})")
        return value
    if isinstance(value, str):
        return parse_number(value, f"param {name}")
    if isinstance(value, bool):
        raise BadValue(f"param {name} is not a number ({value!r})")
    return finite(value, f"param {name}")


class _LexiconReader(TextReader):
    """The lexicon format's own part of reading a file: ``# param`` lines and the entry rows."""

    format = TextFormat(MAGIC, FORMAT_VERSION, tuple(COLUMN_LINE.split("\t")), "emotions")

    def __init__(self, origin: str) -> None:
        super().__init__(origin)
        self.raw_params: dict[str, tuple[int, str]] = {}  # name -> (line number, value as written)
        self.params: dict[str, ParamValue] = {}

    def check_taxonomy(self, names: tuple[str, ...]) -> None:
        _check_taxonomy(names)

    def header_line(self, lineno: int, line: str) -> bool:
        param = _PARAM.fullmatch(line)
        if param:
            key, value = param.groups()
            if key in self.raw_params:
                raise BadValue(f"param given twice, first on line {self.raw_params[key][0]} ({key!r})")
            self.raw_params[key] = (lineno, value)
            return True
        if _PARAM_START.match(line):
            raise BadValue(f"a param line is '# param NAME: VALUE' ({line!r})")
        return False

    def end_header(self, column_line: int) -> None:
        for key, (at, value) in self.raw_params.items():
            try:
                self.params[key] = _check_param(key, value, self.taxonomy)
            except BadValue as exc:
                raise self.fail(at, str(exc)) from None

    def row(self, fields: list[str]) -> tuple[tuple, Entry]:
        entry = _parse_fields(*fields)
        key = self.term_key(entry.term)
        for emotion, _ in entry.emotions:
            if emotion not in self.taxonomy:
                raise BadValue(f"unknown emotion, not in '# emotions:' ({emotion!r})")
        return key, entry


def _parse(text: str, origin: str) -> Lexicon:
    read = _LexiconReader(origin).read(text)
    return Lexicon._make(read.entries, read.keys, emotions=read.taxonomy, params=read.params, name=read.name,
                         sources=read.sources, licences=read.licences)


def _rebuild(entries, emotions, params, name, sources, licences) -> Lexicon:
    return Lexicon(entries, emotions=emotions, params=params, name=name, sources=sources, licences=licences)


@functools.lru_cache(maxsize=1)
def _default_lexicon() -> Lexicon:
    origin = "emoscore.lexicons/default.tsv"
    resource = resources.files("emoscore.lexicons").joinpath("default.tsv")
    return _parse(decode(resource.read_bytes(), origin), origin)


# --- the on-disk cache of compiled lexicons ---------------------------------------------------------
# Parsing and compiling the bundled emotion and aspect lexicons takes ~0.3 s, a third of a warm
# `emoscore score` start; loading the arrays back takes milliseconds. An entry is one uncompressed .npz
# named after a digest of the source files' bytes and of the code that turns them into arrays, so an
# edited lexicon or compiler never reuses a stale entry. Entries are written under a temporary name and
# renamed into place (concurrent processes see a whole entry or none); any problem with the cache
# (not writable, unreadable, corrupt) means compiling as without it.

_CACHE_FORMAT = 1
_CACHE_KEEP = 16  # entries kept in the directory; writing a new one removes the oldest beyond this


def cache_dir() -> str:
    """Where compiled lexicons are cached: ``$EMOSCORE_CACHE_DIR``, else the user's cache directory
    (``$XDG_CACHE_HOME/emoscore`` or ``~/.cache/emoscore``; ``~/Library/Caches/emoscore`` on macOS,
    ``%LOCALAPPDATA%\\emoscore\\Cache`` on Windows)."""
    configured = os.environ.get("EMOSCORE_CACHE_DIR")
    if configured:
        return configured
    if sys.platform == "win32":
        return os.path.join(os.environ.get("LOCALAPPDATA") or os.path.expanduser("~"), "emoscore", "Cache")
    if sys.platform == "darwin":
        return os.path.join(os.path.expanduser("~"), "Library", "Caches", "emoscore")
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
                        "emoscore")


@functools.cache
def _compiler_digest() -> bytes | None:
    """SHA-256 of the code that makes a compiled lexicon from the text files: the parsers and the
    compiler (this module, the shared reader and term keys of :mod:`._terms`, :class:`Entry`'s checks,
    :mod:`.compiler`, :mod:`emoscore.aspects`), the rule constants (``kernels/rules.py``) and the
    tokenizer's folding, hashing and table building (the built extension). None when one cannot be
    read (then nothing is cached)."""
    from .. import aspects

    digest = hashlib.sha256(f"emoscore compiled lexicon cache {_CACHE_FORMAT}\0".encode())
    code = (sys.modules[__name__], _terms, sys.modules[Entry.__module__], compiler, aspects, rules, _tokenize)
    for module in code:
        try:
            path: str | None = module.__file__
            if path is None:
                return None
            with open(path, "rb") as file:
                digest.update(hashlib.file_digest(file, "sha256").digest())
        except (OSError, TypeError, AttributeError):
            return None
    return digest.digest()


def _source(path: PathLike | None, bundled: str) -> tuple[str, bytes]:
    """(origin for error messages, bytes) of a lexicon file, or of the bundled one when ``path`` is None."""
    if path is None:
        return f"emoscore.lexicons/{bundled}", resources.files("emoscore.lexicons").joinpath(bundled).read_bytes()
    with open(path, "rb") as file:
        return os.fspath(path), file.read()


def load_compiled(lexicon: PathLike | None = None, aspects: PathLike | bool | None = None) -> CompiledLexicon:
    """The compiled lexicon of lexicon files, read from the on-disk cache when it holds them.

    Equal to ``Lexicon.load(lexicon).compile(aspects=AspectLexicon.load(aspects))`` (same arrays, same
    fingerprint). ``lexicon``: a lexicon file, None for the bundled one. ``aspects``: an aspect lexicon
    file, True for the bundled one, None or False for none. The cache (:func:`cache_dir`) is keyed by
    the files' bytes and the compiler's code; a cache that cannot be read or written is skipped.

    Raises
    ------
    LexiconError
        A file is malformed (``file:line: what is wrong``), as its loader raises it.
    OSError
        A file cannot be read.
    """
    from ..aspects import AspectLexicon

    # read the aspects first: a bad pair of files reports the aspect lexicon, as the loaders did
    aspect_source = None
    if aspects is not None and aspects is not False:
        aspect_source = _source(None if aspects is True else aspects, "aspects.tsv")
    origin, data = _source(lexicon, "default.tsv")
    code_digest = _compiler_digest()
    key: str | None = None
    entry: str | None = None
    if code_digest is not None:
        digest = hashlib.sha256(code_digest)
        for source in (data, None if aspect_source is None else aspect_source[1]):
            digest.update(b"-\0" if source is None else f"{len(source)}\0".encode() + source)
        key = digest.hexdigest()
        entry = os.path.join(cache_dir(), "lexicons", f"{key}.npz")
        cached = _cache_read(entry, key)
        if cached is not None:
            return cached
    aspect_lexicon = None
    if aspects is True:
        aspect_lexicon = AspectLexicon.default()
    elif aspect_source is not None:
        aspect_lexicon = AspectLexicon.from_text(decode(aspect_source[1], aspect_source[0]), origin=aspect_source[0])
    parsed = _default_lexicon() if lexicon is None else Lexicon.from_text(decode(data, origin), origin=origin)
    compiled = parsed.compile(aspects=aspect_lexicon)
    if entry is not None and key is not None:
        _cache_write(entry, key, compiled)
    return compiled


def _cache_read(path: str, key: str) -> CompiledLexicon | None:
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(stored["meta"].tobytes())
            if meta.get("format") != _CACHE_FORMAT or meta.get("key") != key:
                return None
            arrays = {name: stored[name] for name in ARRAY_DTYPES}
            terms = stored["terms"].tobytes().decode("utf-8", "surrogatepass").split("\0")
    except Exception:  # noqa: BLE001 - missing, cut short, corrupt (zip CRC) or foreign: compile instead
        return None
    if len(terms) != meta["n_terms"] or len(terms) != arrays["valence"].shape[0]:
        return None
    for array in arrays.values():
        array.setflags(write=False)  # freshly read and ours alone: CompiledLexicon keeps them uncopied
    return CompiledLexicon(emotions=tuple(meta["emotions"]), terms=tuple(terms), stem_mask=meta["stem_mask"],
                           fingerprint=meta["fingerprint"], aspects=tuple(meta["aspects"]), **arrays)


def _cache_write(path: str, key: str, compiled: CompiledLexicon) -> None:
    if any("\0" in term for term in compiled.terms):
        return  # the separator of the stored terms (the tokenizer never makes a term with it)
    meta = {"format": _CACHE_FORMAT, "key": key, "emotions": list(compiled.emotions),
            "aspects": list(compiled.aspects), "stem_mask": compiled.stem_mask,
            "fingerprint": compiled.fingerprint, "n_terms": compiled.n_terms}
    arrays = {name: getattr(compiled, name) for name in ARRAY_DTYPES}
    arrays["terms"] = np.frombuffer("\0".join(compiled.terms).encode("utf-8", "surrogatepass"), np.uint8)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    directory = os.path.dirname(path)
    temp = None
    try:
        os.makedirs(directory, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=directory)
        with os.fdopen(fd, "wb") as file:
            np.savez(file, **arrays)
        os.chmod(temp, 0o644)  # derived from public files; readable by whoever shares the directory
        os.replace(temp, path)
        temp = None
        _cache_prune(directory)
    except OSError:
        pass  # not writable (read-only home, full disk): the next start compiles again
    finally:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)


def _cache_prune(directory: str) -> None:
    """Remove the oldest entries beyond :data:`_CACHE_KEEP`, and temporary files an hour old (a
    process killed while writing)."""
    now = time.time()
    entries = []
    with os.scandir(directory) as scan:
        for item in scan:
            with contextlib.suppress(OSError):
                if item.name.startswith(".tmp-") and now - item.stat().st_mtime > 3600:
                    os.unlink(item.path)
                elif item.name.endswith(".npz") and not item.name.startswith("."):
                    entries.append((item.stat().st_mtime, item.path))
    for _, stale in sorted(entries, reverse=True)[_CACHE_KEEP:]:
        with contextlib.suppress(OSError):
            os.unlink(stale)
