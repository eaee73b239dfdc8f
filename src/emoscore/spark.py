"""Scale-out on Apache Spark: scores, KPI tables and alerts over Spark DataFrames, Arrow-native.

Install with the ``spark`` extra (``pip install "emoscore[spark]"``: pyspark >= 4.0, which needs
Java 17+). pyspark is imported only when one of these functions is called; ``import emoscore`` never
imports it. Classic sessions and Spark Connect sessions alike: only DataFrame operations are used
(``mapInArrow``, ``toArrow``, ``repartition``), no broadcast variables, RDDs or ``SparkContext``.

- :func:`score` maps :class:`~emoscore.Scorer` over the partitions with ``mapInArrow``: the compiled
  lexicon travels inside the function (Spark ships a large function to the executors once, as a
  broadcast of its own), and each Python worker builds one ``Scorer`` per lexicon fingerprint and
  reuses it for every later task (``spark.python.worker.reuse``).
- :func:`aggregate` / :func:`kpi` fold each partition into a :class:`~emoscore.KpiAggregator`, collect
  the states (``to_bytes()``, one small row per partition) and merge them on the driver; merging is
  exact, so the result equals the single-machine one for any partitioning.
- :func:`alerts` evaluates :class:`~emoscore.AlertRules` with the single-machine engine: the row-local
  rules per partition, the per-customer rule after a shuffle by customer (see :func:`alerts`).

Numba caches the compiled kernels on disk: under ``NUMBA_CACHE_DIR`` when it is set, else next to
the installed package when that directory is writable, else in a per-user cache directory. Point
executors at a node-local writable directory (``--conf spark.executorEnv.NUMBA_CACHE_DIR=/tmp/numba``)
so that each new Python worker loads the kernels instead of compiling them again (tens of seconds).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .alerts import RULES, AlertRules, AlertStream
from .api import Scorer
from .errors import ColumnNotFoundError, EmoscoreError, InputError
from .kpi import KpiAggregator
from .lexicon import CompiledLexicon, Lexicon

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SparkUnavailableError", "aggregate", "alerts", "kpi", "score"]

_INSTALL_HINT = 'pip install "emoscore[spark]"  (pyspark>=4.0; it needs Java 17 or newer)'

# Private columns of the alert job (they never reach the caller).
_KIND, _PART, _POS, _RULE, _EVIDENCE = (f"__emoscore_{n}" for n in ("kind", "part", "pos", "rule", "evidence"))
_ROW, _ALERT, _COUNT = 0, 1, 2  # _KIND values: a row for the per-customer rule, an alert, a partition's row count


class SparkUnavailableError(EmoscoreError, ImportError):
    """``emoscore.spark`` was used but pyspark (the ``spark`` extra) is not installed."""


def _require_pyspark() -> None:
    try:
        import pyspark  # noqa: F401
        from pyspark.sql.pandas.types import from_arrow_schema  # noqa: F401
    except ImportError as exc:
        raise SparkUnavailableError(
            f"emoscore.spark needs pyspark, which is not installed ({exc}); install the 'spark' extra: {_INSTALL_HINT}"
        ) from None


# ==================================================================================================
# driver-side helpers
# ==================================================================================================


def _arrow_settings(spark: SparkSession) -> tuple[str | None, bool]:
    """The session time zone and large-type preference that Spark's Arrow conversion uses."""
    tz = spark.conf.get("spark.sql.session.timeZone")
    large = str(spark.conf.get("spark.sql.execution.arrow.useLargeVarTypes", "false")).lower() == "true"
    return tz, large


def _arrow_schema(spark: SparkSession, struct) -> pa.Schema:
    """The Arrow schema of the batches Spark exchanges with Python for ``struct``."""
    from pyspark.sql.pandas.types import to_arrow_schema

    tz, large = _arrow_settings(spark)
    return to_arrow_schema(struct, timezone=tz, prefers_large_types=large)


def _check_frame(df: Any, what: str) -> None:
    from pyspark.sql import DataFrame

    if not isinstance(df, DataFrame):
        raise InputError(f"emoscore.spark.{what} takes a pyspark.sql.DataFrame, not {type(df).__name__}")


# ==================================================================================================
# worker-side helpers (module-level so that cloudpickle ships them by reference: the module's caches
# then live as long as the Python worker)
# ==================================================================================================

_WORKER_SCORERS: dict[tuple, Scorer] = {}


