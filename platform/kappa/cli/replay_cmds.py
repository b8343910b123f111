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
from kappa.replay_gate import percent
from kappa.settings import KappaSettings


class Cutover(StrEnum):
    auto = "auto"
    manual = "manual"


def _iso(ms: int | None) -> str:
    return "-" if ms is None else time.strftime("%H:%M:%S", time.gmtime(ms / 1000))


def _report(plan: r.ReplayPlan, started: float) -> r.Callable[[r.ReplayProgress], None]:
    def show(p: r.ReplayProgress) -> None:
        done = sum(p.consumed[q] - next(x.start for x in plan.ranges if x.partition == q) for q in p.consumed)
        if p.events_per_s > 0:
            eta = duration(p.lag / p.events_per_s)
        else:  # no rate yet (the job starts its tasks), or nothing read for a whole rate window
            eta = "stalled" if done and p.lag and len(p.samples) > 1 else "-"
        parts = " ".join(f"p{q}:{p.consumed.get(q, 0)}/{p.end[q]}" for q in sorted(p.end))
        console.print(
            f"[{duration(time.time() - started)}] {p.state} {done:,} events, {p.events_per_s:,.0f}/s, lag {p.lag:,}, "
            f"ETA {eta} | watermark replay {_iso(p.replay_watermark)} vs live {_iso(p.live_watermark)} | {parts}",
            soft_wrap=True)
    return show


def _state_path(ctx: Context, job: str):  # type: ignore[no-untyped-def]
    return ctx.settings.state / "jobs" / job / "replay.json"


def _replay(ctx: Context, job: str, start: str, stop: str | None, dry_run: bool, cutover: Cutover, yes: bool,
            accept_coverage: bool) -> None:
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
    result = r.gate(ctx, run, progress, accept_coverage=accept_coverage)
    for line in result.lines:
        console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    for failure in result.failures:
        console.print(f"  [red]FAILED[/red]   {failure}", highlight=False, soft_wrap=True)
    waiting = not plan.bounded and (result.passed or result.coverage_only)
    state = json.loads(_state_path(ctx, job).read_text()) | {
        "gate_passed": result.passed, "coverage_only": result.coverage_only,
        "coverage": None if result.coverage is None else result.coverage.share}
    _state_path(ctx, job).write_text(json.dumps(state))
    if result.passed:
        outcome = "finished (bounded)" if plan.bounded else "awaiting cutover"
    else:
        outcome = "refused: coverage" if result.coverage_only else "gate failed"
    if result.passed and not plan.bounded and cutover is Cutover.auto:
        switched = r.cutover(ctx, job, plan.to_version, run.job_id)
        for line in switched:
            console.print(f"  view {line}")
        outcome = "cut over"
        if result.accepted_coverage and result.coverage is not None:
            outcome += f" (coverage {percent(result.coverage.share)} accepted)"
    elif not waiting and not plan.bounded:
        r.cancel(ctx, run.job_id)
    if not waiting:
        _state_path(ctx, job).unlink(missing_ok=True)
    replay_id = r.record_history(ctx, action="replay", job=job, from_version=plan.from_version,
                                 to_version=plan.to_version, outcome=outcome, started_at=run.started_at,
                                 ranges=plan.ranges, params=plan.params, gate_result=result)
    console.print(f"replay {replay_id}: {outcome}")
    if outcome == "awaiting cutover":
        console.print(f"switch when ready: kappa replay cutover {job}")
    if result.coverage_only:
        assert result.coverage is not None
        keeps = (f"the replay v{plan.to_version} keeps following the topic; to cut over anyway: kappa replay "
                 f"cutover {job} --accept-coverage (recorded in the history); to drop it: kappa replay cancel {job}")
        raise KappaError(f"the gate compared {percent(result.coverage.share)} of the replayed events, below "
                         f"operations.replay_min_coverage {percent(result.min_coverage)}: the views still point "
                         "at the live version; " + (keeps if not plan.bounded else
                                                    "rerun with --accept-coverage to accept the figure"))
    if not result.passed:
        raise KappaError(f"quality gate failed for {job} v{plan.to_version}: {result.failures[0]}; "
                         "the views still point at the live version")


def replay_and_cut_over(ctx: Context, job: str, *, start: str = "earliest", yes: bool) -> None:
    """A new version of `job` from `start` (as `kappa replay --from`), gated, and cut over when the
    gate passes (`kappa pipeline deploy` of a changed query)."""
    _replay(ctx, job, start, None, False, Cutover.auto, yes, False)


