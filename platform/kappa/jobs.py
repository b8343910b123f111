"""Flink jobs on the session cluster: the registry, spec rendering, submission and control.

A job's identity on the cluster is its pipeline name ``kappa.<job>.v<version>``; the platform keeps
a small record per job in ``<state>/jobs/<job>/`` (the current version, job id, last savepoint).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests

import flink_jobs
from kappa import infra, kafka_clients
from kappa.artifacts.java import find_java
from kappa.artifacts.versions import FLINK_JAVA_MAJORS
from kappa.errors import KappaError
from kappa.services.base import Context
from kappa.services.flink import flink_env
from lakehouse.contracts import contract
from lakehouse.tables import job_table_specs

FLINK_JOBS_DIR = Path(flink_jobs.__file__).resolve().parent


@dataclass(frozen=True)
class JobDefinition:
    name: str
    module: str
    topic: str
    tables: dict[str, str]  # role -> table name
    params: dict[str, Any]
    autostart: bool
    description: str
    parallelism: int = 1  # when it runs live


JOB_MODULES = {
    "transactions": ("flink_jobs.transactions", "transactions -> raw, 5-minute windows, suspicious activity"),
    "user_activity": ("flink_jobs.user_activity", "user-events -> raw, spend windows, fraud, patterns, sessions"),
    "iot_sensors": ("flink_jobs.iot_sensors", "iot-sensors -> raw, per-minute stats, threshold alerts"),
}


def job_definitions(ctx: Context) -> dict[str, JobDefinition]:
    s = ctx.settings
    defs = {}
    for name, (module, description) in JOB_MODULES.items():
        cfg = getattr(s.jobs, name)
        defs[name] = JobDefinition(name, module, cfg.topic, tables_for(name, 1), cfg.params(), cfg.autostart,
                                   description, cfg.parallelism or s.flink.parallelism)
    return defs


def tables_for(job: str, version: int) -> dict[str, str]:
    """Role -> table name for one version of a job."""
    return {role: spec.name for role, spec in job_table_specs(job, version).items()}


def get_definition(ctx: Context, name: str) -> JobDefinition:
    defs = job_definitions(ctx)
    if name not in defs:
        raise KappaError(f"unknown job {name!r}; known jobs: {', '.join(sorted(defs))}")
    return defs[name]


def render_spec(ctx: Context, job: JobDefinition, version: int, startup_mode: str = "earliest-offset",
                tables: dict[str, str] | None = None, **kafka_extra: Any) -> dict[str, Any]:
    s = ctx.settings
    provisioned = infra.outputs(ctx)
    return {
        "job": job.name,
        "version": version,
        "kafka": {
            "bootstrap": s.kafka_bootstrap, "topic": job.topic, "group_id": f"kappa.{job.name}.v{version}",
            "startup_mode": startup_mode, **kafka_extra,
        },
        "catalog": {
            "name": s.catalog.name, "jdbc_url": provisioned.catalog_jdbc_url, "user": provisioned.catalog_role,
            "password": ctx.secrets.catalog_password, "warehouse": provisioned.warehouse_uri,
        },
        "namespace": s.jobs.namespace,
        "tables": tables or tables_for(job.name, version),
        "contract": contract(job.topic),
        "params": job.params,
        "checkpoint_interval_s": s.flink.checkpoint_interval_s,
        # A bounded run (backfill, bounded replay) writes with one writer: Iceberg 1.11's FlinkSink
        # loses the files of a writer that reaches the end of its input before another when a
        # checkpoint completes in between (IcebergFilesCommitter files both under the end-of-input
        # checkpoint id; the second overwrites the first). Found by kappa bench at parallelism 2.
        "parallelism": 1 if kafka_extra.get("bounded_mode") else job.parallelism,
        "alerts_topic": s.jobs.alerts_topic,
    }


@dataclass
class JobRecord:
    """What the platform remembers about a job between commands."""

    name: str
    version: int = 1  # the live version: the one the analytics views point at
    job_id: str | None = None
    submitted_at: float | None = None
    last_savepoint: str | None = None
    previous_version: int | None = None  # what `kappa replay rollback` returns to
    max_version: int = 1  # highest version ever started (replays never reuse a number)
    retired: dict[str, str] = field(default_factory=dict)  # version -> savepoint it stopped with
    # running | stopped: what `kappa up` restores; "" until a user starts or stops the job, when
    # the job's `autostart` setting decides.
    desired: str = ""


class JobStore:
    def __init__(self, state: Path) -> None:
        self.dir = state / "jobs"

    def path(self, name: str) -> Path:
        return self.dir / name / "record.json"

    def get(self, name: str) -> JobRecord:
        p = self.path(name)
        if not p.exists():
            return JobRecord(name)
        return JobRecord(**json.loads(p.read_text()))

    def put(self, record: JobRecord) -> None:
        p = self.path(record.name)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(asdict(record), indent=1))


class FlinkRest:
    def __init__(self, url: str) -> None:
        self.url = url

    def _get(self, path: str) -> Any:
        try:
            r = requests.get(self.url + path, timeout=10)
        except requests.ConnectionError as exc:
            raise KappaError(f"the Flink JobManager does not answer at {self.url}; is the stack up?") from exc
        r.raise_for_status()
        return r.json()

    def jobs(self) -> list[dict[str, Any]]:
        return list(self._get("/jobs/overview").get("jobs", []))

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self._get(f"/jobs/{job_id}"))

    def checkpoints(self, job_id: str) -> dict[str, Any]:
        return dict(self._get(f"/jobs/{job_id}/checkpoints"))

    def watermark_ms(self, job_id: str) -> int | None:
        """The job's event-time progress: the highest input watermark any operator has reached."""
        best = None
        for vertex in self.job(job_id).get("vertices", []):
            marks = self._get(f"/jobs/{job_id}/vertices/{vertex['id']}/watermarks")
            values = [int(m["value"]) for m in marks if m["id"].endswith("currentInputWatermark")]
            values = [v for v in values if v > 0]
            if values:
                best = max(best or 0, min(values))
        return best

    def running_by_name(self, pipeline_name: str) -> list[dict[str, Any]]:
        return [j for j in self.jobs() if j["name"] == pipeline_name and j["state"] in ACTIVE_STATES]

    def stop_with_savepoint(self, job_id: str, target: Path, timeout_s: float = 180) -> str:
        r = requests.post(f"{self.url}/jobs/{job_id}/stop",
                          json={"targetDirectory": target.as_uri(), "drain": False}, timeout=10)
        r.raise_for_status()
        trigger = r.json()["request-id"]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self._get(f"/jobs/{job_id}/savepoints/{trigger}")
            if status["status"]["id"] == "COMPLETED":
                op = status.get("operation", {})
                if "failure-cause" in op:
                    raise KappaError(f"savepoint of job {job_id} failed: {op['failure-cause'].get('class')}: "
                                     f"{op['failure-cause'].get('stack-trace', '').splitlines()[0:1]}")
                return str(op["location"])
            time.sleep(1)
        raise KappaError(f"savepoint of job {job_id} did not complete within {timeout_s:.0f}s")

    def cancel(self, job_id: str) -> None:
        requests.patch(f"{self.url}/jobs/{job_id}", params={"mode": "cancel"}, timeout=10).raise_for_status()