def _task() -> tuple[int, int]:
    """``(partition id, cpus of this task)``."""
    from pyspark import TaskContext

    ctx = TaskContext.get()
    assert ctx is not None  # called inside a Spark task only
    return ctx.partitionId(), ctx.cpus()


def _worker_scorer(lexicon: CompiledLexicon | None, fingerprint: str, cpus: int, options: dict) -> Scorer:
    import numba

    # A task owns spark.task.cpus cores; more Numba threads would fight the other tasks' workers.
    # numba.config sets its NUMBA_* names at import (from the environment): its stubs do not list them
    options = {"threads": max(1, min(cpus, numba.config.NUMBA_NUM_THREADS)), **options}  # type: ignore[attr-defined]
    key = (fingerprint, tuple(sorted(options.items())))
    scorer = _WORKER_SCORERS.get(key)
    if scorer is None:
        scorer = _WORKER_SCORERS[key] = Scorer(lexicon, **options)
    return scorer


def _located(exc: EmoscoreError, part: int, pos: int) -> EmoscoreError:
    """The same error, saying where in the DataFrame the batch whose rows it names starts."""
    return type(exc)(f"partition {part}, batch starting at partition row {pos}: {exc}")


# ==================================================================================================
# score
# ==================================================================================================


def score(
    df: DataFrame,
    *,
    text: str = "text",
    lexicon: Lexicon | CompiledLexicon | str | os.PathLike | None = None,
    **options,
) -> DataFrame:
    """Score the texts of a Spark DataFrame: every column of ``df`` followed by the score columns.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        Any DataFrame with a string column ``text``; its partitioning and row order are kept.
    text : str
        The text column (exact, case-sensitive name).
    lexicon : Lexicon, CompiledLexicon or path, optional
        As for :class:`~emoscore.Scorer`; compiled once on the driver and shipped with the function.
    **options
        Other :class:`~emoscore.Scorer` arguments (``aspects``, ``backend``, ``threads``, ``explain``: the
        ``evidence`` column, an array of structs in Spark; ``language``: with ``"auto"`` or a list, each
        worker loads the bundled lexicons itself instead of receiving one). Without
        ``threads`` each task scores with ``spark.task.cpus`` threads.

    Returns
    -------
    pyspark.sql.DataFrame
        Lazy, like any transformation. The score columns and their types are those of
        :meth:`Scorer.score` (float32 -> FloatType, int32 -> IntegerType, string -> StringType),
        derived from the lexicon's taxonomy; values equal ``Scorer.score`` on the same rows.

    Raises
    ------
    SparkUnavailableError
        pyspark is not installed.
    ColumnNotFoundError, InputError
        Raised on the driver before any job runs: ``text`` is missing or not a string column, or
        ``df`` already has a column that scoring would add.
    """
    _require_pyspark()
    from pyspark.sql.pandas.types import from_arrow_schema
    from pyspark.sql.types import StructType

    _check_frame(df, "score")
    if text not in df.columns:
        raise ColumnNotFoundError(f"text column {text!r} not found; the DataFrame has columns {df.columns}")
    spark = df.sparkSession
    scorer = Scorer(lexicon, **options)
    compiled = scorer.lexicon  # with its aspects, if any: workers rebuild the same Scorer from it
    # The output schema is whatever the Scorer appends to an empty batch of this input: new score
    # columns (and type errors in the text column) show up here, before any job runs.
    in_schema = _arrow_schema(spark, df.schema)
    scored = scorer.score(in_schema.empty_table(), text=text)
    added = pa.schema([scored.schema.field(i) for i in range(len(in_schema), len(scored.schema))])
    out_struct = StructType(list(df.schema.fields) + list(from_arrow_schema(added).fields))
    out_schema = _arrow_schema(spark, out_struct)
    if scorer.detects_language:  # a lexicon per language: each worker loads them from the installed package
        shipped, fingerprint = None, "languages"
        worker_options = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    else:
        shipped, fingerprint = compiled, compiled.fingerprint
        worker_options = {k: v for k, v in options.items() if k != "aspects"}
    run = functools.partial(_score_partition, lexicon=shipped, fingerprint=fingerprint,
                            options=worker_options, text=text, schema=out_schema)
    return df.mapInArrow(run, out_struct)


def _score_partition(batches, *, lexicon, fingerprint, options, text, schema) -> Iterator[pa.RecordBatch]:
    part, cpus = _task()
    scorer = _worker_scorer(lexicon, fingerprint, cpus, options)
    pos = 0
    for batch in batches:
        try:
            scored = scorer.score(batch, text=text)
        except EmoscoreError as exc:
            raise _located(exc, part, pos) from None
        pos += batch.num_rows
        # Spark reads the buffers as the declared types (large strings, list field names): cast.
        yield scored.cast(schema)


