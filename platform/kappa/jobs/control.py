"""Starting and stopping jobs: from their newest savepoint or checkpoint, with a savepoint when
they stop, and what `kappa up` and `kappa down` do with the jobs that should run."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from flink_jobs.spec import pipeline_name
from kappa.catalog import ensure_job_tables
from kappa.context import Context
from kappa.errors import KappaError
from kappa.flink_rest import FlinkRest
from kappa.jobs.definitions import get_definition, job_definitions
from kappa.jobs.spec import render_spec
from kappa.jobs.store import JobRecord, JobStore
from kappa.jobs.submit import submit
from kappa.serving import apply_job_views
from lakehouse.tables import evolved


def start_job(ctx: Context, name: str, *, fresh: bool = False) -> str:
    """Start a job (or return the running one); resumes from its last savepoint unless `fresh`."""
    job = get_definition(ctx.settings, name)
    store = JobStore(ctx.settings.state)
    record = store.get(name)
    rest = FlinkRest(ctx)
    active = rest.running_by_name(pipeline_name(name, record.version))
    if active:
        return str(active[0]["jid"])
    if evolved(ensure_job_tables(ctx, job.pipeline, record.version)):
        # its tables gained columns (a new contract version): a view over `SELECT *` must be replaced
        apply_job_views(ctx, job.pipeline, record.version)
    savepoint = None if fresh else latest_restore_point(ctx, record)
    # Without a savepoint or checkpoint: `fresh` reads the topic from the start; otherwise the job's
    # consumer group resumes where it committed (a group that never committed starts at the earliest).
    spec = render_spec(ctx, job, record.version, startup_mode="earliest-offset" if fresh else "group-offsets")
    started_with = store.spec(name, record.version).get("sql")
    if started_with and started_with != spec["sql"]:
        raise KappaError(f"the query of {name} (or a setting it uses) changed since v{record.version} started; a "
                         f"version never changes its query: `kappa pipeline deploy {name}` runs it as a new version")
    job_id = submit(ctx, job, spec, savepoint=savepoint)
    record.job_id, record.submitted_at, record.desired = job_id, time.time(), "running"
    store.put(record)
    return job_id


def latest_restore_point(ctx: Context, record: JobRecord) -> str | None:
    """The newest of the job's last savepoint and its retained checkpoints.

    Restoring anything older than the last Iceberg commit would replay data the table already holds
    (apache/iceberg#10892), so after a crash we prefer a newer retained checkpoint to the savepoint.
    """
    candidates: list[Path] = []
    if record.last_savepoint:
        sp = Path(record.last_savepoint.removeprefix("file:"))
        if (sp / "_metadata").exists():
            candidates.append(sp)
    if record.job_id:
        job_ckpts = ctx.settings.state / "flink" / "checkpoints" / record.job_id
        candidates += [p for p in job_ckpts.glob("chk-*") if (p / "_metadata").exists()]
    if not candidates:
        return None
    return str(max(candidates, key=lambda p: (p / "_metadata").stat().st_mtime))


def stop_job(ctx: Context, name: str, *, savepoint: bool = True, keep_desired: bool = False) -> str | None:
    """Stop a job, by default with a savepoint it resumes from; returns the savepoint path."""
    get_definition(ctx.settings, name)
    store = JobStore(ctx.settings.state)
    record = store.get(name)
    rest = FlinkRest(ctx)
    location = None
    for job in rest.running_by_name(pipeline_name(name, record.version)):
        if savepoint and job["state"] == "RUNNING":
            location = rest.stop_with_savepoint(job["jid"], ctx.settings.state / "flink" / "savepoints")
            record.last_savepoint = location
        else:
            rest.cancel(job["jid"])
    if not keep_desired:
        record.desired = "stopped"
    store.put(record)
    return location


def suspend_all(ctx: Context) -> list[str]:
    """Before the cluster stops: savepoint every running job so `kappa up` resumes it exactly."""
    suspended = []
    for name in job_definitions(ctx.settings):
        record = JobStore(ctx.settings.state).get(name)
        if record.desired == "running":
            try:
                stop_job(ctx, name, savepoint=True, keep_desired=True)
                suspended.append(name)
            except (KappaError, requests.RequestException):
                pass  # the cluster may already be gone; the retained checkpoint still exists
    return suspended


def resume_desired(ctx: Context, progress: Callable[[str], None] = lambda _m: None,
                   failures: list[str] | None = None) -> list[str]:
    """After `kappa up`: start the jobs that should run (were running, or autostart and never
    stopped by a user), each from its newest savepoint or checkpoint, `[flink] parallel_submissions`
    at a time. With `failures`, a job that cannot start (its tables differ from its declaration, say)
    is listed there and the others still start; without, the first such job raises once the others
    have started."""
    store = JobStore(ctx.settings.state)
    due = [name for name, job in job_definitions(ctx.settings).items()
           if (desired := store.get(name).desired) == "running" or (desired == "" and job.autostart)]

    def start(name: str) -> KappaError | None:
        progress(f"starting job {name}")
        try:
            start_job(ctx, name)
        except KappaError as exc:
            return exc
        return None

    with ThreadPoolExecutor(max_workers=max(1, min(ctx.settings.flink.parallel_submissions, len(due))),
                            thread_name_prefix="submit") as pool:
        outcomes = list(zip(due, pool.map(start, due), strict=True))
    errors = [(name, exc) for name, exc in outcomes if exc is not None]
    if errors and failures is None:
        raise errors[0][1]
    for name, exc in errors:
        failures.append(f"job {name} not started: {exc}")  # type: ignore[union-attr]
    return [name for name, exc in outcomes if exc is None]
