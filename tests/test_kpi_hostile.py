"""KPI and alert states under hostile input (issue 19): domains, unusable column types, forged
state bytes, and the per-group memory of high-cardinality keys."""

from __future__ import annotations

import struct
import zlib
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from emoscore.alerts import AlertRules, AlertStream
from emoscore.errors import EmoscoreError, InputError, StateFormatError
from emoscore.kpi import KpiAggregator

_HEADER = struct.Struct("<6sHI")
_FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def forge(data: bytes, payload: bytes) -> bytes:
    """``data``'s header with ``payload`` and a CRC recomputed as ``_state.pack_state`` does."""
    magic, version, _ = _HEADER.unpack_from(data)
    return _HEADER.pack(magic, version, zlib.crc32(payload)) + payload


def ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def sample_state() -> KpiAggregator:
    agg = KpiAggregator(["touchpoint", "tier"])
    agg.update(pa.table({
        "touchpoint": ["web", "app", "web", None], "tier": [1, 2, 1, 3],
        "nps": [10, 3, 9, None], "rating": [5, 1, None, 4], "effort": [2, 7, 1, 1],
        "first_response_s": [1.5, 30.0, None, 600.0], "event": ["churn", "renewal", "upsell", None],
        "revenue": [10.5, -2.0, 3.0, None], "customer_id": ["a", "b", "a", "c"],
        "valence": [0.5, -0.7, 0.1, 0.0], "emotion": ["joy", "anger", "neutral", None],
        "joy": [0.9, 0.0, 0.1, 0.0],
    }))
    return agg


def sample_alerts() -> AlertStream:
    stream = AlertStream(AlertRules(frustration_count=2, max_customers=100))
    t = pa.array([1_700_000_000_000_000 + i * 1_000_000 for i in range(6)], pa.timestamp("us"))
    stream.evaluate(pa.table({
        "customer_id": ["a", "b", "a", "c", "d", "a"], "ts": t,
        "emotion": ["frustration"] * 6, "valence": [-0.5] * 6, "text": ["meh"] * 6,
    }))
    return stream


def usable(state) -> None:
    """A state that from_bytes returned works: its table, its bytes, its round trip."""
    if isinstance(state, KpiAggregator):
        state.result()
        again = KpiAggregator.from_bytes(state.to_bytes())
        assert again.to_bytes() == state.to_bytes()
    else:
        again = AlertStream.from_bytes(state.to_bytes())
        assert again.to_bytes() == state.to_bytes()


def load(cls, data: bytes):
    try:
        state = cls.from_bytes(data)
    except StateFormatError:
        return None
    usable(state)
    return state


# ----------------------------------------------------------------------------------------------
# row: KPI domains are checked (whole numbers)
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("column, value", [("nps", 6.9), ("nps", 9.5), ("rating", 4.5), ("effort", 3.3),
                                           ("nps", 11.0), ("rating", 0.0)])
def test_non_integral_or_out_of_range_survey_value_is_refused(column, value):
    agg = KpiAggregator()
    with pytest.raises(InputError, match=rf"column '{column}', row 1: value {value!r}"):
        agg.update(pa.table({column: pa.array([5.0 if column != "nps" else 9.0, value], pa.float64())}))
    assert len(agg) == 0


def test_whole_float_survey_values_are_accepted():
    agg = KpiAggregator()
    agg.update(pa.table({"nps": [9.0, 6.0], "rating": [4.0, 5.0], "effort": pa.array([3.0, 1.0], pa.float32())}))
    row = agg.result().to_pylist()[0]
    assert row["nps"] == 0.0 and row["csat"] == 100.0 and row["ces"] == 2.0


# ----------------------------------------------------------------------------------------------
# row: no raw pyarrow / numpy exceptions from the public API
# ----------------------------------------------------------------------------------------------

