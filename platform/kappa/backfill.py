"""Backfill whole days: reprocess them from Kafka with a bounded Flink job and overwrite exactly
those day partitions of the live tables, so that a rerun is idempotent.

    day D -> Kafka offsets of the records produced from D 00:00 to D+1 00:00 + lookahead (24 h by
             default: events of D that reached Kafka late are still found)
          -> bounded job into staging tables (the job's next version number)
          -> blocking quality checks on D's staged rows
          -> per table, one Iceberg overwrite of D's rows (atomic; retried on a concurrent commit)
          -> staging tables dropped
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyiceberg.exceptions import CommitFailedException

from kappa import query, replay
from kappa.catalog import catalog, ensure_job_tables
from kappa.context import Context
from kappa.errors import KappaError
from kappa.jobs import JobStore, get_definition, render_spec, submit
from kappa.offsets import resolve, to_flink_offsets
from kappa.settings import KappaSettings
from lakehouse.pipeline import Pipeline, longest_window_ms
from lakehouse.quality import validate
from lakehouse.sql import qualified

if TYPE_CHECKING:
    import pyarrow as pa

# A check on the rows about to be published: (table base name, rows) -> (passed, message).
Check = Callable[[str, "pa.Table"], tuple[bool, str]]
DAY_MS = 86_400_000


@dataclass
class DayResult:
    day: dt.date
    events: int
    published: dict[str, int] = field(default_factory=dict)  # table -> rows written for the day
    blocked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.blocked


def parse_day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise KappaError(f"cannot read day {text!r}: use YYYY-MM-DD") from None


def days(first: dt.date, last: dt.date) -> list[dt.date]:
    if last < first:
        raise KappaError(f"--to {last} is before --from {first}")
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def _lookahead_ms(ctx: Context, params: dict[str, Any]) -> int:
    """How long after midnight records of the day may still arrive (Kafka time) and matter."""
    return max(int(ctx.settings.jobs.backfill_lookahead_h * 3_600_000), longest_window_ms(params))


def declared_checks(settings: KappaSettings, job_name: str) -> Check:
    """The blocking check of a backfill (and Dagster's backfill jobs): each table's declared quality
    suite on the day's staged rows, with the job's settings."""
    job = get_definition(settings, job_name)
    tables = {t.name: t for t in job.pipeline.tables}

    def check(table: str, rows: pa.Table) -> tuple[bool, str]:
        declared = tables.get(table)
        if declared is None or declared.checks is None or rows.num_rows == 0:
            return True, f"{table}: no suite or no rows"
        result = validate(rows.to_pandas(), job.pipeline, declared, job.params)
        return result.success, result.summary()

    return check


def backfill_day(ctx: Context, job_name: str, day: dt.date, check: Check | None = None,
                 progress: Callable[[str], None] = lambda _m: None, timeout_s: float = 1800) -> DayResult:
    job = get_definition(ctx.settings, job_name)
    if job.pipeline.source is not None:
        raise KappaError(f"{job_name} mirrors a database table: a day of its changes cannot be recomputed alone; "
                         f"rebuild it with a replay (`kappa replay {job_name} --from earliest`)")
    # Every event of the day counts, whatever order it reached Kafka in: the bounded job's watermark
    # waits as long as records of the day may arrive (the lookahead), so none of them is late.
    job = dataclasses.replace(job, params={**job.params,
                                           "out_of_orderness_s": _lookahead_ms(ctx, job.params) // 1000})
    start_ms = int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp() * 1000)
    end_ms = start_ms + DAY_MS
    ranges = resolve(ctx.kafka(), job.topic, str(start_ms),
                     str(min(end_ms + _lookahead_ms(ctx, job.params), int(time.time() * 1000))))
    result = DayResult(day, sum(r.events for r in ranges))
    if result.events == 0:
        progress(f"{day}: Kafka holds no {job.topic} records for that day; nothing to do")
        return result
    store = JobStore(ctx.settings.state)
    record = store.get(job_name)
    staging_version = max(record.max_version, record.version) + 1
    record.max_version = staging_version
    store.put(record)
    ensure_job_tables(ctx, job.pipeline, staging_version)
    spec = render_spec(ctx, job, staging_version, startup_mode="specific-offsets",
                       specific_offsets=to_flink_offsets(ranges, "start"), bounded_mode="specific-offsets",
                       bounded_specific_offsets=to_flink_offsets(ranges, "end"))
    progress(f"{day}: reprocessing {result.events} events with a bounded job (staging v{staging_version})")
    job_id = submit(ctx, job, spec)
    plan = replay.ReplayPlan(job.pipeline, job.topic, record.version, staging_version, ranges, True,
                             job.tables(staging_version), job.params, job.params)
    try:
        replay.follow(ctx, replay.ReplayRun(plan, job_id), lambda _p: None, timeout_s=timeout_s)
        _publish(ctx, job.pipeline, record.version, staging_version, start_ms, end_ms, check, result, progress)
    finally:
        _drop_staging(ctx, job.pipeline, staging_version)
    return result


def _publish(ctx: Context, pipeline: Pipeline, live_version: int, staging_version: int, start_ms: int, end_ms: int,
             check: Check | None, result: DayResult, progress: Callable[[str], None]) -> None:
    from pyiceberg.expressions import And, GreaterThanOrEqual, LessThan  # heavy: the backfill's alone

    cat = catalog(ctx)
    ns = ctx.settings.jobs.namespace
    live, staging = pipeline.table_names(live_version), pipeline.table_names(staging_version)
    lo = dt.datetime.fromtimestamp(start_ms / 1000, dt.UTC)
    hi = dt.datetime.fromtimestamp(end_ms / 1000, dt.UTC)
    staged: dict[str, tuple[Any, pa.Table]] = {}
    for table in pipeline.tables:  # its own tables: the shared quarantine and late events stay
        if table.day_partition is None:
            continue
        day_filter = And(GreaterThanOrEqual(term=table.day_partition, value=lo.isoformat()),
                         LessThan(term=table.day_partition, value=hi.isoformat()))
        rows = cat.load_table((ns, staging[table.role])).scan(row_filter=day_filter).to_arrow()
        role = table.role
        if check is not None:
            passed, message = check(table.name, rows)
            if not passed:
                result.blocked.append(message)
        staged[role] = (day_filter, rows)
    if result.blocked:
        progress(f"{result.day}: quality checks failed; nothing published: {'; '.join(result.blocked)}")
        return
    for role, (day_filter, rows) in staged.items():
        target = live[role]
        for attempt in range(1, 6):
            loaded = cat.load_table((ns, target))
            try:
                with warnings.catch_warnings():  # a day the live table never had is not a problem
                    warnings.filterwarnings("ignore", "Delete operation did not match any records")
                    loaded.overwrite(rows.cast(loaded.schema().as_arrow()), overwrite_filter=day_filter)
                break
            except CommitFailedException:
                if attempt == 5:
                    raise
                time.sleep(attempt)  # a streaming commit got there first: reload and retry
        result.published[target] = rows.num_rows
        progress(f"{result.day}: {target}: {rows.num_rows} rows for the day")


def _drop_staging(ctx: Context, pipeline: Pipeline, version: int) -> None:
    """Trino's DROP TABLE removes the staging tables' files as well as their catalog entries."""
    for name in pipeline.table_names(version).values():
        query.run(ctx.settings, f"DROP TABLE IF EXISTS {qualified(ctx.settings.jobs.namespace, name)}")