# ==================================================================================================
# KPIs
# ==================================================================================================


def aggregate(df: DataFrame, by: str | Sequence[str] = (), **options) -> KpiAggregator:
    """Fold a scored DataFrame into one :class:`~emoscore.KpiAggregator` (for ``result()``,
    ``drivers()`` or ``to_bytes()``).

    Each partition folds its Arrow batches into its own aggregator (an empty partition into an
    empty one); the states travel to the driver as ``to_bytes()`` (one row per partition, through
    ``toArrow()``) and are added there one by one. Merging is exact, associative and commutative, so the
    state equals one ``KpiAggregator.update`` over the whole DataFrame for any partitioning. The
    driver holds every partition's state at once: coalesce a DataFrame of very many partitions first.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        Scored rows (the output of :func:`score`) with their metadata columns.
    by, **options
        As for :class:`~emoscore.KpiAggregator` (``window``, ``time``, ``nps`` … ``emotions``).
        Windows of a Spark ``TimestampType`` column are cut on the session time zone's calendar
        (``spark.sql.session.timeZone``), the zone its Arrow batches carry; ``TimestampNTZType`` and
        ``DateType`` are used as they are.

    Raises
    ------
    ColumnNotFoundError, InputError
        Raised on the driver before any job runs: bad settings, a missing key or time column, or a
        column of an unusable type. A value outside its domain is found by the tasks; the Spark
        error then carries the :class:`~emoscore.InputError` message with the partition and row.
    """
    _require_pyspark()
    from pyspark.sql.types import BinaryType, StructField, StructType

    _check_frame(df, "aggregate")
    template = KpiAggregator(by, **options)  # validates the settings here
    spark = df.sparkSession
    template.update(_arrow_schema(spark, df.schema).empty_table())  # missing columns, unusable types
    df = _only(df, _kpi_columns(template))
    schema = _arrow_schema(spark, df.schema)
    fold = functools.partial(_kpi_partition, by=by, options=options, schema=schema)
    states = df.mapInArrow(fold, StructType([StructField("state", BinaryType(), False)])).toArrow()
    total = template  # no partitions: the state of an empty update
    for state in states.column("state"):  # one at a time: each is dropped once added
        total = total.merge(KpiAggregator.from_bytes(state.as_py()))
    return total


def kpi(
    df: DataFrame, by: str | Sequence[str] = (), *, as_dataframe: bool = False, **options
) -> pa.Table | DataFrame:
    """The KPI table of a scored DataFrame: :meth:`KpiAggregator.result` of :func:`aggregate`.

    Returns a ``pyarrow.Table`` (small: one row per group), or with ``as_dataframe=True`` the same
    table as a Spark DataFrame in ``df``'s session.
    """
    table = aggregate(df, by, **options).result()
    return df.sparkSession.createDataFrame(table) if as_dataframe else table


def _kpi_partition(batches, *, by, options, schema) -> Iterator[pa.RecordBatch]:
    part, _ = _task()
    agg = KpiAggregator(by, **options)
    agg.update(schema.empty_table())  # the columns seen, as a single-machine update of the same frame
    pos = 0
    for batch in batches:
        try:
            agg.update(batch)
        except EmoscoreError as exc:
            raise _located(exc, part, pos) from None
        pos += batch.num_rows
    yield pa.RecordBatch.from_arrays([pa.array([agg.to_bytes()], pa.binary())], names=["state"])


def _kpi_columns(agg: KpiAggregator) -> list[str]:
    settings = agg.settings
    names = list(settings["by"]) + [settings[k] for k in (
        "time", "nps", "rating", "effort", "response_time", "event", "revenue", "customer")]
    return names + ["valence", "emotion"] + list(settings["emotions"])


def _only(df: DataFrame, names) -> DataFrame:
    """``df`` cut to the columns named (those it has, in its order): the Python workers are sent
    nothing else (text, aspect lists …), which is most of the bytes between the JVM and Python."""
    wanted = {name for name in names if name is not None}
    keep = [name for name in df.columns if name in wanted]
    return df if len(keep) == len(df.columns) else df.select(*(df[name] for name in keep))


# ==================================================================================================
# alerts
# ==================================================================================================