ODD_ARRAYS = {
    "struct": lambda: pa.array([{"a": 1}, {"a": 2}]),
    "list": lambda: pa.array([[1], [2, 3]]),
    "map": lambda: pa.array([[("k", 1)], []], pa.map_(pa.string(), pa.int64())),
    "dict_int": lambda: pa.array([1, 2]).dictionary_encode(),
    "dict_struct": lambda: pa.DictionaryArray.from_arrays(pa.array([0, 0], pa.int32()), pa.array([{"a": 1}])),
    "float16": lambda: pa.array(np.array([1.0, 2.0], np.float16)),
    "decimal": lambda: pa.array([Decimal("1.00"), Decimal("2.50")], pa.decimal128(10, 2)),
    "binary": lambda: pa.array([b"\x00", b"\xff"]),
    "fixed_binary": lambda: pa.array([b"ab", b"cd"], pa.binary(2)),
    "bool": lambda: pa.array([True, None]),
    "time64": lambda: pa.array([1, 2], pa.time64("us")),
    "duration": lambda: pa.array([1, 2], pa.duration("s")),
    "date": lambda: pa.array([1, 2], pa.date32()),
    "string": lambda: pa.array(["x", "churn"]),
    "null": lambda: pa.nulls(2),
    "large_string": lambda: pa.array(["a", "b"], pa.large_string()),
    "dense_union": lambda: pa.UnionArray.from_dense(pa.array([0, 0], pa.int8()), pa.array([0, 1], pa.int32()),
                                                    [pa.array([1, 2])]),
}
ROLES = ["key", "nps", "rating", "effort", "first_response_s", "event", "revenue", "customer_id", "valence",
         "emotion", "joy", "ts"]


def test_struct_key_raises_input_error_naming_the_column():
    agg = KpiAggregator("tp")
    with pytest.raises(InputError, match=r"'tp'.*struct"):
        agg.update(pa.table({"tp": [{"a": 1}]}))
    assert len(agg) == 0


@_FUZZ
@given(st.lists(st.tuples(st.sampled_from(ROLES), st.sampled_from(sorted(ODD_ARRAYS))), min_size=1, max_size=4),
       st.sampled_from([None, "day"]))
@example([("key", "struct")], None)
@example([("event", "dict_int"), ("customer_id", "date")], "day")
def test_update_raises_only_emoscore_errors(columns, window):
    data = {"key": pa.array(["a", "b"]), "ts": pa.array([0, 86_400_000_000], pa.timestamp("us"))}
    for role, kind in columns:
        data[role] = ODD_ARRAYS[kind]()
    table = pa.table(data)
    agg = KpiAggregator("key", window=window)
    try:
        agg.update(table)
    except EmoscoreError:
        return
    agg.result()
    agg.copy().merge(agg)
    try:
        agg.drivers("nps")
    except InputError:
        pass
    stream = AlertStream(AlertRules(customer="key" if "customer_id" not in data else "customer_id"))
    try:
        stream.evaluate(table)
    except EmoscoreError:
        pass


@pytest.mark.parametrize("kind", sorted(ODD_ARRAYS))
def test_every_odd_key_type_is_accepted_and_usable_or_refused(kind):
    agg = KpiAggregator("key")
    try:
        agg.update(pa.table({"key": ODD_ARRAYS[kind](), "nps": [1, 10]}))
    except InputError as exc:
        assert "'key'" in str(exc)
        return
    agg.result()
    usable(agg)
    assert KpiAggregator.from_bytes(agg.to_bytes()).result().equals(agg.result())


@pytest.mark.parametrize("kind", sorted(ODD_ARRAYS))
def test_alert_stream_evaluate_raises_only_emoscore_errors(kind):
    stream = AlertStream(AlertRules(frustration_count=2))
    t = pa.array([0, 1_000_000], pa.timestamp("us"))
    base = {"customer_id": pa.array(["a", "a"]), "ts": t, "emotion": pa.array(["frustration"] * 2),
            "valence": pa.array([-0.5, 0.2]), "nps": pa.array([9, 10]), "text": pa.array(["x", "y"])}
    for name in base:
        data = dict(base)
        data[name] = ODD_ARRAYS[kind]()
        try:
            stream.evaluate(pa.table(data))
        except EmoscoreError:
            pass


def test_bad_arguments_to_merge_and_drivers():
    agg = sample_state()
    with pytest.raises(InputError):
        agg.merge("not a state")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        agg.drivers(["nps"])  # type: ignore[arg-type]
    with pytest.raises(InputError):
        agg.update({"nps": [1]})  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# row: corrupt states are refused
# ----------------------------------------------------------------------------------------------


@_FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_are_refused(data):
    for cls, magic in ((KpiAggregator, b"EMOKPI"), (AlertStream, b"EMOALR")):
        load(cls, data)
        forged = _HEADER.pack(magic, 1, zlib.crc32(data)) + data
        load(cls, forged)


_KPI_BLOB, _ALERT_BLOB = sample_state().to_bytes(), sample_alerts().to_bytes()


