"""Asset checks: each table's declared quality suite (Great Expectations) on its recent rows, and the
accounting of every topic (consumed = landed + quarantined + late). Failures list the failing rows' keys."""

import datetime as dt

import dagster as dg
import pandas as pd
from pyiceberg.expressions import GreaterThanOrEqual

from flink_jobs.spec import pipeline_name
from kappa import query
from kappa.catalog import catalog
from kappa.cdc import compare
from kappa.jobs import JobStore, get_definition
from kappa.replay_gate import accounting, routed_offsets
from kappa.topics import group_lag
from lakehouse.pipeline import Pipeline, Table
from lakehouse.quality import validate
from orchestration.assets.lineage import streaming_tables, table_key
from orchestration.resources import Platform

QUALITY = "quality_suite"
ACCOUNTING = "every_event_accounted_for"


def _recent_rows(platform: Platform, pipeline: Pipeline, table: Table) -> tuple[str, pd.DataFrame]:
    ctx = platform.ctx
    version = JobStore(ctx.settings.state).get(pipeline.name).version
    name = pipeline.table_names(version)[table.role]
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=ctx.settings.operations.check_lookback_h)
    loaded = catalog(ctx).load_table((ctx.settings.jobs.namespace, name))
    if table.primary_key and table.day_partition is None:  # a current-state table: every row, every time
        return name, loaded.scan().to_pandas()
    column = table.day_partition or "ingest_time"
    return name, loaded.scan(row_filter=GreaterThanOrEqual(term=column, value=since.isoformat())).to_pandas()


def quality_checks(platform: Platform) -> list[dg.AssetChecksDefinition]:
    s = platform.settings
    checks = []
    for name, (pipeline, table) in streaming_tables(s).items():
        if table.checks is None:
            continue

        def build(name: str = name, pipeline: Pipeline = pipeline, table: Table = table) -> dg.AssetChecksDefinition:
            @dg.asset_check(asset=table_key(s.jobs.namespace, name), name=QUALITY,
                            description=f"Great Expectations suite of {name} on the last "
                                        f"{s.operations.check_lookback_h} h of data")
            def _check() -> dg.AssetCheckResult:
                live_table, df = _recent_rows(platform, pipeline, table)
                result = validate(df, pipeline, table, get_definition(s, pipeline.name).params)
                return dg.AssetCheckResult(
                    passed=result.success,
                    severity=dg.AssetCheckSeverity.ERROR,
                    description=result.summary(),
                    metadata={"rows_checked": len(df), "table": live_table,
                              "failures": dg.MetadataValue.json(result.failures)},
                )
            return _check
        checks.append(build())
    return checks


SOURCE_EQUALITY = "equals_source_table"


def source_equality_checks(platform: Platform) -> list[dg.AssetChecksDefinition]:
    """A change-data-capture table equals its source table: row count, a checksum over every row,
    and each row compared (both read in full), retried over two checkpoints for changes in flight."""
    s = platform.settings
    checks = []
    for pipeline in s.pipelines.live:
        if pipeline.source is None:
            continue

        def build(pipeline: Pipeline = pipeline) -> dg.AssetChecksDefinition:
            assert pipeline.source is not None
            source = f"{pipeline.source.database}.{pipeline.source.schema}.{pipeline.source.name}"

            @dg.asset_check(asset=table_key(s.jobs.namespace, pipeline.table("current").name), name=SOURCE_EQUALITY,
                            description=f"equal to {source} row for row (count, checksum, every row)")
            def _check() -> dg.AssetCheckResult:
                result = compare.compare_until_equal(platform.ctx, pipeline,
                                                     timeout_s=2 * s.flink.checkpoint_interval_s + 10)
                return dg.AssetCheckResult(
                    passed=result.equal, severity=dg.AssetCheckSeverity.ERROR, description=result.summary(),
                    metadata={"source_rows": result.source_rows, "iceberg_rows": result.lake_rows,
                              "missing": result.missing, "extra": result.extra, "stale": result.stale,
                              "source_checksum": result.source_checksum, "iceberg_checksum": result.lake_checksum,
                              "examples": dg.MetadataValue.json(result.examples)})
            return _check
        checks.append(build())
    return checks


def accounting_checks(platform: Platform) -> list[dg.AssetChecksDefinition]:
    s = platform.settings
    checks = []
    for pipeline in s.pipelines.live:
        raw = pipeline.table("raw").name

        def build(pipeline: Pipeline = pipeline, raw: str = raw) -> dg.AssetChecksDefinition:
            @dg.asset_check(asset=table_key(s.jobs.namespace, raw), name=ACCOUNTING,
                            description="every Kafka record the live job committed is landed, quarantined or "
                                        "late exactly once")
            def _check() -> dg.AssetCheckResult:
                ctx = platform.ctx
                version = JobStore(ctx.settings.state).get(pipeline.name).version
                topic = pipeline.topic.name
                lags = group_lag(ctx.kafka(), pipeline_name(pipeline.name, version), topic)
                # from where the version started (its first offset landed) to what it has committed
                offsets = accounting_bounds(platform, pipeline, version, topic,
                                            {lag.partition: lag.committed or 0 for lag in lags})
                lines, failures = accounting(ctx, pipeline.table_names(version), topic, offsets, pipeline.name)
                return dg.AssetCheckResult(passed=not failures, description="; ".join(failures or lines),
                                           metadata={"offsets": dg.MetadataValue.json(
                                               {str(p): list(v) for p, v in offsets.items()})})
            return _check
        checks.append(build())
    return checks


def accounting_bounds(platform: Platform, pipeline: Pipeline, version: int, topic: str,
                      committed: dict[int, int]) -> dict[int, tuple[int, int]]:
    ctx = platform.ctx
    union, params = routed_offsets(ctx, pipeline.table_names(version), topic, pipeline.name)
    rows = query.run(platform.settings, f"SELECT p, min(o) FROM ({union}) GROUP BY p", params, user="pipeline").rows
    firsts = {r[0]: r[1] for r in rows}
    return {p: (firsts[p], c) for p, c in committed.items() if p in firsts and c > firsts[p]}


__all__ = ["ACCOUNTING", "QUALITY", "SOURCE_EQUALITY", "accounting_checks", "quality_checks",
           "source_equality_checks"]
