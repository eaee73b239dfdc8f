"""Loaders of public lexicon formats: VADER-style word lists, the NRC Emotion Lexicon and LIWC
dictionaries (``lexicons/README.md``, "Loading other formats").

Each loader reads a file into :class:`Loaded`, the entries and metadata of which
:meth:`Lexicon.from_vader <emoscore.Lexicon.from_vader>`, ``from_nrc`` and ``from_liwc`` make the
lexicon. These formats carry only their own data: no rule words.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from ..errors import LexiconError
from ._terms import (
    MAX_STEM_BYTES,
    MWE,
    BadValue,
    PathLike,
    check_emotion_name,
    one_token,
    parse_number,
    read_text,
    term_key,
)
from .entry import MAX_VALENCE, Entry

__all__ = ["Loaded", "read_liwc", "read_nrc", "read_vader"]

_VALENCE_CATEGORIES = {"posemo": 1.0, "emo_pos": 1.0, "negemo": -1.0, "emo_neg": -1.0}
_LOADER_VALENCE = 2.0  # valence given to NRC positive/negative and LIWC posemo/negemo words


class Loaded(NamedTuple):
    """What a loader read: the entries with their folded keys, the taxonomy, a name and the source."""

    entries: list[Entry]
    keys: list[tuple]
    emotions: tuple[str, ...]
    name: str
    source: str
    duplicates: str = "error"  # "replace": of two entries with the same folded term, the later one wins


def read_vader(path: PathLike, *, emotions: Iterable[str] = (), name: str | None = None) -> Loaded:
    """Read a VADER-style lexicon: ``token<TAB>mean valence[<TAB>…]`` per line (valence only).

    Hyphenated or spaced tokens become multi-word expressions; tokens the tokenizer can never
    produce (emoticons such as ``:)``) are skipped; a token listed twice (same folded key) takes
    its later valence, as in VADER itself. ``emotions`` sets the (unused) taxonomy.
    """
    origin = os.fspath(path)
    entries, keys = [], []
    for lineno, line in _lines(read_text(path)):
        fields = line.split("\t")
        try:
            if len(fields) < 2:
                raise BadValue(f"expected token<TAB>valence, found {len(fields)} field(s) ({line!r})")
            valence = parse_number(fields[1].strip(), "valence")
            if not -MAX_VALENCE <= valence <= MAX_VALENCE:
                raise BadValue(f"valence is outside -4..4 ({fields[1]!r})")
            found = _loose_term(fields[0])
        except BadValue as exc:
            raise LexiconError(f"{origin}:{lineno}: {exc}") from None
        if found is None:
            continue
        entries.append(Entry(found[0], valence))
        keys.append(found[1])
    return Loaded(entries, keys, tuple(emotions), name or _stem_name(path),
                  f"VADER-format lexicon {os.path.basename(origin)}", duplicates="replace")

def read_nrc(path: PathLike, *, name: str | None = None) -> Loaded:
    """Read the NRC Emotion Lexicon, word-level: ``word<TAB>emotion<TAB>0|1`` per line.

    Its emotions become the taxonomy (in order of first appearance) with weight 1.0 for each
    association; ``positive`` and ``negative`` become valence +2.0 and -2.0 (both: 0). Words with no
    association are left out, so that layering this lexicon over another one does not erase it.
    """
    origin = os.fspath(path)
    emotions: list[str] = []
    words: dict[tuple, list] = {}  # key -> [term, valence, set of emotions]
    for lineno, line in _lines(read_text(path)):
        fields = line.split("\t")
        try:
            if len(fields) != 3:
                raise BadValue(f"expected word<TAB>emotion<TAB>0|1, found {len(fields)} field(s) ({line!r})")
            word, emotion, flag = (field.strip() for field in fields)
            if flag not in ("0", "1"):
                raise BadValue(f"the association is 0 or 1 ({flag!r})")
            if emotion not in ("positive", "negative"):
                check_emotion_name(emotion)
                if emotion not in emotions:
                    emotions.append(emotion)
            found = _loose_term(word)
        except BadValue as exc:
            raise LexiconError(f"{origin}:{lineno}: {exc}") from None
        if found is None:
            continue
        term, key = found
        slot = words.setdefault(key, [term, 0.0, []])
        if flag == "1":
            if emotion == "positive":
                slot[1] += _LOADER_VALENCE
            elif emotion == "negative":
                slot[1] -= _LOADER_VALENCE
            elif emotion not in slot[2]:
                slot[2].append(emotion)
    entries, keys = [], []
    for key, (term, valence, associated) in words.items():
        if valence or associated:
            entries.append(Entry(term, valence or None, tuple((e, 1.0) for e in associated)))
            keys.append(key)
    return Loaded(entries, keys, tuple(emotions), name or _stem_name(path),
                  f"NRC word-level lexicon {os.path.basename(origin)}")

def read_liwc(path: PathLike, *, categories: Iterable[str] | None = None, name: str | None = None) -> Loaded:
    """Read a LIWC dictionary (``.dic``): a ``%``-delimited block of ``id<TAB>category`` lines, then
    ``word<TAB>id<TAB>id…`` lines; ``word*`` is a stem.

    Categories become emotions with weight 1.0, except ``posemo``/``negemo`` (LIWC-22:
    ``emo_pos``/``emo_neg``), which give valence +2.0 / -2.0. ``categories`` restricts the
    taxonomy to the named categories (default: all). Words left with no category or valence are
    left out; a word listed twice gets the union of its categories.
    """
    origin = os.fspath(path)
    lines = list(_lines(read_text(path)))
    if not lines or lines[0][1].strip() != "%":
        at = lines[0][0] if lines else 1
        raise LexiconError(f"{origin}:{at}: a LIWC dictionary starts with a '%' line "
                           f"({lines[0][1] if lines else ''!r})")
    names: dict[str, str] = {}
    position = 1
    while True:
        if position >= len(lines):
            raise LexiconError(f"{origin}:{lines[-1][0]}: no '%' line closes the category block ('')")
        lineno, line = lines[position]
        position += 1
        if line.strip() == "%":
            break
        parts = line.split()
        try:
            if len(parts) < 2:
                raise BadValue(f"expected id<TAB>category ({line!r})")
            check_emotion_name(parts[1])
            if _norm_id(parts[0]) in names:
                raise BadValue(f"category id given twice ({parts[0]!r})")
            if parts[1] in names.values():
                raise BadValue(f"category name given twice ({parts[1]!r})")
        except BadValue as exc:
            raise LexiconError(f"{origin}:{lineno}: {exc}") from None
        names[_norm_id(parts[0])] = parts[1]
    valence_of = {cid: _VALENCE_CATEGORIES[n.lower()] for cid, n in names.items()
                  if n.lower() in _VALENCE_CATEGORIES}
    if categories is None:
        chosen = [n for cid, n in names.items() if cid not in valence_of]
    else:
        chosen = list(dict.fromkeys(categories))
        unknown = [c for c in chosen if c not in names.values()]
        if unknown:
            raise LexiconError(f"{origin}: categories not in the dictionary ({', '.join(unknown)})")
    emotions = tuple(chosen)
    words: dict[tuple, list] = {}  # key -> [term, list of category ids]
    for lineno, line in lines[position:]:
        if "\t" in line:
            term, _, rest = line.partition("\t")
            ids = rest.split()
        else:
            term, *ids = line.split()
        try:
            for cid in ids:
                if _norm_id(cid) not in names:
                    raise BadValue(
                        f"unknown category id (conditional LIWC entries are not supported) ({cid!r})"
                    )
            if not ids:
                raise BadValue(f"expected word<TAB>category ids ({line!r})")
            found = _loose_term(term)
        except BadValue as exc:
            raise LexiconError(f"{origin}:{lineno}: {exc}") from None
        if found is None:
            continue
        slot = words.setdefault(found[1], [found[0], []])
        for cid in map(_norm_id, ids):
            if cid not in slot[1]:
                slot[1].append(cid)
    entries, keys = [], []
    for key, (term, ids) in words.items():
        valence = sum(valence_of.get(cid, 0.0) for cid in set(ids)) * _LOADER_VALENCE
        weights = tuple((names[cid], 1.0) for cid in ids if names[cid] in emotions)
        if valence or weights:
            entries.append(Entry(term, valence or None, weights))
            keys.append(key)
    return Loaded(entries, keys, emotions, name or _stem_name(path), f"LIWC dictionary {os.path.basename(origin)}")


# --- helpers ---------------------------------------------------------------------------------------


def _loose_term(term: str) -> tuple[str, tuple] | None:
    """For foreign formats: the term as this format writes it and its key, or None if it can never match.

    Hyphenated phrases of words become multi-word expressions ("cover-up" -> "cover up"; every part
    has a letter and two parts have two characters or more, so emoticons such as ``x-d`` do not);
    terms the tokenizer cannot produce (emoticons such as ``:)``) are skipped. A stem that is too
    long is still an error.
    """
    term = term.strip()
    try:
        return term, term_key(term)
    except BadValue:
        pass
    parts = [part for part in re.split(r"[\s\-]+", term) if part]
    wordy = all(any(c.isalpha() for c in part) for part in parts) and sum(len(p) >= 2 for p in parts) >= 2
    if len(parts) >= 2 and wordy and not any("*" in part for part in parts):
        try:
            return " ".join(parts), (MWE, tuple(one_token(part) for part in parts))
        except BadValue:
            return None
    if term.endswith("*") and term.count("*") == 1 and len(term) > 1:
        try:
            folded = one_token(term[:-1])
        except BadValue:
            return None
        raise BadValue(f"a stem is 1 to {MAX_STEM_BYTES} bytes long, this one is {len(folded)} ({term!r})")
    return None


def _norm_id(cid: str) -> str:
    return str(int(cid)) if cid.isdigit() else cid


def _stem_name(path: PathLike) -> str:
    return os.path.splitext(os.path.basename(os.fspath(path)))[0]


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) for the non-blank lines, without line ends."""
    for lineno, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        if line.strip():
            yield lineno, line
