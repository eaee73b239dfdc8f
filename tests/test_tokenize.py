"""Tests of the Cython tokenizer (``emoscore._tokenize``) against hand-written expectations and the
pure-Python reference in ``tests/reference_tokenize.py``, on real Arrow buffers."""

from __future__ import annotations

import os
import random
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(__file__))
from emoscore import _tokenize as tk  # noqa: E402
from reference_tokenize import (  # noqa: E402
    EXCL_SHIFT,
    FLAG_CAPS,
    FLAG_CLAUSE,
    FLAG_EMOJI,
    FLAG_SENT_END,
    QUEST_SHIFT,
    reference_fold_tokens,
    reference_token_spans,
    reference_tokenize,
)

CAPS, SENT, CLAUSE, EMOJI = FLAG_CAPS, FLAG_SENT_END, FLAG_CLAUSE, FLAG_EMOJI


def excl(n):
    return n << EXCL_SHIFT


def quest(n):
    return n << QUEST_SHIFT


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def stem_hash(stem: bytes) -> int:
    k = tk.fnv1a64(stem) ^ tk.STEM_TAG
    return k if k else 1


def make_table(words: dict[bytes, int], stems: dict[bytes, int] | None = None):
    """(table_keys, table_ids, stem_mask) built with build_table + fnv1a64."""
    stems = stems or {}
    hashes = [tk.fnv1a64(w) for w in words] + [stem_hash(s) for s in stems]
    ids = list(words.values()) + list(stems.values())
    keys, tids = tk.build_table(np.array(hashes, dtype=np.uint64), np.array(ids, dtype=np.int32))
    mask = 0
    for s in stems:
        if 1 <= len(s) <= 63:
            mask |= 1 << len(s)
    return keys, tids, mask


def vocab(*terms: str) -> dict[bytes, int]:
    """Term -> id, each term as the reference folds it (one token), so "café" is b"cafe"."""
    folded = [reference_fold_tokens(t) for t in terms]
    return {f[0] if len(f) == 1 else t.encode(): i for i, (t, f) in enumerate(zip(terms, folded, strict=True))}


def run(arr, words, stems=None):
    """tokenize(arr) with spans=False; also runs spans=True, which must give the same ids, flags and
    offsets and spans that hold the tokens (check_spans)."""
    got, _ = run_spans(arr, words, stems)
    return got


def run_spans(arr, words, stems=None):
    """(tokenize(arr), (starts, ends) of tokenize(arr, spans=True)), checked as run says."""
    keys, tids, mask = make_table(words, stems)
    got = tk.tokenize(arr, keys, tids, mask)
    located = tk.tokenize(arr, keys, tids, mask, spans=True)
    assert len(got) == 3 and len(located) == 5
    assert_csr_equal(located[:3], got)
    check_spans(arr, located)
    return got, located[3:]


def assert_csr_equal(got, exp):
    names = ("doc_offsets", "term_ids", "flags", "starts", "ends")
    dtypes = (np.int64, np.int32, np.uint8, np.int64, np.int64)
    assert len(got) == len(exp)
    for name, g, e, dt in zip(names, got, exp, dtypes, strict=False):
        assert isinstance(g, np.ndarray), name
        assert g.dtype == dt, (name, g.dtype)
        np.testing.assert_array_equal(g, e, err_msg=name)


def doc_bytes_of(arr) -> list[bytes | None]:
    """The UTF-8 bytes of each row of a string array (invalid UTF-8 included), None for nulls."""
    return arr.view(pa.large_binary() if pa.types.is_large_string(arr.type) else pa.binary()).to_pylist()


def check_spans(arr, located):
    """The spans of tokenize(arr, spans=True) lie in their documents, in order, without overlap, and
    each holds its token: the span's bytes, tokenized alone, are that one token (same folded bytes)."""
    offs, _, _, starts, ends = located
    assert starts.shape == ends.shape == located[1].shape
    for d, text in enumerate(doc_bytes_of(arr)):
        lo, hi = offs[d], offs[d + 1]
        if text is None:
            assert lo == hi
            continue
        s, e = starts[lo:hi].tolist(), ends[lo:hi].tolist()
        assert all(0 <= a < b <= len(text) for a, b in zip(s, e, strict=True)), (text, s, e)
        assert all(b <= a for b, a in zip(e, s[1:], strict=False)), (text, s, e)
        toks = tk.fold_tokens(text)
        assert [tk.fold_tokens(text[a:b]) for a, b in zip(s, e, strict=True)] == [[t] for t in toks], text


def check_docs(docs, words, stems=None, large=False):
    """tokenize(pa.array(docs)) == reference_tokenize(docs), spans included."""
    arr = pa.array(docs, type=pa.large_string() if large else pa.string())
    got, spans = run_spans(arr, words, stems)
    exp = reference_tokenize(docs, words, stems, spans=True)
    assert_csr_equal(got + spans, exp)
    return got


