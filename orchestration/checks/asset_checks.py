"""Asset checks: each table's Great Expectations suite on its recent rows, and the accounting of
every topic (consumed = landed + quarantined + late). Failures list the failing rows' keys."""


import datetime as dt

import dagster as dg
from pyiceberg.expressions import GreaterThanOrEqual

from kappa import kafka_clients
from kappa.catalog import catalog
from kappa.jobs import JobStore, get_definition, tables_for
from kappa.replay_gate import accounting
from kappa.topics import group_lag
from lakehouse.tables import job_table_specs
from orchestration.assets.lineage import streaming_tables, table_key
from orchestration.checks.suites import SUITES, validate
from orchestration.resources import Platform

QUALITY = "quality_suite"
ACCOUNTING = "every_event_accounted_for"


def _recent_rows(platform: Platform, job: str, role: str):  # type: ignore[no-untyped-def]
    ctx = platform.ctx
    version = JobStore(ctx.settings.state).get(job).version
    spec = job_table_specs(job, version)[role]
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=ctx.settings.operations.check_lookback_h)
    table = catalog(ctx).load_table((ctx.settings.jobs.namespace, spec.name))
    column = spec.day_partition_source or "ingest_time"
    return spec.name, table.scan(row_filter=GreaterThanOrEqual(term=column, value=since.isoformat())).to_pandas()


def quality_checks(platform: Platform) -> list[dg.AssetChecksDefinition]:
    s = platform.settings
    checks = []
    for table, (job, role) in streaming_tables(s).items():
        if table not in SUITES:
            continue

        def build(table: str = table, job: str = job, role: str = role) -> dg.AssetChecksDefinition:
            @dg.asset_check(asset=table_key(s.jobs.namespace, table), name=QUALITY,
                            description=f"Great Expectations suite of {table} on the last "
                                        f"{s.operations.check_lookback_h} h of data")
            def _check() -> dg.AssetCheckResult:
                live_table, df = _recent_rows(platform, job, role)
                result = validate(df, SUITES[table], get_definition(platform.ctx, job).params)
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


def accounting_checks(platform: Platform) -> list[dg.AssetChecksDefinition]:
    s = platform.settings
    checks = []
    for job in ("transactions", "user_activity", "iot_sensors"):
        raw = job_table_specs(job, 1)["raw"].name

        def build(job: str = job, raw: str = raw) -> dg.AssetChecksDefinition:
            @dg.asset_check(asset=table_key(s.jobs.namespace, raw), name=ACCOUNTING,
                            description="every Kafka record the live job committed is landed, quarantined or "
                                        "late exactly once")
            def _check() -> dg.AssetCheckResult:

                ctx = platform.ctx
                version = JobStore(ctx.settings.state).get(job).version
                topic = get_definition(ctx, job).topic
                admin = kafka_clients.admin(ctx.settings.kafka_bootstrap)
                lags = group_lag(admin, ctx.settings.kafka_bootstrap, f"kappa.{job}.v{version}", topic)
                # from where the version started (its first offset landed) to what it has committed
                offsets = accounting_bounds(platform, job, version, topic,
                                            {lag.partition: lag.committed or 0 for lag in lags})
                lines, failures = accounting(ctx, tables_for(job, version), topic, offsets)
                return dg.AssetCheckResult(passed=not failures, description="; ".join(failures or lines),
                                           metadata={"offsets": dg.MetadataValue.json(
                                               {str(p): list(v) for p, v in offsets.items()})})
            return _check
        checks.append(build())
    return checks


def accounting_bounds(platform: Platform, job: str, version: int, topic: str,
                      committed: dict[int, int]) -> dict[int, tuple[int, int]]:
    from kappa import query

    ns = platform.settings.jobs.namespace
    tables = tables_for(job, version)
    union = " UNION ALL ".join(
        f"SELECT kafka_partition p, kafka_offset o FROM {ns}.{tables[r]} WHERE kafka_topic = '{topic}'"
        for r in ("raw", "quarantine", "late"))
    firsts = {r[0]: r[1] for r in query.run(platform.settings, f"SELECT p, min(o) FROM ({union}) GROUP BY p",
                                             user="pipeline").rows}
    return {p: (firsts[p], c) for p, c in committed.items() if p in firsts and c > firsts[p]}


__all__ = ["ACCOUNTING", "QUALITY", "accounting_checks", "quality_checks"]
