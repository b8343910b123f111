"""setup, up, down, status, logs."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from kappa.artifacts import contract_format, installs, maven
from kappa.artifacts.versions import BUNDLES
from kappa.catalog import ensure_streaming_tables
from kappa.cli.output import console, duration, step
from kappa.context import build_context
from kappa.errors import KappaError
from kappa.jobs import JobStatus, job_statuses, problems, resume_desired, suspend_all
from kappa.runtime import supervisor
from kappa.runtime.secrets import load_or_create
from kappa.runtime.stack import ServiceStatus, Stack, purge
from kappa.services.gateway import UI_USER
from kappa.serving import apply_views
from kappa.settings import KappaSettings, load_settings, profiles, record_profile
from kappa.topics import end_offsets


def setup(
    ctx: typer.Context, update_lock: bool = typer.Option(False, help="Record new checksums (maintainers)")
) -> None:
    """Fetch and install every component into the cache (idempotent; offline once cached)."""
    settings: KappaSettings = ctx.obj
    started = time.monotonic()
    with step("setting up") as progress:
        result = installs.setup(settings.cache, progress, update_lock=update_lock,
                                objectstore=settings.objectstore.enabled)
    console.print(f"[green]set up[/green] in {time.monotonic() - started:.0f}s; cache: {settings.cache}")
    console.print(f"  flink home: {result.flink_home}\n  trino home: {result.trino_home}")


def up(ctx: typer.Context, jobs: bool = typer.Option(True, help="Resume the jobs that were running"),
       profile: str | None = typer.Option(  # noqa: UP007 - typer needs Optional here
           None, help=f"Settings profile ({', '.join(profiles())}); remembered for the next commands")) -> None:
    """Start Kafka, PostgreSQL, Flink, Trino (set-up included); a no-op when all is up."""
    settings: KappaSettings = ctx.obj
    if profile is not None:
        config = ctx.find_root().meta.get("config")
        settings = load_settings(config, profile=profile)
        record_profile(settings.project_dir, profile)
    bring_up(settings, resume_jobs=jobs)
    print_urls(settings)


def bring_up(settings: KappaSettings, resume_jobs: bool = True) -> Stack:
    with step("setting up") as progress:
        installs.setup(settings.cache, progress, objectstore=settings.objectstore.enabled)
    stack = Stack(build_context(settings))
    started_at = time.monotonic()
    with step("starting the stack") as progress:
        started = stack.up(progress)
        progress("creating Iceberg tables")
        ensure_streaming_tables(stack.ctx)
        failures: list[str] = []
        resumed = resume_desired(stack.ctx, progress, failures) if resume_jobs else []
        progress("applying the analytics views")  # after the jobs, which may have evolved their tables
        apply_views(stack.ctx)
    if started:
        console.print(f"[green]started[/green] {', '.join(started)} in {time.monotonic() - started_at:.0f}s")
    else:
        console.print("[green]already running[/green]: nothing to start")
    if resumed:
        console.print(f"jobs running: {', '.join(resumed)}")
    if failures:
        raise KappaError("the stack is up, but " + "; ".join(failures))
    return stack


def print_urls(settings: KappaSettings) -> None:
    if settings.dagster.enabled:
        console.print(f"  Dagster UI     {settings.dagster_url}  (user admin: kappa ui-login)")
    console.print(f"  Flink Web UI   {settings.flink_ui_url}  (user admin: kappa ui-login)")
    console.print(f"  Trino          {settings.trino_url}  (kappa query \"SELECT ...\")")
    console.print(f"  Kafka          {settings.kafka_bootstrap}")
    console.print(f"  Schemas        {settings.registry_url}  (user registry: kappa schema connect)")
    console.print(f"  PostgreSQL     {settings.host}:{settings.postgres.port}/{settings.postgres.database}")
    if settings.objectstore.enabled:
        console.print(f"  Object store   {settings.s3_endpoint}  (warehouse {settings.warehouse_uri}; key in "
                      f"{settings.state / 'secrets.json'})")
    console.print(f"  state and logs {settings.state}  (profile {settings.profile})")


def down(
    ctx: typer.Context,
    purge_state: bool = typer.Option(False, "--purge", help="Also delete all state (data, logs, secrets)"),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before purging"),
) -> None:
    """Stop what `kappa up` started (running jobs are savepointed first)."""

    settings: KappaSettings = ctx.obj
    try:
        stack = Stack(build_context(settings))
    except KappaError:
        stack = None
    if stack is not None:
        with step("stopping the stack") as progress:
            if stack.table.get("flink-jobmanager") is not None:
                progress("savepointing running jobs")
                suspended = suspend_all(stack.ctx)
                if suspended:
                    console.print(f"savepointed jobs: {', '.join(suspended)}")
            stopped = stack.down(progress)
        console.print(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")
    if purge_state:
        if not yes:
            typer.confirm(f"Delete {settings.state} (all data, logs and secrets)?", abort=True)
        purge(settings)
        console.print(f"removed {settings.state}")


def status(ctx: typer.Context,
           as_json: bool = typer.Option(False, "--json", help="one JSON document, for scripts")) -> None:
    """Services, topics, jobs (watermark against the clock, recent late and quarantined events) and
    every problem, each with its numbers. Exits 1 when a service is down or a job has a problem."""
    settings: KappaSettings = ctx.obj
    stack = Stack(build_context(settings))
    statuses = stack.status()
    healthy = {st.name for st in statuses if st.state == "healthy"}
    topics: dict[str, dict[str, Any]] = {}
    if "kafka" in healthy:
        for name, spec in settings.kafka.topics.items():
            try:
                offsets = end_offsets(stack.ctx.kafka(), name)
                topics[name] = {"partitions": len(offsets), "messages": sum(hi - lo for lo, hi in offsets.values()),
                                "retention_s": spec.retention_ms / 1000}
            except KappaError as exc:
                topics[name] = {"error": str(exc)}
    jobs = job_statuses(stack.ctx) if {"flink-jobmanager", "kafka"} <= healthy else []
    found = problems(jobs, settings.operations) + [f"{st.name}: {st.state}" for st in statuses
                                                   if st.state != "healthy"]
    if as_json:
        print(json.dumps({
            "profile": settings.profile,
            "services": [{"name": st.name, "state": st.state, "pid": st.pid, "ports": st.ports, "version": st.version,
                          "uptime_s": st.uptime_s, "url": st.url} for st in statuses],
            "topics": topics, "jobs": [js.as_dict() for js in jobs], "problems": found,
        }, indent=2, default=str))
    else:
        _print_status(settings.profile, statuses, topics, jobs, found)
    if found:
        raise typer.Exit(1)


def _print_status(profile: str, statuses: list[ServiceStatus], topics: dict[str, dict[str, Any]],
                  jobs: list[JobStatus], found: list[str]) -> None:
    services = Table("service", "state", "pid", "port", "version", "uptime", "url",
                     title=f"services (profile {profile})")
    for st in statuses:
        color = {"healthy": "green", "unhealthy": "yellow"}.get(st.state, "red")
        services.add_row(st.name, f"[{color}]{st.state}[/{color}]", str(st.pid or "-"),
                         ",".join(map(str, st.ports)) or "-", st.version, duration(st.uptime_s), st.url or "-")
    console.print(services)
    if topics:
        table = Table("topic", "partitions", "messages", "retention", title="topics")
        for name, t in topics.items():
            if "error" in t:
                table.add_row(name, "-", str(t["error"]), "-")
            else:
                retention = "forever" if t["retention_s"] < 0 else duration(t["retention_s"])  # retention.ms -1
                table.add_row(name, str(t["partitions"]), str(t["messages"]), retention)
        console.print(table)
    if jobs:
        table = Table("job", "version", "state", "uptime", "checkpoints", "last checkpoint", "lag", "watermark",
                      "recent: landed / late / quarantined", title="jobs")
        for js in jobs:
            ahead = js.watermark_ahead_s
            watermark = "-" if ahead is None else (f"{duration(ahead)} ahead" if ahead > 0 else
                                                   f"{duration(-ahead)} behind")
            r = js.routing
            recent = "-" if r is None else f"{r.landed} / {r.late} / {r.quarantined} ({r.window_min} min)"
            table.add_row(js.name, f"v{js.version}", js.state, duration(js.uptime_s),
                          "-" if js.checkpoints_completed is None else str(js.checkpoints_completed),
                          "-" if js.last_checkpoint_age_s is None else f"{duration(js.last_checkpoint_age_s)} ago",
                          "-" if js.lag is None else str(js.lag), watermark, recent)
        console.print(table)
    for problem in found:
        console.print(f"[red]problem[/red] {problem}", highlight=False)


def logs(
    ctx: typer.Context,
    name: str = typer.Argument("", help="a log's name, as `kappa logs` lists them: a service (postgres, kafka, "
                               "flink-jobmanager, flink-taskmanager, trino, dagster-webserver, dagster-daemon), "
                               "terraform-local, a job's submission (jobs/<job>-submit) or Flink's own (flink/...)"),
    follow: bool = typer.Option(False, "--follow", "-f"),
    lines: int = typer.Option(50, "--lines", "-n", min=0),
) -> None:
    """Show a log (terminal colour codes removed); without a name, list every log there is."""
    settings: KappaSettings = ctx.obj
    known = log_files(settings.logs_dir)
    if not name:
        for log_name, path in known.items():
            console.print(f"{log_name:<48} {path}", markup=False, highlight=False, soft_wrap=True)
        if not known:
            console.print(f"no logs in {settings.logs_dir} (run kappa up)")
        return
    if name not in known:
        raise KappaError(f"no log {name!r} in {settings.logs_dir}; known: {', '.join(known) or 'none (run kappa up)'}")
    cmd = ["tail", "-n", str(lines)] + (["-F"] if follow else []) + [str(known[name])]
    with contextlib.suppress(KeyboardInterrupt), subprocess.Popen(
            cmd, stdout=subprocess.PIPE, text=True, errors="replace") as tail:
        assert tail.stdout is not None
        for line in tail.stdout:
            sys.stdout.write(ANSI_ESCAPE.sub("", line))
            sys.stdout.flush()


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def log_files(logs_dir: Path) -> dict[str, Path]:
    """Every log under the logs folder, by name: services' at the top, then jobs/ and flink/."""
    if not logs_dir.exists():
        return {}
    found = {p.stem: p for p in sorted(logs_dir.glob("*.log"))}
    for folder in ("jobs", "flink"):
        found |= {f"{folder}/{p.stem}": p for p in sorted((logs_dir / folder).glob("*.log"))}
    return found