def binary_string_array(docs: list[bytes | None], large=False, pad_front: int = 0):
    """A string array over raw (possibly invalid UTF-8) bytes, built with from_buffers.

    ``pad_front`` extra leading rows (garbage data, some null) are added and then sliced away, so the
    returned array has offset == pad_front."""
    rng = random.Random(len(docs) * 7919 + pad_front)
    rows = [(b"\xffpad" * rng.randrange(3)) if rng.random() < 0.7 else None
            for _ in range(pad_front)] + list(docs)
    offsets = [0]
    data = bytearray()
    bits = bytearray((len(rows) + 7) // 8)
    for r, doc in enumerate(rows):
        if doc is not None:
            data += doc
            bits[r >> 3] |= 1 << (r & 7)
        else:
            data += b"NULLJUNK"[: rng.randrange(9)]  # a null row may span bytes: must be ignored
        offsets.append(len(data))
    otype = np.int64 if large else np.int32
    typ = pa.large_string() if large else pa.string()
    arr = pa.Array.from_buffers(
        typ, len(rows),
        [pa.py_buffer(bytes(bits)), pa.py_buffer(np.array(offsets, dtype=otype).tobytes()),
         pa.py_buffer(bytes(data))],
        null_count=sum(d is None for d in rows))
    out = arr.slice(pad_front)
    assert out.offset == pad_front
    return out


# ---------------------------------------------------------------------------------------------
# fnv1a64, STEM_TAG, build_table
# ---------------------------------------------------------------------------------------------
def test_fnv1a64_known_vectors():
    assert tk.STEM_TAG == 0x9E3779B97F4A7C15
    assert tk.fnv1a64(b"") == 0xCBF29CE484222325
    assert tk.fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    assert tk.fnv1a64(b"foobar") == 0x85944171F73967E8
    assert tk.fnv1a64(bytearray(b"foobar")) == 0x85944171F73967E8
    assert tk.stem_key(b"frustrat") == stem_hash(b"frustrat")
    with pytest.raises(TypeError):
        tk.fnv1a64("text")


def test_build_table_layout():
    words = {f"w{i}".encode(): i for i in range(40)}
    hashes = np.array([tk.fnv1a64(w) for w in words], dtype=np.uint64)
    ids = np.arange(40, dtype=np.int32)
    keys, tids = tk.build_table(hashes, ids)
    assert keys.dtype == np.uint64 and tids.dtype == np.int32
    assert len(keys) == len(tids) == 128  # smallest power of two >= 2 * 40
    assert not keys.flags.writeable and not tids.flags.writeable
    assert np.count_nonzero(keys) == 40
    assert set(tids[keys != 0].tolist()) == set(range(40))
    assert (tids[keys == 0] == -1).all()
    cap = len(keys)
    for h, i in zip(hashes.tolist(), ids.tolist(), strict=True):  # probing rule of docs/internals.md
        slot = (h ^ (h >> 29)) & (cap - 1)
        while keys[slot] != h:
            assert keys[slot] != 0, "key not on its probe path"
            slot = (slot + 1) & (cap - 1)
        assert tids[slot] == i
    k0, t0 = tk.build_table(np.array([], dtype=np.uint64), np.array([], dtype=np.int32))
    assert len(k0) == 16 and not k0.any() and (t0 == -1).all()


def test_build_table_rejects_duplicates_and_bad_input():
    h = tk.fnv1a64(b"good")
    with pytest.raises(ValueError, match=f"{h:#018x}"):
        tk.build_table(np.array([h, tk.fnv1a64(b"bad"), h], dtype=np.uint64),
                       np.array([0, 1, 2], dtype=np.int32))
    with pytest.raises(ValueError, match="hashes"):
        tk.build_table(np.array([h], dtype=np.uint64), np.array([0, 1], dtype=np.int32))
    with pytest.raises(ValueError, match="reserved"):
        tk.build_table(np.array([0], dtype=np.uint64), np.array([0], dtype=np.int32))
    with pytest.raises(ValueError, match="negative"):
        tk.build_table(np.array([h], dtype=np.uint64), np.array([-1], dtype=np.int32))


# ---------------------------------------------------------------------------------------------
# fold_tokens: explicit expectations
# ---------------------------------------------------------------------------------------------
FOLD_CASES = [
    ("I DON'T like it", [b"i", b"don't", b"like", b"it"]),
    ("isn\u2019t isn\u02bct", [b"isn't", b"isn't"]),
    ("'quoted' rock'n'roll don''t end'", [b"quoted", b"rock'n'roll", b"don", b"t", b"end"]),
    ("4.5 1,000 3.14.15 a.b 4.a 4. .5 x1.5 v.2 \u00e9,5 4,,5", [
        b"4.5", b"1,000", b"3.14.15", b"a", b"b", b"4", b"a", b"4", b"5", b"x1.5", b"v", b"2",
        b"e", b"5", b"4", b"5"]),
    ("Caf\u00e9 \u00c9T\u00c9 \u00dcBER stra\u00dfe", ["cafe", "ete", "uber", "strasse"]),
    ("\u0130stanbul \u0178 \u0139\u013a \u0179\u017a \u0100\u0101 \u0149 \u017f",
     ["istanbul", "y", "ll", "zz", "aa", "ŉ", "s"]),
    # accent folding: Latin-1 Supplement and Latin Extended-A onto ASCII; other scripts kept
    ("d\u00e9lai G\u00c9N\u00c9RAL tr\u00e8s \u00e7a C\u0152UR \u00e6on na\u00efve \u00f1 \u00f8 "
     "\u0142\u00f3d\u017a",
     ["delai", "general", "tres", "ca", "coeur", "aeon", "naive", "n", "o", "lodz"]),
    ("\u00f0\u00fe\u0138\u014b \u0133 \u0131 \u1e9e \u01c5 \u0451\u0439 \u03ac",
     ["ðþĸŋ", "ij", "i", "ẞ", "ǅ", "ёй", "ά"]),
    # French elision (also with U+2019 and U+02BC); English contractions unchanged
    ("l'accueil n'est qu'il L\u2019\u00c9t\u00e9 d\u02bcaccord QU'IL",
     [b"l'", b"accueil", b"n'", b"est", b"qu'", b"il", b"l'", b"ete", b"d'", b"accord", b"qu'", b"il"]),
    ("j'ai c'est s'il m'a t'es jusqu'\u00e0 aujourd'hui presqu'\u00eele prud'hommes quelqu'un",
     [b"j'", b"ai", b"c'", b"est", b"s'", b"il", b"m'", b"a", b"t'", b"es", b"jusqu'a", b"aujourd'hui",
      b"presqu'ile", b"prud'hommes", b"quelqu'un"]),
    ("don't it's I'm can't we'll y'all o'clock rock'n'roll c'mon D'oh T's j's l'l'x",
     [b"don't", b"it's", b"i'm", b"can't", b"we'll", b"y'all", b"o'clock", b"rock'n'roll", b"c'mon",
      b"d'oh", b"t's", b"j's", b"l'", b"l'", b"x"]),
    ("rock n' roll l' accueil l'", [b"rock", b"n'", b"roll", b"l'", b"accueil", b"l'"]),
    ("l\ufe0f'\ufe0faccueil c'mon's c'mons d'oh!", [b"l'", b"accueil", b"c'mon's", b"c'", b"mons",
                                                    b"d'oh"]),
    ("\u03a9\u039c\u0395\u0393\u0391 \u03a3\u03bf\u03c6\u03af\u03b1", ["ωμεγα", "σοφία"]),
    ("\u041f\u0420\u0418\u0412\u0415\u0422 \u0401\u0416 \u0404", ["привет", "ёж", "є"]),
    ("good\U0001F44D\U0001F3FD!", [b"good", "\U0001F44D"]),
    ("\u2764\ufe0f\U0001F468\u200d\U0001F469\u200d\U0001F467", ["\u2764", "\U0001F468", "\U0001F469",
                                                              "\U0001F467"]),
    ("1\ufe0f\u20e3 \U0001F1EB\U0001F1F7", [b"1", "\U0001F1EB", "\U0001F1F7"]),
    ("co\u00adop\u200dera\ufe0ete", [b"cooperate"]),
    ("\u4f60\u597d\u3002\u4e16\u754c", ["你好", "世界"]),
    ("price: 5\u20ac \u00a3 \u00d7 \u2192 \u201cquote\u201d", [b"price", b"5", b"quote"]),
    ("a\u00a0b\u3000c\u2009d", [b"a", b"b", b"c", b"d"]),
    ("", []),
    ("  !!! ... ", []),
]


@pytest.mark.parametrize("text,expected", FOLD_CASES)
def test_fold_tokens_explicit(text, expected):
    exp = [e.encode() if isinstance(e, str) else e for e in expected]
    assert tk.fold_tokens(text) == exp
    assert tk.fold_tokens(text.encode()) == exp
    assert reference_fold_tokens(text) == exp


def test_fold_tokens_invalid_utf8_is_separator():
    data = (b"ab\xffcd\xc3\xa9\xc3(ef\xe2\x82gh\xed\xa0\x80ij\xf0\x9f\x91kl\xc0\xafmn\xf4\x90\x80\x80op"
            b"\xe0\x80\xafqr\xe0\x9f\xbfst\xf0\x8f\xbf\xbfuv\xf5\x80\x80\x80wx\xed\xbf\xbfyz")
    exp = [b"ab", b"cde", b"ef", b"gh", b"ij", b"kl", b"mn", b"op", b"qr", b"st", b"uv", b"wx",
           b"yz"]
    assert tk.fold_tokens(data) == exp
    assert reference_fold_tokens(data) == exp
    assert tk.fold_tokens(b"\xe2") == [] and tk.fold_tokens(b"x\xf0\x9f") == [b"x"]
    assert tk.fold_tokens("a\ud800b") == [b"a", b"b"]  # lone surrogate in a str


# ---------------------------------------------------------------------------------------------
# tokenize: explicit expectations
# ---------------------------------------------------------------------------------------------
def test_tokenize_flags_explicit():
    words = vocab("great", "really", "not", "don't", "4.5", "1,000")
    docs = [
        "GREAT!!! really??",
        "I DON'T know, not sure; ok: yes\nno\u2026 end",
        "wow!!!!! what???? \u203c\u2047",
        "A1 OK \u00c9T\u00c9 \u00c9t\u00e9 \U0001F600!",
        "rated 4.5 out of 1,000.",
    ]
    offs, ids, flags = run(pa.array(docs), words)
    assert offs.tolist() == [0, 2, 11, 13, 18, 23]
    exp_ids = [0, 1,
               -1, 3, -1, 2, -1, -1, -1, -1, -1,
               -1, -1,
               -1, -1, -1, -1, -1,
               -1, 4, -1, -1, 5]
    assert ids.tolist() == exp_ids
    exp_flags = [
        CAPS | SENT | excl(3), SENT | quest(2),
        0, CAPS, CLAUSE, 0, CLAUSE, CLAUSE, SENT, SENT, SENT,
        SENT | excl(3), SENT | quest(3) | excl(2),
        0, CAPS, CAPS, 0, EMOJI | SENT | excl(1),
        0, 0, 0, 0, SENT,
    ]
    assert flags.tolist() == exp_flags
    assert_csr_equal((offs, ids, flags), reference_tokenize(docs, words))


EDGE_DOCS = [
    "I can't believe it's NOT butter!!! Really?? ok\u2026 fine.",
    "Don\u2019t,won\u2019t;shouldn\u02bct: 'quoted' rock'n'roll ''double''",
    "Scores: 4.5/5, 1,000,000 users, v2.0.1, 3.14. 10,5 .5 5. 1.a a.1",
    "\U0001F44D\U0001F3FD\U0001F44D\U0001F3FF!! \u2764\ufe0f\u2764 \U0001F468\u200d\U0001F469\u200d\U0001F467?",
    "1\ufe0f\u20e3 #\ufe0f\u20e3 \U0001F1FA\U0001F1F8 "
    "\U0001F3F4\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F x",
    "GREAT great Great gREAT G A1 AB1 \u00c9T\u00c9 \u00c9t\u00e9 \u0130STANBUL "
    "\u03a9\u039c\u0395\u0393\u0391 \u041c\u0418\u0420",
    "stra\u00dfe STRASSE \u0178\u0178 \u0149\u0149 \u0138X \u017f\u017f",
    "line one\nline two\r\nthree\u2028four\u2029five\x85six\x0bseven",
    "wait\u2026what\u203c\u2047\u2048\u2049 \uff01\uff1f\u3002\u3001 \u061f \u060c end",
    "mixed\u00adsoft hy-phen under_score e-mail@example.com http://x.y/z?q=1&r=2",
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u3053\u3093\u306b\u3061\u306f\u3005 \uff21\uff22\uff43",
    "   ",
    "!!!",
    "a",
    "'",
    "x'",
    "'x",
    "4.",
    ".4",
]


def test_edge_cases_match_reference():
    words = vocab("can't", "believe", "not", "butter", "really", "ok", "fine", "don't", "won't",
                  "4.5", "1,000,000", "great", "été", "istanbul", "straße", "ÿÿ", "\U0001F44D",
                  "\u2764", "1", "wait", "what", "你好", "x", "a")
    stems = {b"belie": 100, b"shouldn": 101, b"rock'": 102, b"\xce\xbc\xce": 103, b"\xf0\x9f": 104}
    check_docs(EDGE_DOCS, words, stems)
    check_docs(EDGE_DOCS, words, stems, large=True)
    check_docs([d.encode() for d in EDGE_DOCS], words, stems)  # bytes docs via the reference


def test_tokenize_nulls_and_empty():
    words = vocab("a")
    docs = [None, "", "a", None, "   ", "a a", "", None]
    offs, ids, flags = check_docs(docs, words)
    assert offs.tolist() == [0, 0, 0, 1, 1, 1, 3, 3, 3]
    assert ids.tolist() == [0, 0, 0]
    assert flags.tolist() == [SENT, 0, SENT]
    for typ in (pa.string(), pa.large_string()):
        empty = run(pa.array([], type=typ), words)
        assert [x.tolist() for x in empty] == [[0], [], []]
        allnull = run(pa.array([None, None], type=typ), words)
        assert [x.tolist() for x in allnull] == [[0, 0, 0], [], []]
        blanks = run(pa.array(["", ""], type=typ), words)
        assert [x.tolist() for x in blanks] == [[0, 0, 0], [], []]


def test_stems_longest_wins_and_exact_beats_stem():
    words = vocab("frustrating", "happy")
    stems = {b"frustrat": 10, b"frus": 11, b"happ": 12, b"cafe": 13, b"xyz": 14, b"ab": 15}
    docs = ["Frustrated frustrating FRUSTRATION frust happy happiness cafés caf xyz xy ab a"]
    offs, ids, flags = check_docs(docs, words, stems)
    assert ids.tolist() == [10, 0, 10, 11, 1, 12, 13, -1, 14, -1, 15, -1]
    # without the longer stem, the shorter one matches
    del stems[b"frustrat"]
    offs, ids, _ = check_docs(docs, words, stems)
    assert ids.tolist()[:4] == [11, 0, 11, 11]
    # a stem longer than 63 bytes cannot be in the mask, a 63-byte one can
    long_tok = "q" * 80
    stems = {b"q" * 64: 1, b"q" * 63: 2}
    _, ids, _ = check_docs([long_tok], {}, stems)
    assert ids.tolist() == [2]
    _, ids, _ = check_docs([long_tok], {}, {b"q" * 64: 1})
    assert ids.tolist() == [-1]


def test_stem_mask_bits_outside_table_are_harmless():
    keys, tids, _ = make_table(vocab("x"))
    offs, ids, _ = tk.tokenize(pa.array(["x y zzzz"]), keys, tids, (1 << 64) - 1)
    assert ids.tolist() == [0, -1, -1]
    with pytest.raises(ValueError):
        tk.tokenize(pa.array(["x"]), keys, tids, 1 << 64)
    with pytest.raises(ValueError):
        tk.tokenize(pa.array(["x"]), keys, tids, -1)


def test_sliced_arrays_with_nulls_every_offset():
    rng = random.Random(5)
    pool = ["good", "BAD!", None, "", "don't stop!!", "4.5 stars?", "caf\u00e9 \U0001F600", None,
            "a, b; c", "\u00c9T\u00c9"]
    docs = [rng.choice(pool) for _ in range(53)]
    words = vocab("good", "bad", "don't", "4.5", "café", "été", "b")
    for large in (False, True):
        arr = pa.array(docs, type=pa.large_string() if large else pa.string())
        for off in range(0, 20):
            for length in (0, 1, 7, 9, 33 - off % 5):
                sl = arr.slice(off, length)
                assert sl.offset == off
                got, spans = run_spans(sl, words)
                assert_csr_equal(got + spans,
                                 reference_tokenize(docs[off:off + length], words, spans=True))


def test_large_string_matches_string():
    docs = ["Hello WORLD!!", None, "multi-byte \u00fc\u00f1\u00ee\u00e7\u00f8d\u00e9 \u4e2d\u6587", ""]
    words = vocab("hello", "world", "中文")
    a = check_docs(docs, words, large=False)
    b = check_docs(docs, words, large=True)
    assert_csr_equal(a, b)


def test_invalid_utf8_from_buffers():
    docs = [b"ok\xff\xfeBAD!", None, b"\xc3", b"caf\xc3\xa9\xe2\x80\xa6next", b"\xed\xa0\x80x\xf8y",
            b"", b"4.\xff5", b"don\xe2\x80\x99t", b"don'\xef\xb8\x8ft"]
    words = vocab("ok", "bad", "café", "don't", "x")
    for large in (False, True):
        for pad in (0, 3, 9):
            arr = binary_string_array(docs, large=large, pad_front=pad)
            got, spans = run_spans(arr, words)
            exp = reference_tokenize(docs, words, spans=True)
            assert_csr_equal(got + spans, exp)
            assert got[1].tolist() == [0, 1, 2, -1, 4, -1, -1, -1, 3, 3]
            assert got[2].tolist()[:2] == [0, CAPS | SENT | excl(1)]


def test_one_megabyte_documents():
    word = "\u0416" * 500_000  # 1 MB of UTF-8, one token, folded to ж*500000
    folded = ("\u0436" * 500_000).encode()
    words = {folded: 7}
    offs, ids, flags = run(pa.array([word, "x" + word]), words, {b"x\xd0\xb6\xd0\xb6": 8})
    assert offs.tolist() == [0, 1, 2]
    assert ids.tolist() == [7, 8]
    assert flags.tolist() == [CAPS | SENT, SENT]
    assert tk.fold_tokens(word) == [folded]
    # 1 MB of ordinary text
    rng = random.Random(1)
    pieces = ["good", "BAD", "don't", "4.5", "!", "?", ".", ",", "\n", "caf\u00e9", "\U0001F44D", "meh"]
    text = " ".join(rng.choice(pieces) for _ in range(200_000))[:1_000_000]
    check_docs([text], vocab("good", "bad", "don't", "4.5", "café"))


def test_full_table_lookup_terminates():
    # a table with no empty slot (not something build_table makes) must not loop forever
    keys = np.arange(1, 17, dtype=np.uint64)
    tids = np.arange(16, dtype=np.int32)
    offs, ids, _ = tk.tokenize(pa.array(["absent words here"]), keys, tids, 0)
    assert ids.tolist() == [-1, -1, -1]


def test_tokenize_rejects_bad_arguments():
    keys, tids, _ = make_table(vocab("a"))
    for bad in (pa.array([1, 2]), pa.array([b"a"]), ["a"], pa.chunked_array([["a"]]),
                pa.array(["a"]).cast(pa.string_view())):
        with pytest.raises(TypeError):
            tk.tokenize(bad, keys, tids, 0)
    with pytest.raises(ValueError, match="power of two"):
        tk.tokenize(pa.array(["a"]), keys[:12], tids[:12], 0)
    with pytest.raises(ValueError):
        tk.tokenize(pa.array(["a"]), keys, tids[:8], 0)
    with pytest.raises(ValueError):  # wrong dtype
        tk.tokenize(pa.array(["a"]), keys.astype(np.int64), tids, 0)


def test_threads_give_the_same_result():
    rng = random.Random(3)
    pool = ["I LOVE it!!!", "not good, really?", None, "meh \U0001F610", "caf\u00e9 na\u00efve",
            "frustrating...", "4.5/5 would buy again", ""]
    docs = [" ".join(rng.choice(pool) or "" for _ in range(rng.randrange(1, 30)))
            if rng.random() > 0.05 else None for _ in range(20_000)]
    words = vocab("love", "good", "really", "café", "naïve", "4.5", "buy")
    stems = {b"frustrat": 100}
    keys, tids, mask = make_table(words, stems)
    arr = pa.array(docs)
    whole = tk.tokenize(arr, keys, tids, mask)
    assert_csr_equal(whole, reference_tokenize(docs, words, stems))
    bounds = list(range(0, len(docs) + 1, 1250))
    barrier = threading.Barrier(8, timeout=60)

    def work(k):
        lo, hi = bounds[k], bounds[k + 1]
        barrier.wait() if k < 8 else None
        return [tk.tokenize(arr.slice(lo, hi - lo), keys, tids, mask) for _ in range(3)]

    with ThreadPoolExecutor(max_workers=8) as ex:
        parts = list(ex.map(work, range(len(bounds) - 1)))
    offs, ids, flags = whole
    for k, reps in enumerate(parts):
        lo, hi = bounds[k], bounds[k + 1]
        for o, i, f in reps:
            base = offs[lo]
            np.testing.assert_array_equal(o, offs[lo:hi + 1] - base)
            np.testing.assert_array_equal(i, ids[offs[lo]:offs[hi]])
            np.testing.assert_array_equal(f, flags[offs[lo]:offs[hi]])


# ---------------------------------------------------------------------------------------------
# tokenize(spans=True): byte spans of the tokens
# ---------------------------------------------------------------------------------------------
SPAN_CASES = [
    ("Don't  stop!! 😀 café 1,000",
     [(0, 5), (7, 11), (14, 18), (19, 24), (25, 30)]),
    # a skipped code point inside a token is inside its span; skipped ones at its end are not
    ("x’️y good👍🏽 co­op­ ❤️ 4.5.",
     [(0, 8), (9, 13), (13, 17), (22, 28), (31, 34), (38, 41)]),
    ("﻿ÉTÉ’S 你好。 #️⃣ 1️⃣",
     [(3, 12), (13, 19), (31, 32)]),
    ("'quoted' 4.a a.1 1.5.", [(1, 7), (9, 10), (11, 12), (13, 14), (15, 16), (17, 20)]),
    # accent folding changes no span; an elided article spans its letters and apostrophe
    ("Très délai l’accueil qu'Œuvre L'\ufe0f\ufe0fa",
     [(0, 5), (6, 12), (13, 17), (17, 24), (25, 28), (28, 34), (35, 37), (43, 44)]),
    ("", []),
    (" !! ", []),
]


@pytest.mark.parametrize("text,expected", SPAN_CASES)
def test_spans_explicit(text, expected):
    keys, tids, mask = make_table(vocab("don't", "stop", "café", "1,000", "good", "x'y"))
    for typ in (pa.string(), pa.large_string()):
        arr = pa.array(["first doc", None, text, "last"], type=typ).slice(2, 1)
        offs, ids, flags, starts, ends = tk.tokenize(arr, keys, tids, mask, spans=True)
        assert starts.dtype == ends.dtype == np.int64
        assert list(zip(starts.tolist(), ends.tolist(), strict=True)) == expected
        assert reference_token_spans(text) == expected
        assert_csr_equal((offs, ids, flags), tk.tokenize(arr, keys, tids, mask))
        raw = text.encode()
        assert [tk.fold_tokens(raw[a:b]) for a, b in expected] == [[t] for t in tk.fold_tokens(text)]


def test_spans_are_relative_to_each_document():
    words = vocab("don't", "stop")
    docs = ["Don't  stop!! 😀", None, "", "stop", "éé STOP"]
    got, (starts, ends) = run_spans(pa.array(docs), words)
    assert got[0].tolist() == [0, 3, 3, 3, 4, 6]
    assert starts.tolist() == [0, 7, 14, 0, 0, 5]
    assert ends.tolist() == [5, 11, 18, 4, 4, 9]
    bad = binary_string_array([b"ab\xffcd\xc3\xa9", None, b"\xe2\x80\x99x\xed\xa0\x80y"], pad_front=5)
    _, (starts, ends) = run_spans(bad, {})
    assert list(zip(starts.tolist(), ends.tolist(), strict=True)) == [(0, 2), (3, 7), (3, 4), (7, 8)]


def test_spans_of_empty_and_null_arrays():
    keys, tids, mask = make_table(vocab("a"))
    for typ in (pa.string(), pa.large_string()):
        for docs in ([], [None, None], ["", ""]):
            offs, ids, flags, starts, ends = tk.tokenize(pa.array(docs, type=typ), keys, tids, mask,
                                                         spans=True)
            assert offs.tolist() == [0] * (len(docs) + 1)
            assert ids.size == flags.size == starts.size == ends.size == 0
            assert starts.dtype == ends.dtype == np.int64


def test_spans_when_the_sink_grows():
    # more tokens than the first guess of the output size (a quarter of the input bytes): the span
    # arrays grow with the ids, both for word tokens and for emoji tokens
    docs = ["a😀" * 3000 + " b" * 5000, "😀a" * 4000, "x y" * 7000]
    words = vocab("a", "b", "😀")
    got = check_docs(docs, words)
    assert len(got[1]) > sum(len(d.encode()) for d in docs) // 4


# ---------------------------------------------------------------------------------------------
# property tests against the reference
# ---------------------------------------------------------------------------------------------
INTERESTING = list(
    "aZq09 \t\n\r.,;:!?'\u2019\u02bc-\"()/"
    "\u00e9\u00c9\u00df\u00d7\u00f7\u00a0\u00ad\u0085\u00ff\u0178\u0130\u0131\u0139\u013a\u0149\u017f"
    "\u0391\u03a3\u03c2\u03a2\u0386\u0416\u0436\u0401\u0451\u0404"
    "\u4e2d\u3002\u3001\u3005\uff01\uff1f\uff21\uff41\uff10"
    "\u2026\u203c\u2047\u2049\u2028\u200b\u200c\u200d\u2060\u20e3\u20ac\u2192\u2764\u2b50\u231a"
    "\ufe0f\ufe0e\ufeff\U0001F44D\U0001F3FD\U0001F3FB\U0001F600\U0001F1EB\U000E0067\U0001D400"
    "\u0301\u0964\u061f\u060c"
    "lLdjncsmtqQuU\u00e6\u0152\u0133\u0142\u00f8\u0131\u00f0\u0149\u0138"
) + ["don't", "DON'T", "4.5", "1,000", "GREAT", "happy", "frustrat", "caf\u00e9", "l'", "qu'", "L\u2019",
     "c'mon", "d'oh", "'s", "mon", "oh", "accueil"]

text_chars = st.one_of(st.sampled_from(INTERESTING),
                       st.characters(blacklist_categories=("Cs",)),
                       st.characters(min_codepoint=0x80, max_codepoint=0x3100,
                                     blacklist_categories=("Cs",)))
doc_text = st.lists(text_chars, max_size=40).map("".join)
SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def lexicon_from(data, docs_tokens: list[bytes]):
    """Random words/stems drawn from the tokens that occur (so lookups hit) plus fixed ones."""
    toks = sorted(set(docs_tokens))
    chosen = data.draw(st.lists(st.sampled_from(toks), unique=True, max_size=8)) if toks else []
    words = {t: i for i, t in enumerate(chosen + [b"happy", b"don't", b"4.5"]) }
    stem_src = data.draw(st.lists(st.sampled_from(toks), unique=True, max_size=5)) if toks else []
    stems = {}
    for j, t in enumerate(stem_src):
        cut = data.draw(st.integers(1, len(t)))
        stems[t[:cut]] = 1000 + j
    stems.setdefault(b"frustrat", 999)
    return words, stems


@SETTINGS
@given(st.data(), st.lists(st.one_of(st.none(), doc_text), max_size=12),
       st.booleans(), st.integers(0, 11))
def test_random_text_matches_reference(data, docs, large, pad):
    for d in docs:
        if d is not None:
            assert tk.fold_tokens(d) == reference_fold_tokens(d)
    all_toks = [t for d in docs if d is not None for t in reference_fold_tokens(d)]
    words, stems = lexicon_from(data, all_toks)
    padded = ["pad!"] * (pad // 2) + [None] * (pad - pad // 2) + docs
    arr = pa.array(padded, type=pa.large_string() if large else pa.string()).slice(pad)
    got, spans = run_spans(arr, words, stems)
    assert_csr_equal(got + spans, reference_tokenize(docs, words, stems, spans=True))


byte_piece = st.one_of(
    st.binary(max_size=6),
    st.sampled_from([b"\xff", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x91", b"\xed\xa0\x80", b"\xc0\xaf",
                     b"\xe0\x80\xaf", b"\xe0\x9f\xbf", b"\xf0\x8f\xbf\xbf", b"\xf4\x8f\xbf\xbf",
                     b"\xe0\xa0\x80", b"\xed\x9f\xbf", b"\xc2\xa0", b"\xc2\x85",
                     b"\xf4\x90\x80\x80", b"\x80", b"'", b".", b"!", b"?", b"\xef\xb8\x8f",
                     b"\xe2\x80\x8d", b"\xf0\x9f\x8f\xbd"]),
    doc_text.map(lambda s: s.encode()),
)
doc_bytes = st.lists(byte_piece, max_size=12).map(b"".join)


@SETTINGS
@given(st.data(), st.lists(st.one_of(st.none(), doc_bytes), max_size=10), st.booleans(),
       st.integers(0, 13))
def test_random_bytes_match_reference(data, docs, large, pad):
    for d in docs:
        if d is not None:
            assert tk.fold_tokens(d) == reference_fold_tokens(d)
    all_toks = [t for d in docs if d is not None for t in reference_fold_tokens(d)]
    words, stems = lexicon_from(data, all_toks)
    arr = binary_string_array(docs, large=large, pad_front=pad)
    got, spans = run_spans(arr, words, stems)
    assert_csr_equal(got + spans, reference_tokenize(docs, words, stems, spans=True))


def test_large_table_with_and_without_prefilter():
    # tokenize builds a prefilter over the table only when the input has at least as many bytes as
    # the table has slots; both paths must give the reference result
    rng = random.Random(11)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab_words = sorted({"".join(rng.choice(letters) for _ in range(rng.randint(2, 9)))
                          for _ in range(6000)})
    words = {w.encode(): i for i, w in enumerate(vocab_words)}
    stems = {w.encode()[:4]: 10_000 + i for i, w in enumerate(vocab_words[:300]) if len(w) > 4}
    keys, tids, mask = make_table(words, stems)
    assert len(keys) == 16384
    pool = vocab_words[:50] + ["zzzzqx", "Unknown", "WORDS!", "caf\u00e9"]
    small = [" ".join(rng.choice(pool) for _ in range(20)) for _ in range(40)]
    big = small * 40
    assert sum(len(d) for d in small) < len(keys) < sum(len(d) for d in big)
    for docs in (small, big):
        got = tk.tokenize(pa.array(docs), keys, tids, mask)
        exp = reference_tokenize(docs, words, stems, spans=True)
        assert_csr_equal(got, exp[:3])
        assert (got[1] >= 0).mean() > 0.5
        assert_csr_equal(tk.tokenize(pa.array(docs), keys, tids, mask, spans=True), exp)


def test_memo_of_ascii_tokens_changes_nothing():
    # an input of MEMO_MIN_BYTES or more is tokenized with a memo of ASCII tokens of 1..15 bytes;
    # the ids and flags must be those of small inputs (no memo; checked against the reference
    # above): the same words recur in every case, before every joiner and separator, as whole
    # words and as stem matches, with colliding memo slots among thousands of words
    rng = random.Random(5)
    letters = "abcdefghijklmnopqrstuvwxyz0123456789"
    short = sorted({"".join(rng.choice(letters) for _ in range(rng.randint(1, 17)))
                    for _ in range(20_000)})
    # words that share their first 8 bytes and differ after them (many share a memo slot)
    family = sorted({"customer" + "".join(rng.choice(letters) for _ in range(rng.randint(1, 7)))
                     for _ in range(3000)})
    pool = short[:4000] + family + ["frustrated", "don", "caf\u00e9", "4", "1", "GREAT", "happy"]
    words = {w.encode(): i for i, w in enumerate(pool[::2])}
    stems = {w.encode()[:3]: 50_000 + i for i, w in enumerate(short[1::40]) if len(w) > 3}
    stems[b"frustrat"] = 49_999
    cased = [str.lower, str.upper, str.title]
    after = [" ", ", ", ". ", ",", ".", "'", "'s ", "!!! ", "? ", "\u2019t ", "\u00e9 ",
             "\U0001F600", "\u00ad", "-", "4 ", ".5 ", ",000 ", "\n"]
    docs = ["".join(rng.choice(cased)(rng.choice(pool)) + rng.choice(after)
                    for _ in range(rng.randint(1, 30)))
            for _ in range(4000)]
    assert sum(len(d.encode()) for d in docs) >= tk.MEMO_MIN_BYTES
    keys, tids, mask = make_table(words, stems)
    whole = tk.tokenize(pa.array(docs), keys, tids, mask)
    parts = [tk.tokenize(pa.array(docs[i:i + 50]), keys, tids, mask) for i in range(0, len(docs), 50)]
    bases = np.cumsum([0] + [p[0][-1] for p in parts[:-1]])
    offsets = np.concatenate([[0]] + [p[0][1:] + b for p, b in zip(parts, bases, strict=True)])
    assert_csr_equal(whole, (offsets, np.concatenate([p[1] for p in parts]),
                             np.concatenate([p[2] for p in parts])))
    assert 0.3 < (whole[1] >= 0).mean() < 0.9
    # spans=True keeps the memo (same ids from the memo and the lookups); its spans are those of
    # the small inputs, checked against the reference on a sample of documents
    located = tk.tokenize(pa.array(docs), keys, tids, mask, spans=True)
    assert_csr_equal(located[:3], whole)
    small = [tk.tokenize(pa.array(docs[i:i + 50]), keys, tids, mask, spans=True)
             for i in range(0, len(docs), 50)]
    for k in (3, 4):
        np.testing.assert_array_equal(located[k], np.concatenate([p[k] for p in small]))
    check_spans(pa.array(docs), located)
    sample = docs[:200]
    exp = reference_tokenize(sample, words, stems, spans=True)
    n = len(exp[1])
    assert_csr_equal((located[0][:len(sample) + 1],) + tuple(a[:n] for a in located[1:]), exp)


def test_flag_bits_match_the_kernels():
    """The tokenizer writes the flags the kernels read: both modules define the bits, and must agree."""
    from emoscore import _tokenize
    from emoscore.kernels import rules

    for name in ("FLAG_CAPS", "FLAG_SENT_END", "FLAG_CLAUSE", "FLAG_EMOJI", "EXCL_SHIFT", "QUEST_SHIFT"):
        assert getattr(_tokenize, name) == getattr(rules, name), name
