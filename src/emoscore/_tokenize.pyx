# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Tokenizer: Arrow UTF-8 string buffers -> token stream in CSR form (see docs/internals.md, "Tokens").

Public functions
----------------
``tokenize(array, table_keys, table_ids, stem_mask, spans=False)``
    Zero-copy scan of a ``pyarrow.StringArray`` / ``LargeStringArray`` (the GIL is released during the
    scan) -> ``(doc_offsets int64[D+1], term_ids int32[T], flags uint8[T])``; with ``spans=True``
    also ``starts int64[T], ends int64[T]``, each token's byte span in its document's UTF-8 text
    (a separate specialisation of the scanner: the default call runs the code it always ran).
``fold_tokens(text)``
    The folded UTF-8 bytes of each token of one text, exactly as ``tokenize`` hashes them (same scanner).
``fnv1a64(data)`` / ``stem_key(stem)``
    The table key of a whole token / of a wildcard stem.
``build_table(hashes, ids)``
    The open-addressing table that ``tokenize`` probes (the only code that inserts).

Character policy (one place; ``tests/reference_tokenize.py`` restates it independently)
-------------------------------------------------------------------------------------
* word characters: ASCII letters/digits and every code point >= U+0080 that is not listed below;
* folding: upper case to lower case (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic; ``fold_cp``),
  then the accents of the Latin-1 Supplement and Latin Extended-A letters (``LATIN_FOLD``: à → a,
  ç → c, é → e, ñ → n, ø → o, ł → l, ı → i, ſ → s, …; æ → ae, œ → oe, ĳ → ij, ß → ss; ð þ ĸ ŉ ŋ and
  every other script kept), on the non-ASCII path only;
* elision: a token whose folded bytes so far are one of ``ELISION_PREFIXES`` (l d j n c s m t qu)
  ends after an apostrophe that follows them ("l'accueil" -> ``l'`` ``accueil``; "l'" alone is
  ``l'``), unless the word characters after the apostrophe fold to an exception tail
  (``ELISION_EXCEPTIONS``: ``s`` after any prefix, ``c'mon``, ``d'oh``);
* apostrophes ``'`` U+2019 U+02BC join two word characters (stored as ASCII ``'``); ``.`` and ``,``
  join two ASCII digits;
* emoji (one token per code point): U+2300-23FF, U+2600-27BF, U+2B00-2BFF, U+1F000-1FAFF;
* skipped (as if absent): U+FE0E/FE0F, U+200D, U+1F3FB-1F3FF, U+20E3, and also U+00AD soft hyphen,
  U+2060 word joiner, U+FEFF, U+E0000-E007F (emoji tag sequences);
* separators: ASCII non-alphanumerics, U+0080-00BF, U+00D7, U+00F7, U+037E, U+0387, U+060C,
  U+061B, U+061F, U+06D4, U+0964/0965, U+1680, U+180E, U+2000-206F (but U+2019/200D/2060),
  U+20A0-20FF (but U+20E3), U+2100-22FF, U+2400-25FF, U+27C0-2AFF, U+2E00-2E7F, U+3000-303F (but
  the ideographic letters U+3005-3007, U+3021-302F, U+3031-3035, U+303B/303C), U+FE10-FE1F,
  U+FE30-FE6F, U+FF00-FF0F, U+FF1A-FF20, U+FF3B-FF40, U+FF5B-FF65, U+FFE0-FFFF, and every byte
  that is not part of valid UTF-8.
* flag-setting separators: SENT_END ``. ! ? …`` line breaks (``\\n \\v \\f \\r`` U+0085 U+2028
  U+2029) ``‼ ⁇ ⁈ ⁉`` U+037E U+061F U+06D4 U+0964 U+0965 U+3002 U+FF01 U+FF0E U+FF1F U+FF61;
  CLAUSE ``, ; :`` U+0387 U+060C U+061B U+3001 U+FF0C U+FF1A U+FF1B U+FF64; ``!`` counts ``!``
  U+FF01 (1) ``‼`` (2) ``⁈ ⁉`` (1); ``?`` counts ``?`` U+037E U+061F U+FF1F (1) ``⁇`` (2) ``⁈ ⁉`` (1).
"""

from cpython.buffer cimport (PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE, PyBUF_FORMAT,
                             PyBUF_ND)
from libc.stdint cimport uint8_t, uint16_t, uint32_t, int32_t, int64_t, uint64_t
from libc.stdlib cimport malloc, calloc, realloc, free
from libc.string cimport memcpy, memset

import numpy as np

cdef extern from *:
    """
    static inline int emo_clz64(unsigned long long x) { return __builtin_clzll(x); }
    static inline int emo_ctz64(unsigned long long x) { return __builtin_ctzll(x); }
    /* 8 bytes at p, the byte at p in the low byte (the SWAR code below is little-endian) */
    static inline unsigned long long emo_load8(const unsigned char* p) {
        unsigned long long w;
        memcpy(&w, p, 8);
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        w = __builtin_bswap64(w);
    #endif
        return w;
    }
    #define EMO_FNV_OFFSET 0xcbf29ce484222325ULL
    #define EMO_FNV_PRIME 0x100000001b3ULL
    #define EMO_STEM_TAG 0x9E3779B97F4A7C15ULL
    #define EMO_ONES 0x0101010101010101ULL
    #define EMO_HIGH 0x8080808080808080ULL
    #define EMO_MEMO_MUL 0x9FB21C651E98DF25ULL
    """
    int emo_clz64(unsigned long long x) noexcept nogil
    int emo_ctz64(unsigned long long x) noexcept nogil
    uint64_t emo_load8(const uint8_t* p) noexcept nogil
    const uint64_t FNV_OFFSET "EMO_FNV_OFFSET"
    const uint64_t FNV_PRIME "EMO_FNV_PRIME"
    const uint64_t C_STEM_TAG "EMO_STEM_TAG"
    # C constants (not module globals), so that the compiler folds them into the SWAR arithmetic
    const uint64_t ONES "EMO_ONES"
    const uint64_t HIGH "EMO_HIGH"
    const uint64_t MEMO_MUL "EMO_MEMO_MUL"

# ----------------------------------------------------------------------------------------------
# Constants
# ----------------------------------------------------------------------------------------------
STEM_TAG = 0x9E3779B97F4A7C15

FLAG_CAPS = 1
FLAG_SENT_END = 2
FLAG_CLAUSE = 4
FLAG_EMOJI = 8
EXCL_SHIFT = 4
QUEST_SHIFT = 6

cdef enum:
    F_CAPS = 1
    F_SENT = 2
    F_CLAUSE = 4
    F_EMOJI = 8
    E_EXCL1 = 1 << 4
    E_EXCL2 = 2 << 4
    E_QUEST1 = 1 << 6
    E_QUEST2 = 2 << 6

# Character kinds (low byte of a class code; the high byte is the separator's flag effect).
cdef enum:
    K_SEP = 0
    K_WORD = 1
    K_APOS = 2
    K_EMOJI = 4
    K_SKIP = 5

# ASCII tables (filled at import; read-only afterwards, so threads may share them).
cdef enum:
    J_DIGITS = 2

cdef uint8_t WF[256]     # folded byte of an ASCII letter/digit, 0 for every other byte (>= 0x80 too)
cdef uint8_t AEFF[256]   # flag effect of an ASCII separator on the token before it
cdef uint8_t AJOIN[256]  # bytes that may continue a token after an ASCII run: 1 for ' and >= 0x80,
                         # J_DIGITS for . and , (they join only digits)
cdef uint16_t LATIN[0x180 - 0xC0]  # accent folding of a lower-case U+00C0..U+017F letter (index
                                    # cp - 0xC0): its ASCII letter(s), first in the low byte, 0: kept
cdef uint8_t ELIDE[256]  # 1 for the folded one-letter elision prefixes l d j n c s m t
cdef uint64_t H_QU       # FNV-1a state after the folded bytes "qu" (the two-letter prefix)
cdef uint64_t FNV_INV    # the inverse of the FNV prime mod 2**64: the byte of a one-byte state
cdef enum:
    MAX_EXC = 8
cdef int N_EXC = 0       # exception tails: their folded bytes (packed, first in the low byte),
cdef uint64_t EXC_TAIL[MAX_EXC]  # length and prefix byte (0: after every prefix)
cdef uint8_t EXC_LEN[MAX_EXC]
cdef uint8_t EXC_PRE[MAX_EXC]

# Accent folding (after lower-casing): the Latin-1 Supplement and Latin Extended-A letters with
# diacritics, and the ligatures, onto ASCII. Kept as they are: eth, thorn, kra, 'n (U+0149), eng.
LATIN_FOLD = (
    ("a", "àáâãäåāăą"), ("ae", "æ"), ("c", "çćĉċč"), ("d", "ďđ"), ("e", "èéêëēĕėęě"),
    ("g", "ĝğġģ"), ("h", "ĥħ"), ("i", "ìíîïĩīĭįı"), ("ij", "ĳ"), ("j", "ĵ"), ("k", "ķ"),
    ("l", "ĺļľŀł"), ("n", "ñńņň"), ("o", "òóôõöøōŏő"), ("oe", "œ"), ("r", "ŕŗř"),
    ("s", "śŝşšſ"), ("ss", "ß"), ("t", "ţťŧ"), ("u", "ùúûüũūŭůűų"), ("w", "ŵ"), ("y", "ýÿŷ"),
    ("z", "źżž"),
)
# French elision: a token whose folded bytes so far are one of these, followed by an apostrophe,
# ends after the apostrophe ("l'accueil" -> "l'" "accueil"), unless the word characters after the
# apostrophe fold to one of the exception tails (whole-token exceptions, mostly English).
ELISION_PREFIXES = ("l", "d", "j", "n", "c", "s", "m", "t", "qu")
ELISION_EXCEPTIONS = {"": ("s",), "c": ("mon",), "d": ("oh",)}   # "": after every prefix


cdef void _init_tables():
    cdef int b
    for b in range(256):
        WF[b] = 0
        AEFF[b] = 0
        AJOIN[b] = 0
        if 0x30 <= b <= 0x39 or 0x61 <= b <= 0x7A:
            WF[b] = <uint8_t>b
        elif 0x41 <= b <= 0x5A:
            WF[b] = <uint8_t>(b + 0x20)
    AEFF[0x2E] = F_SENT                  # .
    AEFF[0x21] = F_SENT | E_EXCL1        # !
    AEFF[0x3F] = F_SENT | E_QUEST1       # ?
    AEFF[0x2C] = F_CLAUSE                # ,
    AEFF[0x3B] = F_CLAUSE                # ;
    AEFF[0x3A] = F_CLAUSE                # :
    for b in (0x0A, 0x0B, 0x0C, 0x0D):   # line breaks
        AEFF[b] = F_SENT
    AJOIN[0x27] = 1
    AJOIN[0x2E] = J_DIGITS
    AJOIN[0x2C] = J_DIGITS
    for b in range(0x80, 0x100):
        AJOIN[b] = 1
    for b in range(0x180 - 0xC0):
        LATIN[b] = 0
    for ascii_, letters in LATIN_FOLD:
        for ch in letters:
            LATIN[ord(ch) - 0xC0] = <uint16_t>(ord(ascii_[0]) | (ord(ascii_[1]) << 8 if len(ascii_) > 1 else 0))
    for b in range(256):
        ELIDE[b] = 0
    for prefix in ELISION_PREFIXES:
        if len(prefix) == 1:
            ELIDE[ord(prefix)] = 1
    global H_QU, FNV_INV, N_EXC
    H_QU = ((((0xcbf29ce484222325 ^ 0x71) * 0x100000001b3) % (1 << 64) ^ 0x75) * 0x100000001b3) % (1 << 64)
    FNV_INV = pow(0x100000001b3, -1, 1 << 64)
    N_EXC = 0
    for prefix, tails in ELISION_EXCEPTIONS.items():
        for tail in tails:
            EXC_TAIL[N_EXC] = int.from_bytes(tail.encode("ascii"), "little")
            EXC_LEN[N_EXC] = len(tail)
            EXC_PRE[N_EXC] = ord(prefix[0]) if prefix else 0
            N_EXC += 1

_init_tables()


# SWAR: eight bytes of text in one uint64 (byte k of the text in bits 8k..8k+7).
cdef inline uint64_t load_text8(const uint8_t* p, const uint8_t* end, const uint8_t* bufend) noexcept nogil:
    """The 8 bytes at p, those at or past end read as 0 (a separator). The load may run past end
    (within the buffer, up to bufend), so that it is one unaligned 8-byte load almost always."""
    cdef uint64_t w
    cdef uint8_t tail[8]
    cdef Py_ssize_t avail = end - p
    if bufend - p >= 8:
        w = emo_load8(p)
    else:                                    # the last bytes of the whole buffer
        memset(tail, 0, 8)
        memcpy(tail, p, bufend - p)
        w = emo_load8(tail)
    if avail < 8:
        w &= (1ULL << (8 * avail)) - 1
    return w


cdef inline uint64_t fold8(uint64_t w) noexcept nogil:
    """w's ASCII letters and digits folded: A-Z lowered, digits unchanged (other bytes garbled)."""
    return w | (0x20 * ONES)