def _plain(blob: bytes) -> bytes:
    """The same state with an uncompressed payload (mutations then reach the table, not zstd)."""
    return forge(blob, ipc(pa.ipc.open_stream(pa.py_buffer(blob[_HEADER.size:])).read_all()))


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_mutated_states_with_a_forged_crc_are_valid_or_refused(data):
    for cls, blob in ((KpiAggregator, _KPI_BLOB), (AlertStream, _ALERT_BLOB),
                      (KpiAggregator, _plain(_KPI_BLOB)), (AlertStream, _plain(_ALERT_BLOB))):
        payload = bytearray(blob[_HEADER.size:])
        for _ in range(data.draw(st.integers(1, 6))):
            i = data.draw(st.integers(0, len(payload) - 1))
            payload[i] = data.draw(st.integers(0, 255))
        load(cls, forge(blob, bytes(payload)))


@_FUZZ
@given(st.data())
def test_truncated_and_extended_states_are_refused(data):
    for state in (sample_state(), sample_alerts()):
        blob = state.to_bytes()
        payload = blob[_HEADER.size:]
        cut = data.draw(st.integers(0, len(payload)))
        load(type(state), forge(blob, payload[:cut]))
        load(type(state), blob[: data.draw(st.integers(0, len(blob)))])
        load(type(state), forge(blob, payload + data.draw(st.binary(min_size=1, max_size=40))))


def test_uncompressed_forged_payloads_of_every_kind():
    """Decoded, well-formed Arrow tables whose content is wrong: refused with StateFormatError."""
    good = sample_state()
    blob = good.to_bytes()
    table = pa.ipc.open_stream(pa.py_buffer(blob[_HEADER.size:])).read_all()
    meta = table.schema.metadata

    def refuse(t: pa.Table, what: str):
        with pytest.raises(StateFormatError):
            KpiAggregator.from_bytes(forge(blob, ipc(t)))
        return what

    assert KpiAggregator.from_bytes(forge(blob, ipc(table))).to_bytes() == good.to_bytes()
    # struct keys
    structs = pa.array([{"a": i} for i in range(table.num_rows)])
    refuse(table.set_column(0, "key.0", structs), "struct key")
    # duplicate keys
    dup = pa.concat_tables([table, table])
    refuse(dup, "duplicate keys")
    # negative counts
    counts = table.column("counts").combine_chunks()
    flat = counts.flatten().to_numpy().copy()
    flat[0] = -5
    neg = pa.FixedSizeListArray.from_arrays(pa.array(flat), counts.type.list_size)
    refuse(table.set_column(table.schema.get_field_index("counts"), "counts", neg), "negative counts")
    # wrong width
    half = counts.type.list_size // 2
    narrow = pa.FixedSizeListArray.from_arrays(pa.array(flat[: half * len(counts)]), half)
    refuse(table.set_column(table.schema.get_field_index("counts"), "counts", narrow), "wrong width")
    # missing column, extra key column, metadata garbage
    refuse(table.drop_columns(["hll_rank"]), "missing column")
    # sparse sketches: out-of-range or unsorted entries, mismatched lengths
    for name, items, kind in (("hll_rank", [[60]], pa.uint8()), ("sketch_bucket", [[5000]], pa.int32()),
                              ("sketch_count", [[0]], pa.int64())):
        first = pa.array(items + [[]] * (table.num_rows - 1), pa.large_list(kind))
        values = table.column(name).combine_chunks()
        lengths = values.value_lengths().to_numpy(zero_copy_only=False)
        if lengths[0] == 1 and all(x == 0 for x in lengths[1:]):
            refuse(table.set_column(table.schema.get_field_index(name), name, first), name)
    rest = [[]] * (table.num_rows - 1)
    for registers in ([[5, 3]], [[4, 4]]):  # unsorted, duplicate
        pair = table.set_column(table.schema.get_field_index("hll_register"), "hll_register",
                                pa.array(registers + rest, pa.large_list(pa.uint16())))
        pair = pair.set_column(pair.schema.get_field_index("hll_rank"), "hll_rank",
                               pa.array([[1, 1]] + rest, pa.large_list(pa.uint8())))
        refuse(pair, "unsorted")
    ok = table.set_column(table.schema.get_field_index("hll_register"), "hll_register",
                          pa.array([[3, 5]] + rest, pa.large_list(pa.uint16())))
    ok = ok.set_column(ok.schema.get_field_index("hll_rank"), "hll_rank",
                       pa.array([[1, 1]] + rest, pa.large_list(pa.uint8())))
    usable(KpiAggregator.from_bytes(forge(blob, ipc(ok))))
    refuse(table.append_column("key.9", pa.array(["x"] * table.num_rows)), "extra column")
    for key, value in ((b"emoscore.kpi.seen", b"[1, 2"), (b"emoscore.kpi.seen", b"{}"),
                       (b"emoscore.kpi.settings", b"[]"), (b"emoscore.kpi.settings", b"null"),
                       (b"emoscore.kpi.seen", b"[true]")):
        refuse(table.replace_schema_metadata({**meta, key: value}), key.decode())
    # seen says response times were recorded but there is no sketch: refused, not a crash in result()
    no_frt = KpiAggregator("touchpoint", response_time=None)
    no_frt.update(pa.table({"touchpoint": ["a"]}))
    b2 = no_frt.to_bytes()
    t2 = pa.ipc.open_stream(pa.py_buffer(b2[_HEADER.size:])).read_all()
    seen = [True] * (9 + 11)
    forged = t2.replace_schema_metadata({**t2.schema.metadata, b"emoscore.kpi.seen": str(seen).lower().encode()})
    with pytest.raises(StateFormatError):
        KpiAggregator.from_bytes(forge(b2, ipc(forged)))


