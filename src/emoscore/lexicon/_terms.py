"""What the emotion and the aspect lexicons share: term keys, name and number checks, decoding, the
base class of both lexicons, and the one reader of their line-based text formats.

Folding, hashing and hash-table building are done by :mod:`emoscore._tokenize` only, so a term is
looked up exactly as the tokenizer reads it. The formats are specified in ``lexicons/README.md``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Self

from .._tokenize import fold_tokens
from ..errors import LexiconError

PathLike = str | os.PathLike[str]

MAX_STEM_BYTES = 63  # the tokenizer's stem_mask has a bit per stem length, 1..63

# Term kinds; a folded key is (kind, bytes) for words and stems, (MWE, tuple of bytes) for expressions.
WORD, STEM, MWE = 0, 1, 2

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_EMOTION_NAME = re.compile(r"[^\s=,#*]+")
_RESERVED_NAMES = frozenset({"-", "none"})
# Code points that the tokenizer skips inside a token (docs/internals.md, "Tokens").
_SKIPPED = re.compile("[\ufe0e\ufe0f\u200d\u20e3\U0001f3fb-\U0001f3ff]")
# Letters that the tokenizer's accent folding writes as two letters (ß -> ss, æ -> ae, œ -> oe, ĳ -> ij).
_TWO_LETTERS = re.compile("[\u00df\u00c6\u00e6\u0152\u0153\u0132\u0133]")


class BadValue(Exception):
    """An invalid value; the public boundary adds where it was found and raises LexiconError."""


# --- terms ------------------------------------------------------------------------------------------


def _show_tokens(tokens: list[bytes]) -> str:
    return " ".join(repr(t.decode("utf-8", "replace")) for t in tokens)


def one_token(word: str) -> bytes:
    """The folded UTF-8 token that ``word`` reads as; it must be one token that keeps every character."""
    tokens = fold_tokens(word)
    if not tokens:
        raise BadValue("the tokenizer reads no word in this term")
    if len(tokens) > 1:
        raise BadValue(
            f"the tokenizer splits this term into {len(tokens)} tokens, {_show_tokens(tokens)}; "
            "write a multi-word expression with single spaces"
        )
    token = tokens[0]
    # Tokens only drop characters (separators) or map one to one (case, accents, apostrophes), but for
    # the letters that fold to two, so a token that kept every character that the tokenizer does not
    # skip has as many code points as the term plus one per such letter.
    kept = _SKIPPED.sub("", word)
    if len(token.decode("utf-8", "replace")) != len(kept) + len(_TWO_LETTERS.findall(kept)):
        raise BadValue(f"the tokenizer reads this term as {_show_tokens(tokens)}")
    return token


def term_key(term: str) -> tuple:
    """The folded key of a term in the file format: (WORD|STEM, bytes) or (MWE, tuple of bytes)."""
    if not isinstance(term, str) or not term:
        raise BadValue("empty term")
    if " " in term:
        parts = term.split(" ")
        if any(not part for part in parts):
            raise BadValue("a multi-word expression has single spaces between words and none around them")
        if any("*" in part for part in parts):
            raise BadValue("a multi-word expression cannot contain a stem '*'")
        return (MWE, tuple(one_token(part) for part in parts))
    if term.endswith("*"):
        stem = term[:-1]
        if not stem or "*" in stem:
            raise BadValue("a stem is a word followed by one '*'")
        folded = one_token(stem)
        if not 1 <= len(folded) <= MAX_STEM_BYTES:
            raise BadValue(f"a stem is 1 to {MAX_STEM_BYTES} bytes long, this one is {len(folded)}")
        return (STEM, folded)
    if "*" in term:
        raise BadValue("'*' may only end a stem")
    return (WORD, one_token(term))


def entry_keys(entries: tuple, kind: type[Any], what: str = "entry") -> tuple:
    """The folded key of each entry's term, checking that each is a ``kind`` with a well-formed term;
    an error names the ``what`` and its index."""
    keys = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, kind):
            raise LexiconError(f"{what} {i} is not an {kind.__name__} ({entry!r})")
        try:
            keys.append(term_key(entry.term))
        except BadValue as exc:
            raise LexiconError(f"{what} {i}: {exc} ({entry.term!r})") from None
    return tuple(keys)


def check_emotion_name(name: str) -> None:
    """An emotion (or aspect) name is one word without '=', ',', '#' or '*' and not '-' or 'none'."""
    if not isinstance(name, str) or not _EMOTION_NAME.fullmatch(name) or name in _RESERVED_NAMES:
        raise BadValue(
            f"an emotion name is one word without '=', ',', '#' or '*' and not '-' or 'none' ({name!r})"
        )


# --- numbers ----------------------------------------------------------------------------------------


def finite(value, what: str) -> float:
    """``value`` as a finite float; ``what`` names it in the error."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadValue(f"{what} is not a number ({value!r})") from None
    if not math.isfinite(number):
        raise BadValue(f"{what} is not a finite number ({value!r})")
    return number


