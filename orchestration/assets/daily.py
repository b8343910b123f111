"""Daily summaries users expect on top of the streams, computed through Trino, one day partition at
a time (delete the day, insert the day: reruns are idempotent)."""


import datetime as dt

import dagster as dg

from kappa import query
from orchestration.assets.lineage import table_key
from orchestration.resources import Platform

DAILY_TABLES = {
    "daily_user_spend": (
        "user_id VARCHAR, purchases BIGINT, total_spent DECIMAL(18, 2), fraud_windows BIGINT, day DATE",
        """SELECT r.user_id, count(*), CAST(sum(r.amount) AS DECIMAL(18, 2)),
                  (SELECT count(*) FROM {views}.fraud_alerts f WHERE f.user_id = r.user_id
                     AND f.window_start >= {lo} AND f.window_start < {hi}), DATE '{day}'
           FROM {views}.user_events_raw r
           WHERE r.action = 'purchase' AND r.event_time >= {lo} AND r.event_time < {hi}
           GROUP BY r.user_id""",
        ("user_events_raw", "fraud_alerts"),
    ),
    "daily_sensor_health": (
        "sensor_id VARCHAR, location VARCHAR, readings BIGINT, avg_temperature DOUBLE, max_temperature DOUBLE, "
        "avg_humidity DOUBLE, alerts BIGINT, day DATE",
        """SELECT s.sensor_id, s.location, sum(s.reading_count),
                  sum(s.avg_temperature * s.reading_count) / sum(s.reading_count), max(s.max_temperature),
                  sum(s.avg_humidity * s.reading_count) / sum(s.reading_count),
                  (SELECT count(*) FROM {views}.sensor_alerts a WHERE a.sensor_id = s.sensor_id
                     AND a.event_time >= {lo} AND a.event_time < {hi}), DATE '{day}'
           FROM {views}.sensor_stats_1m s WHERE s.window_start >= {lo} AND s.window_start < {hi}
           GROUP BY s.sensor_id, s.location""",
        ("sensor_stats_1m", "sensor_alerts"),
    ),
}


def _ts(day: dt.date) -> str:
    return f"TIMESTAMP '{day.isoformat()} 00:00:00 UTC'"


def compute_day(platform: Platform, table: str, day: dt.date) -> int:
    """Replace one day of a daily table; returns its row count."""
    s = platform.settings
    views = s.jobs.views_namespace
    columns, select, _ = DAILY_TABLES[table]
    query.run(s, f"CREATE TABLE IF NOT EXISTS {views}.{table} ({columns}) WITH (partitioning = ARRAY['day'])",
              user="admin")
    sql = select.format(views=views, lo=_ts(day), hi=_ts(day + dt.timedelta(days=1)), day=day.isoformat())
    query.run(s, f"DELETE FROM {views}.{table} WHERE day = DATE '{day.isoformat()}'", user="pipeline")
    query.run(s, f"INSERT INTO {views}.{table} {sql}", user="pipeline")
    return int(query.run(s, f"SELECT count(*) FROM {views}.{table} WHERE day = DATE '{day.isoformat()}'",
                         user="pipeline").rows[0][0])


def daily_assets(platform: Platform) -> list[dg.AssetsDefinition]:
    s = platform.settings
    partitions = dg.DailyPartitionsDefinition(start_date=s.operations.backfill_start, timezone="UTC")
    out = []
    for table, (_cols, _sql, sources) in DAILY_TABLES.items():
        def build(name: str = table, deps: tuple[str, ...] = sources) -> dg.AssetsDefinition:
            @dg.asset(name=name, key_prefix=[s.jobs.views_namespace], partitions_def=partitions, group_name="daily",
                      kinds={"trino", "iceberg"}, deps=[table_key(s.jobs.views_namespace, d) for d in deps],
                      description=f"{name.replace('_', ' ')} per day, through Trino")
            def _asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
                day = dt.date.fromisoformat(context.partition_key)
                rows = compute_day(platform, name, day)
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
        from lakehouse.tables import PUBLISHED_ROLES, job_table_specs

        counts: dict[str, int] = {}
        for job, roles in PUBLISHED_ROLES.items():
            for role in roles:
                name = job_table_specs(job, 1)[role].name
                counts[name] = int(query.run(s, f"SELECT count(*) FROM {s.jobs.views_namespace}.{name}",
                                             user="analyst").rows[0][0])
        return dg.MaterializeResult(metadata={"rows": dg.MetadataValue.json(counts),
                                              "total_rows": sum(counts.values())})

    return _summary