def paths(ctx: typer.Context, get: str = typer.Option("", help="print only this one")) -> None:
    """Where things live: state, logs, cache, the Flink environment and homes."""
    settings: KappaSettings = ctx.obj
    items = {"state": settings.state, "logs": settings.logs_dir, "cache": settings.cache,
             "warehouse": settings.warehouse_uri if settings.objectstore.enabled else settings.warehouse,
             "flink_python": installs.flink_venv_dir(settings.cache) / "bin" / "python",
             "contract_format_jar": contract_format.jar_path(settings.cache),
             "flink_home": installs.flink_home_dir(
                 settings.cache, maven.bundle_dir(settings.cache, BUNDLES["flink-connectors"]),
                 [contract_format.jar_path(settings.cache)])}
    if get:
        if get not in items:
            raise KappaError(f"unknown path {get!r}; known: {', '.join(items)}")
        print(items[get])
        return
    for name, path in items.items():
        console.print(f"{name:20} {path}")


def ui_login(ctx: typer.Context) -> None:
    """The Flink and Dagster UIs' user and password, and the certificate authority to trust."""
    settings: KappaSettings = ctx.obj
    print(f"user     {UI_USER}\npassword {load_or_create(settings.state).ui_admin_password}\n"
          f"ca       {settings.gateway_ca_file}")


def supervise(ctx: typer.Context) -> None:
    """Restart a service process that dies (started by `kappa up`, which runs this in the background)."""
    supervisor.run(build_context(ctx.obj))


def register(app: typer.Typer) -> None:
    for fn in (setup, up, down, status, logs, paths):
        app.command()(fn)
    app.command(hidden=True)(supervise)
    app.command(name="ui-login")(ui_login)