def parse_number(text: str, what: str) -> float:
    """A number as the text formats write it: a plain decimal with an optional exponent."""
    if not _NUMBER.fullmatch(text):
        raise BadValue(f"{what} is not a number ({text!r})")
    return finite(text, what)


def format_number(value: float) -> str:
    """A number as the text formats write it (``2`` rather than ``2.0``)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


# --- files ------------------------------------------------------------------------------------------


def decode(data: bytes, origin: str) -> str:
    """The text of a lexicon file (UTF-8, a leading byte-order mark dropped); ``origin`` names it in
    the error, with the line of the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise LexiconError(f"{origin}:{line}: not UTF-8 text ({data[exc.start:exc.start + 4]!r})") from None


def read_text(path: PathLike) -> str:
    """The decoded text of the file at ``path``."""
    with open(path, "rb") as file:
        return decode(file.read(), os.fspath(path))


# --- the base of both lexicons ----------------------------------------------------------------------


class TermTable:
    """What the emotion and aspect lexicons share: immutable entries found by their folded term key,
    metadata, and value equality over the subclass's ``_state()``."""

    __slots__ = ()

    if TYPE_CHECKING:  # supplied by each subclass (its __slots__ and methods)
        _entries: tuple
        _keys: tuple[tuple, ...]
        _index: dict[tuple, int]
        _name: str
        _sources: tuple[str, ...]
        _licences: tuple[str, ...]

        def _state(self) -> tuple: ...

        def to_text(self) -> str: ...

        @classmethod
        def from_text(cls, text: str, *, origin: str = "<text>") -> Self: ...

    @property
    def entries(self) -> tuple:
        return self._entries

    @property
    def folded_keys(self) -> tuple[tuple, ...]:
        """The folded key of each entry (see :func:`term_key`), in the order of :attr:`entries`."""
        return self._keys

    @property
    def name(self) -> str:
        return self._name

    @property
    def sources(self) -> tuple[str, ...]:
        return self._sources

    @property
    def licences(self) -> tuple[str, ...]:
        return self._licences

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator:
        return iter(self._entries)

    def get(self, term: str):
        """The entry whose folded key equals that of ``term`` ("GREAT" finds "great"), or None."""
        try:
            at = self._index.get(term_key(term))
        except BadValue:
            return None
        return None if at is None else self._entries[at]

    def __contains__(self, term: object) -> bool:
        return isinstance(term, str) and self.get(term) is not None

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._state() == other._state()

    def __hash__(self) -> int:
        return hash(self._state())

    @classmethod
    def load(cls, path: PathLike) -> Self:
        """Read a lexicon file in its text format (``lexicons/README.md``).

        Raises
        ------
        LexiconError
            On any malformed line, with ``file:line: what is wrong (the offending value)``.
        OSError
            When the file cannot be read.
        """
        return cls.from_text(read_text(path), origin=os.fspath(path))

    def save(self, path: PathLike, **options) -> None:
        """Write the lexicon to ``path`` in the text format (UTF-8, ``\\n`` line ends); ``options``
        go to ``to_text``."""
        with open(path, "w", encoding="utf-8", newline="\n") as file:
            file.write(self.to_text(**options))


# --- the text formats -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextFormat:
    """One of the line-based lexicon formats: a first line ``MAGIC VERSION``, header lines starting
    with ``#`` (``# name:``, ``# source:``, ``# licence:``, the required taxonomy line and the format's
    own), the column line, then one row of tab-separated fields per entry."""

    magic: str
    version: int
    columns: tuple[str, ...]
    taxonomy: str  # the key of the required header line that names the emotions or aspects
    # a second '# name:' line is an error (the aspect format has always kept the last one instead)
    single_name: bool = True
    _header: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = f"name|{re.escape(self.taxonomy)}|source|licen[cs]e"
        object.__setattr__(self, "_header", re.compile(rf"#\s*({keys})\s*:\s*(.*?)\s*$"))

    @property
    def first_line(self) -> str:
        return f"{self.magic} {self.version}"

    @property
    def column_line(self) -> str:
        return "\t".join(self.columns)

    def header(self, line: str) -> tuple[str, str] | None:
        """(key, value) of a ``# key: value`` line with a key that every format reads, else None."""
        match = self._header.fullmatch(line)
        return None if match is None else (match.group(1), match.group(2))


