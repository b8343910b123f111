"""kappa replay JOB | replay cutover JOB | replay rollback TABLE | replay history."""

from __future__ import annotations

import json
import time
from enum import StrEnum

import typer
from rich.table import Table

from flink_jobs.spec import pipeline_name
from kappa import replay as r
from kappa.cli.output import console, duration
from kappa.context import Context, build_context
from kappa.errors import KappaError
from kappa.settings import KappaSettings


class Cutover(StrEnum):
    auto = "auto"
    manual = "manual"


def _iso(ms: int | None) -> str:
    return "-" if ms is None else time.strftime("%H:%M:%S", time.gmtime(ms / 1000))


def _report(plan: r.ReplayPlan, started: float) -> r.Callable[[r.ReplayProgress], None]:
    def show(p: r.ReplayProgress) -> None:
        done = sum(p.consumed[q] - next(x.start for x in plan.ranges if x.partition == q) for q in p.consumed)
        eta = "-" if p.events_per_s <= 0 else duration(p.lag / p.events_per_s)
        parts = " ".join(f"p{q}:{p.consumed.get(q, 0)}/{p.end[q]}" for q in sorted(p.end))
        console.print(
            f"[{duration(time.time() - started)}] {p.state} {done} events, {p.events_per_s:,.0f}/s, lag {p.lag}, "
            f"ETA {eta} | watermark replay {_iso(p.replay_watermark)} vs live {_iso(p.live_watermark)} | {parts}",
            soft_wrap=True)
    return show


def _state_path(ctx: Context, job: str):  # type: ignore[no-untyped-def]
    return ctx.settings.state / "jobs" / job / "replay.json"


def _replay(ctx: Context, job: str, start: str, stop: str | None, dry_run: bool, cutover: Cutover, yes: bool) -> None:
    plan = r.plan(ctx, job, start, stop)
    for line in plan.describe():
        console.print(line)
    if dry_run:
        return
    if not yes:
        typer.confirm(f"Start replay {job} v{plan.to_version}?", abort=True)
    run = r.start(ctx, plan)
    _state_path(ctx, job).write_text(json.dumps({"version": plan.to_version, "job_id": run.job_id,
                                                 "started_at": run.started_at, "gate_passed": None}))
    console.print(f"replay job {pipeline_name(job, plan.to_version)} running as {run.job_id}; "
                  "the live job keeps running")
    try:
        progress = r.follow(ctx, run, _report(plan, run.started_at))
    except (KappaError, KeyboardInterrupt):
        r.record_history(ctx, action="replay", job=job, from_version=plan.from_version, to_version=plan.to_version,
                         outcome="failed before catching up", started_at=run.started_at, ranges=plan.ranges,
                         params=plan.params)
        raise
    console.print("caught up; running the quality gate")
    result = r.gate(ctx, run, progress)
    for line in result.lines:
        console.print(f"  {line}")
    for failure in result.failures:
        console.print(f"  [red]FAIL[/red]   {failure}")
    state = json.loads(_state_path(ctx, job).read_text()) | {"gate_passed": result.passed}
    _state_path(ctx, job).write_text(json.dumps(state))
    outcome = "gate failed" if not result.passed else ("finished (bounded)" if plan.bounded else "awaiting cutover")
    if result.passed and not plan.bounded and cutover is Cutover.auto:
        switched = r.cutover(ctx, job, plan.to_version, run.job_id)
        for line in switched:
            console.print(f"  view {line}")
        outcome = "cut over"
    elif not result.passed and not plan.bounded:
        r.cancel(ctx, run)
    replay_id = r.record_history(ctx, action="replay", job=job, from_version=plan.from_version,
                                 to_version=plan.to_version, outcome=outcome, started_at=run.started_at,
                                 ranges=plan.ranges, params=plan.params, gate_result=result)
    console.print(f"replay {replay_id}: {outcome}")
    if outcome == "awaiting cutover":
        console.print(f"switch when ready: kappa replay cutover {job}")
    if not result.passed:
        raise KappaError(f"quality gate failed for {job} v{plan.to_version}: {result.failures[0]}; "
                         "the views still point at the live version")


def _cutover(ctx: Context, job: str) -> None:
    path = _state_path(ctx, job)
    if not path.exists():
        raise KappaError(f"no replay of {job} is waiting for a cut-over")
    state = json.loads(path.read_text())
    if not state.get("gate_passed"):
        raise KappaError(f"the replay of {job} v{state['version']} has not passed its quality gate")
    started = time.time()
    from_version = r.JobStore(ctx.settings.state).get(job).version
    for line in r.cutover(ctx, job, int(state["version"]), state["job_id"]):
        console.print(f"  view {line}")
    r.record_history(ctx, action="cutover", job=job, from_version=from_version, to_version=int(state["version"]),
                     outcome="cut over", started_at=started)
    path.unlink()
    console.print(f"{job} v{state['version']} is live")


def _history(ctx: Context) -> None:
    table = Table("id", "action", "job", "by", "finished", "versions", "gate", "outcome")
    for row in r.history(ctx):
        gate = "-" if row["gate_passed"] is None else ("passed" if row["gate_passed"] else "failed")
        table.add_row(row["replay_id"], row["action"], row["job"], row["requested_by"],
                      row["finished_at"].strftime("%Y-%m-%d %H:%M:%S"),
                      f"v{row['from_version']} -> v{row['to_version']}", gate, row["outcome"])
    console.print(table)


def replay(
    ctx: typer.Context,
    target: str = typer.Argument(..., help="a job to replay, or: cutover JOB | rollback TABLE | history"),
    name: str | None = typer.Argument(None, help="the job or table for cutover / rollback"),  # noqa: UP007
    start: str = typer.Option("earliest", "--from", help="earliest | ISO time | epoch ms | offsets:P=O,..."),
    stop: str | None = typer.Option(None, "--to", help="latest | time | offsets:...: a bounded replay"),  # noqa: UP007
    dry_run: bool = typer.Option(False, "--dry-run", help="print the plan and exit"),
    cutover: Cutover = typer.Option(Cutover.auto, "--cutover", help="switch the views when the gate passes"),
    yes: bool = typer.Option(False, "--yes", "-y", help="do not ask for confirmation"),
) -> None:
    """Reprocess a job from Kafka into a new table version, gate it, and switch the views to it."""
    settings: KappaSettings = ctx.obj
    c = build_context(settings)
    if target == "history":
        _history(c)
    elif target in ("cutover", "rollback"):
        if not name:
            raise KappaError(f"usage: kappa replay {target} {'JOB' if target == 'cutover' else 'TABLE'}")
        if target == "cutover":
            _cutover(c, r.resolve_job(c, name))
        else:
            started = time.time()
            job, current, previous = r.rollback(c, name)
            r.record_history(c, action="rollback", job=job, from_version=current, to_version=previous,
                             outcome="rolled back", started_at=started)
            console.print(f"{job}: views back on v{previous}; v{current} stopped with a savepoint, its tables kept")
    else:
        _replay(c, r.resolve_job(c, target), start, stop, dry_run, cutover, yes)

