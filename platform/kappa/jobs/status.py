"""How each job is doing, computed once for `kappa status`, `kappa jobs list` and Dagster's health
sensor: its Flink state, uptime, restarts, checkpoint age, consumer lag, its watermark against the
clock and how many of its recent events went late or to quarantine, and what is wrong."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flink_jobs.spec import pipeline_name
from kappa import query
from kappa.context import Context
from kappa.errors import KappaError
from kappa.flink_rest import ACTIVE_STATES, FlinkRest
from kappa.jobs.definitions import job_definitions
from kappa.jobs.store import JobStore
from kappa.settings import OperationsSettings
from kappa.topics import group_lag
from lakehouse.sql import quote

# Shares of late or quarantined events are judged over at least this many recent events.
SHARE_MIN_EVENTS = 20


@dataclass(frozen=True)
class Routing:
    """Where a job's events of the last `window_min` minutes (by ingest time) went."""

    window_min: int
    landed: int
    quarantined: int
    late: int

    @property
    def total(self) -> int:
        return self.landed + self.quarantined + self.late

    def share(self, count: int) -> float:
        return count / self.total if self.total else 0.0


@dataclass(frozen=True)
class JobStatus:
    name: str
    version: int
    state: str
    job_id: str | None
    uptime_s: float | None
    last_checkpoint_age_s: float | None
    checkpoints_completed: int | None
    lag: int | None
    restarts: int | None = None
    desired: str = ""  # running | stopped | "" (the job's autostart decides)
    watermark_ms: int | None = None
    routing: Routing | None = None

    @property
    def watermark_ahead_s(self) -> float | None:
        """How far the job's watermark is past the clock (negative: behind it)."""
        return None if self.watermark_ms is None else self.watermark_ms / 1000 - time.time()

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "pipeline": self.pipeline, "watermark_ahead_s": self.watermark_ahead_s}

    @property
    def pipeline(self) -> str:
        return pipeline_name(self.name, self.version)


def routing(ctx: Context, job: str, tables: dict[str, str], window_min: int,
            since: datetime | None = None, raw_roles: tuple[str, ...] = ("raw",)) -> Routing | None:
    """The job's events of the last `window_min` minutes (or those ingested after `since`) by
    destination (Trino), in the tables its version writes (`tables`: role -> name, a replay's
    quarantine and late tables being its own; landed events are summed over `raw_roles`, a raw table
    per topic it reads); None when Trino cannot say."""
    since = since or datetime.now(UTC) - timedelta(minutes=window_min)
    ns = quote(ctx.settings.jobs.namespace)
    quarantine, late = (f"{ns}.{quote(tables[role])}" for role in ("quarantine", "late"))
    landed = " + ".join(f"(SELECT count(*) FROM {ns}.{quote(tables[role])} WHERE ingest_time > ?)"
                        for role in raw_roles)
    sql = f"""SELECT
        {landed},
        (SELECT count(*) FROM {quarantine} WHERE job = ? AND ingest_time > ?),
        (SELECT count(*) FROM {late} WHERE job = ? AND ingest_time > ?)"""
    try:
        row = query.run(ctx.settings, sql, [since] * len(raw_roles) + [job, since, job, since]).rows[0]
    except KappaError:
        return None
    return Routing(window_min, int(row[0]), int(row[1]), int(row[2]))


def job_statuses(ctx: Context, *, with_routing: bool = True) -> list[JobStatus]:
    rest = FlinkRest(ctx)
    cluster_jobs = rest.jobs()
    store = JobStore(ctx.settings.state)
    out = []
    for name, job in job_definitions(ctx.settings).items():
        record = store.get(name)
        pipeline = pipeline_name(name, record.version)
        mine = sorted((j for j in cluster_jobs if j["name"] == pipeline), key=lambda j: j["start-time"])
        current = next((j for j in reversed(mine) if j["state"] in ACTIVE_STATES), mine[-1] if mine else None)
        uptime = ckpt_age = completed = lag = restarts = watermark = None
        state = "NOT STARTED" if current is None else str(current["state"])
        if current is not None and current["state"] in ACTIVE_STATES:
            uptime = current["duration"] / 1000
            watermark = rest.watermark_ms(str(current["jid"]))
            ck = rest.checkpoints(current["jid"])
            completed = ck.get("counts", {}).get("completed")
            latest = (ck.get("latest") or {}).get("completed")
            if latest:
                ckpt_age = time.time() - latest["latest_ack_timestamp"] / 1000
            restarts = rest.restarts(current["jid"])
        try:
            lag = sum(p.lag for t in job.pipeline.topics for p in group_lag(ctx.kafka(), pipeline, t.name))
        except KappaError:
            lag = None
        recent = (routing(ctx, name, job.tables(record.version), ctx.settings.operations.health_window_min,
                          raw_roles=job.pipeline.raw_roles) if with_routing and current is not None else None)
        out.append(JobStatus(name, record.version, state, current["jid"] if current else None, uptime, ckpt_age,
                             completed, lag, restarts, record.desired, watermark, recent))
    return out


def problems(statuses: list[JobStatus], ops: OperationsSettings) -> list[str]:
    """Everything wrong with the jobs that should be running, each with its numbers."""
    out = []
    for s in statuses:
        if s.desired != "running":
            continue
        if s.state not in ACTIVE_STATES:
            out.append(f"{s.name}: Flink job {s.pipeline} is not running")
            continue
        if s.state != "RUNNING":
            out.append(f"{s.name}: Flink job is {s.state}")
        if s.restarts is not None and s.restarts > ops.max_restarts:
            out.append(f"{s.name}: restarted {s.restarts} times (limit {ops.max_restarts})")
        uptime = s.uptime_s or 0.0
        age = s.last_checkpoint_age_s if s.last_checkpoint_age_s is not None else uptime
        if age > ops.max_checkpoint_age_s and uptime > ops.max_checkpoint_age_s:
            out.append(f"{s.name}: last successful checkpoint {age:.0f}s ago (limit {ops.max_checkpoint_age_s}s)")
        if s.lag is not None and s.lag > ops.max_lag_events:
            out.append(f"{s.name}: consumer lag {s.lag} events (limit {ops.max_lag_events})")
        ahead = s.watermark_ahead_s
        if ahead is not None and ahead > ops.max_watermark_ahead_s:
            out.append(f"{s.name}: watermark {ahead / 60:.0f} min ahead of the clock (limit "
                       f"{ops.max_watermark_ahead_s / 60:.0f} min): events stamped in the future moved it, and "
                       "events on time now go to late_events")
        r = s.routing
        if r is not None and r.total >= SHARE_MIN_EVENTS:
            for what, count, limit in (("went late", r.late, ops.max_late_share),
                                       ("were quarantined", r.quarantined, ops.max_quarantine_share)):
                if r.share(count) > limit:
                    out.append(f"{s.name}: {count} of {r.total} events in the last {r.window_min} min {what} "
                               f"({r.share(count):.0%}, limit {limit:.0%})")
    return out