def test_forged_alert_tables_are_refused():
    good = sample_alerts()
    blob = good.to_bytes()
    table = pa.ipc.open_stream(pa.py_buffer(blob[_HEADER.size:])).read_all()
    meta = table.schema.metadata
    assert AlertStream.from_bytes(forge(blob, ipc(table))).to_bytes() == blob

    def refuse(t: pa.Table):
        with pytest.raises(StateFormatError):
            AlertStream.from_bytes(forge(blob, ipc(t)))

    keys = table.column("key").to_numpy().copy()
    zero = keys.copy()
    zero[0] = 0
    refuse(table.set_column(0, "key", pa.array(zero)))  # the empty-slot key
    dup = keys.copy()
    dup[1] = dup[0]
    refuse(table.set_column(0, "key", pa.array(dup)))  # duplicate customers
    refuse(table.set_column(0, "key", pa.array([{"a": 1}] * table.num_rows)))  # struct keys
    refuse(table.set_column(0, "key", pa.array(keys.astype(np.int64) * 0 - 1)))  # signed keys
    refuse(table.slice(1))  # live count no longer matches the stats
    import json

    stats = json.loads(meta[b"emoscore.alerts.stats"])
    for bad in ({**stats, "state": stats["state"][:3]}, {**stats, "state": [-1] + stats["state"][1:]},
                {**stats, "alerts": {"nope": 1}}, {**stats, "alerts": {k: -1 for k in stats["alerts"]}},
                {**stats, "state": ["x"] * 5}, [], {"state": [10**30] * 5, "alerts": stats["alerts"]}):
        refuse(table.replace_schema_metadata({**meta, b"emoscore.alerts.stats": json.dumps(bad).encode()}))
    refuse(table.replace_schema_metadata({**meta, b"emoscore.alerts.rules": b'{"max_customers": -3}'}))
    refuse(table.replace_schema_metadata({**meta, b"emoscore.alerts.rules": b"[1]"}))


def test_state_from_bytes_rejects_non_bytes():
    with pytest.raises(StateFormatError):
        KpiAggregator.from_bytes(12)  # type: ignore[arg-type]
    with pytest.raises(StateFormatError):
        AlertStream.from_bytes(None)  # type: ignore[arg-type]


def test_cli_refuses_a_crafted_state_with_struct_keys(tmp_path):
    """``emoscore kpi --state S`` with a forged (valid-CRC) state whose keys are structs: a clear
    error and the state file untouched, not exit 70 with a traceback."""
    import subprocess
    import sys

    agg = KpiAggregator("tp")
    agg.update(pa.table({"tp": ["a"], "nps": [9]}))
    blob = agg.to_bytes()
    table = pa.ipc.open_stream(pa.py_buffer(blob[_HEADER.size:])).read_all()
    crafted = forge(blob, ipc(table.set_column(0, "key.0", pa.array([{"a": 1}]))))
    state = tmp_path / "s.kpistate"
    state.write_bytes(crafted)
    proc = subprocess.run([sys.executable, "-m", "emoscore", "kpi", "--by", "tp", "--state", str(state)],
                          input=b'{"text":"x","tp":"b","nps":3}\n', capture_output=True, timeout=120)
    err = proc.stderr.decode()
    assert proc.returncode not in (0, 70), err
    assert "Traceback" not in err and "state" in err
    assert state.read_bytes() == crafted


