"""emoscore.spark in a real local Spark session: equal to the single-machine API for any partitioning.

The module runs on a classic session; ``test_every_test_passes_over_spark_connect`` runs it again in a
child process with ``EMOSCORE_SPARK_CONNECT=1``, where the session is a local Spark Connect one
(``SparkSession.builder.remote("local[2]")``): the same checks, through the Connect client.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pyspark.sql import SparkSession  # the `test` extra installs pyspark: a missing one fails, never skips

import emoscore
from emoscore import spark as es
from emoscore.sample import generate

pytestmark = pytest.mark.spark

N = 3000
PARTITIONINGS = (1, 2, 7)
CONNECT = os.environ.get("EMOSCORE_SPARK_CONNECT") == "1"


@pytest.fixture(scope="session")
def spark():
    # Python workers must run this interpreter (it has pyarrow and emoscore) and share its Numba cache.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    cache = os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="numba-"))
    # Compile the kernels here first, so that the workers load them from the cache instead of each
    # compiling them again at the same time.
    sample = emoscore.Scorer().score(generate(50, seed=1))
    emoscore.KpiAggregator("touchpoint", window="week").update(sample)
    emoscore.AlertStream().evaluate(sample)
    builder = SparkSession.builder.remote("local[2]") if CONNECT else SparkSession.builder.master("local[2]")
    session = (
        builder.appName("emoscore-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "3")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "700")  # several batches per partition
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.executorEnv.NUMBA_CACHE_DIR", cache)
        .getOrCreate()
    )
    if not CONNECT:  # a Connect client has no SparkContext
        session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def data() -> pa.Table:
    """Generated feedback with extra holes: null texts, null keys, null customers and times."""
    table = generate(N, seed=11)
    rng = np.random.default_rng(3)

    def holes(column, share):
        arr = table.column(column).combine_chunks()
        return pc.if_else(pa.array(rng.random(len(arr)) < share), pa.nulls(len(arr), arr.type), arr)

    for column, share in (("text", 0.05), ("touchpoint", 0.03), ("customer_id", 0.03), ("ts", 0.02)):
        table = table.set_column(table.schema.get_field_index(column), column, holes(column, share))
    return table


@pytest.fixture(scope="session")
def frame(spark, data):
    return spark.createDataFrame(data).cache()


def jobs_started(spark) -> int | None:
    """Jobs this session has started, on a classic session (a Connect client cannot see them)."""
    return None if CONNECT else len(spark.sparkContext.statusTracker().getJobIdsForGroup(None))


def _reference(df) -> pa.Table:
    """The rows exactly as Spark holds them (its types, its order): the single-machine input."""
    return df.toArrow()


def assert_tables_equal(got: pa.Table, want: pa.Table) -> None:
    assert got.column_names == want.column_names
    for name in want.column_names:
        g, w = got.column(name), want.column(name)
        # Spark names list items "element" and marks nullability its own way; values must match exactly.
        assert g.type.id == w.type.id, (name, g.type, w.type)
        assert g.cast(w.type).combine_chunks().equals(w.combine_chunks()), name


@pytest.mark.parametrize("partitions", PARTITIONINGS)
def test_score_equals_single_machine(frame, partitions):
    df = frame.repartition(partitions)
    want = emoscore.Scorer().score(_reference(df))
    got = es.score(df).toArrow()
    assert got.num_rows == N
    assert_tables_equal(got, want)
    assert got.column("text").null_count > 0


def test_score_explain_equals_single_machine(frame):
    df = frame.limit(400).repartition(3)
    reference = _reference(df)
    got = es.score(df, explain=True).toArrow()
    want = emoscore.Scorer(explain=True).score(reference)
    assert got.column_names[-1] == "evidence"
    assert_tables_equal(got, want)
    assert sum(len(items) for items in got.column("evidence").to_pylist()) > 400


def test_score_schema_follows_the_lexicon_taxonomy(spark):
    lexicon = emoscore.Lexicon.from_text(
        "#!emoscore-lexicon 1\n# emotions: delight gloom\nterm\tvalence\temotions\trole\n"
        "great\t2\tdelight=0.9\t-\nawful\t-2\tgloom=0.9\t-\n"
    )
    df = spark.createDataFrame(pa.table({"text": ["a great day", "awful, just awful", None]}))
    scored = es.score(df, lexicon=lexicon)
    scorer = emoscore.Scorer(lexicon)
    assert scored.columns == ["text", *scorer.columns]
    assert_tables_equal(scored.toArrow(), scorer.score(df.toArrow()))


def test_score_empty_partitions(spark, data):
    tiny = spark.createDataFrame(data.slice(0, 3)).repartition(7)
    got = es.score(tiny).toArrow()
    assert_tables_equal(got, emoscore.Scorer().score(tiny.toArrow()))
    empty = spark.createDataFrame(data.slice(0, 40)).repartition(4).where("id < 0")
    got = es.score(empty).toArrow()
    assert got.num_rows == 0
    assert got.column_names == emoscore.Scorer().score(empty.toArrow()).column_names


def test_score_bad_input_fails_before_any_job(spark, frame):
    # emoscore's own error types: raised on the driver (a task's error would come back as a Spark error)
    before = jobs_started(spark)
    with pytest.raises(emoscore.ColumnNotFoundError, match="'body'"):
        es.score(frame, text="body")
    with pytest.raises(emoscore.InputError, match="'nps' must hold strings"):
        es.score(frame, text="nps")
    with pytest.raises(emoscore.InputError, match="valence"):
        es.score(es.score(frame))  # the score columns are there already
    assert jobs_started(spark) == before


@pytest.fixture(scope="session")
def scored(frame):
    return es.score(frame).cache()


KPI_SETTINGS = (
    {"by": ("touchpoint", "channel"), "window": "week"},
    {"by": "channel", "window": "day", "nps": None, "customer": None},
)


@pytest.mark.parametrize("partitions", PARTITIONINGS)
@pytest.mark.parametrize("settings", KPI_SETTINGS, ids=["touchpoint-channel-week", "channel-day-options"])
def test_kpi_equals_single_machine(scored, partitions, settings):
    df = scored.repartition(partitions)
    settings = dict(settings)
    by = settings.pop("by")
    want = emoscore.KpiAggregator(by, **settings).update(_reference(df)).result()
    got = es.kpi(df, by, **settings)
    assert got.num_rows > 1
    assert got.equals(want, check_metadata=True)


def test_kpi_null_keys_and_drivers(scored):
    df = scored.repartition(7)
    agg = es.aggregate(df, "touchpoint", window="month")
    ref = emoscore.KpiAggregator("touchpoint", window="month").update(_reference(df))
    result = agg.result()
    assert result.column("touchpoint").null_count >= 1  # null keys are a group of their own
    assert result.column("window_start").null_count >= 1  # so are null times
    assert result.equals(ref.result(), check_metadata=True)
    assert agg.drivers("nps").equals(ref.drivers("nps"))


def test_kpi_empty_partitions_and_frames(spark, scored):
    tiny = scored.limit(5).repartition(7)
    want = emoscore.KpiAggregator("channel").update(_reference(tiny)).result()
    assert es.kpi(tiny, "channel").equals(want, check_metadata=True)
    empty = scored.where("id < 0").repartition(3)
    want = emoscore.KpiAggregator("channel").update(_reference(empty)).result()
    got = es.kpi(empty, "channel")
    assert got.num_rows == 0 and got.equals(want, check_metadata=True)


def test_kpi_as_dataframe(scored):
    table = es.kpi(scored, "touchpoint")
    frame = es.kpi(scored, "touchpoint", as_dataframe=True)
    assert frame.columns == table.column_names
    assert frame.count() == table.num_rows


def test_score_detects_languages_on_the_workers(spark):
    texts = ["La livraison était rapide, merci !", "Die Lieferung war super schnell!", "Fast delivery, thanks!",
             None, "Le service client est nul"] * 7
    df = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], "id long, text string").repartition(3)
    got = es.score(df, language="auto").orderBy("id").toArrow()
    want = emoscore.Scorer(language="auto").score(pa.array(texts))
    assert got.column("language").to_pylist() == want.column("language").to_pylist()
    assert got.column("valence").to_pylist() == want.column("valence").to_pylist()
    assert got.column("emotion").to_pylist() == want.column("emotion").to_pylist()


def test_kpi_bad_input(spark, scored):
    before = jobs_started(spark)
    with pytest.raises(emoscore.ColumnNotFoundError, match="'region'"):
        es.kpi(scored, "region")
    with pytest.raises(emoscore.InputError, match="window"):
        es.kpi(scored, "touchpoint", window="fortnight")
    assert jobs_started(spark) == before
    # A value outside its domain is found by a task: the error names column, partition and value.
    bad = scored.selectExpr("*", "CAST(11 AS TINYINT) AS nps11").drop("nps").withColumnRenamed("nps11", "nps")
    with pytest.raises(Exception, match=r"partition \d+.*column 'nps', row \d+: value 11"):
        es.kpi(bad, "touchpoint")


RULES = (
    emoscore.AlertRules(id="id"),
    emoscore.AlertRules(frustration_count=2, window_days=10, frustration_min=0.3),
    emoscore.AlertRules(id="id", frustration_count=None, churn_phrases=("refund",)),
)


@pytest.mark.parametrize("partitions", PARTITIONINGS)
@pytest.mark.parametrize("rules", RULES, ids=["default", "frustration-2", "row-local-only"])
def test_alerts_equal_single_machine(scored, partitions, rules):
    df = scored.repartition(partitions)
    want = emoscore.AlertStream(rules).evaluate(_reference(df))
    got = es.alerts(df, rules)
    assert want.num_rows > 0
    if rules.frustration_count is not None:
        assert "repeated_frustration" in want.column("rule").to_pylist()
    assert got.equals(want), (got.slice(0, 5).to_pylist(), want.slice(0, 5).to_pylist())


def test_alerts_empty_partitions_and_missing_columns(spark, scored):
    tiny = scored.limit(40).repartition(7)
    rules = emoscore.AlertRules(id="ticket", frustration_count=1)  # no "ticket" column: nulls, as single-machine
    assert es.alerts(tiny, rules).equals(emoscore.AlertStream(rules).evaluate(_reference(tiny)))
    none = scored.where("id < 0").repartition(3)
    got = es.alerts(none)
    want = emoscore.AlertStream().evaluate(_reference(none))
    assert got.num_rows == 0 and got.schema.equals(want.schema)
    assert es.alerts(tiny, rules, as_dataframe=True).count() == es.alerts(tiny, rules).num_rows
    with pytest.raises(emoscore.InputError, match="kpi_shift"):     # windows over all of df: refused, not skipped
        es.alerts(tiny, emoscore.AlertRules(shift_window="week"))


def test_every_test_passes_over_spark_connect():
    env = dict(os.environ, EMOSCORE_SPARK_CONNECT="1")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "spark", __file__,
         "-k", "not over_spark_connect"],
        env=env, capture_output=True, text=True, timeout=1800,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert " passed" in run.stdout and " failed" not in run.stdout and "skipped" not in run.stdout, run.stdout[-2000:]


def test_import_never_loads_pyspark():
    code = "import sys, emoscore, emoscore.spark; assert 'pyspark' not in sys.modules, 'pyspark imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_missing_pyspark_names_the_extra():
    code = """
import sys
class Hide:  # a meta-path finder that makes pyspark unimportable, as on a machine without the extra
    def find_spec(self, name, path=None, target=None):
        if name == "pyspark" or name.startswith("pyspark."):
            raise ModuleNotFoundError(f"No module named {name!r}")
sys.meta_path.insert(0, Hide())
import pyarrow as pa
import emoscore
from emoscore import spark
try:
    spark.kpi(None, "touchpoint")
except spark.SparkUnavailableError as exc:
    assert isinstance(exc, emoscore.EmoscoreError) and isinstance(exc, ImportError)
    print(exc)
else:
    raise SystemExit("no error")
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, timeout=120, capture_output=True, text=True)
    assert "emoscore[spark]" in out.stdout and "pyspark" in out.stdout
