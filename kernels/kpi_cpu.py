"""Numba kernels of the KPI engine and of the column helpers (CPU).

The KPI state is a set of plain NumPy arrays indexed by a *cell* (``group * D + slot``, where ``slot``
is the row's dominant emotion: ``0..E-1`` an emotion of the taxonomy, ``E`` neutral, ``E+1`` no
emotion column value) or by a *group*. Every ``accum_*`` kernel here is a scatter-aggregation: one
sequential pass over the rows of one input column that adds each row into ``state[cell[i], field]``.
One column per pass keeps each kernel small, reads every Arrow buffer sequentially, and lets a column
that is absent from a batch cost nothing.

Conventions shared by every kernel:

* Values are read in place from Arrow buffers (read-only views) or from a cast copy; the validity of
  row ``i`` is bit ``bit_offset + i`` of ``bitmap`` (Arrow's LSB-first validity bitmap). An empty
  ``bitmap`` means "no nulls". Null rows are skipped.
* Kernels never validate: the caller runs :func:`first_invalid` on every column first, so a batch
  with a bad value changes no state at all.
* Sums are integers: survey answers are integers, bounded scores (valence, emotions) are fixed-point
  integers (``round(v * 2**FIXED_BITS)``) and revenue is a 128-bit fixed-point integer split into
  ``hi`` (int64) and ``lo`` (uint64) words. Integer sums are associative, so merging partial states
  in any order gives bit-identical results.
* Kernels are single-threaded, ``cache=True`` and ``nogil=True``: parallelism comes from independent
  states (threads, processes, Spark partitions) merged afterwards.
* The per-row scalar logic (validity bit, fixed-point rounding, sketch bucket, HyperLogLog register
  and rank word, 128-bit carry) is written once as plain functions (``row_valid`` ...
  ``add128_carry``), compiled here by ``numba.njit`` and by :mod:`.kpi_cuda` with
  ``numba.cuda.jit(device=True)``, so both targets add exactly the same integers.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import int64, njit, types, uint64
from numba.extending import intrinsic

_JIT = {"cache": True, "nogil": True}

_U64 = np.uint64
_INT_SEED = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_K0 = np.uint64(0x9FB21C651E98DF25)

# --------------------------------------------------------------------------------------------------
# per-row scalar logic, shared with kpi_cuda (plain functions: scalar maths only, no allocation)
# --------------------------------------------------------------------------------------------------


def row_valid(bitmap, bit_offset, i):
    """Row ``i`` is not null: bit ``bit_offset + i`` of the Arrow validity bitmap (empty: no nulls)."""
    if bitmap.shape[0] == 0:
        return True
    j = bit_offset + i
    return (bitmap[j >> 3] >> (j & 7)) & 1 == 1


def fixed_point(v, scale):
    """``rint(v * scale)`` as int64, ties to even (``round`` lowers to rint on the CPU and to
    ``llrint`` on CUDA: the same integer on both targets)."""
    return int64(round(v * scale))


def sketch_bucket(value, log_value, x_min, inv_log_gamma, key_min, last):
    """Log-bucket of a response time: 0 below ``x_min``, else
    ``ceil(log(v) / log(gamma)) - key_min + 1`` clamped to ``[1, last]``."""
    if value < x_min:
        return int64(0)
    b = int64(math.ceil(log_value * inv_log_gamma)) - key_min + 1
    if b < 1:
        b = int64(1)
    elif b > last:
        b = int64(last)
    return b


def hll_word(h, p):
    """HyperLogLog: ``(register, word)`` of hash ``h`` with ``2**p`` registers; the rank is the
    word's leading zeros + 1 (the sentinel bit bounds it by ``64 - p + 1``)."""
    register = int64(h >> uint64(64 - p))
    word = (h << uint64(p)) | (uint64(1) << uint64(p - 1))
    return register, word


def add128_carry(old_lo, new_lo, q):
    """What adding the int64 ``q`` to a 128-bit sum adds to its high word, once its low word went
    from ``old_lo`` to ``new_lo = old_lo + uint64(q)`` (wrapping): the carry minus the sign."""
    carry = int64(1) if new_lo < old_lo else int64(0)
    return carry - (int64(1) if q < 0 else int64(0))