cdef inline bint ends_ascii_run(uint8_t next, uint8_t last) noexcept nogil:
    """True when a token whose last byte is the ASCII letter/digit `last` surely ends before the
    byte `next` (token_cold would return at once); False when token_cold must decide."""
    cdef uint8_t j = AJOIN[next]
    return j == 0 or (j == J_DIGITS and <unsigned int>(last - 0x30) >= 10)


cdef inline uint64_t ascii_alnum(uint64_t w) noexcept nogil:
    """The high bit of each byte of w that is an ASCII letter or digit (a byte WF maps to nonzero).
    Each range test adds a constant to the low 7 bits of a byte, which never carries into the next."""
    cdef uint64_t low = w & ~HIGH
    cdef uint64_t folded = low | (0x20 * ONES)            # A-Z onto a-z (digits keep their bit 5)
    cdef uint64_t alpha = (folded + (0x80 - 0x61) * ONES) & ~(folded + (0x7F - 0x7A) * ONES)
    cdef uint64_t digit = (low + (0x80 - 0x30) * ONES) & ~(low + (0x7F - 0x39) * ONES)
    return (alpha | digit) & ~w & HIGH


cdef inline void fnv_steps8(uint64_t h, uint64_t fw, uint64_t* hs) noexcept nogil:
    """hs[k] = the FNV-1a state h after the first k bytes of fw, k = 1..8. All eight steps always
    run (a fixed trip count), so a word's length costs no mispredicted loop exit; the caller
    picks the state at the length it needs, and the states past it are never used."""
    cdef int k
    for k in range(8):
        h = (h ^ ((fw >> (8 * k)) & 0xFF)) * FNV_PRIME
        hs[k + 1] = h


# ----------------------------------------------------------------------------------------------
# Character classification for code points >= U+0080
# ----------------------------------------------------------------------------------------------
cdef inline int classify_cp(uint32_t cp) noexcept nogil:
    """Class code (kind | effect << 8) of a decoded code point >= U+0080."""
    if cp < 0x100:
        if cp < 0xC0:
            if cp == 0x85:
                return K_SEP | (F_SENT << 8)
            if cp == 0xAD:
                return K_SKIP
            return K_SEP
        if cp == 0xD7 or cp == 0xF7:
            return K_SEP
        return K_WORD
    if cp < 0x2000:
        if cp == 0x2BC:
            return K_APOS
        if cp == 0x37E or cp == 0x61F:
            return K_SEP | ((F_SENT | E_QUEST1) << 8)
        if cp == 0x387 or cp == 0x60C or cp == 0x61B:
            return K_SEP | (F_CLAUSE << 8)
        if cp == 0x6D4 or cp == 0x964 or cp == 0x965:
            return K_SEP | (F_SENT << 8)
        if cp == 0x1680 or cp == 0x180E:
            return K_SEP
        return K_WORD
    if cp < 0x2070:
        if cp == 0x2019:
            return K_APOS
        if cp == 0x200D or cp == 0x2060:
            return K_SKIP
        if cp == 0x2026 or cp == 0x2028 or cp == 0x2029:
            return K_SEP | (F_SENT << 8)
        if cp == 0x203C:
            return K_SEP | ((F_SENT | E_EXCL2) << 8)
        if cp == 0x2047:
            return K_SEP | ((F_SENT | E_QUEST2) << 8)
        if cp == 0x2048 or cp == 0x2049:
            return K_SEP | ((F_SENT | E_QUEST1 | E_EXCL1) << 8)
        return K_SEP
    if cp < 0x20A0:
        return K_WORD
    if cp < 0x2100:
        if cp == 0x20E3:
            return K_SKIP
        return K_SEP
    if cp < 0x2300:
        return K_SEP
    if cp < 0x2400:
        return K_EMOJI
    if cp < 0x2600:
        return K_SEP
    if cp < 0x27C0:
        return K_EMOJI
    if cp < 0x2B00:
        return K_SEP
    if cp < 0x2C00:
        return K_EMOJI
    if cp < 0x2E00:
        return K_WORD
    if cp < 0x2E80:
        return K_SEP
    if cp < 0x3000:
        return K_WORD
    if cp < 0x3040:
        if cp == 0x3001:
            return K_SEP | (F_CLAUSE << 8)
        if cp == 0x3002:
            return K_SEP | (F_SENT << 8)
        if ((0x3005 <= cp <= 0x3007) or (0x3021 <= cp <= 0x302F) or (0x3031 <= cp <= 0x3035)
                or cp == 0x303B or cp == 0x303C):
            return K_WORD
        return K_SEP
    if cp < 0xFE00:
        return K_WORD
    if cp < 0xFE10:
        if cp >= 0xFE0E:
            return K_SKIP
        return K_WORD
    if cp < 0xFE20:
        return K_SEP
    if cp < 0xFE30:
        return K_WORD
    if cp < 0xFE70:
        return K_SEP
    if cp < 0xFEFF:
        return K_WORD
    if cp == 0xFEFF:
        return K_SKIP
    if cp < 0xFF00:
        return K_WORD
    if cp < 0x10000:
        if cp == 0xFF01:
            return K_SEP | ((F_SENT | E_EXCL1) << 8)
        if cp == 0xFF1F:
            return K_SEP | ((F_SENT | E_QUEST1) << 8)
        if cp == 0xFF0E or cp == 0xFF61:
            return K_SEP | (F_SENT << 8)
        if cp == 0xFF0C or cp == 0xFF1A or cp == 0xFF1B or cp == 0xFF64:
            return K_SEP | (F_CLAUSE << 8)
        if cp < 0xFF10:
            return K_SEP
        if cp < 0xFF1A:
            return K_WORD
        if cp < 0xFF21:
            return K_SEP
        if cp < 0xFF3B:
            return K_WORD
        if cp < 0xFF41:
            return K_SEP
        if cp < 0xFF5B:
            return K_WORD
        if cp < 0xFF66:
            return K_SEP
        if cp < 0xFFE0:
            return K_WORD
        return K_SEP
    if cp < 0x1F000:
        return K_WORD
    if cp < 0x1FB00:
        if 0x1F3FB <= cp <= 0x1F3FF:
            return K_SKIP
        return K_EMOJI
    if 0xE0000 <= cp <= 0xE007F:
        return K_SKIP
    return K_WORD