def alerts(df: DataFrame, rules: AlertRules | None = None, *, as_dataframe: bool = False) -> pa.Table | DataFrame:
    """Alerts of a scored DataFrame, as :meth:`AlertStream.evaluate` of a fresh stream over all of
    ``df`` in its row order (partition by partition).

    The row-local rules (``score_text_mismatch``, ``churn_language``) run in each partition. Rule
    ``repeated_frustration`` depends on each customer's rows in order: the rows with a customer and
    a time are shuffled by customer, sorted back into ``df``'s order within each partition, and
    scanned by one :class:`~emoscore.AlertStream` per partition. Customers are independent in that
    rule, so the alerts are the single-machine ones as long as the single-machine stream would
    evict nobody (fewer than ``rules.max_customers`` customers with a pending frustrated row); each
    partition has that capacity on its own, so Spark evicts later, never earlier.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        Scored rows (the output of :func:`score`) with the columns the rules read.
    rules : AlertRules, optional
        Default ``AlertRules()``.
    as_dataframe : bool
        Return a Spark DataFrame instead of a ``pyarrow.Table``.

    Returns
    -------
    pyarrow.Table or pyspark.sql.DataFrame
        The columns of :meth:`AlertStream.evaluate`: ``row`` (0-based position in ``df``), the ``id``
        column when configured, ``customer``, ``time``, ``rule``, ``evidence``; ordered by row, then
        rule. The alerts are collected on the driver (one row per alert).
    """
    _require_pyspark()
    from pyspark.sql.pandas.types import from_arrow_schema
    from pyspark.sql.types import StructField, StructType

    _check_frame(df, "alerts")
    rules = rules if rules is not None else AlertRules()
    if not isinstance(rules, AlertRules):
        raise InputError(f"rules must be an AlertRules, not {type(rules).__name__}")
    spark = df.sparkSession
    config = rules.to_dict()
    if config["shift_window"] is not None:
        raise InputError("emoscore.spark.alerts does not evaluate the kpi_shift rule (shift_window): aggregate "
                         "with emoscore.spark.aggregate and read KpiAggregator.result(deltas=True) instead")
    # No column pruning here (unlike aggregate): a projection can be pushed below a round-robin
    # repartition and change the row order that `row` and the per-customer rule follow.
    schema = _arrow_schema(spark, df.schema)
    # Columns of unusable types fail here, before any job (max_customers=1: no state to allocate).
    AlertStream(AlertRules(**{**config, "max_customers": 1})).evaluate(schema.empty_table())
    row_local = AlertRules(**{**config, "frustration_count": None, "max_customers": 1})
    per_customer = None
    if (config["frustration_count"] is not None and config["customer"] in schema.names
            and config["time"] in schema.names):
        per_customer = AlertRules(**{**config, "mismatch_valence": None, "churn_phrases": ()})
    # Data columns an alert or the per-customer rule needs, under their own names.
    wanted = [config[k] for k in ("id", "customer", "time", "emotion", "frustration_score")]
    carry = [name for name in dict.fromkeys(wanted) if name is not None and name in schema.names]
    private = pa.schema([(_KIND, pa.int8()), (_PART, pa.int32()), (_POS, pa.int64()),
                         (_RULE, pa.string()), (_EVIDENCE, pa.string())])
    union_struct = StructType(
        list(from_arrow_schema(private).fields) + [StructField(name, df.schema[name].dataType, True) for name in carry]
    )
    union = _arrow_schema(spark, union_struct)
    tagged = df.mapInArrow(
        functools.partial(_alerts_row_local, rules=row_local, per_customer=per_customer is not None,
                          config=config, carry=carry, schema=union),
        union_struct,
    )
    if per_customer is not None:
        tagged = tagged.repartition(tagged[config["customer"]]).sortWithinPartitions(_KIND, _PART, _POS)
        tagged = tagged.mapInArrow(
            functools.partial(_alerts_per_customer, rules=per_customer, config=config, carry=carry, schema=union),
            union_struct,
        )
    table = _assemble_alerts(tagged.toArrow(), config, schema)
    return spark.createDataFrame(table) if as_dataframe else table


