"""Plain pure-Python reference tokenizer (the specification in executable form).

This module restates the "Tokens" section of ``docs/internals.md`` (plus the character policy in the
docstring of ``emoscore._tokenize``) as slowly and plainly as possible, with no shared code: it never
imports the Cython extension. Tests compare the fast tokenizer against it, and other tests may reuse
it to build expected token streams.

Public functions
----------------
``reference_fold_tokens(text) -> list[bytes]``
    The folded UTF-8 bytes of each token of one document.
``reference_token_spans(text) -> list[tuple[int, int]]``
    The byte span (start, end) of each token of one document in its UTF-8 text.
``reference_tokenize(docs, words, stems, spans=False) -> (doc_offsets, term_ids, flags[, starts, ends])``
    The CSR token stream of a list of documents, given the lexicon as two dicts (and, with
    ``spans=True``, each token's byte span in its document, concatenated like the ids).

How it works: a document (``str``, or ``bytes`` that may hold invalid UTF-8) becomes a list of
characters; invalid bytes become lone surrogates via ``surrogateescape``, and every surrogate acts
as a plain separator. Skipped characters are removed first (they are "as if absent"). Tokens are then
maximal runs of word characters, joined by apostrophes between word characters and by ``.``/``,``
between ASCII digits; every emoji is a token of its own. Folding lower-cases and then strips the
accents of Latin letters (``fold_char``); a token that has read exactly an elision prefix (``l``,
``qu``, ...) ends after an apostrophe that follows it (``_elision_cut``). The separators between one token and the
next give the earlier token its flags.
A token's byte span runs from the first byte of its first character to the last byte of its last
character in the document's UTF-8 bytes (each character keeps its byte position from before the
skipped ones are removed), so skipped characters inside a token are inside its span and those
before or after it are not.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping

import numpy as np

FLAG_CAPS = 1
FLAG_SENT_END = 2
FLAG_CLAUSE = 4
FLAG_EMOJI = 8
EXCL_SHIFT = 4
QUEST_SHIFT = 6

MAX_STEM_BYTES = 63

# ---------------------------------------------------------------------------------------------
# Character classes
# ---------------------------------------------------------------------------------------------
APOSTROPHES = {"'", "\u2019", "\u02bc"}

SKIPPED = {"\ufe0e", "\ufe0f", "\u200d", "\u20e3", "\u00ad", "\u2060", "\ufeff"}
SKIPPED_RANGES = [(0x1F3FB, 0x1F3FF), (0xE0000, 0xE007F)]

EMOJI_RANGES = [(0x2300, 0x23FF), (0x2600, 0x27BF), (0x2B00, 0x2BFF), (0x1F000, 0x1FAFF)]

# Non-ASCII code points that are not word characters (inclusive ranges). Apostrophes, emoji and
# skipped characters inside these ranges are classified before this list is consulted.
SEPARATOR_RANGES = [
    (0x0080, 0x00BF),
    (0x00D7, 0x00D7),
    (0x00F7, 0x00F7),
    (0x037E, 0x037E),
    (0x0387, 0x0387),
    (0x060C, 0x060C),
    (0x061B, 0x061B),
    (0x061F, 0x061F),
    (0x06D4, 0x06D4),
    (0x0964, 0x0965),
    (0x1680, 0x1680),
    (0x180E, 0x180E),
    (0x2000, 0x206F),
    (0x20A0, 0x22FF),
    (0x2400, 0x25FF),
    (0x27C0, 0x2AFF),
    (0x2E00, 0x2E7F),
    (0x3000, 0x3004),
    (0x3008, 0x3020),
    (0x3030, 0x3030),
    (0x3036, 0x303A),
    (0x303D, 0x303F),
    (0xFE10, 0xFE1F),
    (0xFE30, 0xFE6F),
    (0xFF00, 0xFF0F),
    (0xFF1A, 0xFF20),
    (0xFF3B, 0xFF40),
    (0xFF5B, 0xFF65),
    (0xFFE0, 0xFFFF),
    (0xD800, 0xDFFF),  # lone surrogates: invalid UTF-8 bytes (surrogateescape) or unencodable str
]

# What a separator does to the token before it: (sentence end, clause, "!" count, "?" count).
EFFECTS = {
    ".": (True, False, 0, 0),
    "!": (True, False, 1, 0),
    "?": (True, False, 0, 1),
    "\u2026": (True, False, 0, 0),  # …
    "\n": (True, False, 0, 0),
    "\r": (True, False, 0, 0),
    "\x0b": (True, False, 0, 0),
    "\x0c": (True, False, 0, 0),
    "\x85": (True, False, 0, 0),
    "\u2028": (True, False, 0, 0),
    "\u2029": (True, False, 0, 0),
    "\u203c": (True, False, 2, 0),  # ‼
    "\u2047": (True, False, 0, 2),  # ⁇
    "\u2048": (True, False, 1, 1),  # ⁈
    "\u2049": (True, False, 1, 1),  # ⁉
    "\u037e": (True, False, 0, 1),  # Greek question mark
    "\u061f": (True, False, 0, 1),  # Arabic question mark
    "\u06d4": (True, False, 0, 0),  # Urdu full stop
    "\u0964": (True, False, 0, 0),  # danda
    "\u0965": (True, False, 0, 0),  # double danda
    "\u3002": (True, False, 0, 0),  # ideographic full stop
    "\uff01": (True, False, 1, 0),
    "\uff0e": (True, False, 0, 0),
    "\uff1f": (True, False, 0, 1),
    "\uff61": (True, False, 0, 0),
    ",": (False, True, 0, 0),
    ";": (False, True, 0, 0),
    ":": (False, True, 0, 0),
    "\u0387": (False, True, 0, 0),
    "\u060c": (False, True, 0, 0),
    "\u061b": (False, True, 0, 0),
    "\u3001": (False, True, 0, 0),
    "\uff0c": (False, True, 0, 0),
    "\uff1a": (False, True, 0, 0),
    "\uff1b": (False, True, 0, 0),
    "\uff64": (False, True, 0, 0),
}
NO_EFFECT = (False, False, 0, 0)


def _in_ranges(cp: int, ranges: list[tuple[int, int]]) -> bool:
    return any(lo <= cp <= hi for lo, hi in ranges)


def is_skipped(ch: str) -> bool:
    return ch in SKIPPED or _in_ranges(ord(ch), SKIPPED_RANGES)


def is_emoji(ch: str) -> bool:
    return _in_ranges(ord(ch), EMOJI_RANGES) and not is_skipped(ch)


def is_ascii_digit(ch: str) -> bool:
    return "0" <= ch <= "9"


def is_word_char(ch: str) -> bool:
    cp = ord(ch)
    if cp < 0x80:
        return ch.isascii() and ch.isalnum()
    if ch in APOSTROPHES or is_skipped(ch) or is_emoji(ch):
        return False
    return not _in_ranges(cp, SEPARATOR_RANGES)


# ---------------------------------------------------------------------------------------------
# Case folding
# ---------------------------------------------------------------------------------------------
FOLD_DOMAIN = [(0x41, 0x5A), (0xC0, 0xD6), (0xD8, 0xDE), (0x100, 0x17F), (0x391, 0x3A1),
               (0x3A3, 0x3A9), (0x400, 0x42F)]
LOWER_DOMAIN = [(0x61, 0x7A), (0xDF, 0xF6), (0xF8, 0xFF), (0x100, 0x17F), (0x3B1, 0x3C9),
                (0x430, 0x45F)]


def is_upper(ch: str) -> bool:
    return _in_ranges(ord(ch), FOLD_DOMAIN) and ch.isupper()


def is_lower(ch: str) -> bool:
    return _in_ranges(ord(ch), LOWER_DOMAIN) and ch.islower()


# Accent folding of the lower-cased letters U+00C0..U+017F: the ligatures and the letters with a
# stroke (no canonical decomposition) by hand, the rest to the base letter of their NFD form.
LATIN_SPECIAL = {"\u00e6": "ae", "\u0153": "oe", "\u00df": "ss", "\u0133": "ij", "\u00f8": "o",
                 "\u0111": "d", "\u0127": "h", "\u0142": "l", "\u0140": "l", "\u0167": "t",
                 "\u0131": "i", "\u017f": "s"}
LATIN_KEPT = {"\u00f0", "\u00fe", "\u0138", "\u0149", "\u014b"}  # ð þ ĸ ŉ ŋ


def strip_accent(ch: str) -> str:
    if not 0xC0 <= ord(ch) <= 0x17F or ch in LATIN_KEPT:
        return ch
    if ch in LATIN_SPECIAL:
        return LATIN_SPECIAL[ch]
    base = unicodedata.normalize("NFD", ch)[0]
    assert "a" <= base <= "z", ch
    return base


def fold_char(ch: str) -> str:
    if ch == "\u0130":  # İ -> i (str.lower() would add a combining dot)
        return "i"
    if is_upper(ch):
        low = ch.lower()
        assert len(low) == 1, ch
        return strip_accent(low)
    return strip_accent(ch)


# French elision: a token whose folded text so far is one of these, followed by an apostrophe, ends
# after the apostrophe, unless the word characters after the apostrophe fold to an exception tail.
ELISIONS = {"l", "d", "j", "n", "c", "s", "m", "t", "qu"}
ELISION_KEPT = {"s"}  # after every prefix: the English "t's", "J's"
ELISION_KEPT_AFTER = {"c": {"mon"}, "d": {"oh"}}  # c'mon, d'oh


def _elision_cut(prefix: str, rest: list[str]) -> bool:
    """True when an apostrophe after the folded ``prefix`` ends the token (rest: the characters
    after the apostrophe)."""
    if prefix not in ELISIONS:
        return False
    tail = []
    for ch in rest:
        if not is_word_char(ch):
            break
        tail.append(fold_char(ch))
    tail = "".join(tail)
    return tail not in ELISION_KEPT and tail not in ELISION_KEPT_AFTER.get(prefix, ())


# ---------------------------------------------------------------------------------------------
# Tokenizing one document
# ---------------------------------------------------------------------------------------------
def _chars_at(text: str | bytes) -> list[tuple[str, int, int]]:
    """(character, first byte, one past its last byte) of each character that is not skipped."""
    errors = "surrogatepass"  # a lone surrogate in a str: 3 bytes, as fold_tokens encodes it
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text).decode("utf-8", errors="surrogateescape")
        errors = "surrogateescape"  # one invalid byte: one character
    out = []
    pos = 0
    for ch in text:
        size = len(ch.encode("utf-8", errors))
        if not is_skipped(ch):
            out.append((ch, pos, pos + size))
        pos += size
    return out


def _chars(text: str | bytes) -> list[str]:
    return [ch for ch, _, _ in _chars_at(text)]


def _scan(text: str | bytes) -> list[tuple[bytes, bool, int, int, int]]:
    """[(folded bytes, is_emoji, caps_flag, first char index, end char index)] and the char list."""
    chars = _chars(text)
    n = len(chars)
    tokens = []
    i = 0
    while i < n:
        ch = chars[i]
        if is_emoji(ch):
            tokens.append((ch.encode("utf-8"), True, 0, i, i + 1))
            i += 1
            continue
        if not is_word_char(ch):
            i += 1
            continue
        j = i
        pieces = []
        uppers = 0
        lowers = 0
        while j < n:
            c = chars[j]
            if is_word_char(c):
                pieces.append(fold_char(c))
                uppers += is_upper(c)
                lowers += is_lower(c)
                j += 1
            elif c in APOSTROPHES and _elision_cut("".join(pieces), chars[j + 1:]):
                pieces.append("'")
                j += 1
                break
            elif (c in APOSTROPHES and j > i and is_word_char(chars[j - 1])
                  and j + 1 < n and is_word_char(chars[j + 1])):
                pieces.append("'")
                j += 1
            elif (c in ".," and j > i and is_ascii_digit(chars[j - 1])
                  and j + 1 < n and is_ascii_digit(chars[j + 1])):
                pieces.append(c)
                j += 1
            else:
                break
        caps = FLAG_CAPS if (uppers >= 2 and lowers == 0) else 0
        tokens.append(("".join(pieces).encode("utf-8"), False, caps, i, j))
        i = j
    return tokens, chars


def reference_fold_tokens(text: str | bytes) -> list[bytes]:
    """Folded UTF-8 bytes of each token of ``text`` (what the tokenizer hashes)."""
    tokens, _ = _scan(text)
    return [tok for tok, *_ in tokens]


def reference_token_spans(text: str | bytes) -> list[tuple[int, int]]:
    """Byte span (start, end) of each token of ``text`` in its UTF-8 bytes."""
    tokens, _ = _scan(text)
    at = _chars_at(text)
    return [(at[i][1], at[j - 1][2]) for *_, i, j in tokens]


def _lookup(tok: bytes, words: Mapping[bytes, int], stems: Mapping[bytes, int]) -> int:
    if tok in words:
        return words[tok]
    for length in range(min(len(tok), MAX_STEM_BYTES), 0, -1):
        if tok[:length] in stems:
            return stems[tok[:length]]
    return -1


def reference_tokenize(
    docs: Iterable[str | bytes | None],
    words: Mapping[bytes, int],
    stems: Mapping[bytes, int] | None = None,
    spans: bool = False,
) -> tuple[np.ndarray, ...]:
    """Reference CSR token stream of ``docs``.

    Parameters
    ----------
    docs : iterable of str, bytes or None
        One entry per document; ``None`` is a null document (no tokens). ``bytes`` may hold invalid
        UTF-8, which acts as a separator.
    words : mapping of bytes to int
        Folded token bytes (as ``reference_fold_tokens`` returns them) -> term id.
    stems : mapping of bytes to int, optional
        Folded stem bytes (a ``frustrat*`` entry as ``b"frustrat"``) -> term id. Stems longer than
        63 bytes never match (the tokenizer's stem mask has 64 bits).
    spans : bool, optional
        Also return each token's byte span (``reference_token_spans`` of its document).

    Returns
    -------
    doc_offsets : int64[D+1], term_ids : int32[T], flags : uint8[T]
        As ``emoscore._tokenize.tokenize`` returns them.
    starts : int64[T], ends : int64[T]
        Only with ``spans=True``.
    """
    stems = {} if stems is None else stems
    offsets = [0]
    ids: list[int] = []
    flags: list[int] = []
    starts: list[int] = []
    ends: list[int] = []
    for doc in docs:
        if doc is None:
            offsets.append(len(ids))
            continue
        if spans:
            for start, end in reference_token_spans(doc):
                starts.append(start)
                ends.append(end)
        tokens, chars = _scan(doc)
        for k, (tok, emoji, caps, _start, end) in enumerate(tokens):
            nxt = tokens[k + 1][3] if k + 1 < len(tokens) else len(chars)
            sent = k + 1 == len(tokens)
            clause = False
            excl = 0
            quest = 0
            for ch in chars[end:nxt]:
                s, c, e, q = EFFECTS.get(ch, NO_EFFECT)
                sent = sent or s
                clause = clause or c
                excl += e
                quest += q
            f = caps
            if emoji:
                f |= FLAG_EMOJI
            if sent:
                f |= FLAG_SENT_END
            if clause:
                f |= FLAG_CLAUSE
            f |= min(excl, 3) << EXCL_SHIFT
            f |= min(quest, 3) << QUEST_SHIFT
            ids.append(_lookup(tok, words, stems))
            flags.append(f)
        offsets.append(len(ids))
    csr = (
        np.array(offsets, dtype=np.int64),
        np.array(ids, dtype=np.int32),
        np.array(flags, dtype=np.uint8),
    )
    if spans:
        return csr + (np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64))
    return csr