cdef inline uint32_t fold_cp(uint32_t cp, int* case_) noexcept nogil:
    """Lower-case a non-ASCII word character; case_ gets 1 (upper), 2 (lower) or 0 (uncased)."""
    if cp < 0x100:               # U+00C0..U+00FF minus D7/F7 (the only word chars below U+0100)
        if cp <= 0xDE:
            case_[0] = 1
            return cp + 0x20
        case_[0] = 2
        return cp
    if cp < 0x180:
        if cp == 0x130:
            case_[0] = 1
            return 0x69
        if cp == 0x178:
            case_[0] = 1
            return 0xFF
        if cp == 0x131 or cp == 0x138 or cp == 0x149 or cp == 0x17F:
            case_[0] = 2
            return cp
        if (0x139 <= cp <= 0x148) or (0x179 <= cp <= 0x17E):
            if cp & 1:
                case_[0] = 1
                return cp + 1
            case_[0] = 2
            return cp
        if cp & 1:
            case_[0] = 2
            return cp
        case_[0] = 1
        return cp + 1
    if 0x391 <= cp <= 0x3A9:
        if cp == 0x3A2:
            case_[0] = 0
            return cp
        case_[0] = 1
        return cp + 0x20
    if 0x3B1 <= cp <= 0x3C9:
        case_[0] = 2
        return cp
    if 0x400 <= cp <= 0x40F:
        case_[0] = 1
        return cp + 0x50
    if 0x410 <= cp <= 0x42F:
        case_[0] = 1
        return cp + 0x20
    if 0x430 <= cp <= 0x45F:
        case_[0] = 2
        return cp
    case_[0] = 0
    return cp


cdef inline int fold_word(uint32_t cp, uint8_t* enc, int* case_) noexcept nogil:
    """The folded UTF-8 bytes (1..4) of the non-ASCII word character cp in enc: lower-cased
    (fold_cp), then accent-folded (LATIN: one or two ASCII letters); case_ as fold_cp."""
    cdef uint32_t c = fold_cp(cp, case_)
    cdef uint16_t a
    if 0xC0 <= c < 0x180:
        a = LATIN[c - 0xC0]
        if a != 0:
            enc[0] = <uint8_t>(a & 0xFF)
            if a >> 8:
                enc[1] = <uint8_t>(a >> 8)
                return 2
            return 1
    return encode_utf8(c, enc)


cdef inline uint8_t elision_prefix(uint64_t h, Py_ssize_t tl) noexcept nogil:
    """The elision prefix that a token's first tl folded bytes (running hash h) are: its first
    letter ('q' for "qu"), or 0 when they are none."""
    cdef uint64_t b
    if tl == 1:
        b = (h * FNV_INV) ^ FNV_OFFSET       # undo the one FNV-1a step: the byte itself
        if b < 256 and ELIDE[b]:
            return <uint8_t>b
    elif tl == 2 and h == H_QU:
        return 0x71
    return 0


cdef bint elision_kept(uint8_t pre, const uint8_t* q, const uint8_t* end) noexcept nogil:
    """True when the word characters at q (skipped code points passed over, up to the first other
    character) fold to an exception tail of the elision prefix pre: the token is not cut."""
    cdef uint64_t tail = 0
    cdef int n = 0, k, elen, cs, kind
    cdef Py_ssize_t clen
    cdef int32_t cp
    cdef uint8_t b
    cdef uint8_t enc[4]
    while q < end:
        b = q[0]
        if b < 0x80:
            if WF[b] == 0:
                break
            enc[0] = WF[b]
            elen = 1
            clen = 1
        else:
            cp = decode_utf8(q, 0, end - q, &clen)
            if cp < 0:
                break
            kind = classify_cp(<uint32_t>cp) & 0xFF
            if kind == K_SKIP:
                q += clen
                continue
            if kind != K_WORD:
                break
            elen = fold_word(<uint32_t>cp, enc, &cs)
        if n + elen > 8:
            return False
        for k in range(elen):
            tail |= (<uint64_t>enc[k]) << (8 * n)
            n += 1
        q += clen
    for k in range(N_EXC):
        if EXC_LEN[k] == n and EXC_TAIL[k] == tail and (EXC_PRE[k] == 0 or EXC_PRE[k] == pre):
            return True
    return False


cdef inline int32_t decode_utf8(const uint8_t* s, Py_ssize_t i, Py_ssize_t n,
                                Py_ssize_t* clen) noexcept nogil:
    """Code point of the well-formed UTF-8 sequence at s[i] (s[i] >= 0x80), or -1 (then clen = 1)."""
    cdef uint8_t b0 = s[i], b1, b2, b3
    clen[0] = 1
    if b0 < 0xC2:
        return -1
    if b0 < 0xE0:
        if i + 1 < n:
            b1 = s[i + 1]
            if (b1 & 0xC0) == 0x80:
                clen[0] = 2
                return ((b0 & 0x1F) << 6) | (b1 & 0x3F)
        return -1
    if b0 < 0xF0:
        if i + 2 >= n:
            return -1
        b1 = s[i + 1]
        if b0 == 0xE0:
            if b1 < 0xA0 or b1 > 0xBF:
                return -1
        elif b0 == 0xED:
            if b1 < 0x80 or b1 > 0x9F:
                return -1
        elif (b1 & 0xC0) != 0x80:
            return -1
        b2 = s[i + 2]
        if (b2 & 0xC0) != 0x80:
            return -1
        clen[0] = 3
        return ((b0 & 0x0F) << 12) | ((b1 & 0x3F) << 6) | (b2 & 0x3F)
    if b0 < 0xF5:
        if i + 3 >= n:
            return -1
        b1 = s[i + 1]
        if b0 == 0xF0:
            if b1 < 0x90 or b1 > 0xBF:
                return -1
        elif b0 == 0xF4:
            if b1 < 0x80 or b1 > 0x8F:
                return -1
        elif (b1 & 0xC0) != 0x80:
            return -1
        b2 = s[i + 2]
        b3 = s[i + 3]
        if (b2 & 0xC0) != 0x80 or (b3 & 0xC0) != 0x80:
            return -1
        clen[0] = 4
        return ((b0 & 0x07) << 18) | ((b1 & 0x3F) << 12) | ((b2 & 0x3F) << 6) | (b3 & 0x3F)
    return -1


# ----------------------------------------------------------------------------------------------
# Hash table
# ----------------------------------------------------------------------------------------------
cdef struct Table:
    const uint64_t* keys
    const int32_t* ids
    uint64_t cap          # power of two (fold_tokens: 0, and no lookups)
    uint64_t stem_mask    # bits 1..63
    const uint64_t* filt  # optional per-call prefilter over the keys (NULL: none), see build_filter
    int fshift            # 64 - log2(number of 64-bit filter words)
    int nslen             # with a filter: the stem lengths in stem_mask, longest first
    uint8_t slen[64]
    MemoSlot* memo        # optional per-call memo of short ASCII tokens (NULL: none), see MemoSlot