_valid = njit(inline="always")(row_valid)
_fixed_point = njit(inline="always")(fixed_point)
_sketch_bucket = njit(inline="always")(sketch_bucket)
_hll_word = njit(inline="always")(hll_word)
_add128_carry = njit(inline="always")(add128_carry)


# --------------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------------


@njit(**_JIT)
def first_invalid(values, bitmap, bit_offset, lo, hi, integral):
    """Index of the first non-null row whose value is outside ``[lo, hi]`` (NaN included) or, when
    ``integral``, not a whole number; ``-1`` when every value is valid.

    A branch-free pass over every slot (the garbage under nulls included) settles the common case;
    only when it fails does a second pass honour the validity bitmap and find the row.
    """
    n = values.shape[0]
    ok = True
    for i in range(n):
        v = values[i]
        ok &= (v >= lo) & (v <= hi)
    if ok and integral:
        for i in range(n):
            v = values[i]
            ok &= v == math.floor(v)
    if ok:
        return -1
    for i in range(n):
        if not _valid(bitmap, bit_offset, i):
            continue
        v = values[i]
        if not (v >= lo and v <= hi):
            return i
        if integral and v != math.floor(v):
            return i
    return -1


# --------------------------------------------------------------------------------------------------
# group ids
# --------------------------------------------------------------------------------------------------


@njit(**_JIT)
def factorize_dense(codes, radix):
    """Number the distinct values of ``codes`` (all in ``[0, radix)``) in first-seen order.

    Returns ``(local int32[n], first_row int64[u])``: row ``i`` has local id ``local[i]`` and the
    ``k``-th distinct value first appears at row ``first_row[k]``. Memory ``O(radix)``.
    """
    n = codes.shape[0]
    lut = np.full(radix, -1, np.int32)
    local = np.empty(n, np.int32)
    first = np.empty(min(n, radix), np.int64)
    u = 0
    for i in range(n):
        c = codes[i]
        k = lut[c]
        if k < 0:
            k = u
            lut[c] = u
            first[u] = i
            u += 1
        local[i] = k
    return local, first[:u]


@njit(**_JIT)
def factorize_hash(codes):
    """As :func:`factorize_dense` for codes of any size (non-negative int64), with an open-addressing
    hash table of ``2 * n`` slots (linear probing)."""
    n = codes.shape[0]
    size = 16
    while size < 2 * n:
        size *= 2
    mask = size - 1
    keys = np.full(size, -1, np.int64)
    ids = np.empty(size, np.int32)
    local = np.empty(n, np.int32)
    first = np.empty(n, np.int64)
    u = 0
    for i in range(n):
        c = codes[i]
        s = np.int64(_fmix64(_U64(c)) & _U64(mask))
        while True:
            k = keys[s]
            if k == c:
                local[i] = ids[s]
                break
            if k == -1:
                keys[s] = c
                ids[s] = u
                first[u] = i
                local[i] = u
                u += 1
                break
            s = (s + 1) & mask
    return local, first[:u]


@intrinsic
def _load_u64(typingctx, data, j):
    """Little-endian uint64 at byte ``j`` of a uint8 array: one unaligned load (no bounds check;
    callers guarantee ``j + 8 <= len(data)``)."""
    sig = types.uint64(data, types.intp)

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, value=args[0])
        pointer = builder.gep(array.data, [args[1]], inbounds=True)
        return builder.load(builder.bitcast(pointer, ir.IntType(64).as_pointer()), align=1)

    return sig, codegen


@njit(inline="always")
def _tail_u64(data, start, end):
    """``data[start:end]`` (fewer than 8 bytes) as a zero-padded little-endian uint64. Loads the 8
    bytes ending at ``end`` when they lie inside the array (Arrow data buffers), else byte by byte."""
    n = end - start
    if n <= 0:
        return _U64(0)
    if end >= 8:
        return _load_u64(data, np.intp(end - 8)) >> _U64(8 * (8 - n))
    w = _U64(0)
    for j in range(n):
        w |= _U64(data[start + j]) << _U64(8 * j)
    return w