def _alert_table(found: pa.Table, part, pos: np.ndarray, config: dict, carry: list, schema: pa.Schema) -> pa.Table:
    """Alerts of :meth:`AlertStream.evaluate` as rows of the union schema (``pos``: partition row of each)."""
    n = found.num_rows
    source = {config["customer"]: "customer", config["time"]: "time"}
    if config["id"] is not None:
        source[config["id"]] = config["id"]
    columns = {
        _KIND: pa.array(np.full(n, _ALERT, np.int8)),
        _PART: pa.array(part if isinstance(part, np.ndarray) else np.full(n, part, np.int32)),
        _POS: pa.array(pos),
        _RULE: found.column("rule"),
        _EVIDENCE: found.column("evidence"),
    }
    for name in carry:
        columns[name] = found.column(source[name]) if name in source else pa.nulls(n, schema.field(name).type)
    return pa.table(columns).cast(schema)


def _alerts_row_local(batches, *, rules, per_customer, config, carry, schema) -> Iterator[pa.RecordBatch]:
    part, _ = _task()
    stream = AlertStream(rules)
    customer, time = config["customer"], config["time"]
    pos = 0
    for batch in batches:
        n = batch.num_rows
        try:
            found = stream.evaluate(batch)
        except EmoscoreError as exc:
            raise _located(exc, part, pos) from None
        if found.num_rows:
            rows = found.column("row").to_numpy() + pos
            yield from _alert_table(found, part, rows, config, carry, schema).to_batches()
        if per_customer and n:
            # Rows without a customer or a time never count in the rule: they need not travel.
            keep = pc.and_(pc.is_valid(batch.column(customer)), pc.is_valid(batch.column(time)))
            where = pa.array(np.arange(pos, pos + n, dtype=np.int64)).filter(keep)
            if len(where):
                data = batch.filter(keep)
                m = len(where)
                columns = [pa.array(np.full(m, _ROW, np.int8)), pa.array(np.full(m, part, np.int32)), where,
                           pa.nulls(m, pa.string()), pa.nulls(m, pa.string())] + [data.column(c) for c in carry]
                yield pa.RecordBatch.from_arrays(columns, names=schema.names).cast(schema)
        pos += n
    count = [pa.array([_COUNT], pa.int8()), pa.array([part], pa.int32()), pa.array([pos], pa.int64()),
             pa.nulls(1, pa.string()), pa.nulls(1, pa.string())] + [pa.nulls(1, schema.field(c).type) for c in carry]
    yield pa.RecordBatch.from_arrays(count, schema=schema)


def _alerts_per_customer(batches, *, rules, config, carry, schema) -> Iterator[pa.RecordBatch]:
    stream = None
    for batch in batches:  # sorted: this partition's customer rows in DataFrame order, then the rest
        kind = batch.column(_KIND)
        is_row = pc.equal(kind, _ROW)
        rows = batch.filter(is_row)
        if rows.num_rows:
            stream = stream or AlertStream(rules)
            found = stream.evaluate(rows.select(carry))
            if found.num_rows:
                take = found.column("row")
                yield from _alert_table(found, rows.column(_PART).take(take).to_numpy(),
                                   rows.column(_POS).take(take).to_numpy(), config, carry, schema).to_batches()
        rest = batch.filter(pc.invert(is_row))
        if rest.num_rows:
            yield rest


def _assemble_alerts(collected: pa.Table, config: dict, schema: pa.Schema) -> pa.Table:
    """The single-machine alert table from the collected alert and row-count records."""
    kind = collected.column(_KIND).to_numpy()
    counts = collected.filter(pa.array(kind == _COUNT))
    sizes = np.zeros(max(counts.column(_PART).to_pylist(), default=-1) + 1, np.int64)
    sizes[counts.column(_PART).to_numpy()] = counts.column(_POS).to_numpy()
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    found = collected.filter(pa.array(kind == _ALERT))
    rows = (offsets[found.column(_PART).to_numpy()] + found.column(_POS).to_numpy() if found.num_rows
            else np.zeros(0, np.int64))
    rank = {name: i for i, name in enumerate(RULES)}
    rule_order = np.array([rank[r] for r in found.column(_RULE).to_pylist()], np.int64)
    order = np.lexsort((rule_order, rows))
    found = found.take(pa.array(order))
    n = found.num_rows

    def pick(name, default):
        if name is not None and name in schema.names:
            return found.column(name)
        return pa.nulls(n, default)

    columns = {"row": pa.array(rows[order].astype(np.int64))}
    if config["id"] is not None:
        columns[config["id"]] = pick(config["id"], pa.string())
    columns["customer"] = pick(config["customer"], pa.string())
    columns["time"] = pick(config["time"], pa.timestamp("us", tz="UTC"))
    columns["rule"] = found.column(_RULE)
    columns["evidence"] = found.column(_EVIDENCE)
    return pa.table(columns)
