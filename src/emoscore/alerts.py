"""Alerts while scored batches stream: repeated frustration, score/text mismatch, churn language, and
significant window-to-window KPI shifts per group (:mod:`emoscore.alerts_shift`).

``AlertRules`` is the (immutable) configuration; ``AlertStream`` holds the bounded per-customer state
and turns each scored batch into a table of alerts::

    stream = AlertStream(AlertRules(frustration_count=3, window_days=30, id="ticket_id"))
    for batch in scored_batches:
        alerts = stream.evaluate(batch)   # pyarrow.Table, one row per alert
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._state import pack_state, unpack_state
from .alerts_shift import ShiftWatch
from .columns import as_input_errors, categorical, check_range, hash_ids, numeric, string_like
from .errors import InputError, StateFormatError
from .kernels import alerts_cpu

__all__ = ["AlertRules", "AlertStream", "DEFAULT_CHURN_PHRASES", "RULES", "empty_alerts"]

#: Rule names, in the order alerts of one row are listed.
RULES = ("repeated_frustration", "score_text_mismatch", "churn_language", "kpi_shift")

#: Churn-risk phrases matched by default (case-insensitive, on word boundaries).
DEFAULT_CHURN_PHRASES = (
    "cancel my subscription",
    "cancel my account",
    "cancelling my subscription",
    "canceling my subscription",
    "close my account",
    "closing my account",
    "switching to",
    "switch to another",
    "moving to a competitor",
    "taking my business elsewhere",
    "never again",
    "never buying",
    "never ordering",
    "last time i",
    "i want a refund",
    "unsubscribe",
    "done with you",
)

_FORMAT_VERSION = 2  # 2: the kpi_shift rule (its KPI state in the metadata); version 1 states are refused
_MAGIC = b"EMOALR"
_TIME_MAX = 0xFFFFFFFF - 1  # uint32 seconds since 1970 (0xFFFFFFFF marks an empty ring entry)
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_SLOT_FACTOR = 1.5  # table slots per customer of capacity (load factor <= 2/3)


class AlertRules:
    """The alert rules and the columns they read (immutable).

    Parameters
    ----------
    customer, time, text, id : str or None
        Columns: the customer id (any type; hashed to 64 bits), the event time (timestamp of any
        unit/zone, or date), the message text, and an optional row id copied into each alert.
    emotion, valence, frustration_score, nps, rating : str or None
        Score and survey columns. A column missing from a batch counts as nulls for its rows; ``None``
        never reads it.
    frustration_count : int or None
        Rule ``repeated_frustration``: alert on the row that makes a customer's ``frustration_count``-th
        frustrated row within ``window_days`` (``None`` disables the rule). A row is *frustrated*
        when its dominant ``emotion`` is one of ``frustration_emotions`` or its
        ``frustration_score`` column is ``>= frustration_min``. After an alert the customer's count
        starts again from zero, so a customer who stays frustrated alerts once per
        ``frustration_count`` frustrated rows. Rows without a customer or a time are not counted.
    window_days : float
        The window of that rule: a frustrated row counts the customer's stored frustrated rows whose
        times are within ``window_days`` of its own (either side: batches need not be in time order).
    mismatch_valence : float or None
        Rule ``score_text_mismatch``: a promoter (``nps >= promoter_min``) or satisfied
        (``rating >= rating_min``) row whose ``valence <= mismatch_valence`` — the score says fine,
        the words say otherwise. ``None`` disables the rule.
    churn_phrases : sequence of str
        Rule ``churn_language``: phrases searched in ``text`` case-insensitively, on word boundaries
        (``"switching to"`` matches "I'm SWITCHING TO Acme" but not "switching tools"); an empty
        sequence disables the rule. The evidence quotes the first phrase found and an excerpt of
        ``excerpt_chars`` characters around it.
    max_customers : int
        Capacity of the per-customer state of ``repeated_frustration`` (see :class:`AlertStream`).
    shift_window : {None, "day", "week", "month"}
        Rule ``kpi_shift`` (``None`` disables it): per group of the ``shift_by`` columns, alert when
        NPS, CSAT or an emotion share of a ``time`` window differs from the group's previous window with
        ``p < 1 - shift_level`` and at least ``shift_min_n`` observations on each side. Alerts come as
        windows close (a row of a later window arrives; :meth:`AlertStream.flush` closes the last ones);
        see :mod:`emoscore.alerts_shift`. ``shift_emotions``: the taxonomy of the ``emotion`` values
        (default: the bundled lexicon's).
    """

    def __init__(
        self,
        *,
        customer: str | None = "customer_id",
        time: str | None = "ts",
        text: str | None = "text",
        id: str | None = None,  # noqa: A002 - the column's name in the output
        emotion: str | None = "emotion",
        valence: str | None = "valence",
        frustration_score: str | None = "frustration",
        nps: str | None = "nps",
        rating: str | None = "rating",
        frustration_count: int | None = 3,
        window_days: float = 30,
        frustration_emotions: Sequence[str] = ("frustration", "anger"),
        frustration_min: float = 0.5,
        mismatch_valence: float | None = -0.5,
        promoter_min: float = 9,
        rating_min: float = 4,
        churn_phrases: Sequence[str] = DEFAULT_CHURN_PHRASES,
        excerpt_chars: int = 80,
        max_customers: int = 1_000_000,
        shift_window: str | None = None,
        shift_by: Sequence[str] = (),
        shift_level: float = 0.99,
        shift_min_n: int = 30,
        shift_emotions: Sequence[str] | None = None,
    ) -> None:
        if frustration_count is not None and (
            not isinstance(frustration_count, int) or not 1 <= frustration_count <= 64
        ):
            raise InputError(f"frustration_count must be an integer 1..64 or None, got {frustration_count!r}")
        if not 0 < window_days <= 36_500:
            raise InputError(f"window_days must be in (0, 36500], got {window_days!r}")
        if not isinstance(max_customers, int) or not 1 <= max_customers <= 2**31:
            raise InputError(f"max_customers must be an integer 1..2**31, got {max_customers!r}")
        if isinstance(churn_phrases, str) or any(not isinstance(p, str) or not p.strip() for p in churn_phrases):
            raise InputError("churn_phrases must be a sequence of non-empty strings")
        if isinstance(frustration_emotions, str):
            frustration_emotions = (frustration_emotions,)
        shift_by = (shift_by,) if isinstance(shift_by, str) else tuple(shift_by)
        if shift_window is not None and time is None:
            raise InputError(f"shift_window={shift_window!r} needs a time column, but time=None")
        if not 0 < shift_level < 1 or not isinstance(shift_min_n, int) or shift_min_n < 0:
            raise InputError(f"shift_level must be in (0, 1) and shift_min_n a count >= 0, got "
                             f"{shift_level!r}, {shift_min_n!r}")
        # JSON-compatible (to_dict, the state's metadata): column names, thresholds and phrases
        self._config: dict[str, Any] = {
            "customer": customer, "time": time, "text": text, "id": id, "emotion": emotion, "valence": valence,
            "frustration_score": frustration_score, "nps": nps, "rating": rating,
            "frustration_count": frustration_count, "window_days": float(window_days),
            "frustration_emotions": list(frustration_emotions), "frustration_min": float(frustration_min),
            "mismatch_valence": None if mismatch_valence is None else float(mismatch_valence),
            "promoter_min": float(promoter_min), "rating_min": float(rating_min),
            "churn_phrases": [p.strip() for p in churn_phrases], "excerpt_chars": int(excerpt_chars),
            "max_customers": int(max_customers), "shift_window": shift_window, "shift_by": list(shift_by),
            "shift_level": float(shift_level), "shift_min_n": shift_min_n,
            "shift_emotions": None if shift_emotions is None else list(shift_emotions),
        }
        phrases = self._config["churn_phrases"]
        self._pattern = "|".join(_bounded(p) for p in phrases) if phrases else None
        self._phrase_res = [re.compile(_bounded(p), re.IGNORECASE) for p in phrases]

    def __getattr__(self, name):
        config = self.__dict__.get("_config", {})
        if name in config:
            value = config[name]
            return tuple(value) if isinstance(value, list) else value
        raise AttributeError(name)

    def __repr__(self) -> str:
        return f"AlertRules({', '.join(f'{k}={v!r}' for k, v in self._config.items())})"

    def __eq__(self, other) -> bool:
        return isinstance(other, AlertRules) and other._config == self._config

    def to_dict(self) -> dict:
        """The configuration as JSON-compatible values."""
        return json.loads(json.dumps(self._config))

    def stream(self) -> AlertStream:
        """A new :class:`AlertStream` evaluating these rules."""
        return AlertStream(self)


def _bounded(phrase: str) -> str:
    escaped = re.escape(phrase)
    start = r"\b" if re.match(r"\w", phrase[0]) else ""
    end = r"\b" if re.match(r"\w", phrase[-1]) else ""
    return f"{start}{escaped}{end}"


class AlertStream:
    """Evaluates :class:`AlertRules` over a stream of scored batches with bounded memory.

    Per-customer state (rule ``repeated_frustration`` only) is a fixed-capacity open-addressing
    table of NumPy arrays keyed by the 64-bit hash of the customer id: per slot the key (8 bytes),
    the last time the customer was seen (4), and the times of its ``frustration_count - 1`` most
    recent frustrated rows (4 each); ``ceil(1.5 * max_customers)`` slots, allocated up front —
    ``30 * max_customers`` bytes for ``frustration_count=3`` (300 MB for 10 million customers),
    never more. Only customers with a pending frustrated row are stored.

    Eviction: when a new customer arrives and ``max_customers`` are stored, a sweep first evicts
    every customer whose newest frustrated row is older than ``window_days`` before the newest time
    seen (they can no longer complete an alert if rows arrive in time order); if more than 7/8 of
    the capacity is still in use, the least recently seen customers go (ties in slot order) until
    7/8 remain. An evicted customer starts again from zero; :attr:`stats` counts the evictions.
    Hash collisions between different ids (probability ~ n**2 / 2**65 for n customers) would merge
    their counts. Times are stored as uint32 seconds since 1970, so times must lie in 1970-2106.

    An instance is not thread-safe; alerts depend on the order of the batches.
    """

    def __init__(self, rules: AlertRules | None = None) -> None:
        self.rules = rules if rules is not None else AlertRules()
        cfg = self.rules._config
        ring = max((cfg["frustration_count"] or 1) - 1, 1)
        slots = max(64, int(np.ceil(_SLOT_FACTOR * cfg["max_customers"])))
        self._keys = np.zeros(slots, np.uint64)
        self._last_seen = np.zeros(slots, np.uint32)
        self._ring = np.full((slots, ring), alerts_cpu.EMPTY_TIME, np.uint32)
        # live customers, newest time seen (-1: none), rows scanned, evicted expired, evicted lru
        self._stats = np.array([0, -1, 0, 0, 0], np.int64)
        self._alerts = dict.fromkeys(RULES, 0)
        self._shift = None if cfg["shift_window"] is None else ShiftWatch(
            by=cfg["shift_by"], window=cfg["shift_window"], time=cfg["time"], nps=cfg["nps"], rating=cfg["rating"],
            emotion=cfg["emotion"], emotions=cfg["shift_emotions"], level=cfg["shift_level"],
            min_n=cfg["shift_min_n"])

    @property
    def memory_bytes(self) -> int:
        """Bytes held by the per-customer state arrays (fixed at construction)."""
        return self._keys.nbytes + self._last_seen.nbytes + self._ring.nbytes

    @property
    def stats(self) -> dict:
        """Counters: rows scanned by the frustration rule, alerts per rule, customers stored,
        capacity, evictions, state bytes."""
        return {
            "rows": int(self._stats[2]),
            "alerts": dict(self._alerts),
            "customers": int(self._stats[0]),
            "max_customers": self.rules._config["max_customers"],
            "slots": len(self._keys),
            "evicted_expired": int(self._stats[3]),
            "evicted_lru": int(self._stats[4]),
            "memory_bytes": self.memory_bytes,
        }

    def evaluate(self, data: pa.Table | pa.RecordBatch) -> pa.Table:
        """Alerts raised by the rows of ``data`` (rows are taken in order; state carries over).

        Returns
        -------
        pyarrow.Table
            One row per alert, ordered by row then rule: ``row`` (0-based, in ``data``), the ``id``
            column's value when one is configured, ``customer``, ``time``, ``rule`` (one of
            :data:`RULES`) and ``evidence`` (human-readable: the count and window; the score and
            the valence; the phrase and an excerpt).

        Raises
        ------
        InputError
            A value is outside its domain (valence outside [-1, 1], NPS outside 0-10, rating outside
            1-5, frustration score outside [0, 1], time outside 1970-2106); the message names the
            column, row and value, and no state changes.
        """
        prepared = self._prepare_all(data, "evaluate")
        shift = self._shift.prepare(data) if self._shift is not None else None
        parts = [self._alerts_of(batch, p, start) for batch, p, start in prepared]
        if shift is not None and self._shift is not None:
            rows, evidence = self._shift.commit(shift)
            parts.append(self._shift_alerts(data, rows, evidence))
        tables = [part for part in parts if part is not None]
        if not tables:
            return empty_alerts(self.rules, data.schema)
        table = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
        return table.take(pc.sort_indices(table, [("row", "ascending")])) if shift is not None else table

    def check(self, data: pa.Table | pa.RecordBatch) -> None:
        """Raise the :class:`InputError` that :meth:`evaluate` would raise for ``data``, without
        evaluating it (no state changes): lets a caller check a batch before committing it elsewhere."""
        self._prepare_all(data, "check")
        if self._shift is not None:
            self._shift.prepare(data)

    def flush(self) -> pa.Table:
        """The ``kpi_shift`` alerts of the windows still open, at the end of a stream (their ``row``,
        ``customer`` and ``time`` are null); an empty table when the rule is off."""
        evidence = self._shift.flush() if self._shift is not None else []
        table = self._shift_alerts(None, np.zeros(len(evidence), np.int64), evidence)
        return table if table is not None else empty_alerts(self.rules, pa.schema([]))

    def _shift_alerts(self, data, rows: np.ndarray, evidence: list[str]) -> pa.Table | None:
        """The ``kpi_shift`` alerts: ``rows`` of ``data`` closed the windows (``data`` None: no row)."""
        if not evidence:
            return None
        self._alerts["kpi_shift"] += len(evidence)
        cfg = self.rules._config
        n = len(evidence)
        take = pa.array(rows)

        def pick(name):
            columns = data.schema.names if data is not None else ()
            return data.column(name).take(take) if name in columns else pa.nulls(n)

        columns = {"row": pa.array(rows, mask=np.full(n, data is None))}
        if cfg["id"] is not None:
            columns[cfg["id"]] = pick(cfg["id"])
        columns.update(customer=pa.nulls(n), time=pick(cfg["time"]), rule=pa.array(["kpi_shift"] * n),
                       evidence=pa.array(evidence, pa.string()))
        return pa.table(columns)

    # ---------------------------------------------------------------------------------------------

    def _prepare_all(self, data: pa.Table | pa.RecordBatch, verb: str) -> list:
        """Every batch of ``data`` validated (no state touched): ``(batch, prepared, first row)``."""
        if isinstance(data, pa.RecordBatch):
            batches = [data]
        elif isinstance(data, pa.Table):
            batches = data.to_batches()
        else:
            raise InputError(f"{verb} takes a pyarrow Table or RecordBatch, not {type(data).__name__}")
        prepared = []
        row0 = 0
        for batch in batches:
            prepared.append(self._prepare(batch, row0))
            row0 += batch.num_rows
        return prepared

    def _prepare(self, batch: pa.RecordBatch, row0: int):
        """Validate one batch (no state touched); an unusable column type raises InputError naming it."""
        with as_input_errors() as current:  # the column being read, for the error message
            return self._prepare_columns(batch, row0, current)

    def _prepare_columns(self, batch: pa.RecordBatch, row0: int, current: list):
        cfg = self.rules._config
        names = batch.schema.names
        n = batch.num_rows

        def column(name):
            arr = batch.column(name) if name is not None and name in names else None
            current[:] = [name, arr]
            return arr

        p: dict[str, tuple] = {}  # per rule: what _alerts_of needs
        if cfg["frustration_count"] is not None:
            customer, time = column(cfg["customer"]), column(cfg["time"])
            frustrated = np.zeros(n, bool)
            emotion = column(cfg["emotion"])
            if emotion is not None:
                labels, index = categorical(emotion, cfg["emotion"])
                lut = np.array([v in cfg["frustration_emotions"] for v in labels] + [False], bool)
                frustrated |= lut[index]
            score = column(cfg["frustration_score"])
            if score is not None:
                values, bitmap, offset = numeric(score, cfg["frustration_score"], float32_ok=True)
                check_range(values, bitmap, offset, 0, 1, False, cfg["frustration_score"], score, row0,
                            "not an emotion score in [0, 1]")
                frustrated |= (values >= cfg["frustration_min"]) & _valid_mask(score)
            if customer is not None and time is not None:
                hashes, _, _ = hash_ids(customer)
                seconds, valid_time = _epoch_seconds(time, cfg["time"], row0)
                ok = _valid_mask(customer) & valid_time
                p["frustration"] = (hashes, ok, frustrated, seconds)
        if cfg["mismatch_valence"] is not None:
            promoter = np.zeros(n, bool)
            shown: list[tuple[str, np.ndarray, np.ndarray] | None] = [None] * 2
            for k, (name, lo, hi, threshold, what) in enumerate((
                (cfg["nps"], 0, 10, cfg["promoter_min"], "not an NPS answer (0-10)"),
                (cfg["rating"], 1, 5, cfg["rating_min"], "not a rating (1-5)"),
            )):
                arr = column(name)
                if arr is None:
                    continue
                values, bitmap, offset = numeric(arr, name)
                check_range(values, bitmap, offset, lo, hi, False, name, arr, row0, what)
                hit = (values >= threshold) & _valid_mask(arr)
                promoter |= hit
                shown[k] = (name, values, hit)
            valence = column(cfg["valence"])
            if valence is not None:
                v, bitmap, offset = numeric(valence, cfg["valence"], float32_ok=True)
                check_range(v, bitmap, offset, -1, 1, False, cfg["valence"], valence, row0, "not a valence in [-1, 1]")
                low = (v <= cfg["mismatch_valence"]) & _valid_mask(valence)
                p["mismatch"] = (np.flatnonzero(low & promoter), v, shown)
        if self.rules._pattern is not None:
            text = column(cfg["text"])
            if text is not None:
                text = string_like(text, cfg["text"])
                if pa.types.is_dictionary(text.type):
                    text = text.cast(text.type.value_type)
                if not pa.types.is_null(text.type):
                    hit = pc.match_substring_regex(text, self.rules._pattern, ignore_case=True)
                    rows = np.flatnonzero(hit.fill_null(False).to_numpy(zero_copy_only=False))
                    p["churn"] = (rows, text)
        return batch, p, row0

    def _alerts_of(self, batch: pa.RecordBatch, p: dict, row0: int) -> pa.Table | None:
        cfg = self.rules._config
        rows, rules, evidence = [], [], []  # per rule: row indices, rule number, evidence strings
        if "frustration" in p:
            hashes, ok, frustrated, seconds = p["frustration"]
            n = len(hashes)
            out_rows = np.empty(n, np.int64)
            out_count = np.empty(n, np.int64)
            out_first = np.empty(n, np.uint32)
            max_customers = cfg["max_customers"]
            target = max_customers - max(1, max_customers // 8)
            found = alerts_cpu.frustration_scan(
                hashes, ok, frustrated, seconds, self._keys, self._last_seen, self._ring,
                cfg["frustration_count"], int(round(cfg["window_days"] * 86_400)), max_customers, target,
                self._stats, out_rows, out_count, out_first,
            )
            text = []
            for c, f in zip(out_count[:found].tolist(), out_first[:found].tolist(), strict=True):
                first = dt.datetime.fromtimestamp(f, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                text.append(f"{c} frustrated messages within {cfg['window_days']:g} days (first at {first})")
            rows.append(out_rows[:found].copy())
            rules.append(0)
            evidence.append(pa.array(text, pa.string()))
            self._alerts[RULES[0]] += found
        if "mismatch" in p:
            found, valence, shown = p["mismatch"]
            pieces = []
            for name, values, hit in filter(None, shown):
                number = pa.array(values[found].astype(np.float64)).cast(pa.string())
                piece = pc.binary_join_element_wise(f"{name}=", number, "")
                pieces.append(pc.if_else(pa.array(hit[found]), piece, pa.scalar(None, pa.string())))
            scores = pc.binary_join_element_wise(*pieces, " and ", null_handling="skip")
            v = pc.round(pa.array(valence[found].astype(np.float64)), 3).cast(pa.string())
            rows.append(found)
            rules.append(1)
            evidence.append(pc.binary_join_element_wise(scores, v, " but valence="))
            self._alerts[RULES[1]] += len(found)
        if "churn" in p:
            found, text = p["churn"]
            width = cfg["excerpt_chars"]
            notes = []
            for value in text.take(pa.array(found, pa.int64())).to_pylist():
                phrase, start, end = self._first_phrase(value)
                if phrase is None:  # RE2 and Python's re disagree (exotic Unicode case folding)
                    phrase, start, end = "?", 0, 0
                left = max(0, (start + end) // 2 - width // 2)
                excerpt = value[left : left + width]
                excerpt = ("…" if left > 0 else "") + excerpt + ("…" if left + width < len(value) else "")
                notes.append(f"phrase {phrase!r} in {excerpt!r}")
            rows.append(found)
            rules.append(2)
            evidence.append(pa.array(notes, pa.string()))
            self._alerts[RULES[2]] += len(found)
        total = sum(len(r) for r in rows)
        if not total:
            return None
        rows_np = np.concatenate(rows).astype(np.int64)
        rules_np = np.concatenate([np.full(len(r), k, np.int64) for r, k in zip(rows, rules, strict=True)])
        order = np.lexsort((rules_np, rows_np))
        rows_np, rules_np = rows_np[order], rules_np[order]
        evidence_all = pa.concat_arrays([e.cast(pa.string()) for e in evidence]).take(pa.array(order))
        take = pa.array(rows_np)
        names = batch.schema.names

        def pick(name, kind):
            if name is not None and name in names:
                return batch.column(name).take(take)
            return pa.nulls(len(rows_np), kind)

        columns = {"row": pa.array(rows_np + row0)}
        if cfg["id"] is not None:
            columns[cfg["id"]] = pick(cfg["id"], pa.string())
        columns["customer"] = pick(cfg["customer"], pa.string())
        columns["time"] = pick(cfg["time"], pa.timestamp("us", tz="UTC"))
        columns["rule"] = pa.array(np.array(RULES, object)[rules_np], pa.string())
        columns["evidence"] = evidence_all
        return pa.table(columns)

    def _first_phrase(self, value: str):
        best = None
        for phrase, regex in zip(self.rules._config["churn_phrases"], self.rules._phrase_res, strict=True):
            m = regex.search(value)
            if m and (best is None or m.start() < best[1]):
                best = (phrase, m.start(), m.end())
        return best if best is not None else (None, 0, 0)

    # ---------------------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Checkpoint the stream (rules, counters and stored customers) as a header plus Arrow IPC."""
        live = np.flatnonzero(self._keys)
        table = pa.table({
            "key": pa.array(self._keys[live]),
            "last_seen": pa.array(self._last_seen[live]),
            "ring": pa.FixedSizeListArray.from_arrays(pa.array(self._ring[live].reshape(-1)), self._ring.shape[1]),
        }).replace_schema_metadata({
            b"emoscore.alerts.rules": json.dumps(self.rules._config).encode(),
            b"emoscore.alerts.stats": json.dumps({"state": self._stats.tolist(), "alerts": self._alerts}).encode(),
            **self._shift_metadata(),
        })
        return pack_state(table, magic=_MAGIC, version=_FORMAT_VERSION)

    def _shift_metadata(self) -> dict[bytes, bytes]:
        if self._shift is None:
            return {}
        state, through = self._shift.to_state()
        return {b"emoscore.alerts.shift": json.dumps({"through": through}).encode(),
                b"emoscore.alerts.shift_state": state}

    @classmethod
    def from_bytes(cls, data: bytes) -> AlertStream:
        """Restore a stream written by :meth:`to_bytes` (raises :class:`StateFormatError`)."""
        table = unpack_state(data, magic=_MAGIC, version=_FORMAT_VERSION, what="alert-stream state")
        try:
            return cls._from_table(table)
        except StateFormatError:
            raise
        except Exception as exc:  # noqa: BLE001 - anything here means unreadable bytes
            raise StateFormatError(f"corrupt alert state: {type(exc).__name__}: {exc}") from None

    @classmethod
    def _from_table(cls, table: pa.Table) -> AlertStream:
        """The stream of a decoded state table; every check of the layout and of the counters."""
        def bad(why: str) -> StateFormatError:
            return StateFormatError(f"corrupt alert state: {why}")

        metadata = table.schema.metadata or {}
        config = json.loads(metadata[b"emoscore.alerts.rules"])
        stats = json.loads(metadata[b"emoscore.alerts.stats"])
        if not isinstance(config, dict) or not isinstance(stats, dict):
            raise bad("the rules or the counters are not what to_bytes writes")
        rules = AlertRules(**config)
        if rules._config != config:
            raise bad("the rules are not what to_bytes writes")
        stream = cls(rules)
        if table.column_names != ["key", "last_seen", "ring"]:
            raise bad(f"columns {table.column_names}, expected ['key', 'last_seen', 'ring']")
        width = stream._ring.shape[1]
        kinds = {"key": pa.uint64(), "last_seen": pa.uint32(), "ring": pa.list_(pa.uint32(), width)}
        columns = {name: table.column(name).combine_chunks() for name in kinds}
        for name, kind in kinds.items():
            column = columns[name]
            if column.type != kind or column.null_count or (name == "ring" and column.values.null_count):
                raise bad(f"column {name!r} has type {column.type}, expected {kind} without nulls")
        n = table.num_rows
        keys = columns["key"].to_numpy(zero_copy_only=False)
        last_seen = columns["last_seen"].to_numpy(zero_copy_only=False)
        ring = columns["ring"].flatten().to_numpy(zero_copy_only=False).reshape(n, width)
        if n > rules._config["max_customers"]:
            raise bad(f"{n} customers stored, more than max_customers={rules._config['max_customers']}")
        if (keys == 0).any() or len(np.unique(keys)) != n:
            raise bad("a customer key is 0 (the empty slot) or stored twice")
        state, alerts = stats.get("state"), stats.get("alerts")
        if not isinstance(state, list) or len(state) != len(stream._stats) \
                or not all(type(v) is int for v in state):
            raise bad("the counters are not what to_bytes writes")
        live, newest, *rest = state
        if live != n or not -1 <= newest <= _TIME_MAX or any(not 0 <= v < 1 << 62 for v in rest):
            raise bad(f"the counters {state} do not match the {n} stored customers")
        if not isinstance(alerts, dict) or set(alerts) != set(RULES) \
                or not all(type(v) is int and 0 <= v < 1 << 62 for v in alerts.values()):
            raise bad(f"the alert counts {alerts!r} are not one non-negative count per rule {RULES}")
        for key, seen, times in zip(keys.tolist(), last_seen.tolist(), ring, strict=True):
            slot = alerts_cpu.table_insert(stream._keys, np.uint64(key))
            stream._last_seen[slot] = seen
            stream._ring[slot] = times
        stream._stats[:] = state
        stream._alerts.update(alerts)
        if stream._shift is not None:
            through = json.loads(metadata[b"emoscore.alerts.shift"])["through"]
            if through is not None and type(through) is not int:
                raise bad("the kpi_shift watermark is not a day number")
            stream._shift.restore(metadata[b"emoscore.alerts.shift_state"], through)
        return stream