@njit(inline="always")
def _hash_bytes(data, start, end):
    """64-bit hash of ``data[start:end]``: 8-byte words folded in with multiply/xor-shift, the
    length in the seed, MurmurHash3's fmix64 at the end. Never 0."""
    h = _U64(end - start) * _K0
    j = start
    while j + 8 <= end:
        h = (h ^ _load_u64(data, np.intp(j))) * _M1
        h ^= h >> _U64(29)
        j += 8
    h = (h ^ _tail_u64(data, j, end)) * _M2
    h = _fmix64(h)
    return h if h != 0 else _U64(1)


@njit(inline="always")
def _same_bytes(data, a0, a1, b0, b1):
    n = a1 - a0
    if n != b1 - b0:
        return False
    j = 0
    while j + 8 <= n:
        if _load_u64(data, np.intp(a0 + j)) != _load_u64(data, np.intp(b0 + j)):
            return False
        j += 8
    return _tail_u64(data, a0 + j, a1) == _tail_u64(data, b0 + j, b1)


@njit(**_JIT)
def _rehash(keys, ids, size):
    """Tables of ``size`` slots holding the entries of ``keys``/``ids`` (slot from fmix64(key))."""
    mask = size - 1
    new_keys = np.zeros(size, keys.dtype)
    new_ids = np.full(size, -1, np.int32)
    for t in range(keys.shape[0]):
        if ids[t] < 0:
            continue
        key = keys[t]
        r = np.int64(_fmix64(_U64(key)) & _U64(mask))
        while new_ids[r] >= 0:
            r = (r + 1) & mask
        new_keys[r] = key
        new_ids[r] = ids[t]
    return new_keys, new_ids


@njit(inline="always")
def _le_bytes(data, start, count):
    w = _U64(0)
    for j in range(count):
        w |= _U64(data[start + j]) << _U64(8 * j)
    return w


@njit(inline="always")
def _short_words(data, a0, a1):
    """Two words that, with the length, identify a value of at most 16 bytes: for ``n <= 8`` (0, the
    bytes zero-padded), else (the first 8 bytes, the last 8 bytes), little-endian. Two unaligned
    loads combined by shifts and masks (no data-dependent branch: lengths vary from row to row)
    where the loads stay inside ``data``, bytewise near its ends."""
    n = a1 - a0
    if a1 >= 8 and a0 + 8 <= data.shape[0]:
        last = _load_u64(data, np.intp(a1 - 8))
        head = _load_u64(data, np.intp(a0))
        small = _U64(0) - _U64(n <= 8)  # all ones when n <= 8
        w2 = (last >> (_U64(64 - 8 * n) & _U64(63) & small)) & (_U64(0) - _U64(n != 0))
        return head & ~small, w2
    if n <= 8:
        return _U64(0), _le_bytes(data, a0, n)
    return _le_bytes(data, a0, 8), _le_bytes(data, a1 - 8, 8)


@njit(inline="always")
def _slot_shift(size):
    """``64 - log2(size)`` for a power-of-two table size: the slot is the hash's top bits."""
    bits = 0
    while (1 << bits) < size:
        bits += 1
    return _U64(64 - bits)


@njit(inline="always")
def _slot_hash(n, w1, w2):
    """Table hash of a value's (length, word 1, word 2); the slot is its top bits (multiply-shift)."""
    return ((w2 * _M1) ^ w1 ^ (_U64(n) * _K0)) * _M2


