"""Numba kernels of the alert stream (CPU): the per-customer frustration state of
:class:`emoscore.alerts.AlertStream` in a fixed-capacity open-addressing table.

Same conventions as :mod:`.kpi_cpu`: the caller validates first, kernels are single-threaded,
``cache=True`` and ``nogil=True``, and change only the arrays they are given.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Marks an empty slot of a frustration-time ring (times are uint32 seconds since 1970).
EMPTY_TIME = np.uint32(0xFFFFFFFF)


# --------------------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------------------
# keys uint64[S] (0 = empty slot), last_seen uint32[S] (seconds since 1970), ring uint32[S, R] with the
# customer's R = N-1 most recent frustration times (EMPTY_TIME = unused). Any S >= 2: a key's home slot
# is ``(key >> 32) * S >> 32`` (multiply-shift range reduction), probing is linear with wrap-around.


@njit(inline="always")
def _home(h, size):
    return np.int64(((h >> np.uint64(32)) * np.uint64(size)) >> np.uint64(32))


@njit(inline="always")
def _next(s, size):
    s += 1
    return 0 if s == size else s


@njit(cache=True, nogil=True)
def table_find(keys, h):
    """Slot of key ``h`` or -1."""
    size = keys.shape[0]
    s = _home(h, size)
    while True:
        k = keys[s]
        if k == h:
            return s
        if k == 0:
            return -1
        s = _next(s, size)


@njit(cache=True, nogil=True)
def table_insert(keys, h):
    """Insert key ``h`` (absent; the table has an empty slot) at the first empty slot of its probe
    sequence; returns that slot."""
    size = keys.shape[0]
    s = _home(h, size)
    while keys[s] != 0:
        s = _next(s, size)
    keys[s] = h
    return s


@njit(cache=True, nogil=True)
def _repack(keys, last_seen, ring, start):
    """Restore the linear-probing invariant after slots were emptied (key set to 0), in place.

    ``start`` must be a slot that was empty *before* the deletions, so that no probe sequence crosses
    it. Walks the table once, cyclically from ``start``, and moves each entry to the first empty slot
    of its probe sequence (the bulk form of backward-shift deletion).
    """
    size = keys.shape[0]
    i = start
    for _ in range(size):
        i = _next(i, size)
        h = keys[i]
        if h == 0:
            continue
        s = _home(h, size)
        while s != i and keys[s] != 0:
            s = _next(s, size)
        if s != i:
            keys[s] = h
            last_seen[s] = last_seen[i]
            ring[s, :] = ring[i, :]
            keys[i] = 0
            last_seen[i] = 0
            ring[i, :] = EMPTY_TIME


@njit(cache=True, nogil=True)
def _newest(ring, s):
    best = EMPTY_TIME
    for j in range(ring.shape[1]):
        t = ring[s, j]
        if t != EMPTY_TIME and (best == EMPTY_TIME or t > best):
            best = t
    return best


@njit(cache=True, nogil=True)
def table_sweep(keys, last_seen, ring, now, window, target_live, stats):
    """Evict customers: first every one whose newest frustration is older than ``now - window`` (or
    who has none), then, while more than ``target_live`` remain, the least recently seen (smallest
    ``last_seen``; ties by slot order). ``stats[0]`` holds the live count; ``stats[3]`` and
    ``stats[4]`` count expired and LRU evictions."""
    size = keys.shape[0]
    hole = 0
    while keys[hole] != 0:  # the load factor is below 1: an original hole exists
        hole += 1
    live = 0
    for s in range(size):
        if keys[s] == 0:
            continue
        t = _newest(ring, s)
        if t == EMPTY_TIME or np.int64(t) < now - window:
            keys[s] = 0
            last_seen[s] = 0
            ring[s, :] = EMPTY_TIME
            stats[3] += 1
        else:
            live += 1
    excess = live - target_live
    if excess > 0:
        seen = np.empty(live, np.uint32)
        k = 0
        for s in range(size):
            if keys[s] != 0:
                seen[k] = last_seen[s]
                k += 1
        cutoff = np.partition(seen, excess - 1)[excess - 1]
        below = 0
        for s in range(size):
            if keys[s] != 0 and last_seen[s] < cutoff:
                below += 1
        at_cutoff = excess - below
        for s in range(size):
            if keys[s] == 0:
                continue
            ls = last_seen[s]
            if ls < cutoff or (ls == cutoff and at_cutoff > 0):
                if ls == cutoff:
                    at_cutoff -= 1
                keys[s] = 0
                last_seen[s] = 0
                ring[s, :] = EMPTY_TIME
                stats[4] += 1
                live -= 1
    _repack(keys, last_seen, ring, hole)
    stats[0] = live


@njit(cache=True, nogil=True)
def frustration_scan(hashes, ok, frustrated, times, keys, last_seen, ring, need, window,
                     max_customers, target_live, stats, out_rows, out_count, out_first):
    """Run rule (a) over one batch in row order; returns the number of alerts written.

    For every row with ``ok`` (customer and time present): refresh the customer's ``last_seen`` when it
    is in the table; when the row is frustrated, count it together with the stored frustration times
    within ``window`` seconds of it; at ``need`` or more, emit an alert (row, count, earliest counted
    time) and clear the customer's ring; otherwise store the time in place of the oldest one. A new
    customer is inserted only on a frustrated row; a full table is swept first (:func:`table_sweep`).
    ``stats``: [live, max time seen, rows scanned, evicted expired, evicted lru].
    """
    n_alerts = 0
    r = ring.shape[1]
    for i in range(hashes.shape[0]):
        if not ok[i]:
            continue
        t = times[i]
        t64 = np.int64(t)
        if t64 > stats[1]:
            stats[1] = t64
        stats[2] += 1
        h = hashes[i]
        s = table_find(keys, h)
        if s >= 0 and t > last_seen[s]:
            last_seen[s] = t
        if not frustrated[i]:
            continue
        count = 1
        first = t
        if s >= 0:
            for j in range(r):
                u = ring[s, j]
                if u == EMPTY_TIME:
                    continue
                d = t64 - np.int64(u)
                if d <= window and d >= -window:
                    count += 1
                    if u < first:
                        first = u
        if count >= need:
            out_rows[n_alerts] = i
            out_count[n_alerts] = count
            out_first[n_alerts] = first
            n_alerts += 1
            if s >= 0:
                ring[s, :] = EMPTY_TIME
            continue
        if s < 0:
            if stats[0] >= max_customers:
                table_sweep(keys, last_seen, ring, stats[1], window, target_live, stats)
            s = table_insert(keys, h)
            last_seen[s] = t
            ring[s, :] = EMPTY_TIME
            stats[0] += 1
        # replace an empty entry, else the oldest one
        victim = 0
        for j in range(r):
            u = ring[s, j]
            if u == EMPTY_TIME:
                victim = j
                break
            if u < ring[s, victim]:
                victim = j
        ring[s, victim] = t
    return n_alerts