def _valid_mask(arr: pa.Array) -> np.ndarray:
    if arr.null_count == 0:
        return np.ones(len(arr), bool)
    return arr.is_valid().to_numpy(zero_copy_only=False)


def _epoch_seconds(arr: pa.Array, column: str, row0: int) -> tuple[np.ndarray, np.ndarray]:
    """``(uint32 seconds since 1970, valid)``; times outside 1970-2106 raise."""
    kind = arr.type
    valid = _valid_mask(arr)
    if pa.types.is_timestamp(kind):
        values = np.floor_divide(arr.view(pa.int64()).to_numpy(zero_copy_only=False) if arr.null_count == 0
                                 else arr.view(pa.int64()).fill_null(0).to_numpy(), _PER_SECOND[kind.unit])
    elif pa.types.is_date32(kind):
        values = arr.view(pa.int32()).fill_null(0).to_numpy().astype(np.int64) * 86_400
    elif pa.types.is_date64(kind):
        values = np.floor_divide(arr.view(pa.int64()).fill_null(0).to_numpy(), 1000)
    elif pa.types.is_null(kind):
        return np.zeros(len(arr), np.uint32), np.zeros(len(arr), bool)
    else:
        raise InputError(f"time column {column!r} must be a timestamp or a date, but its type is {kind}")
    bad = valid & ((values < 0) | (values > _TIME_MAX))
    if bad.any():
        row = int(np.argmax(bad))
        raise InputError(f"column {column!r}, row {row0 + row}: value {arr[row].as_py()!r} is outside 1970-2106")
    return np.where(valid, values, 0).astype(np.uint32), valid


def empty_alerts(rules: AlertRules, schema: pa.Schema) -> pa.Table:
    """The table of no alerts: the columns :meth:`AlertStream.evaluate` returns for ``rules``, their
    types taken from ``schema`` (the input's) where it has the column, else the defaults."""
    cfg = rules._config

    def kind(name, default):
        return schema.field(name).type if name is not None and name in schema.names else default

    fields = [pa.field("row", pa.int64())]
    if cfg["id"] is not None:
        fields.append(pa.field(cfg["id"], kind(cfg["id"], pa.string())))
    fields += [pa.field("customer", kind(cfg["customer"], pa.string())),
               pa.field("time", kind(cfg["time"], pa.timestamp("us", tz="UTC"))),
               pa.field("rule", pa.string()), pa.field("evidence", pa.string())]
    return pa.schema(fields).empty_table()