# A one-bit-per-item Bloom filter over the table's keys (about 64 bits per key, ~3% false
# positives), built per tokenize call when the input is large enough to pay for it. Most tokens of
# real text are not in the lexicon, and a stem lexicon multiplies the lookups of such tokens; the
# filter (cache-resident) answers most of them without touching the table and without the probing
# loop's unpredictable branches. Each key K goes in twice: as itself (a whole-token key is tested
# as is) and as the raw prefix hash that a stem key K comes from (K ^ STEM_TAG, plus the two values
# that the 0 -> 1 rule maps onto K), so that stem candidates are tested straight from the running
# hashes. It never changes a result.
# The two forms are mixed with different odd multipliers: a token prefix that is itself a whole
# word of the lexicon (very common: "good" in "goodness") must not look like a stem candidate.
cdef enum:
    MIX_WORD = 0
    MIX_STEM = 1

cdef uint64_t[2] FILTER_MUL
FILTER_MUL[0] = 0x9E3779B97F4A7C15ULL
FILTER_MUL[1] = 0xD6E8FEB86659FD93ULL


cdef inline uint64_t filter_bit(const uint64_t* filt, int fshift, uint64_t x, uint64_t mul) noexcept nogil:
    cdef uint64_t i = (x * mul) >> fshift
    return (filt[i >> 6] >> (i & 63)) & 1


cdef inline void filter_add(uint64_t* filt, int fshift, uint64_t x, uint64_t mul) noexcept nogil:
    cdef uint64_t i = (x * mul) >> fshift
    filt[i >> 6] |= 1ULL << (i & 63)


