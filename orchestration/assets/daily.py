"""Daily rollups users expect on top of the streams (declared with their pipeline), computed through
Trino one day partition at a time (delete the day, insert the day: reruns are idempotent)."""

import datetime as dt

import dagster as dg

from kappa import query
from kappa.settings import KappaSettings
from lakehouse.pipeline import Daily, Pipeline
from lakehouse.sql import qualified, quote
from orchestration.assets.lineage import table_key
from orchestration.resources import Platform

# The day's bounds as a relation every declared rollup reads (`bounds.lo`, `.hi`, `.day`), from parameters.
BOUNDS = "WITH bounds AS (SELECT CAST(? AS timestamp(3) with time zone) AS lo, " \
         "CAST(? AS timestamp(3) with time zone) AS hi, CAST(? AS date) AS day) "


def rollup_sql(settings: KappaSettings, daily: Daily) -> str:
    """The declared SELECT with the views' schema filled in (a validated identifier)."""
    return daily.select.format(views=quote(settings.jobs.views_namespace))


def compute_day(platform: Platform, daily: Daily, day: dt.date) -> int:
    """Replace one day of a daily table; returns its row count."""
    s = platform.settings
    target = qualified(s.jobs.views_namespace, daily.name)
    columns = ", ".join(f"{quote(name)} {sql_type}" for name, sql_type in daily.columns)
    query.run(s, f"CREATE TABLE IF NOT EXISTS {target} ({columns}) WITH (partitioning = ARRAY['day'])", user="admin")
    lo = dt.datetime.combine(day, dt.time(), dt.UTC)
    bounds = [lo, lo + dt.timedelta(days=1), day]
    query.run(s, f"DELETE FROM {target} WHERE day = ?", [day], user="pipeline")
    query.run(s, f"INSERT INTO {target} {BOUNDS}{rollup_sql(s, daily)}", bounds, user="pipeline")
    return int(query.run(s, f"SELECT count(*) FROM {target} WHERE day = ?", [day], user="pipeline").rows[0][0])


def daily_assets(platform: Platform) -> list[dg.AssetsDefinition]:
    s = platform.settings
    partitions = dg.DailyPartitionsDefinition(start_date=s.operations.backfill_start, timezone="UTC")
    out = []
    for pipeline in s.pipelines.live:
        for daily in pipeline.daily:
            def build(daily: Daily = daily, pipeline: Pipeline = pipeline) -> dg.AssetsDefinition:
                sources = [table_key(s.jobs.views_namespace, pipeline.table(role).name) for role in daily.sources]

                @dg.asset(name=daily.name, key_prefix=[s.jobs.views_namespace], partitions_def=partitions,
                          group_name="daily", kinds={"trino", "iceberg"}, deps=sources,
                          description=f"{daily.name.replace('_', ' ')} per day, through Trino: {daily.description}")
                def _asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
                    day = dt.date.fromisoformat(context.partition_key)
                    rows = compute_day(platform, daily, day)
                    return dg.MaterializeResult(metadata={"rows": rows, "day": day.isoformat()})
                return _asset
            out.append(build())
    return out


def platform_summary(platform: Platform) -> dg.AssetsDefinition:
    """A small on-demand asset: rows and newest event of every published table, as analysts see them."""
    s = platform.settings

    @dg.asset(name="platform_summary", key_prefix=[s.jobs.views_namespace], group_name="daily", kinds={"trino"},
              description="Rows and newest event time of every analytics view (materialize on demand)")
    def _summary() -> dg.MaterializeResult:
        counts: dict[str, int] = {}
        for pipeline in s.pipelines.live:
            for table in pipeline.published:
                view = qualified(s.jobs.views_namespace, table.name)
                counts[table.name] = int(query.run(s, f"SELECT count(*) FROM {view}", user="analyst").rows[0][0])
        return dg.MaterializeResult(metadata={"rows": dg.MetadataValue.json(counts),
                                              "total_rows": sum(counts.values())})

    return _summary
