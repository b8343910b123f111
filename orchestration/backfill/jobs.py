"""Backfills in Dagster: one daily-partitioned job per pipeline. Launching a partition range
from the UI reprocesses those days from Kafka and overwrites exactly those day partitions."""


import datetime as dt

import dagster as dg

from kappa.backfill import backfill_day, declared_checks
from orchestration.resources import Platform


def backfill_jobs(platform: Platform) -> list[dg.JobDefinition]:
    partitions = dg.DailyPartitionsDefinition(start_date=platform.settings.operations.backfill_start,
                                              timezone="UTC")
    jobs = []
    # A captured table's state is the sum of all its changes: it is rebuilt by a replay, not by days.
    for name in (p.name for p in platform.settings.pipelines.live if p.source is None):
        def build(job: str = name) -> dg.JobDefinition:
            @dg.op(name=f"backfill_{job}_day")
            def backfill_op(context: dg.OpExecutionContext) -> dg.Output[int]:
                day = dt.date.fromisoformat(context.partition_key)
                result = backfill_day(platform.ctx, job, day, declared_checks(platform.settings, job),
                                      progress=context.log.info)
                if not result.ok:
                    raise dg.Failure(description="quality checks blocked publishing: " + "; ".join(result.blocked),
                                     metadata={"day": day.isoformat()})
                return dg.Output(result.events, metadata={"events": result.events,
                                                          **{t: n for t, n in result.published.items()}})

            @dg.job(name=f"backfill_{job}", partitions_def=partitions,
                    description=f"Reprocess days of `{job}` from Kafka and overwrite their partitions")
            def backfill_job() -> None:
                backfill_op()

            return backfill_job
        jobs.append(build())
    return jobs
