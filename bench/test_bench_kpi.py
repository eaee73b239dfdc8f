"""Stage 3: KpiAggregator.update over scored batches, then result(), by touchpoint, channel and week."""

from conftest import KPI_BY, record
from emoscore import KpiAggregator


def test_kpi_update(benchmark, scored):
    batches = scored.to_batches(max_chunksize=1 << 16)

    def fold():
        agg = KpiAggregator(KPI_BY, window="week")
        for batch in batches:
            agg.update(batch)
        return agg.result()

    record(benchmark, scored.num_rows)
    result = benchmark(fold)
    assert result.column("n").to_numpy().sum() == scored.num_rows
