"""Submitting a job version to the Flink session cluster (`flink run -d -pym <module>`)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flink_jobs
from kappa.artifacts.java import find_java
from kappa.artifacts.versions import FLINK_JAVA_MAJORS
from kappa.context import Context
from kappa.errors import KappaError
from kappa.flink_rest import FlinkRest
from kappa.jobs.definitions import JobDefinition
from kappa.services.flink import flink_env

FLINK_JOBS_DIR = Path(flink_jobs.__file__).resolve().parent


SLOT_WAIT_S = 120.0  # a slot a finishing job frees, or a TaskManager registering after a restart


def wait_for_slots(overview: Callable[[], dict[str, Any]], name: str, needed: int, wait_s: float = SLOT_WAIT_S,
                   sleep: Callable[[float], None] = time.sleep) -> None:
    """Return once the cluster has `needed` free task slots; refuse after `wait_s`. Without this a job
    that finds no slot restarts forever, waiting for resources, and nothing says why."""
    deadline = time.monotonic() + wait_s
    while True:
        o = overview()
        free, total = int(o.get("slots-available", 0)), int(o.get("slots-total", 0))
        if free >= needed:
            return
        if time.monotonic() >= deadline:
            raise KappaError(
                f"{name} needs {needed} free task slot(s) and Flink has {free} of {total} free after "
                f"{wait_s:.0f}s ({o.get('jobs-running', '?')} jobs running): stop a job (kappa jobs stop NAME) "
                f"or raise [flink] task_slots")
        sleep(2.0)


def submit(ctx: Context, job: JobDefinition, spec: dict[str, Any], savepoint: str | None = None,
           timeout_s: float = 300, jobs_dir: Path = FLINK_JOBS_DIR) -> str:
    """Submit a job to the session cluster (detached); returns the Flink job id. `jobs_dir` is the
    `flink_jobs` package to run it from (`kappa bench --compare-jobs` runs another checkout's)."""
    wait_for_slots(lambda: dict(FlinkRest(ctx).get("/overview")), job.name, int(spec["parallelism"]))
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
        # the scheme is the CLI's cue for TLS: with `-m host:port` Flink 2.1 speaks plain HTTP whatever the config says
        "-m", ctx.settings.flink_rest_url,
        "-pym", job.module, "-pyfs", str(jobs_dir),
        "-pyclientexec", python, "-pyexec", python,
    ]
    if savepoint:
        cmd += ["-s", savepoint]
    cmd += ["--spec", str(spec_path)]
    env = {**os.environ, **flink_env(ctx, java), "PYTHONPATH": str(jobs_dir.parent)}
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
        cause = first_cause(proc.stdout + proc.stderr)
        raise KappaError(f"submitting {job.name} failed: {cause} (log: {log_path})")
    return match.group(1)


def first_cause(output: str) -> str:
    """The most telling line of a failed submission: the Java error behind the Python one."""
    for pattern in (r"\n: ([\w.$]+(?:Exception|Error)[^\n]*)", r"Caused by: ([^\n]+)",
                    r"(\w+(?:Exception|Error): [^\n]+)"):
        found = re.findall(pattern, output)
        if found:
            return found[-1].strip()[:400]
    return "see the log"