cdef uint64_t* build_filter(const uint64_t* keys, uint64_t cap, int* fshift) noexcept nogil:
    """The filter's words (calloc'd; NULL when out of memory) for the nonzero keys[0:cap]."""
    cdef uint64_t nkeys = 0, j, nbits = 512, k
    cdef uint64_t wmul = FILTER_MUL[MIX_WORD], smul = FILTER_MUL[MIX_STEM]
    cdef int lg = 9
    cdef uint64_t* filt
    for j in range(cap):
        nkeys += keys[j] != 0
    while nbits < 64 * nkeys:
        nbits <<= 1
        lg += 1
    filt = <uint64_t*>calloc(nbits // 64, sizeof(uint64_t))
    if filt == NULL:
        return NULL
    fshift[0] = 64 - lg
    for j in range(cap):
        k = keys[j]
        if k != 0:
            filter_add(filt, fshift[0], k, wmul)                # as a whole-token key
            filter_add(filt, fshift[0], k ^ C_STEM_TAG, smul)   # as a stem: the raw prefix hash
            if k == 1:
                filter_add(filt, fshift[0], C_STEM_TAG, smul)   # raw TAG -> 0 -> 1
            if k == (1 ^ C_STEM_TAG):
                filter_add(filt, fshift[0], 0, smul)            # raw 0 -> 1 -> 1 ^ TAG
    return filt


# A direct-mapped memo of the term ids of short ASCII tokens, per tokenize call (next to the
# filter). Feedback repeats a small vocabulary, and a token of 1..15 ASCII letters/digits is fully
# named by its folded bytes in two uint64 (lo nonzero; the bytes past the token 0), so a memo hit
# gives the term id without the FNV-1a chain, the filter, the table probe and the stem candidates.
# A miss looks up as before and overwrites the slot. It never changes a result: the id is a function
# of the bytes.
cdef struct MemoSlot:
    uint64_t lo           # folded bytes 0..7 of the token (0: an empty slot)
    uint64_t hi           # folded bytes 8..15
    int32_t tid

cdef enum:
    MEMO_BITS = 15
    C_MEMO_MIN_BYTES = 16 << MEMO_BITS       # tokenize keeps a memo for inputs of this many bytes
MEMO_MIN_BYTES = C_MEMO_MIN_BYTES


cdef inline uint64_t memo_index(uint64_t lo, uint64_t hi) noexcept nogil:
    return ((lo + hi) * MEMO_MUL) >> (64 - MEMO_BITS)


cdef inline uint64_t byte_mask(Py_ssize_t n) noexcept nogil:
    """The low n bytes of a uint64 (0 <= n <= 8)."""
    return ~0ULL >> (64 - 8 * n) if n != 0 else 0


# ----------------------------------------------------------------------------------------------
# Output sink (grown with malloc/realloc; no Python objects while scanning)
# ----------------------------------------------------------------------------------------------
cdef struct Sink:
    int32_t* ids
    uint8_t* flags
    int64_t* ends        # fold mode only: end offset of each token in fbuf
    Py_ssize_t n
    Py_ssize_t cap
    uint8_t* fbuf        # fold mode only: folded bytes of all tokens, concatenated
    Py_ssize_t flen
    Py_ssize_t fcap
    # (last, so that the fields above keep their offsets in the default scanner's code)
    int64_t* sstart      # span mode only: byte offset of each token's first byte in its document
    int64_t* send        # span mode only: byte offset one past each token's last byte
    Py_ssize_t scap      # span mode only: the span arrays' capacity (spans_grow brings it to cap)


cdef int sink_init(Sink* out, Py_ssize_t cap, bint fold, bint spans) noexcept nogil:
    if cap < 16:
        cap = 16
    out.n = 0
    out.cap = cap
    out.flen = 0
    out.fcap = 0
    out.ends = NULL
    out.fbuf = NULL
    out.sstart = NULL
    out.send = NULL
    out.scap = 0
    out.ids = <int32_t*>malloc(cap * sizeof(int32_t))
    out.flags = <uint8_t*>malloc(cap * sizeof(uint8_t))
    if out.ids == NULL or out.flags == NULL:
        return -1
    if fold:
        out.ends = <int64_t*>malloc(cap * sizeof(int64_t))
        out.fcap = 64
        out.fbuf = <uint8_t*>malloc(out.fcap)
        if out.ends == NULL or out.fbuf == NULL:
            return -1
    if spans:
        out.sstart = <int64_t*>malloc(cap * sizeof(int64_t))
        out.send = <int64_t*>malloc(cap * sizeof(int64_t))
        if out.sstart == NULL or out.send == NULL:
            return -1
        out.scap = cap
    return 0


cdef void sink_free(Sink* out) noexcept nogil:
    free(out.ids)
    free(out.flags)
    free(out.ends)
    free(out.fbuf)
    free(out.sstart)
    free(out.send)
    out.ids = NULL
    out.flags = NULL
    out.ends = NULL
    out.fbuf = NULL
    out.sstart = NULL
    out.send = NULL


cdef int sink_grow(Sink* out) noexcept nogil:
    cdef Py_ssize_t cap = out.cap * 2
    cdef void* p
    p = realloc(out.ids, cap * sizeof(int32_t))
    if p == NULL:
        return -1
    out.ids = <int32_t*>p
    p = realloc(out.flags, cap * sizeof(uint8_t))
    if p == NULL:
        return -1
    out.flags = <uint8_t*>p
    if out.ends != NULL:
        p = realloc(out.ends, cap * sizeof(int64_t))
        if p == NULL:
            return -1
        out.ends = <int64_t*>p
    out.cap = cap
    return 0


cdef int spans_grow(Sink* out) noexcept nogil:
    """Grow the span arrays to out.cap (Locating mode, after each sink_grow: sink_grow itself stays
    as small as it was, so that the compiler keeps inlining it into the default scanner)."""
    cdef void* p
    p = realloc(out.sstart, out.cap * sizeof(int64_t))
    if p == NULL:
        return -1
    out.sstart = <int64_t*>p
    p = realloc(out.send, out.cap * sizeof(int64_t))
    if p == NULL:
        return -1
    out.send = <int64_t*>p
    out.scap = out.cap
    return 0


cdef int fbuf_grow(Sink* out) noexcept nogil:
    cdef Py_ssize_t cap = out.fcap * 2
    cdef void* p = realloc(out.fbuf, cap)
    if p == NULL:
        return -1
    out.fbuf = <uint8_t*>p
    out.fcap = cap
    return 0


# ----------------------------------------------------------------------------------------------
# The scanner: one implementation, compiled three times by fused-type specialisation (Plain for
# tokenize, Locating for tokenize(spans=True): Plain plus each token's byte span, Folding for
# fold_tokens, which also keeps the folded bytes and looks nothing up). The hot path (ASCII letters, ASCII
# separators, lookup, append) is in scan_doc with its state in locals; the rarer cases (non-ASCII
# characters, joiners, emoji, CAPS, probe collisions, stems, growth) are out-of-line functions
# working on a Scan struct, so that the hot loop keeps its variables in registers.
# ----------------------------------------------------------------------------------------------
cdef struct Plain:
    char _unused

cdef struct Locating:
    char _unused

cdef struct Folding:
    char _unused

ctypedef fused mode_t:
    Plain
    Folding
    Locating


cdef struct Scan:
    const uint8_t* end         # end of the document
    Sink* out
    const Table* table
    Py_ssize_t first           # index of the document's first token in out
    int err                    # out of memory
    # the token being built (handed over to the out-of-line helpers)
    uint64_t h                 # running FNV-1a state
    Py_ssize_t tl              # folded bytes hashed so far
    const uint8_t* lastascii   # the last character fed, when it is ASCII; else NULL
    int nx_up                  # non-ASCII upper-case letters
    int nx_lo                  # a non-ASCII lower-case letter was seen
    int cut                    # token_cold ended the token after an elision's apostrophe
    uint64_t hs[72]            # hs[L]: running hash after L bytes (L <= 63), for stems; the 8
                               # states past L = 63 are scratch for fnv_steps8
    # Locating only
    const uint8_t* doc         # the document's first byte (spans are relative to it)
    const uint8_t* skip_from   # the latest run of skipped code points that token_cold passed over
    const uint8_t* skip_to     # (a token that ends at skip_to ends before skip_from)


cdef inline int fbuf_push(Sink* out, uint8_t byte) noexcept nogil:
    if out.flen == out.fcap:
        if fbuf_grow(out):
            return -1
    out.fbuf[out.flen] = byte
    out.flen += 1
    return 0


cdef inline int encode_utf8(uint32_t c, uint8_t* buf) noexcept nogil:
    if c < 0x80:
        buf[0] = <uint8_t>c
        return 1
    if c < 0x800:
        buf[0] = <uint8_t>(0xC0 | (c >> 6))
        buf[1] = <uint8_t>(0x80 | (c & 0x3F))
        return 2
    if c < 0x10000:
        buf[0] = <uint8_t>(0xE0 | (c >> 12))
        buf[1] = <uint8_t>(0x80 | ((c >> 6) & 0x3F))
        buf[2] = <uint8_t>(0x80 | (c & 0x3F))
        return 3
    buf[0] = <uint8_t>(0xF0 | (c >> 18))
    buf[1] = <uint8_t>(0x80 | ((c >> 12) & 0x3F))
    buf[2] = <uint8_t>(0x80 | ((c >> 6) & 0x3F))
    buf[3] = <uint8_t>(0x80 | (c & 0x3F))
    return 4


cdef inline void st_feed(Scan* st, uint8_t byte, mode_t* mode) noexcept nogil:
    st.h = (st.h ^ byte) * FNV_PRIME
    st.tl += 1
    if st.tl < 64:
        st.hs[st.tl] = st.h
    if mode_t is Folding:
        if fbuf_push(st.out, byte):
            st.err = 1


cdef int32_t probe_on(const Table* t, uint64_t key, uint64_t slot) noexcept nogil:
    """Linear probing after a first-probe collision at slot (at most capacity probes)."""
    cdef uint64_t m = t.cap - 1, probe, k
    for probe in range(t.cap):
        slot = (slot + 1) & m
        k = t.keys[slot]
        if k == key:
            return t.ids[slot]
        if k == 0:
            return -1
    return -1


cdef inline int32_t table_probe(const Table* t, uint64_t key) noexcept nogil:
    cdef uint64_t slot = (key ^ (key >> 29)) & (t.cap - 1)
    cdef uint64_t k = t.keys[slot]
    if k == key:
        return t.ids[slot]
    if k == 0:
        return -1
    return probe_on(t, key, slot)


cdef inline int32_t table_get(const Table* t, uint64_t key) noexcept nogil:
    if t.filt != NULL and not filter_bit(t.filt, t.fshift, key, FILTER_MUL[MIX_WORD]):
        return -1
    return table_probe(t, key)


cdef int32_t stem_lookup(const Table* tab, const uint64_t* hs, Py_ssize_t tl) noexcept nogil:
    """Longest stem whose length is in the mask and <= tl; hs[L] is the running hash after L bytes.

    With a prefilter, the running hashes at every stem length of the lexicon are first tested
    against it in a loop of fixed trip count (the lexicon's stem lengths, those > tl masked out, so
    the exit does not depend on the token); only when one passes are the candidates probed, longest
    first. hs[L] for L > tl may be stale: it is read but masked out."""
    cdef uint64_t m, key, anyhit, smul = FILTER_MUL[MIX_STEM]
    cdef int L, k
    cdef Py_ssize_t Lc
    cdef int32_t tid
    if tab.filt != NULL:
        anyhit = 0
        for k in range(tab.nslen):           # a fixed trip count: lengths past tl are masked out
            anyhit |= filter_bit(tab.filt, tab.fshift, hs[tab.slen[k]], smul) & (tab.slen[k] <= tl)
        if anyhit == 0:
            return -1
    m = tab.stem_mask
    if tl < 63:
        m &= (2ULL << tl) - 1
    while m != 0:
        L = 63 - emo_clz64(m)
        key = hs[L]
        key += key == 0
        key ^= C_STEM_TAG
        key += key == 0
        tid = table_probe(tab, key)
        if tid >= 0:
            return tid
        m ^= (1ULL << L)
    return -1


cdef inline void apply_effect(uint8_t* flags, Py_ssize_t n, Py_ssize_t first, int eff) noexcept nogil:
    """Merge a separator's flag effect into the document's latest token flags[n-1] (if any)."""
    cdef int fl, ex, q
    if n == first:
        return
    fl = flags[n - 1]
    ex = ((fl >> 4) & 3) + ((eff >> 4) & 3)
    if ex > 3:
        ex = 3
    q = ((fl >> 6) & 3) + ((eff >> 6) & 3)
    if q > 3:
        q = 3
    flags[n - 1] = <uint8_t>((fl & 0x0F) | (eff & (F_SENT | F_CLAUSE)) | (ex << 4) | (q << 6))


cdef int append_cold(Sink* out, int32_t tid, uint8_t fl) noexcept nogil:
    """Append (tid, fl) to out directly (growing it if full); out.n must be current."""
    if out.n == out.cap:
        if sink_grow(out):
            return -1
    out.ids[out.n] = tid
    out.flags[out.n] = fl
    if out.ends != NULL:
        out.ends[out.n] = out.flen
    out.n += 1
    return 0


cdef const uint8_t* between_cold(Scan* st, const uint8_t* p, mode_t* mode) noexcept nogil:
    """One non-ASCII character (or invalid byte) between tokens, at p (p[0] >= 0x80).

    Returns p itself when a word character starts there (the caller starts a token), else the
    position after it: a separator's effect is applied, an emoji is emitted as a token.
    Works on st.out directly (the caller syncs its working copy of the sink around the call)."""
    cdef Py_ssize_t clen, k
    cdef int32_t cp = decode_utf8(p, 0, st.end - p, &clen)
    cdef int code, kind
    cdef int32_t tid = -1
    cdef Sink* out = st.out
    if cp < 0:                               # invalid UTF-8: a plain separator
        return p + 1
    code = classify_cp(<uint32_t>cp)
    kind = code & 0xFF
    if kind == K_WORD:
        return p
    if kind == K_EMOJI:                      # a token of its own
        st.h = FNV_OFFSET
        st.tl = 0
        for k in range(clen):
            st_feed(st, p[k], mode)
        if st.err:
            return p
        if mode_t is not Folding:
            tid = table_get(st.table, st.h if st.h != 0 else 1)
            if tid < 0 and st.table.stem_mask != 0:
                tid = stem_lookup(st.table, st.hs, st.tl)
        if append_cold(out, tid, F_EMOJI):
            st.err = 1
        if mode_t is Locating:               # the emoji's span: its code point
            if not st.err and out.scap < out.cap and spans_grow(out):
                st.err = 1
            if not st.err:
                out.sstart[out.n - 1] = p - st.doc
                out.send[out.n - 1] = p + clen - st.doc
    elif (code >> 8) != 0:
        apply_effect(out.flags, out.n, st.first, code >> 8)
    return p + clen


cdef const uint8_t* token_cold(Scan* st, const uint8_t* p, mode_t* mode) noexcept nogil:
    """Inside a token, at a byte the ASCII loop stopped on that may continue the token: a joiner
    (' . , U+2019 U+02BC) or any byte >= 0x80. Returns the position to go on from, or p itself
    when the token ends before p. Updates st.h, st.tl, st.hs, st.lastascii and the case counts.
    After an elision prefix ("l", "qu", ...) an apostrophe is fed and ends the token: st.cut is set
    and the position after the apostrophe returned."""
    cdef const uint8_t* end = st.end
    cdef const uint8_t* q
    cdef Py_ssize_t clen, clen2, k, elen
    cdef int32_t cp, cp2
    cdef int code, kind, cs
    cdef uint8_t b = p[0], joiner, nb, pre
    cdef uint8_t enc[4]
    cdef bint ok
    if b < 0x80:
        if b != 0x27 and (st.lastascii == NULL or ends_ascii_run(b, st.lastascii[0])):
            return p                         # . and , join only ASCII digits
        joiner = b
        clen = 1
    else:
        cp = decode_utf8(p, 0, end - p, &clen)
        if cp < 0:
            return p
        code = classify_cp(<uint32_t>cp)
        kind = code & 0xFF
        if kind == K_WORD:                   # non-ASCII letter: fold, re-encode, hash
            elen = fold_word(<uint32_t>cp, enc, &cs)
            if cs == 1:
                st.nx_up += 1
            elif cs == 2:
                st.nx_lo = 1
            for k in range(elen):
                st_feed(st, enc[k], mode)
            st.lastascii = NULL
            return p + clen
        if kind == K_SKIP:
            if mode_t is Locating:
                if st.skip_to != p:
                    st.skip_from = p
                st.skip_to = p + clen
            return p + clen
        if kind != K_APOS:
            return p
        joiner = 0x27
    if joiner == 0x27 and st.tl <= 2:        # French elision: "l'", "qu'" ... end the token
        pre = elision_prefix(st.h, st.tl)
        if pre != 0 and not elision_kept(pre, p + clen, end):
            st_feed(st, 0x27, mode)
            st.cut = 1
            return p + clen
    # a joiner: it joins when the next non-skipped character qualifies
    q = p + clen
    while q < end and q[0] >= 0x80:
        cp2 = decode_utf8(q, 0, end - q, &clen2)
        if cp2 < 0 or (classify_cp(<uint32_t>cp2) & 0xFF) != K_SKIP:
            break
        q += clen2
    if q >= end:
        return p
    nb = q[0]
    if joiner == 0x27:
        if WF[nb] != 0:
            ok = True
        elif nb >= 0x80:
            cp2 = decode_utf8(q, 0, end - q, &clen2)
            ok = cp2 >= 0 and (classify_cp(<uint32_t>cp2) & 0xFF) == K_WORD
        else:
            ok = False
    else:
        ok = 0x30 <= nb <= 0x39
    if not ok:
        return p
    st_feed(st, joiner, mode)
    return q


cdef uint8_t caps_cold(const Scan* st, const uint8_t* tstart, const uint8_t* tend) noexcept nogil:
    """F_CAPS when the token s[tstart:tend] has >= 2 upper-case letters and no lower-case one.
    Its ASCII bytes are letters, digits and joiners; non-ASCII letters were counted in st."""
    cdef int ups = st.nx_up
    cdef const uint8_t* q = tstart
    cdef uint8_t b
    if st.nx_lo:
        return 0
    while q < tend:
        b = q[0]
        if 0x41 <= b <= 0x5A:
            ups += 1
        elif 0x61 <= b <= 0x7A:
            return 0
        q += 1
    return F_CAPS if ups >= 2 else 0


cdef int scan_doc(const uint8_t* s, Py_ssize_t n, const uint8_t* bufend, const Table* table,
                  Sink* out, mode_t* mode) noexcept nogil:
    """Tokenize one document s[0:n] and append its tokens to out. Returns 0, or -1 (out of memory).
    bufend: the end of the buffer that holds s (>= s + n); the scanner may read up to it.

    Two alternating loops: between tokens (ASCII separators give the latest token its flags), and
    inside a token (the tight ASCII letter/digit loop, 8 bytes a step). A token ends at the first byte that neither
    loop nor token_cold accepts; the between-tokens loop then handles that byte.
    """
    cdef Scan st
    cdef const uint8_t* p = s
    cdef const uint8_t* end = s + n
    cdef const uint8_t* q
    cdef const uint8_t* tstart
    cdef const uint8_t* lastascii
    cdef const uint8_t* p2
    cdef int32_t* ids = out.ids
    cdef uint8_t* flags = out.flags
    cdef Py_ssize_t cnt = out.n, cap = out.cap, first = out.n
    cdef Py_ssize_t tl
    cdef const uint64_t* keys = table.keys
    cdef const int32_t* tids = table.ids
    cdef uint64_t cmask = table.cap - 1, smask = table.stem_mask
    cdef const uint64_t* filt = table.filt
    cdef int fshift = table.fshift
    cdef uint64_t wmul = FILTER_MUL[MIX_WORD]
    cdef uint64_t h, key, slot, k, w, nonword, fw, nonword2
    cdef Py_ssize_t run
    cdef uint8_t b, fb, fl, e
    cdef int32_t tid
    cdef MemoSlot* memo = table.memo
    cdef MemoSlot* slotp = NULL
    cdef uint64_t mlo = 0, mhi = 0, w2
    cdef bint hit, remember
    st.end = end
    st.out = out
    st.table = table
    st.first = first
    st.err = 0
    st.cut = 0
    if mode_t is Locating:
        st.doc = s
        st.skip_from = NULL
        st.skip_to = NULL
    while True:
        # ---- between tokens -----------------------------------------------------------------
        while p < end:
            b = p[0]
            if WF[b] != 0:
                break
            if b < 0x80:
                e = AEFF[b]
                if e != 0 and cnt > first:
                    apply_effect(flags, cnt, first, e)
                p += 1
                continue
            out.n = cnt
            p2 = between_cold(&st, p, mode)
            ids = out.ids
            flags = out.flags
            cnt = out.n
            cap = out.cap
            if st.err:
                return -1
            if p2 == p:                      # a non-ASCII word character starts a token
                break
            p = p2
        if p >= end:
            break

        # ---- a token starts at p --------------------------------------------------------------
        tstart = p
        st.nx_up = 0
        st.nx_lo = 0
        hit = False
        remember = False
        w = load_text8(p, end, bufend)       # the first 8 bytes, for the memo and the ASCII loop
        nonword = ~ascii_alnum(w) & HIGH
        if mode_t is not Folding:
            if memo != NULL:                 # a short ASCII token seen before: its id from the memo
                run = 0                      # 0: not 1..15 letters and digits
                if nonword != 0:
                    run = emo_ctz64(nonword) >> 3
                    mlo = fold8(w) & byte_mask(run)
                    mhi = 0
                else:
                    w2 = load_text8(p + 8, end, bufend)
                    nonword2 = ~ascii_alnum(w2) & HIGH
                    if nonword2 != 0:
                        run = 8 + (emo_ctz64(nonword2) >> 3)
                        mlo = fold8(w)
                        mhi = fold8(w2) & byte_mask(run - 8)
                if run != 0 and (p + run >= end or ends_ascii_run(p[run], p[run - 1])):
                    slotp = &memo[memo_index(mlo, mhi)]
                    if slotp.lo == mlo and slotp.hi == mhi:
                        hit = True
                        tid = slotp.tid
                        p += run
                        lastascii = p - 1
                    else:
                        remember = True
        if not hit:
            h = FNV_OFFSET
            tl = 0
            lastascii = NULL
            st.hs[0] = FNV_OFFSET
            while True:
                q = p
                while True:                  # ASCII letters and digits, 8 bytes a step: the hot loop
                    if tl >= 64:             # past 63 bytes (no more stem states): byte by byte
                        while p < end:
                            fb = WF[p[0]]
                            if fb == 0:
                                break
                            h = (h ^ fb) * FNV_PRIME
                            tl += 1
                            if mode_t is Folding:
                                if fbuf_push(out, fb):
                                    return -1
                            p += 1
                        break
                    run = 8 if nonword == 0 else emo_ctz64(nonword) >> 3
                    fw = fold8(w)
                    fnv_steps8(h, fw, &st.hs[tl])
                    h = st.hs[tl + run]
                    if mode_t is Folding:
                        for k in range(<uint64_t>run):
                            if fbuf_push(out, <uint8_t>(fw >> (8 * k))):
                                return -1
                    tl += run
                    p += run
                    if run < 8:
                        break
                    w = load_text8(p, end, bufend)
                    nonword = ~ascii_alnum(w) & HIGH
                if p != q:
                    lastascii = p - 1
                if p >= end or (lastascii == p - 1 and ends_ascii_run(p[0], lastascii[0])):
                    break
                st.h = h
                st.tl = tl
                st.lastascii = lastascii
                p2 = token_cold(&st, p, mode)
                if st.err:
                    return -1
                if p2 == p:
                    break
                p = p2
                h = st.h
                tl = st.tl
                lastascii = st.lastascii
                if st.cut:                   # after an elision's apostrophe
                    st.cut = 0
                    break
                w = load_text8(p, end, bufend)
                nonword = ~ascii_alnum(w) & HIGH

        # ---- the token ends at p: CAPS, lookup, append ------------------------------------------
        fl = 0
        if lastascii == NULL or lastascii[0] < 0x61:
            fl = caps_cold(&st, tstart, p)
        if mode_t is not Folding and not hit:
            tid = -1
            key = h if h != 0 else 1
            if filt == NULL or filter_bit(filt, fshift, key, wmul):
                slot = (key ^ (key >> 29)) & cmask
                k = keys[slot]
                if k == key:
                    tid = tids[slot]
                elif k != 0:
                    tid = probe_on(table, key, slot)
            if tid < 0 and smask != 0:
                tid = stem_lookup(table, st.hs, tl)
            if remember:
                slotp.lo = mlo
                slotp.hi = mhi
                slotp.tid = tid
        if mode_t is Folding:
            tid = -1
        if cnt == cap:
            out.n = cnt
            if sink_grow(out):
                return -1
            if mode_t is Locating:
                if spans_grow(out):
                    return -1
            ids = out.ids
            flags = out.flags
            cap = out.cap
        ids[cnt] = tid
        flags[cnt] = fl
        if mode_t is Folding:
            out.ends[cnt] = out.flen
        if mode_t is Locating:
            out.sstart[cnt] = tstart - s
            out.send[cnt] = (p if p != st.skip_to else st.skip_from) - s   # less skipped ones at its end
        cnt += 1

    if cnt > first:
        flags[cnt - 1] |= F_SENT
    out.n = cnt
    return 0


# ----------------------------------------------------------------------------------------------
# Python API
# ----------------------------------------------------------------------------------------------
def fnv1a64(data):
    """64-bit FNV-1a of a bytes-like object; a result of 0 becomes 1 (0 marks an empty table slot).

    This is the table key of a whole token: ``fnv1a64(token)`` for each ``token`` of
    ``fold_tokens(term)``.
    """
    cdef const uint8_t[::1] mv = data
    cdef uint64_t h = FNV_OFFSET
    cdef Py_ssize_t i
    for i in range(mv.shape[0]):
        h = (h ^ mv[i]) * FNV_PRIME
    if h == 0:
        h = 1
    return h


def stem_key(stem):
    """Table key of a wildcard stem (the bytes before ``*``, folded): ``fnv1a64(stem) ^ STEM_TAG``,
    0 becoming 1. Only stems of 1..63 bytes can match (``stem_mask`` has 64 bits)."""
    cdef uint64_t k = <uint64_t>fnv1a64(stem) ^ C_STEM_TAG
    if k == 0:
        k = 1
    return k


def fold_tokens(text):
    """The tokens of one text as ``tokenize`` hashes them: case-folded UTF-8 bytes, apostrophes
    stored as ASCII ``'``. Runs the same scanner as ``tokenize``.

    Parameters
    ----------
    text : str or bytes-like
        A ``str`` is encoded as UTF-8 (lone surrogates act as separators); bytes are scanned as they
        are (invalid UTF-8 acts as a separator).

    Returns
    -------
    list of bytes
    """
    cdef Sink out
    cdef Table tab
    cdef Folding mode
    cdef const uint8_t[::1] mv
    cdef int rc
    cdef Py_ssize_t k, prev
    if isinstance(text, str):
        text = (<str>text).encode("utf-8", "surrogatepass")
    mv = text
    tab.keys = NULL
    tab.ids = NULL
    tab.cap = 0
    tab.stem_mask = 0
    tab.filt = NULL
    tab.fshift = 0
    tab.nslen = 0
    tab.memo = NULL
    if sink_init(&out, 16, True, False):
        sink_free(&out)
        raise MemoryError()
    try:
        if mv.shape[0] > 0:
            with nogil:
                rc = scan_doc(&mv[0], mv.shape[0], &mv[0] + mv.shape[0], &tab, &out, &mode)
            if rc:
                raise MemoryError()
        result = []
        prev = 0
        for k in range(out.n):
            result.append((<char*>out.fbuf)[prev:out.ends[k]])
            prev = out.ends[k]
        return result
    finally:
        sink_free(&out)


def build_table(hashes, ids):
    """Open-addressing hash table of term keys -> term ids, as ``tokenize`` probes it.

    Parameters
    ----------
    hashes : array-like of uint64, shape (n,)
        Keys: ``fnv1a64(token)`` for terms, ``stem_key(stem)`` for stems. Nonzero and distinct.
    ids : array-like of int32, shape (n,)
        Term id of each key (>= 0).

    Returns
    -------
    table_keys : numpy.ndarray, uint64[C], read-only
        C is the smallest power of two >= max(16, 2 n); 0 marks an empty slot.
    table_ids : numpy.ndarray, int32[C], read-only
        -1 in empty slots.

    Raises
    ------
    ValueError
        If the lengths differ, a key is 0, an id is negative, or a key appears twice (the message
        names the key).
    """
    h_arr = np.ascontiguousarray(hashes, dtype=np.uint64).reshape(-1)
    i_arr = np.ascontiguousarray(ids, dtype=np.int32).reshape(-1)
    if h_arr.shape[0] != i_arr.shape[0]:
        raise ValueError(f"build_table: {h_arr.shape[0]} hashes but {i_arr.shape[0]} ids")
    cdef const uint64_t[::1] hv = h_arr
    cdef const int32_t[::1] iv = i_arr
    cdef Py_ssize_t n = hv.shape[0], j
    cdef uint64_t cap = 16, m, slot, key
    while cap < <uint64_t>(2 * n):
        cap <<= 1
    keys = np.zeros(cap, dtype=np.uint64)
    tids = np.full(cap, -1, dtype=np.int32)
    cdef uint64_t[::1] kv = keys
    cdef int32_t[::1] tv = tids
    m = cap - 1
    for j in range(n):
        key = hv[j]
        if key == 0:
            raise ValueError("build_table: hash 0 is reserved for empty slots (use fnv1a64)")
        if iv[j] < 0:
            raise ValueError(f"build_table: negative term id {iv[j]} for hash {key:#018x}")
        slot = (key ^ (key >> 29)) & m
        while kv[slot] != 0:
            if kv[slot] == key:
                raise ValueError(
                    f"build_table: duplicate hash {key:#018x} (ids {tv[slot]} and {iv[j]})")
            slot = (slot + 1) & m
        kv[slot] = key
        tv[slot] = iv[j]
    keys.flags.writeable = False
    tids.flags.writeable = False
    return keys, tids


cdef class _MallocBuffer:
    """Owns a malloc'd block and exposes it through the buffer protocol, so that the token arrays
    become NumPy arrays without a copy (NumPy keeps this object alive as the arrays' base)."""
    cdef void* ptr
    cdef Py_ssize_t nbytes
    cdef Py_ssize_t shape[1]

    def __cinit__(self):
        self.ptr = NULL
        self.nbytes = 0

    def __dealloc__(self):
        free(self.ptr)

    def __getbuffer__(self, Py_buffer* view, int flags):
        self.shape[0] = self.nbytes
        view.buf = self.ptr
        view.obj = self
        view.len = self.nbytes
        view.readonly = 0
        view.itemsize = 1
        view.format = NULL
        if flags & PyBUF_FORMAT:
            view.format = b"B"
        view.ndim = 1
        view.shape = NULL
        if flags & PyBUF_ND:
            view.shape = self.shape
        view.strides = NULL
        view.suboffsets = NULL
        view.internal = NULL

    def __releasebuffer__(self, Py_buffer* view):
        pass


cdef object adopt_array(void** pp, Py_ssize_t n, Py_ssize_t itemsize, object dtype):
    """A NumPy array of n items over the malloc'd block pp[0] (shrunk to size); pp[0] becomes NULL."""
    cdef _MallocBuffer owner = _MallocBuffer()
    cdef void* q = realloc(pp[0], n * itemsize if n > 0 else 1)
    if q != NULL:
        pp[0] = q
    owner.ptr = pp[0]
    owner.nbytes = n * itemsize
    pp[0] = NULL
    return np.frombuffer(owner, dtype=dtype, count=n)


cdef class _BufView:
    """A held PEP 3118 view of one Arrow buffer (pointer and size, released on dealloc)."""
    cdef Py_buffer view
    cdef bint held

    def __cinit__(self, obj):
        self.held = False
        if obj is not None:
            PyObject_GetBuffer(obj, &self.view, PyBUF_SIMPLE)
            self.held = True

    def __dealloc__(self):
        if self.held:
            PyBuffer_Release(&self.view)

    cdef const uint8_t* ptr(self) noexcept:
        return <const uint8_t*>self.view.buf if self.held else NULL

    cdef Py_ssize_t size(self) noexcept:
        return self.view.len if self.held else 0


cdef int scan_rows_located(const uint8_t* valid, const uint8_t* offs, bint wide, Py_ssize_t aoff,
                           Py_ssize_t length, const uint8_t* data, Py_ssize_t data_len,
                           const Table* tab, Sink* out, int64_t* dv, Py_ssize_t* bad, int64_t* start,
                           int64_t* end) noexcept nogil:
    """tokenize(spans=True)'s loop over the rows aoff..aoff+length (the Locating scanner): as the
    rows loop in tokenize, dv[d + 1] = out.n after row d; returns 0, or -1 (out of memory); a row
    whose offsets leave the data buffer stops it with bad = its index (start/end: its offsets).
    A copy of that loop (not one fused function for both), so that the default call's generated C
    is unchanged. (GCC still compiles it a little differently: with a third scanner in the unit it
    inlines fold_cp and append_cold no longer, see the commit that added spans.)"""
    cdef Locating mode
    cdef Py_ssize_t d, row
    cdef int64_t a, b
    cdef int32_t s32
    cdef int rc
    for d in range(length):
        row = aoff + d
        if valid != NULL and not ((valid[row >> 3] >> (row & 7)) & 1):
            dv[d + 1] = out.n
            continue
        if wide:
            memcpy(&a, offs + row * 8, 8)
            memcpy(&b, offs + row * 8 + 8, 8)
        else:
            memcpy(&s32, offs + row * 4, 4)
            a = s32
            memcpy(&s32, offs + row * 4 + 4, 4)
            b = s32
        if a < 0 or b < a or b > data_len:
            bad[0] = d
            start[0] = a
            end[0] = b
            return 0
        if b > a:
            rc = scan_doc(data + a, b - a, data + data_len, tab, out, &mode)
            if rc:
                return rc
        dv[d + 1] = out.n
    return 0


def tokenize(array, table_keys, table_ids, stem_mask, bint spans=False):
    """Tokenize an Arrow string array into a CSR token stream (see docs/internals.md, "Tokens").

    Zero-copy: the validity bitmap, offsets and data buffers are read in place through the buffer
    protocol; ``array.offset`` (sliced arrays) is honoured. The scan runs without the GIL, so
    several threads may tokenize different slices at once.

    Parameters
    ----------
    array : pyarrow.StringArray or pyarrow.LargeStringArray
        One chunk (split ChunkedArrays and cast string_view first).
    table_keys : numpy.ndarray, uint64[C]
        From ``build_table`` (C a power of two); may be read-only.
    table_ids : numpy.ndarray, int32[C]
    stem_mask : int
        uint64; bit L set when some stem is L bytes long (1 <= L <= 63).
    spans : bool, default False
        Also return each token's byte span. The default path is untouched by this option: spans
        are recorded by a separate compiled specialisation of the scanner (``Locating``), which
        gives the same ids, flags and offsets.

    Returns
    -------
    doc_offsets : numpy.ndarray, int64[D+1]
    term_ids : numpy.ndarray, int32[T]
        -1 for a token not in the table.
    flags : numpy.ndarray, uint8[T]
        ``FLAG_*`` bits, ``!`` count in bits 4-5, ``?`` count in bits 6-7.
    starts, ends : numpy.ndarray, int64[T]
        Only with ``spans=True``: the byte offsets of each token's first byte and one past its last
        byte, relative to the start of its document, so that ``text.encode()[starts[i]:ends[i]]`` is
        the token as written (joiners inside it included). Skipped code points (U+FE0F, U+200D,
        skin tones, ...) inside a token are inside its span, those at its ends are not; an emoji
        token spans its code point.

    Raises
    ------
    TypeError
        If ``array`` is not a StringArray / LargeStringArray.
    ValueError
        If the table is malformed, ``stem_mask`` is out of range, or the array's buffers are
        inconsistent (offsets out of the data buffer).
    """
    import pyarrow as pa

    if not isinstance(array, (pa.StringArray, pa.LargeStringArray)):
        raise TypeError(
            "tokenize expects a pyarrow StringArray or LargeStringArray, got "
            f"{type(array).__name__}"
            + (f" of type {array.type}" if isinstance(array, pa.Array) else ""))
    cdef bint wide = isinstance(array, pa.LargeStringArray)
    cdef const uint64_t[::1] kv = table_keys
    cdef const int32_t[::1] iv = table_ids
    cdef Table tab
    cdef uint64_t cap = kv.shape[0]
    if <Py_ssize_t>cap != iv.shape[0]:
        raise ValueError(f"tokenize: table_keys has {kv.shape[0]} slots but table_ids {iv.shape[0]}")
    if cap == 0 or (cap & (cap - 1)) != 0:
        raise ValueError(f"tokenize: table capacity {cap} is not a power of two")
    if not (0 <= stem_mask < (1 << 64)):
        raise ValueError(f"tokenize: stem_mask {stem_mask!r} is not a uint64")
    tab.keys = &kv[0]
    tab.ids = &iv[0]
    tab.cap = cap
    tab.stem_mask = (<uint64_t>stem_mask) & ~1ULL
    tab.filt = NULL
    tab.fshift = 0
    tab.nslen = 0
    tab.memo = NULL

    cdef Py_ssize_t length = len(array)
    cdef Py_ssize_t aoff = array.offset
    bufs = array.buffers()
    cdef _BufView vb = _BufView(bufs[0] if array.null_count > 0 else None)
    cdef _BufView ob = _BufView(bufs[1])
    cdef _BufView db = _BufView(bufs[2])
    cdef const uint8_t* valid = vb.ptr()
    cdef const uint8_t* offs = ob.ptr()
    cdef const uint8_t* data = db.ptr()
    cdef Py_ssize_t data_len = db.size()
    cdef Py_ssize_t width = 8 if wide else 4
    if length > 0:
        if ob.size() < (aoff + length + 1) * width:
            raise ValueError(
                f"tokenize: offsets buffer has {ob.size()} bytes, needs {(aoff + length + 1) * width}")
        if valid != NULL and vb.size() < (aoff + length + 7) // 8:
            raise ValueError(f"tokenize: validity bitmap has {vb.size()} bytes, too short")

    doc_offsets = np.zeros(length + 1, dtype=np.int64)
    cdef int64_t[::1] dv = doc_offsets
    cdef Sink out
    cdef Plain mode
    cdef Py_ssize_t d, row, bad = -1
    cdef int64_t start = 0, end = 0
    cdef int32_t s32
    cdef int rc = 0
    if sink_init(&out, data_len // 4 + 16, False, spans):
        sink_free(&out)
        raise MemoryError()
    try:
        with nogil:
            if <uint64_t>data_len >= cap:    # worth a prefilter (building it reads every slot)
                tab.filt = build_filter(tab.keys, cap, &tab.fshift)
                tab.nslen = 0
                for d in range(63, 0, -1):
                    if (tab.stem_mask >> d) & 1:
                        tab.slen[tab.nslen] = <uint8_t>d
                        tab.nslen += 1
            if data_len >= C_MEMO_MIN_BYTES:   # worth a memo (building it clears every slot)
                tab.memo = <MemoSlot*>calloc(1 << MEMO_BITS, sizeof(MemoSlot))   # NULL: no memo
            if spans:
                rc = scan_rows_located(valid, offs, wide, aoff, length, data, data_len, &tab, &out,
                                       &dv[0], &bad, &start, &end)
            else:
                for d in range(length):
                    row = aoff + d
                    if valid != NULL and not ((valid[row >> 3] >> (row & 7)) & 1):
                        dv[d + 1] = out.n
                        continue
                    if wide:
                        memcpy(&start, offs + row * 8, 8)
                        memcpy(&end, offs + row * 8 + 8, 8)
                    else:
                        memcpy(&s32, offs + row * 4, 4)
                        start = s32
                        memcpy(&s32, offs + row * 4 + 4, 4)
                        end = s32
                    if start < 0 or end < start or end > data_len:
                        bad = d
                        break
                    if end > start:
                        rc = scan_doc(data + start, end - start, data + data_len, &tab, &out, &mode)
                        if rc:
                            break
                    dv[d + 1] = out.n
        if rc:
            raise MemoryError()
        if bad >= 0:
            raise ValueError(
                f"tokenize: row {bad} has offsets {start}..{end} outside the data buffer "
                f"({data_len} bytes)")
        term_ids = adopt_array(<void**>&out.ids, out.n, sizeof(int32_t), np.int32)
        flags = adopt_array(<void**>&out.flags, out.n, sizeof(uint8_t), np.uint8)
        if spans:
            starts = adopt_array(<void**>&out.sstart, out.n, sizeof(int64_t), np.int64)
            ends = adopt_array(<void**>&out.send, out.n, sizeof(int64_t), np.int64)
            return doc_offsets, term_ids, flags, starts, ends
        return doc_offsets, term_ids, flags
    finally:
        sink_free(&out)
        free(<void*>tab.filt)
        free(tab.memo)
