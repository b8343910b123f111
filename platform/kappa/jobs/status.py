"""How each job is doing, computed once for `kappa status`, `kappa jobs list` and Dagster's health
sensor: its Flink state, uptime, restarts, checkpoint age and consumer lag, and what is wrong."""

from __future__ import annotations

import time
from dataclasses import dataclass

from flink_jobs.spec import pipeline_name
from kappa import kafka_clients
from kappa.context import Context
from kappa.errors import KappaError
from kappa.flink_rest import ACTIVE_STATES, FlinkRest
from kappa.jobs.definitions import job_definitions
from kappa.jobs.store import JobStore
from kappa.settings import OperationsSettings
from kappa.topics import group_lag


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

    @property
    def pipeline(self) -> str:
        return pipeline_name(self.name, self.version)


def job_statuses(ctx: Context) -> list[JobStatus]:
    rest = FlinkRest(ctx.settings.flink_rest_url)
    cluster_jobs = rest.jobs()
    store = JobStore(ctx.settings.state)
    admin = kafka_clients.admin(ctx.settings.kafka_bootstrap)
    out = []
    for name, job in job_definitions(ctx.settings).items():
        record = store.get(name)
        pipeline = pipeline_name(name, record.version)
        mine = sorted((j for j in cluster_jobs if j["name"] == pipeline), key=lambda j: j["start-time"])
        current = next((j for j in reversed(mine) if j["state"] in ACTIVE_STATES), mine[-1] if mine else None)
        uptime = ckpt_age = completed = lag = restarts = None
        state = "NOT STARTED" if current is None else str(current["state"])
        if current is not None and current["state"] in ACTIVE_STATES:
            uptime = current["duration"] / 1000
            ck = rest.checkpoints(current["jid"])
            completed = ck.get("counts", {}).get("completed")
            latest = (ck.get("latest") or {}).get("completed")
            if latest:
                ckpt_age = time.time() - latest["latest_ack_timestamp"] / 1000
            restarts = rest.restarts(current["jid"])
        try:
            lag = sum(p.lag for p in group_lag(admin, ctx.settings.kafka_bootstrap, pipeline, job.topic))
        except KappaError:
            lag = None
        out.append(JobStatus(name, record.version, state, current["jid"] if current else None, uptime, ckpt_age,
                             completed, lag, restarts, record.desired))
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
    return out
