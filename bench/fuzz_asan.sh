#!/usr/bin/env bash
# Fuzz the Cython tokenizer under AddressSanitizer.
#
#   bench/fuzz_asan.sh [N_INPUTS] [SEED]        (defaults: 20000 inputs, seed 1)
#
# 1. Cythonizes src/emoscore/_tokenize.pyx and compiles it with -fsanitize=address into a temporary
#    directory (the installed extension is not touched).
# 2. Checks that the set-up catches an overflow at all: a one-byte over-read of a malloc'd buffer
#    must make a child process fail with an ASAN report.
# 3. Runs N random Arrow string arrays through tokenize() and random texts through fold_tokens():
#    random bytes (invalid UTF-8, cut multi-byte sequences at the very end of the data buffer),
#    mixed scripts, emoji sequences, long tokens and stems, sliced arrays with nulls, string and
#    large_string, and offsets that do not fit the data buffer (must raise, not read). Every buffer
#    is an exact-size malloc block (NumPy with PYTHONMALLOC=malloc, Arrow's system pool), so a read
#    one byte past a buffer is an ASAN error. Each document is also checked to tokenize as it does
#    alone (a read past a document's end would usually show there).
#
# A Python host needs the ASAN runtime preloaded: LD_PRELOAD=$(gcc -print-file-name=libasan.so),
# and ASAN_OPTIONS=detect_leaks=0 (CPython keeps memory alive at exit by design).
# Exit status 0: no error; anything else: an ASAN report or a failed check is printed above.
set -euo pipefail
cd "$(dirname "$0")/.."

N="${1:-20000}"
SEED="${2:-1}"
PY="${PYTHON:-python3}"
CC="${CC:-gcc}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
started=$(date +%s)

LIBASAN="$("$CC" -print-file-name=libasan.so)"
if [ ! -e "$LIBASAN" ]; then
    echo "fuzz_asan: no libasan.so for $CC (install the compiler's sanitizer runtime)" >&2
    exit 2
fi
if ! "$PY" -m cython --version >/dev/null 2>&1; then
    echo "fuzz_asan: Cython is not installed for $PY (pip install 'Cython>=3.0')" >&2
    exit 2
fi
INCLUDE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
SUFFIX="$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"

mkdir -p "$WORK/emoscore"
"$PY" -m cython -3 --fast-fail \
    -X boundscheck=False -X wraparound=False -X cdivision=True -X initializedcheck=False \
    src/emoscore/_tokenize.pyx -o "$WORK/_tokenize.c"
"$CC" -shared -fPIC -O1 -g -fno-omit-frame-pointer -fsanitize=address \
    -I"$INCLUDE" "$WORK/_tokenize.c" -o "$WORK/emoscore/_tokenize$SUFFIX"
echo "fuzz_asan: built $WORK/emoscore/_tokenize$SUFFIX with -fsanitize=address ($(( $(date +%s) - started )) s)"

# The default lexicon's hash table, computed without ASAN (the lexicon code imports Numba).
"$PY" - "$WORK/table.npz" <<'EOF'
import sys
import numpy as np
from emoscore.lexicon import Lexicon
lex = Lexicon.default().compile()
np.savez(sys.argv[1], keys=lex.table_keys, ids=lex.table_ids, stem_mask=np.uint64(lex.stem_mask),
         n_terms=np.int64(len(lex.valence)))
EOF

export LD_PRELOAD="$LIBASAN"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:detect_stack_use_after_return=0"
export PYTHONMALLOC=malloc ARROW_DEFAULT_MEMORY_POOL=system

# 2. The set-up must catch a one-byte over-read.
if ASAN_OPTIONS="detect_leaks=0:abort_on_error=0" "$PY" -c '
import ctypes, numpy as np
a = np.zeros(37, np.uint8)
ctypes.string_at(a.ctypes.data, 38)
' 2>"$WORK/selfcheck.txt"; then
    echo "fuzz_asan: ASAN did not catch a deliberate over-read; the set-up is not working" >&2
    exit 2
fi
if ! grep -q "heap-buffer-overflow" "$WORK/selfcheck.txt"; then
    echo "fuzz_asan: the deliberate over-read failed without an ASAN report:" >&2
    cat "$WORK/selfcheck.txt" >&2
    exit 2
fi
echo "fuzz_asan: self-check passed (ASAN reports a one-byte heap over-read)"

# 3. The fuzz run.
"$PY" - "$WORK" "$N" "$SEED" <<'EOF'
import importlib.util
import random
import sys
import time

import numpy as np
import pyarrow as pa

work, n_inputs, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
suffix = __import__("sysconfig").get_config_var("EXT_SUFFIX")
spec = importlib.util.spec_from_file_location("emoscore._tokenize", f"{work}/emoscore/_tokenize{suffix}")
tok = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tok)
table = np.load(f"{work}/table.npz")
keys, ids, stem_mask, n_terms = table["keys"], table["ids"], int(table["stem_mask"]), int(table["n_terms"])
rng = random.Random(seed)

