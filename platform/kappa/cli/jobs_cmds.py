"""jobs list | start | stop | restart."""

from __future__ import annotations

import typer
from rich.table import Table

from kappa import jobs as j
from kappa.cli.output import console, duration, step
from kappa.context import build_context
from kappa.settings import KappaSettings

app = typer.Typer(help="Flink jobs on the session cluster.", no_args_is_help=True)


@app.command("list")
def list_jobs(ctx: typer.Context) -> None:
    """Every known job with state, uptime, last checkpoint and consumer lag."""
    c = build_context(ctx.obj)
    defs = j.job_definitions(c.settings)
    table = Table("job", "version", "state", "uptime", "last checkpoint", "lag", "what it does")
    for st in j.job_statuses(c, with_routing=False):  # routing is `kappa status`'s (Trino queries)
        table.add_row(st.name, f"v{st.version}", st.state, duration(st.uptime_s),
                      "-" if st.last_checkpoint_age_s is None else f"{duration(st.last_checkpoint_age_s)} ago",
                      "-" if st.lag is None else str(st.lag), defs[st.name].description)
    console.print(table)


@app.command()
def start(
    ctx: typer.Context, name: str,
    fresh: bool = typer.Option(False, help="Ignore the last savepoint and start from the earliest offsets"),
) -> None:
    """Start a job (resuming from its last savepoint or retained checkpoint)."""
    settings: KappaSettings = ctx.obj
    c = build_context(settings)
    with step(f"submitting {name}"):
        job_id = j.start_job(c, name, fresh=fresh)
    console.print(f"{name} running as Flink job {job_id}: {settings.flink_ui_url}/#/job/running/{job_id}/overview")


@app.command()
def stop(ctx: typer.Context, name: str,
         savepoint: bool = typer.Option(True, help="Take a savepoint to resume from exactly")) -> None:
    """Stop a job, with a savepoint by default."""
    c = build_context(ctx.obj)
    with step(f"stopping {name}"):
        location = j.stop_job(c, name, savepoint=savepoint)
    console.print(f"stopped {name}" + (f"; savepoint {location}" if location else ""))


@app.command()
def restart(ctx: typer.Context, name: str) -> None:
    """Stop with a savepoint and start again from it."""
    c = build_context(ctx.obj)
    with step(f"restarting {name}"):
        j.stop_job(c, name, savepoint=True)
        job_id = j.start_job(c, name)
    console.print(f"{name} restarted as Flink job {job_id}")