def _waiting(ctx: Context, job: str) -> dict:  # type: ignore[type-arg]
    path = _state_path(ctx, job)
    if not path.exists():
        raise KappaError(f"no replay of {job} is waiting for a cut-over")
    return dict(json.loads(path.read_text()))


def _cutover(ctx: Context, job: str, accept_coverage: bool) -> None:
    state = _waiting(ctx, job)
    accepted = False
    if not state.get("gate_passed"):
        if not state.get("coverage_only"):
            raise KappaError(f"the replay of {job} v{state['version']} has not passed its quality gate")
        if not accept_coverage:
            raise KappaError(f"the gate of the replay of {job} v{state['version']} compared only "
                             f"{percent(state['coverage'])} of its events: add --accept-coverage to cut over anyway")
        accepted = True
    started = time.time()
    from_version = r.JobStore(ctx.settings.state).get(job).version
    for line in r.cutover(ctx, job, int(state["version"]), state["job_id"]):
        console.print(f"  view {line}")
    outcome = f"cut over (coverage {percent(state['coverage'])} accepted)" if accepted else "cut over"
    r.record_history(ctx, action="cutover", job=job, from_version=from_version, to_version=int(state["version"]),
                     outcome=outcome, started_at=started, coverage=state.get("coverage"),
                     coverage_accepted=accepted)
    _state_path(ctx, job).unlink()
    console.print(f"{job} v{state['version']} is live")


def _cancel(ctx: Context, job: str) -> None:
    state = _waiting(ctx, job)
    started = time.time()
    live = r.JobStore(ctx.settings.state).get(job).version
    r.cancel(ctx, str(state["job_id"]))
    r.record_history(ctx, action="cancel", job=job, from_version=live, to_version=int(state["version"]),
                     outcome="cancelled", started_at=started, coverage=state.get("coverage"))
    _state_path(ctx, job).unlink()
    console.print(f"replay {job} v{state['version']} cancelled; its tables are kept, v{live} stays live")


def _history(ctx: Context) -> None:
    table = Table("id", "action", "job", "by", "finished", "versions", "gate", "coverage", "outcome")
    for row in r.history(ctx):
        gate = "-" if row["gate_passed"] is None else ("passed" if row["gate_passed"] else "failed")
        coverage = "-" if row.get("coverage") is None else percent(row["coverage"])
        table.add_row(row["replay_id"], row["action"], row["job"], row["requested_by"],
                      row["finished_at"].strftime("%Y-%m-%d %H:%M:%S"),
                      f"v{row['from_version']} -> v{row['to_version']}", gate, coverage, row["outcome"])
    console.print(table)


def replay(
    ctx: typer.Context,
    target: str = typer.Argument(..., help="a job to replay, or: cutover JOB | cancel JOB | rollback TABLE | history"),
    name: str | None = typer.Argument(None, help="the job or table for cutover / cancel / rollback"),  # noqa: UP007
    start: str = typer.Option("earliest", "--from", help="earliest | ISO time | epoch ms | offsets:P=O,..."),
    stop: str | None = typer.Option(None, "--to", help="latest | time | offsets:...: a bounded replay"),  # noqa: UP007
    dry_run: bool = typer.Option(False, "--dry-run", help="print the plan and exit"),
    cutover: Cutover = typer.Option(Cutover.auto, "--cutover", help="switch the views when the gate passes"),
    yes: bool = typer.Option(False, "--yes", "-y", help="do not ask for confirmation"),
    accept_coverage: bool = typer.Option(False, "--accept-coverage", help="cut over even if the gate compared less "
                                         "than operations.replay_min_coverage of the events (recorded in the history)"),
) -> None:
    """Reprocess a job from Kafka into a new table version, gate it, and switch the views to it."""
    settings: KappaSettings = ctx.obj
    c = build_context(settings)
    if target == "history":
        _history(c)
    elif target in ("cutover", "cancel", "rollback"):
        if not name:
            raise KappaError(f"usage: kappa replay {target} {'TABLE' if target == 'rollback' else 'JOB'}")
        if target == "cutover":
            _cutover(c, r.resolve_job(c, name), accept_coverage)
        elif target == "cancel":
            _cancel(c, r.resolve_job(c, name))
        else:
            started = time.time()
            job, current, previous = r.rollback(c, name)
            r.record_history(c, action="rollback", job=job, from_version=current, to_version=previous,
                             outcome="rolled back", started_at=started)
            console.print(f"{job}: views back on v{previous}; v{current} stopped with a savepoint, its tables kept")
    else:
        _replay(c, r.resolve_job(c, target), start, stop, dry_run, cutover, yes, accept_coverage)