WORDS = ["love", "hate", "not", "never", "very", "but", "frustrating", "frustrat", "refund", "GREAT",
         "don't", "isn\u2019t", "caf\u00e9", "\u00c9COLE", "\u043f\u043b\u043e\u0445\u043e", "\u03ba\u03b1\u03bb\u03cc",
         "\u554f\u984c", "4.5", "1,000", "\U0001f621", "\U0001f44d\U0001f3fd", "\u2764\ufe0f", "\U0001f468\u200d\U0001f469",
         "!!!", "?!", "\u2026", ".", ",", ";", "\n", "\u2028", "  ", "\u00ad", "\U000e0067",
         "l'", "QU\u2019", "d\u02bc", "c'mon", "c'", "mon", "d'o", "T's", "\u00df\u0153\u0141", "'"]
CUTS = [b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xff", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\x00"]


def document() -> bytes:
    kind = rng.random()
    if kind < 0.25:
        return rng.randbytes(rng.randrange(0, 80))
    if kind < 0.3:
        return ("x" * rng.randrange(60, 200)).encode() + rng.choice(CUTS)  # long token, cut at the end
    if kind < 0.32:
        return rng.choice(WORDS).encode() * rng.randrange(1000, 20000)  # long document
    parts = []
    for _ in range(rng.randrange(0, 25)):
        r = rng.random()
        if r < 0.75:
            parts.append(rng.choice(WORDS).encode())
        elif r < 0.9:
            parts.append(b" ")
        else:
            parts.append(rng.choice(CUTS))
    data = b"".join(parts)
    if rng.random() < 0.2:
        data += rng.choice(CUTS)  # an unfinished sequence as the last bytes of the document
    return data


def exact(data: bytes) -> pa.Buffer:
    """A buffer that is exactly one malloc block of this size (a read past it is an ASAN error)."""
    array = np.empty(max(len(data), 1), np.uint8)
    array[: len(data)] = np.frombuffer(data, np.uint8)
    return pa.py_buffer(array[: len(data)] if data else array[:0])


def string_array(docs, large: bool):
    lengths = [0 if d is None else len(d) for d in docs]
    offsets = np.zeros(len(docs) + 1, np.int64 if large else np.int32)
    np.cumsum(lengths, out=offsets[1:])
    data = b"".join(d for d in docs if d is not None)
    validity = None
    if any(d is None for d in docs):
        bits = np.packbits(np.array([d is not None for d in docs]), bitorder="little").tobytes()
        validity = exact(bits)
    kind = pa.large_string() if large else pa.string()
    return pa.Array.from_buffers(kind, len(docs), [validity, exact(offsets.tobytes()), exact(data)])


def check(array) -> int:
    offsets, term_ids, flags = tok.tokenize(array, keys, ids, stem_mask)
    assert len(offsets) == len(array) + 1 and offsets[0] == 0 and offsets[-1] == len(term_ids) == len(flags)
    assert (np.diff(offsets) >= 0).all() and ((term_ids >= -1) & (term_ids < n_terms)).all()
    return len(term_ids), offsets, term_ids, flags


started = time.perf_counter()
stats = {"arrays": 0, "documents": 0, "bytes": 0, "tokens": 0, "bad_offsets_rejected": 0, "fold_tokens": 0}
for i in range(n_inputs):
    docs = [None if rng.random() < 0.1 else document() for _ in range(rng.randrange(1, 12))]
    large = rng.random() < 0.5
    array = string_array(docs, large)
    start = rng.randrange(0, len(docs))
    piece = array.slice(start, rng.randrange(0, len(docs) - start + 1))
    count, offsets, term_ids, flags = check(piece)
    for j, doc in enumerate(docs[start : start + len(piece)]):
        if rng.random() < 0.3:  # the same tokens as the document alone
            _, _, alone_ids, alone_flags = check(string_array([doc], large))
            lo, hi = offsets[j], offsets[j + 1]
            assert (term_ids[lo:hi] == alone_ids).all() and (flags[lo:hi] == alone_flags).all(), (i, j)
    stats["arrays"] += 1
    stats["documents"] += len(piece)
    stats["bytes"] += sum(len(d) for d in docs if d is not None)
    stats["tokens"] += count
    if rng.random() < 0.2:  # offsets that do not fit the data: must raise, never read outside
        data = rng.randbytes(rng.randrange(0, 40))
        inner = sorted(rng.randrange(0, len(data) + 30) for _ in range(rng.randrange(0, 5)))
        if rng.random() < 0.5:
            rng.shuffle(inner)
        offsets = np.array([0, *inner, len(data)], np.int64 if large else np.int32)
        kind = pa.large_string() if large else pa.string()
        try:
            bad = pa.Array.from_buffers(kind, len(offsets) - 1, [None, exact(offsets.tobytes()), exact(data)])
            tok.tokenize(bad, keys, ids, stem_mask)
        except (ValueError, pa.ArrowInvalid):
            stats["bad_offsets_rejected"] += 1
    if rng.random() < 0.2:
        tok.fold_tokens(document())
        stats["fold_tokens"] += 1
seconds = time.perf_counter() - started
print(f"fuzz_asan: {n_inputs} inputs (seed {seed}) in {seconds:.1f} s, no ASAN error and every check held: "
      + ", ".join(f"{k} {v:,}" for k, v in stats.items()))
EOF
echo "fuzz_asan: done in $(( $(date +%s) - started )) s"