class TextReader:
    """Reads one file of a :class:`TextFormat`; a subclass per format handles what is its own.

    :meth:`read` checks the first line, reads the header (name, sources, licences and the taxonomy
    into attributes) and turns each row into an entry, refusing two rows with the same folded term.
    The hooks: :meth:`check_taxonomy` (the names of the taxonomy line), :meth:`header_line` (a
    header line of the format's own), :meth:`end_header` (checks once the header is read) and
    :meth:`row` (the folded key and the entry of one row). A hook raises :class:`BadValue`, which
    becomes a :class:`LexiconError` ``origin:line: what is wrong (the offending value)``.
    """

    format: ClassVar[TextFormat]

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.name = ""
        self.sources: list[str] = []
        self.licences: list[str] = []
        self.taxonomy: tuple[str, ...] = ()
        self.entries: list[Any] = []
        self.keys: list[tuple] = []

    def fail(self, lineno: int, message: str) -> LexiconError:
        return LexiconError(f"{self.origin}:{lineno}: {message}")

    # --- the hooks -------------------------------------------------------------------------------

    def check_taxonomy(self, names: tuple[str, ...]) -> None:
        """Raise :class:`BadValue` unless ``names`` (the taxonomy line, split) are valid."""

    def header_line(self, lineno: int, line: str) -> bool:
        """Take a ``#`` header line of the format's own (True), or leave it to :meth:`read` (False)."""
        return False

    def end_header(self, column_line: int) -> None:
        """Check what needs the whole header; ``column_line`` is the column line's number."""

    def row(self, fields: list[str]) -> tuple[tuple, Any]:
        """The folded key and the entry of a row's fields (as many as the format has columns)."""
        raise NotImplementedError

    @staticmethod
    def term_key(term: str) -> tuple:
        """:func:`term_key`, its error naming the term."""
        try:
            return term_key(term)
        except BadValue as exc:
            raise BadValue(f"{exc} ({term!r})") from None

    # --- the reader ------------------------------------------------------------------------------

    def read(self, text: str) -> Self:
        fmt = self.format
        shown_columns = fmt.column_line.replace("\t", "<TAB>")
        if text.startswith("\ufeff"):
            text = text[1:]
        lines = text.split("\n")

        first = lines[0].rstrip("\r")
        match = re.fullmatch(re.escape(fmt.magic) + r" (\S+)\s*", first)
        if not match:
            raise self.fail(1, f"the first line must be '{fmt.first_line}' ({first[:60]!r})")
        if match.group(1) != str(fmt.version):
            raise self.fail(1, f"unsupported format version, this emoscore reads {fmt.version} "
                               f"({match.group(1)!r})")

        taxonomy_line = name_line = 0
        lineno = 1
        column_line = 0
        while lineno < len(lines):
            line = lines[lineno].rstrip("\r")
            lineno += 1
            if not line.strip():
                continue
            if line == fmt.column_line:
                column_line = lineno
                break
            if not line.startswith("#"):
                raise self.fail(lineno, f"expected a '#' header line or the column line '{shown_columns}' "
                                        f"({line[:80]!r})")
            try:
                if self.header_line(lineno, line):
                    continue
            except BadValue as exc:
                raise self.fail(lineno, str(exc)) from None
            header = fmt.header(line)
            if header is None:
                continue  # a comment
            label, value = header
            if label == fmt.taxonomy:
                if taxonomy_line:
                    raise self.fail(lineno, f"'# {label}:' given twice, first on line {taxonomy_line} ({value!r})")
                self.taxonomy, taxonomy_line = tuple(value.split()), lineno
                try:
                    self.check_taxonomy(self.taxonomy)
                except BadValue as exc:
                    raise self.fail(lineno, str(exc)) from None
            elif label == "name":
                if name_line and fmt.single_name:
                    raise self.fail(lineno, f"'# name:' given twice ({value!r})")
                self.name, name_line = value, lineno
            elif label == "source":
                self.sources.append(value)
            else:
                self.licences.append(value)
        if not column_line:
            raise self.fail(len(lines), f"no column line '{shown_columns}' before the end ('')")
        if not taxonomy_line:
            raise self.fail(column_line, f"no '# {fmt.taxonomy}:' header line before the column line "
                                         f"({shown_columns!r})")
        self.end_header(column_line)

        where: dict[tuple, int] = {}
        for at in range(column_line, len(lines)):
            line = lines[at].rstrip("\r")
            lineno = at + 1
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.split("\t")
            try:
                if len(fields) != len(fmt.columns):
                    raise BadValue(f"expected {len(fmt.columns)} tab-separated fields ({', '.join(fmt.columns)}), "
                                   f"found {len(fields)} ({line[:80]!r})")
                key, entry = self.row(fields)
                if key in where:
                    raise BadValue(f"duplicate term, same folded key as line {where[key]} ({entry.term!r})")
            except BadValue as exc:
                raise self.fail(lineno, str(exc)) from None
            where[key] = lineno
            self.entries.append(entry)
            self.keys.append(key)
        return self