@njit(inline="always")
def _factorize_binary_rows(offsets, data, bitmap, bit_offset, start, t_len, t_w1, t_w2, t_id, first, local, state,
                           any_long):
    """Factorise rows from ``start`` until done (returns n) or the table is half full / ``first`` is
    full (returns the row to resume at). ``state`` = [distinct so far, local id of null or -1].

    Each slot holds its value's key in place: ``t_len`` (-1 = empty), and for values of at most 16
    bytes the two words of :func:`_short_words` (compared as they are: exact), for longer ones
    ``t_w1`` = :func:`_hash_bytes` (a hit is confirmed byte by byte against the value's first row).
    ``any_long`` is a constant of each caller: without values over 16 bytes the loop is much smaller
    (about 40% faster on low-cardinality labels)."""
    n = offsets.shape[0] - 1
    size = t_len.shape[0]
    shift = _slot_shift(size)
    mask = size - 1
    limit = min(size // 2, first.shape[0])
    u = state[0]
    null_id = state[1]
    for i in range(start, n):
        if not _valid(bitmap, bit_offset, i):
            if null_id < 0:
                if u >= limit:
                    state[0] = u
                    return i
                null_id = u
                state[1] = u
                first[u] = i
                u += 1
            local[i] = null_id
            continue
        a0 = offsets[i]
        a1 = offsets[i + 1]
        length = a1 - a0
        short = not any_long or length <= 16
        if short:
            w1, w2 = _short_words(data, a0, a1)
        else:
            w1 = _hash_bytes(data, a0, a1)
            w2 = _U64(0)
        s = np.int64(_slot_hash(length, w1, w2) >> shift)
        while True:
            if t_len[s] == length and t_w1[s] == w1 and t_w2[s] == w2:
                k = t_id[s]
                if short:
                    local[i] = k
                    break
                r = first[k]
                if _same_bytes(data, a0, a1, offsets[r], offsets[r + 1]):
                    local[i] = k
                    break
            elif t_len[s] < 0:
                if u >= limit:
                    state[0] = u
                    return i
                t_len[s] = length
                t_w1[s] = w1
                t_w2[s] = w2
                t_id[s] = u
                first[u] = i
                local[i] = u
                u += 1
                break
            s = (s + 1) & mask
    state[0] = u
    return n


@njit(**_JIT)
def _factorize_short_run(offsets, data, bitmap, bit_offset, start, t_len, t_w1, t_w2, t_id, first, local, state):
    """:func:`_factorize_binary_rows` for arrays whose values are all at most 16 bytes long."""
    return _factorize_binary_rows(offsets, data, bitmap, bit_offset, start, t_len, t_w1, t_w2, t_id, first, local,
                                  state, False)


@njit(**_JIT)
def _factorize_any_run(offsets, data, bitmap, bit_offset, start, t_len, t_w1, t_w2, t_id, first, local, state):
    """:func:`_factorize_binary_rows` for arrays with values of any length."""
    return _factorize_binary_rows(offsets, data, bitmap, bit_offset, start, t_len, t_w1, t_w2, t_id, first, local,
                                  state, True)


@njit(**_JIT)
def _grow_binary_table(t_len, t_w1, t_w2, t_id):
    """The table of :func:`_factorize_binary_run` with twice the slots, entries re-placed."""
    size = 2 * t_len.shape[0]
    shift = _slot_shift(size)
    mask = size - 1
    n_len = np.full(size, -1, np.int64)
    n_w1 = np.zeros(size, np.uint64)
    n_w2 = np.zeros(size, np.uint64)
    n_id = np.zeros(size, np.int32)
    for t in range(t_len.shape[0]):
        if t_len[t] < 0:
            continue
        s = np.int64(_slot_hash(t_len[t], t_w1[t], t_w2[t]) >> shift)
        while n_len[s] >= 0:
            s = (s + 1) & mask
        n_len[s] = t_len[t]
        n_w1[s] = t_w1[t]
        n_w2[s] = t_w2[t]
        n_id[s] = t_id[t]
    return n_len, n_w1, n_w2, n_id


@njit(**_JIT)
def factorize_binary(offsets, data, bitmap, bit_offset):
    """Number the distinct values of a string/binary array (Arrow offsets + data) in first-seen order;
    null is a value of its own. Returns ``(local int32[n], first_row int64[u])``.

    Exact: values of at most 16 bytes are matched by their length and two words, longer ones by
    length, 64-bit hash and then byte by byte with the first row holding that value. The hash table
    grows with the number of distinct values, not with ``n``.
    """
    n = offsets.shape[0] - 1
    t_len = np.full(1024, -1, np.int64)
    t_w1 = np.zeros(1024, np.uint64)
    t_w2 = np.zeros(1024, np.uint64)
    t_id = np.zeros(1024, np.int32)
    first = np.empty(512, np.int64)
    local = np.empty(n, np.int32)
    state = np.array([0, -1], np.int64)
    longest = 0
    for i in range(n):  # null rows' lengths are 0 or those of real bytes: harmless either way
        longest = max(longest, offsets[i + 1] - offsets[i])
    i = 0
    while True:
        if longest <= 16:
            i = _factorize_short_run(offsets, data, bitmap, bit_offset, i, t_len, t_w1, t_w2, t_id, first, local,
                                     state)
        else:
            i = _factorize_any_run(offsets, data, bitmap, bit_offset, i, t_len, t_w1, t_w2, t_id, first, local, state)
        if i >= n:
            break
        if state[0] >= t_len.shape[0] // 2:
            t_len, t_w1, t_w2, t_id = _grow_binary_table(t_len, t_w1, t_w2, t_id)
        if state[0] >= first.shape[0]:
            first = np.concatenate((first, np.empty(first.shape[0], np.int64)))
    return local, first[: state[0]]


@njit(**_JIT)
def _factorize_int64_run(values, bitmap, bit_offset, start, keys, ids, first, local, state):
    n = values.shape[0]
    mask = keys.shape[0] - 1
    limit = min(keys.shape[0] // 2, first.shape[0])
    u = state[0]
    null_id = state[1]
    for i in range(start, n):
        if not _valid(bitmap, bit_offset, i):
            if null_id < 0:
                if u >= limit:
                    state[0] = u
                    return i
                null_id = u
                state[1] = u
                first[u] = i
                u += 1
            local[i] = null_id
            continue
        c = values[i]
        s = np.int64(_fmix64(_U64(c)) & _U64(mask))
        while True:
            k = ids[s]
            if k < 0:
                if u >= limit:
                    state[0] = u
                    return i
                keys[s] = c
                ids[s] = u
                first[u] = i
                local[i] = u
                u += 1
                break
            if keys[s] == c:
                local[i] = k
                break
            s = (s + 1) & mask
    state[0] = u
    return n


@njit(**_JIT)
def factorize_int64(values, bitmap, bit_offset):
    """As :func:`factorize_binary` for int64 values (null is a value of its own)."""
    n = values.shape[0]
    keys = np.zeros(1024, np.int64)
    ids = np.full(1024, -1, np.int32)
    first = np.empty(512, np.int64)
    local = np.empty(n, np.int32)
    state = np.array([0, -1], np.int64)
    i = 0
    while True:
        i = _factorize_int64_run(values, bitmap, bit_offset, i, keys, ids, first, local, state)
        if i >= n:
            break
        keys, ids = _rehash(keys, ids, 2 * keys.shape[0])
        first = np.concatenate((first, np.empty(first.shape[0], np.int64)))
    return local, first[: state[0]]


@njit(inline="always")
def _days(t, per_day):
    """``floor(t / per_day)``; the usual divisors are spelled out as constants so that LLVM divides
    by a multiplication (a 64-bit division by a variable costs some 40 cycles)."""
    if per_day == 86_400:
        return t // 86_400
    if per_day == 86_400_000:
        return t // 86_400_000
    if per_day == 86_400_000_000:
        return t // 86_400_000_000
    if per_day == 86_400_000_000_000:
        return t // 86_400_000_000_000
    return t // per_day


@njit(**_JIT)
def window_days(ticks, per_day, week, out):
    """``out[i]`` = the day (since 1970-01-01) holding time ``ticks[i]`` (``per_day`` ticks a day,
    floor division); with ``week``, the Monday starting its ISO week (1970-01-01 was a Thursday)."""
    for i in range(ticks.shape[0]):
        d = _days(np.int64(ticks[i]), per_day)
        if week:
            d -= (d + 3) % 7
        out[i] = d


@njit(**_JIT)
def combine_codes(a, radix_b, b):
    """``a * radix_b + b`` elementwise (int64)."""
    out = np.empty(a.shape[0], np.int64)
    for i in range(a.shape[0]):
        out[i] = np.int64(a[i]) * radix_b + b[i]
    return out


@njit(**_JIT)
def make_cells(gid_of_local, local, slot, n_slots, out_group, out_cell):
    """``group = gid_of_local[local]``, ``cell = group * n_slots + slot`` (int32)."""
    for i in range(local.shape[0]):
        g = gid_of_local[local[i]]
        out_group[i] = g
        out_cell[i] = g * n_slots + slot[i]


# --------------------------------------------------------------------------------------------------
# scatter-aggregation
# --------------------------------------------------------------------------------------------------


@njit(**_JIT)
def accum_scale(cell, values, bitmap, bit_offset, counts, f_answered, f_pos, pos_min, f_neg, neg_max, f_sum, f_sq):
    """Survey scale (NPS, rating, effort): per non-null row count the answer, count it in ``f_pos``
    when ``>= pos_min`` and in ``f_neg`` when ``<= neg_max``, add it to ``f_sum`` and its square to
    ``f_sq`` (fields < 0 are skipped). Values are whole numbers (validated by the caller). Branch-free
    on validity: a null row adds 0 (the many nulls of survey columns would otherwise be mispredicted
    branches)."""
    use_pos = f_pos >= 0
    use_neg = f_neg >= 0
    use_sum = f_sum >= 0
    use_sq = f_sq >= 0
    for i in range(cell.shape[0]):
        w = np.int64(1) if _valid(bitmap, bit_offset, i) else np.int64(0)
        v = values[i]
        c = cell[i]
        counts[c, f_answered] += w
        if use_pos:
            counts[c, f_pos] += w if v >= pos_min else np.int64(0)
        if use_neg:
            counts[c, f_neg] += w if v <= neg_max else np.int64(0)
        if use_sum:
            counts[c, f_sum] += np.int64(v) if w else np.int64(0)
        if use_sq:
            counts[c, f_sq] += np.int64(v) * np.int64(v) if w else np.int64(0)


@njit(**_JIT)
def accum_fixed(cell, values, bitmap, bit_offset, counts, f_count, f_sum, f_sq, scale):
    """Bounded score (|v| <= 1): count it, add ``rint(v * scale)`` (half to even) to ``f_sum`` and
    ``rint(v * v * scale)`` to ``f_sq`` (the square in float64: exact for float32 scores). With no
    nulls only the sums are added (the caller adds the per-cell row counts)."""
    if bitmap.shape[0] == 0:
        for i in range(cell.shape[0]):
            x = np.float64(values[i])
            c = cell[i]
            counts[c, f_sum] += _fixed_point(x, scale)
            counts[c, f_sq] += _fixed_point(x * x, scale)
        return
    for i in range(cell.shape[0]):
        if not _valid(bitmap, bit_offset, i):
            continue
        x = np.float64(values[i])
        c = cell[i]
        counts[c, f_count] += 1
        counts[c, f_sum] += _fixed_point(x, scale)
        counts[c, f_sq] += _fixed_point(x * x, scale)


@njit(**_JIT)
def accum_revenue(cell, values, bitmap, bit_offset, counts, f_count, hi, lo, scale):
    """Revenue: count it and add ``rint(v * scale)`` to the 128-bit two's-complement sum
    ``hi * 2**64 + lo`` of its cell (``|v * scale| < 2**63``, validated by the caller)."""
    for i in range(cell.shape[0]):
        if not _valid(bitmap, bit_offset, i):
            continue
        c = cell[i]
        counts[c, f_count] += 1
        q = _fixed_point(values[i], scale)
        old = lo[c]
        new = old + _U64(q)
        lo[c] = new
        hi[c] += _add128_carry(old, new, q)


@njit(**_JIT)
def accum_codes(cell, codes, counts, f_any, field_of_code):
    """Categorical column coded per row (``-1`` = null): count every non-null row in ``f_any`` and
    in ``field_of_code[code]`` when that is >= 0."""
    for i in range(cell.shape[0]):
        k = codes[i]
        if k < 0:
            continue
        c = cell[i]
        counts[c, f_any] += 1
        f = field_of_code[k]
        if f >= 0:
            counts[c, f] += 1


@njit(**_JIT)
def accum_sketch(group, values, log_values, bitmap, bit_offset, sketch, x_min, inv_log_gamma, key_min):
    """Log-bucket quantile sketch (DDSketch): a value ``v >= x_min`` goes to bucket
    ``ceil(log(v) / log(gamma)) - key_min + 1``; values below ``x_min`` go to bucket 0.
    ``log_values`` holds ``log(values)`` (computed vectorised by the caller)."""
    last = sketch.shape[1] - 1
    for i in range(group.shape[0]):
        if not _valid(bitmap, bit_offset, i):
            continue
        sketch[group[i], _sketch_bucket(values[i], log_values[i], x_min, inv_log_gamma, key_min, last)] += 1


@intrinsic
def _clz64(typingctx, x):
    """Leading zero bits of a non-zero uint64 (LLVM ``ctlz``)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctlz(args[0], ir.Constant(ir.IntType(1), 1))

    return sig, codegen


@njit(**_JIT)
def accum_hll(group, hashes, bitmap, bit_offset, registers, p):
    """HyperLogLog with ``2**p`` registers per group: the top ``p`` hash bits pick the register, which
    keeps the largest rank (leading zeros + 1) of the remaining bits."""
    for i in range(group.shape[0]):
        if not _valid(bitmap, bit_offset, i):
            continue
        j, w = _hll_word(hashes[i], p)
        rank = np.uint8(_clz64(w) + _U64(1))
        g = group[i]
        if rank > registers[g, j]:
            registers[g, j] = rank


# --------------------------------------------------------------------------------------------------
# 64-bit hashing of ids (customer ids): strings by ``_hash_bytes``, integers by fmix64
# --------------------------------------------------------------------------------------------------


@njit(inline="always")
def _fmix64(h):
    h ^= h >> _S33
    h *= _M1
    h ^= h >> _S33
    h *= _M2
    h ^= h >> _S33
    return h


@njit(**_JIT)
def hash_binary(offsets, data, out):
    """``out[i]`` = the 64-bit hash of the bytes of value ``i`` (see ``_hash_bytes``), never 0."""
    for i in range(out.shape[0]):
        out[i] = _hash_bytes(data, offsets[i], offsets[i + 1])


@njit(**_JIT)
def hash_int64(values, out):
    """``out[i]`` = fmix64(value ^ golden-ratio seed), never 0."""
    for i in range(out.shape[0]):
        h = _fmix64(_U64(values[i]) ^ _INT_SEED)
        out[i] = h if h != 0 else _U64(1)


# --------------------------------------------------------------------------------------------------
# sparse sketches: one entry per (group, bucket) / (group, register) instead of dense rows
# --------------------------------------------------------------------------------------------------


@njit(**_JIT)
def sketch_entries(group, values, log_values, bitmap, bit_offset, x_min, inv_log_gamma, key_min, n_buckets):
    """The sparse form of :func:`accum_sketch`: ``group * n_buckets + bucket`` (int64) of every
    non-null row, in row order (the caller counts the duplicates)."""
    out = np.empty(group.shape[0], np.int64)
    k = 0
    last = n_buckets - 1
    for i in range(group.shape[0]):
        if not _valid(bitmap, bit_offset, i):
            continue
        b = _sketch_bucket(values[i], log_values[i], x_min, inv_log_gamma, key_min, last)
        out[k] = int64(group[i]) * n_buckets + b
        k += 1
    return out[:k]


@njit(**_JIT)
def hll_entries(group, hashes, bitmap, bit_offset, p):
    """The sparse form of :func:`accum_hll`: ``(group * 2**p + register int64, rank uint8)`` of
    every non-null row, in row order (the caller keeps the maximum rank of each key)."""
    keys = np.empty(group.shape[0], np.int64)
    ranks = np.empty(group.shape[0], np.uint8)
    k = 0
    m = int64(1) << p
    for i in range(group.shape[0]):
        if not _valid(bitmap, bit_offset, i):
            continue
        j, w = _hll_word(hashes[i], p)
        keys[k] = int64(group[i]) * m + int64(j)
        ranks[k] = np.uint8(_clz64(w) + _U64(1))
        k += 1
    return keys[:k], ranks[:k]