ACTIVE_STATES = {"CREATED", "RUNNING", "RESTARTING", "INITIALIZING", "RECONCILING", "FAILING", "CANCELLING"}


def submit(ctx: Context, job: JobDefinition, spec: dict[str, Any], savepoint: str | None = None,
           timeout_s: float = 300, jobs_dir: Path = FLINK_JOBS_DIR) -> str:
    """Submit a job to the session cluster (detached); returns the Flink job id. `jobs_dir` is the
    `flink_jobs` package to run it from (`kappa bench --compare-jobs` runs another checkout's)."""
    record_dir = ctx.settings.state / "jobs" / job.name
    record_dir.mkdir(parents=True, exist_ok=True)
    spec_path = record_dir / f"v{spec['version']}.spec.json"
    fd = os.open(spec_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the catalog password
    with os.fdopen(fd, "w") as fh:
        json.dump(spec, fh, indent=1)
    lo, hi = FLINK_JAVA_MAJORS
    java = find_java("Flink", minimum=lo, maximum=hi, explicit=ctx.settings.java_home, prefer=17)
    python = str(ctx.installs.flink_python)
    cmd = [
        str(ctx.installs.flink_home / "bin" / "flink"), "run", "-d",
        "-m", f"{ctx.settings.host}:{ctx.settings.flink.rest_port}",
        "-pym", job.module, "-pyfs", str(jobs_dir),
        "-pyclientexec", python, "-pyexec", python,
    ]
    if savepoint:
        cmd += ["-s", savepoint]
    cmd += ["--spec", str(spec_path)]
    env = {**os.environ, **flink_env(ctx, str(java.home)), "PYTHONPATH": str(jobs_dir.parent)}
    log_path = ctx.settings.logs_dir / "jobs" / f"{job.name}-submit.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # the client runs `python -m`, which puts its working directory first on the path
        proc = subprocess.run(cmd, env=env, cwd=jobs_dir.parent, capture_output=True, text=True, timeout=timeout_s,
                              check=False)
    except subprocess.TimeoutExpired as exc:
        raise KappaError(f"submitting {job.name} timed out after {timeout_s:.0f}s (log: {log_path})") from exc
    log_path.write_text(f"$ {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    match = re.search(r"JobID ([0-9a-f]{32})", proc.stdout + proc.stderr)
    if proc.returncode != 0 or match is None:
        cause = _first_cause(proc.stdout + proc.stderr)
        raise KappaError(f"submitting {job.name} failed: {cause} (log: {log_path})")
    return match.group(1)


def _first_cause(output: str) -> str:
    """The most telling line of a failed submission: the Java error behind the Python one."""
    for pattern in (r"\n: ([\w.$]+(?:Exception|Error)[^\n]*)", r"Caused by: ([^\n]+)",
                    r"(\w+(?:Exception|Error): [^\n]+)"):
        found = re.findall(pattern, output)
        if found:
            return found[-1].strip()[:400]
    return "see the log"


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


def start_job(ctx: Context, name: str, *, fresh: bool = False) -> str:
    """Start a job (or return the running one); resumes from its last savepoint unless `fresh`."""
    from kappa.catalog import ensure_job_tables

    job = get_definition(ctx, name)
    store = JobStore(ctx.settings.state)
    record = store.get(name)
    rest = FlinkRest(ctx.settings.flink_rest_url)
    active = rest.running_by_name(f"kappa.{name}.v{record.version}")
    if active:
        return str(active[0]["jid"])
    ensure_job_tables(ctx, name, record.version)
    savepoint = None if fresh else latest_restore_point(ctx, record)
    # Without a savepoint or checkpoint: `fresh` reads the topic from the start; otherwise the job's
    # consumer group resumes where it committed (a group that never committed starts at the earliest).
    spec = render_spec(ctx, job, record.version, startup_mode="earliest-offset" if fresh else "group-offsets")
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
    get_definition(ctx, name)
    store = JobStore(ctx.settings.state)
    record = store.get(name)
    rest = FlinkRest(ctx.settings.flink_rest_url)
    location = None
    for job in rest.running_by_name(f"kappa.{name}.v{record.version}"):
        if savepoint and job["state"] == "RUNNING":
            location = rest.stop_with_savepoint(job["jid"], ctx.settings.state / "flink" / "savepoints")
            record.last_savepoint = location
        else:
            rest.cancel(job["jid"])
    if not keep_desired:
        record.desired = "stopped"
    store.put(record)
    return location


def job_statuses(ctx: Context) -> list[JobStatus]:

    from kappa.topics import group_lag

    rest = FlinkRest(ctx.settings.flink_rest_url)
    cluster_jobs = rest.jobs()
    store = JobStore(ctx.settings.state)
    admin = kafka_clients.admin(ctx.settings.kafka_bootstrap)
    out = []
    for name, job in job_definitions(ctx).items():
        record = store.get(name)
        pipeline = f"kappa.{name}.v{record.version}"
        mine = sorted((j for j in cluster_jobs if j["name"] == pipeline), key=lambda j: j["start-time"])
        current = next((j for j in reversed(mine) if j["state"] in ACTIVE_STATES), mine[-1] if mine else None)
        uptime = ckpt_age = completed = lag = None
        state = "NOT STARTED" if current is None else str(current["state"])
        if current is not None and current["state"] in ACTIVE_STATES:
            uptime = current["duration"] / 1000
            ck = rest.checkpoints(current["jid"])
            completed = ck.get("counts", {}).get("completed")
            latest = (ck.get("latest") or {}).get("completed")
            if latest:
                ckpt_age = time.time() - latest["latest_ack_timestamp"] / 1000
        try:
            lag = sum(p.lag for p in group_lag(admin, ctx.settings.kafka_bootstrap, f"kappa.{name}.v{record.version}",
                                               job.topic))
        except KappaError:
            lag = None
        out.append(JobStatus(name, record.version, state, current["jid"] if current else None, uptime, ckpt_age,
                             completed, lag))
    return out


def suspend_all(ctx: Context) -> list[str]:
    """Before the cluster stops: savepoint every running job so `kappa up` resumes it exactly."""
    suspended = []
    for name in job_definitions(ctx):
        record = JobStore(ctx.settings.state).get(name)
        if record.desired == "running":
            try:
                stop_job(ctx, name, savepoint=True, keep_desired=True)
                suspended.append(name)
            except (KappaError, requests.RequestException):
                pass  # the cluster may already be gone; the retained checkpoint still exists
    return suspended


def resume_desired(ctx: Context, progress: Callable[[str], None] = lambda _m: None) -> list[str]:
    """After `kappa up`: start the jobs that should run (were running, or autostart and never
    stopped by a user), each from its newest savepoint or checkpoint."""
    resumed = []
    for name, job in job_definitions(ctx).items():
        desired = JobStore(ctx.settings.state).get(name).desired
        if desired == "running" or (desired == "" and job.autostart):
            progress(f"starting job {name}")
            start_job(ctx, name)
            resumed.append(name)
    return resumed