# ----------------------------------------------------------------------------------------------
# row: bounded memory for high-cardinality keys
# ----------------------------------------------------------------------------------------------


def _many_groups(n: int) -> KpiAggregator:
    agg = KpiAggregator("id")
    ids = np.arange(n)
    for start in range(0, n, 5000):
        part = ids[start : start + 5000]
        agg.update(pa.table({"id": part, "nps": part % 11, "first_response_s": (part % 97).astype(float),
                             "customer_id": part.astype(str), "valence": np.zeros(len(part))}))
    return agg


def test_result_temporaries_do_not_grow_with_the_groups():
    """result() on many groups allocates a bounded block of temporaries, not ~64 KB per group
    (HyperLogLog registers widened to int64 and float64 for every group at once)."""
    import tracemalloc

    agg = _many_groups(12_000)
    tracemalloc.start()
    table = agg.result()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert table.num_rows == 12_000 and table.column("customers").to_pylist()[:3] == [1, 1, 1]
    assert peak < 200 * 1024 * 1024, f"result() peaked at {peak / 2**20:.0f} MiB of temporaries"


def test_state_bytes_per_group_of_a_high_cardinality_key():
    """One row per group (ids): the state holds the counters and sparse sketches, not 10 KB of
    quantile buckets and 4 KB of HyperLogLog registers per group. The counters are 5,408 bytes a group
    (13 cells x 52 fields), their capacity up to twice that while the arrays grow by doubling."""
    agg = _many_groups(20_000)
    per_group = agg.memory_bytes / len(agg)
    assert per_group < 10_000, per_group
    assert agg._sk.nbytes + agg._hl.nbytes < 40 * len(agg)


def test_sparse_sketches_merge_exactly_in_any_order_and_refuse_version_1():
    rng = np.random.default_rng(3)
    n = 3000
    table = pa.table({"g": rng.integers(0, 40, n), "first_response_s": rng.lognormal(3, 2, n),
                      "customer_id": rng.integers(0, 500, n), "nps": rng.integers(0, 11, n)})
    whole = KpiAggregator("g").update(table)
    parts = [KpiAggregator("g").update(table.slice(i, 500)) for i in range(0, n, 500)]
    forward, backward = parts[0].copy(), parts[-1].copy()
    for p in parts[1:]:
        forward.merge(p)
    for p in parts[-2::-1]:
        backward.merge(p)
    back = KpiAggregator.from_bytes(backward.to_bytes())
    assert forward.result().equals(whole.result()) and back.result().equals(whole.result())
    assert np.array_equal(forward._sketch, whole._sketch) and np.array_equal(forward._hll, whole._hll)
    order = np.argsort(back._key_columns()[0].to_numpy())
    assert np.array_equal(back._sketch[order], whole._sketch[np.argsort(whole._key_columns()[0].to_numpy())])
    assert back.to_bytes() == KpiAggregator.from_bytes(back.to_bytes()).to_bytes()
    old = whole.to_bytes()
    old = old[:6] + struct.pack("<H", 1) + old[8:]
    with pytest.raises(StateFormatError, match="version 1 is not supported"):
        KpiAggregator.from_bytes(old)


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_cli_kpi_rejects_non_integral_survey_values(tmp_path, fmt):
    """The runner path (pa.array([6.9], pa.int64()) truncated to 6 before the API saw it; fixed in
    runner/kpi.py by its owner, 46a3fbb)."""
    import subprocess
    import sys

    import pyarrow.parquet as pq

    if fmt == "jsonl":
        args, data = [], b'{"text":"x","nps":6.9}\n{"text":"y","nps":9.5}\n'
    else:
        path = tmp_path / "in.parquet"
        pq.write_table(pa.table({"text": ["x", "y"], "nps": [6.9, 9.5]}), path)
        args, data = ["-i", str(path)], b""
    proc = subprocess.run([sys.executable, "-m", "emoscore", "kpi", *args], input=data, capture_output=True,
                          timeout=120)
    assert proc.stderr.decode().count('"event":"rejected"') == 2, proc.stderr.decode()
