"""Table maintenance through Trino: compact small files, expire snapshots (never the last one a
Flink job committed: its restore would otherwise re-commit data, apache/iceberg#4137), remove orphan
files past a safe age. A commit that collides with a streaming commit is retried."""


import math
import time

import dagster as dg

from kappa import query
from kappa.catalog import catalog
from kappa.cdc import maintenance as cdc_maintenance
from kappa.jobs import JobStore
from kappa.settings import KappaSettings
from lakehouse.sql import qualified
from orchestration.assets.lineage import streaming_tables
from orchestration.resources import Platform


def live_tables(platform: Platform) -> list[str]:
    ctx = platform.ctx
    store = JobStore(ctx.settings.state)
    return sorted({pipeline.table_names(store.get(pipeline.name).version)[table.role]
                   for pipeline, table in streaming_tables(ctx.settings).values()})


def _execute(platform: Platform, sql: str) -> None:
    query.run_retrying_conflicts(platform.settings, sql, user="admin")


def retention_keeping_flink_snapshot(platform: Platform, table: str) -> int:
    """Seconds of history to keep: the configured retention, stretched to cover the newest snapshot
    a Flink job committed."""
    ctx = platform.ctx
    keep_s = ctx.settings.operations.snapshot_retention_h * 3600
    t = catalog(ctx).load_table((ctx.settings.jobs.namespace, table))
    flink = [s for s in t.snapshots() if s.summary and "flink.job-id" in s.summary.additional_properties]
    if flink:
        newest = max(s.timestamp_ms for s in flink)
        keep_s = max(keep_s, math.ceil(time.time() - newest / 1000) + 60)
    return keep_s


def schedule_status(settings: KappaSettings) -> dg.DefaultScheduleStatus:
    """Every schedule starts running unless the settings say otherwise ([dagster] schedules)."""
    return dg.DefaultScheduleStatus.RUNNING if settings.dagster.schedules else dg.DefaultScheduleStatus.STOPPED


def maintenance_jobs(platform: Platform) -> tuple[list[dg.JobDefinition], list[dg.ScheduleDefinition]]:
    s = platform.settings
    ns = s.jobs.namespace

    @dg.op(name="compact_small_files")
    def compact(context: dg.OpExecutionContext) -> None:
        for table in live_tables(platform):
            _execute(platform, f"ALTER TABLE {qualified(ns, table)} EXECUTE optimize("
                               f"file_size_threshold => '{int(s.operations.compact_file_size_mb)}MB')")
            context.log.info(f"compacted {table}")

    @dg.op(name="expire_old_snapshots")
    def expire_snapshots(context: dg.OpExecutionContext) -> None:
        for table in live_tables(platform):
            keep = retention_keeping_flink_snapshot(platform, table)
            _execute(platform, f"ALTER TABLE {qualified(ns, table)} EXECUTE expire_snapshots("
                               f"retention_threshold => '{int(keep)}s')")
            context.log.info(f"{table}: expired snapshots older than {keep}s")

    @dg.op(name="delete_orphan_files")
    def remove_orphan_files(context: dg.OpExecutionContext) -> None:
        age = f"{int(s.operations.orphan_min_age_h)}h"
        for table in live_tables(platform):
            _execute(platform, f"ALTER TABLE {qualified(ns, table)} EXECUTE remove_orphan_files("
                               f"retention_threshold => '{age}')")
            context.log.info(f"{table}: removed orphan files older than {age}")

    @dg.op(name="apply_upsert_deletes")
    def compact_upserts(context: dg.OpExecutionContext) -> None:
        for table in cdc_maintenance.upsert_tables(platform.ctx):
            result = cdc_maintenance.compact(platform.ctx, table)
            context.log.info(result.summary())

    @dg.job(name="compact_upsert_tables",
            description="Apply the accumulated deletes of the change-data-capture tables (merge-on-read) once "
                        f"one holds {s.operations.upsert_compact_delete_files} delete files")
    def compact_upserts_job() -> None:
        compact_upserts()

    @dg.job(name="compact_tables", description="Rewrite small files of every live table into larger ones")
    def compact_job() -> None:
        compact()

    @dg.job(name="expire_snapshots", description="Expire old snapshots, keeping the last Flink commit")
    def expire_job() -> None:
        expire_snapshots()

    @dg.job(name="remove_orphan_files", description="Delete files no snapshot references, past a safe age")
    def orphans_job() -> None:
        remove_orphan_files()

    jobs = [compact_job, expire_job, orphans_job, compact_upserts_job]
    status = schedule_status(s)
    schedules = [
        dg.ScheduleDefinition(job=jobs[0], cron_schedule="17 * * * *", default_status=status),
        dg.ScheduleDefinition(job=jobs[1], cron_schedule="37 3 * * *", default_status=status),
        dg.ScheduleDefinition(job=jobs[2], cron_schedule="47 4 * * 0", default_status=status),
        dg.ScheduleDefinition(job=jobs[3], cron_schedule=f"*/{s.operations.upsert_compact_every_min} * * * *",
                              default_status=status),
    ]
    return jobs, schedules
