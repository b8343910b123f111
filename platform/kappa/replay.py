"""Kappa reprocessing: replay a job's topic into a new table version, gate it, switch the views.

    plan -> start the new version (new operator ids and consumer group, no savepoint, exact offsets)
         -> follow it until it has caught up with the live version
         -> quality gate (replay_gate.py) -> cut-over: views to the new tables, old job stopped
            with a savepoint, old tables kept -> `rollback` switches back.

The live version keeps running the whole time. Every replay, cut-over and rollback is appended to
the Iceberg table `ops.replay_history`.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pyiceberg.exceptions import NamespaceAlreadyExistsError, NoSuchTableError
from pyiceberg.schema import Schema
from pyiceberg.types import BooleanType, DoubleType, IntegerType, NestedField, StringType, TimestamptzType

from flink_jobs.spec import pipeline_name
from kappa import query
from kappa.catalog import catalog, ensure_job_tables
from kappa.cdc import compare
from kappa.context import Context
from kappa.errors import KappaError
from kappa.flink_rest import FlinkRest
from kappa.jobs import JobDefinition, JobStore, get_definition, render_spec, start_job, stop_job, submit
from kappa.offsets import PartitionRange, resolve, to_flink_offsets
from kappa.replay_gate import GateResult, accounting, routed_ends, run_gate
from kappa.serving import apply_job_views
from kappa.topics import group_lag
from lakehouse.pipeline import Pipeline
from lakehouse.sql import qualified

Progress = Callable[[str], None]
HISTORY_TABLE = "replay_history"


@dataclass
class ReplayPlan:
    pipeline: Pipeline
    topic: str
    from_version: int
    to_version: int
    ranges: list[PartitionRange]
    bounded: bool
    tables: dict[str, str]
    live_params: dict[str, Any]
    params: dict[str, Any]
    joined: dict[str, list[PartitionRange]] = field(default_factory=dict)  # a SQL pipeline's other topics

    @property
    def job(self) -> str:
        return self.pipeline.name

    @property
    def events(self) -> int:
        return sum(r.events for r in self.ranges) + sum(r.events for rs in self.joined.values() for r in rs)

    def describe(self) -> list[str]:
        lines = [f"replay {self.job}: v{self.from_version} (live) -> v{self.to_version}, topic {self.topic}"]
        for topic, ranges in [(self.topic, self.ranges), *self.joined.items()]:
            if self.joined:
                lines.append(f"  topic {topic}:")
            for r in ranges:
                end = r.end if r.end is not None else f"follow (now {r.log_end})"
                lines.append(f"  partition {r.partition}: offsets {r.start} .. {end}   ({r.events} events; "
                             f"log holds {r.log_start}..{r.log_end})")
        follows = "" if self.bounded else " so far (the replay keeps following the topic)"
        lines.append(f"  events to process: {self.events}{follows}")
        lines.append(f"  target tables: {', '.join(self.tables[t.role] for t in self.pipeline.published)}")
        changed = {k: (self.live_params.get(k), v) for k, v in self.params.items() if self.live_params.get(k) != v}
        if changed:
            lines.append("  parameters changed: " + ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changed.items()))
        steps = ["create the new tables", f"start {pipeline_name(self.job, self.to_version)} from these offsets",
                 "wait until it has caught up", "run the quality gate"]
        if not self.bounded:
            steps.append("switch the analytics views, stop the old job with a savepoint (old tables kept)")
        lines.append("  steps: " + "; ".join(steps))
        return lines


def plan(ctx: Context, job_name: str, start: str, stop: str | None = None) -> ReplayPlan:
    job = get_definition(ctx.settings, job_name)
    store = JobStore(ctx.settings.state)
    record = store.get(job_name)
    ranges = resolve(ctx.kafka(), job.topic, start, stop)
    joined = {t.name: resolve(ctx.kafka(), t.name, start, stop) for t in job.pipeline.joined}
    if joined and any(p.strip().startswith("offsets:") for p in (start, stop or "")):
        raise KappaError(f"{job_name} reads {len(joined) + 1} topics: replay it from a time or `earliest`, "
                         "which name a position in each; offsets:P=O name one topic's")
    to_version = max(record.max_version, record.version) + 1
    live = store.spec(job_name, record.version)
    return ReplayPlan(
        pipeline=job.pipeline, topic=job.topic, from_version=record.version, to_version=to_version, ranges=ranges,
        bounded=stop is not None, tables=job.tables(to_version),
        live_params=dict(live.get("params", job.params)), params=dict(job.params), joined=joined,
    )


@dataclass
class ReplayRun:
    plan: ReplayPlan
    job_id: str
    started_at: float = field(default_factory=time.time)
    gate: GateResult | None = None
    outcome: str = "running"


def start(ctx: Context, p: ReplayPlan) -> ReplayRun:
    job = get_definition(ctx.settings, p.job)
    store = JobStore(ctx.settings.state)
    record = store.get(p.job)
    record.max_version = p.to_version
    store.put(record)
    ensure_job_tables(ctx, p.pipeline, p.to_version)
    spec = replay_spec(ctx, job, p.to_version, p.ranges, bounded=p.bounded, joined=p.joined)
    return ReplayRun(p, submit(ctx, job, spec))


def replay_spec(ctx: Context, job: JobDefinition, version: int, ranges: list[PartitionRange], *, bounded: bool,
                tables: dict[str, str] | None = None,
                joined: dict[str, list[PartitionRange]] | None = None) -> dict[str, Any]:
    """A new version's spec: it reads exactly these offsets (to their ends when bounded), in its own
    topic and in each topic it joins."""
    extra: dict[str, Any] = {"specific_offsets": to_flink_offsets(ranges, "start")}
    if bounded:
        extra |= {"bounded_mode": "specific-offsets", "bounded_specific_offsets": to_flink_offsets(ranges, "end")}
    spec = render_spec(ctx, job, version, startup_mode="specific-offsets", tables=tables, **extra)
    for entry in spec["sql"].get("inputs", []):
        topic_ranges = (joined or {})[entry["topic"]]
        entry["specific_offsets"] = to_flink_offsets(topic_ranges, "start")
        if bounded:
            entry["bounded_specific_offsets"] = to_flink_offsets(topic_ranges, "end")
    return spec


RATE_WINDOW_S = 15.0  # events/s is averaged over this much time: Flink reads in bursts


@dataclass
class ReplayProgress:
    consumed: dict[int, int]  # per partition, the next offset the replay reads
    end: dict[int, int]
    events_per_s: float
    replay_watermark: int | None
    live_watermark: int | None
    state: str
    samples: list[tuple[float, int]] = field(default_factory=list)  # (monotonic s, events read) in the window
    committed: dict[int, int] = field(default_factory=dict)  # per partition, as committed at checkpoints
    # a pipeline that joins topics: per joined topic and partition, as committed at checkpoints
    joined_committed: dict[str, dict[int, int]] = field(default_factory=dict)
    joined_end: dict[str, dict[int, int]] = field(default_factory=dict)

    @property
    def lag(self) -> int:
        """Events not read yet."""
        return sum(max(0, self.end[p] - self.consumed.get(p, 0)) for p in self.end)

    @property
    def uncommitted(self) -> int:
        """Events whose results are not in the replay's tables yet (of every topic it reads)."""
        return sum(max(0, self.end[p] - self.committed.get(p, 0)) for p in self.end) + sum(
            max(0, end - self.joined_committed.get(t, {}).get(q, 0))
            for t, ends in self.joined_end.items() for q, end in ends.items())


def smoothed_rate(samples: list[tuple[float, int]]) -> float:
    """Events per second between the first and the last sample (0 until two samples exist)."""
    if len(samples) < 2 or samples[-1][0] <= samples[0][0]:
        return 0.0
    return max(0.0, (samples[-1][1] - samples[0][1]) / (samples[-1][0] - samples[0][0]))


def progress_of(ctx: Context, run: ReplayRun, last: ReplayProgress | None) -> ReplayProgress:
    """Where the replay stands: from its source's own reading position (Flink's metrics), which moves
    with every record, and from the committed offsets only until the source reports."""
    p = run.plan
    rest = FlinkRest(ctx)
    starts = {r.partition: r.start for r in p.ranges}
    lags = group_lag(ctx.kafka(), pipeline_name(p.job, p.to_version), p.topic)
    state = str(rest.job(run.job_id)["state"])
    reading = rest.source_offsets(run.job_id, p.topic) if state == "RUNNING" else {}
    committed = {lag.partition: max(lag.committed or 0, starts[lag.partition]) for lag in lags}
    consumed = {q: max(reading.get(q, 0), committed[q]) for q in committed}
    if state == "FINISHED" and p.bounded:
        consumed = committed = {r.partition: r.end or r.start for r in p.ranges}
    ends = {r.partition: r.end for r in p.ranges if r.end is not None} if p.bounded else {lag.partition: lag.end
                                                                                         for lag in lags}
    done = sum(consumed[q] - starts[q] for q in consumed)
    now = time.monotonic()
    kept = [s for s in (last.samples if last else []) if now - s[0] <= RATE_WINDOW_S] or (
        last.samples[-1:] if last else [])
    samples = [*kept, (now, done)]
    live_wm = None
    record = JobStore(ctx.settings.state).get(p.job)
    live_jobs = rest.running_by_name(pipeline_name(p.job, record.version))
    if live_jobs:
        live_wm = rest.watermark_ms(str(live_jobs[0]["jid"]))
    replay_wm = rest.watermark_ms(run.job_id) if state == "RUNNING" else None
    joined_committed: dict[str, dict[int, int]] = {}
    joined_end: dict[str, dict[int, int]] = {}
    for topic, ranges in p.joined.items():
        first = {r.partition: r.start for r in ranges}
        topic_lags = group_lag(ctx.kafka(), pipeline_name(p.job, p.to_version), topic)
        joined_committed[topic] = {lag.partition: max(lag.committed or 0, first[lag.partition]) for lag in topic_lags}
        joined_end[topic] = ({r.partition: r.end for r in ranges if r.end is not None} if p.bounded
                             else {lag.partition: lag.end for lag in topic_lags})
        if state == "FINISHED" and p.bounded:
            joined_committed[topic] = {r.partition: r.end or r.start for r in ranges}
    return ReplayProgress(consumed, ends, smoothed_rate(samples), replay_wm, live_wm, state, samples, committed,
                          joined_committed, joined_end)


def caught_up(progress: ReplayProgress, bounded: bool, lag_tolerance: int = 50) -> bool:
    if bounded:
        return progress.state == "FINISHED"
    if progress.state != "RUNNING" or progress.uncommitted > lag_tolerance:
        return False
    # Everything the topic holds is in the replay's tables: on a quiet stream its watermark may stay a
    # little behind the live one for good (partitions went idle in another order), and the gate
    # compares only what both versions have closed anyway.
    if progress.live_watermark is None or progress.uncommitted == 0:
        return True
    return progress.replay_watermark is not None and progress.replay_watermark >= progress.live_watermark


def follow(ctx: Context, run: ReplayRun, report: Callable[[ReplayProgress], None], *, timeout_s: float = 3600,
           interval_s: float = 3.0) -> ReplayProgress:
    deadline = time.monotonic() + timeout_s
    last: ReplayProgress | None = None
    while time.monotonic() < deadline:
        current = progress_of(ctx, run, last)
        report(current)
        if current.state in ("FAILED", "CANCELED"):
            raise KappaError(f"the replay job {pipeline_name(run.plan.job, run.plan.to_version)} is {current.state}; "
                             f"see {ctx.settings.flink_ui_url}/#/job/completed/{run.job_id}/exceptions")
        if caught_up(current, run.plan.bounded):
            return current
        last = current
        time.sleep(interval_s)
    raise KappaError(f"the replay did not catch up within {timeout_s:.0f}s")


def gate(ctx: Context, run: ReplayRun, progress: ReplayProgress, *, accept_coverage: bool = False) -> GateResult:
    p = run.plan
    live = p.pipeline.table_names(p.from_version)
    # Offsets the replay has committed in Kafka and (on the same checkpoint) in Iceberg.
    if p.bounded:
        replayed = {r.partition: (r.start, r.end or r.start) for r in p.ranges}
    else:
        time.sleep(3)  # the checkpoint's Iceberg commits follow its Kafka commit within milliseconds
        replayed = {r.partition: (r.start, progress.committed.get(r.partition, r.start)) for r in p.ranges}
    # A mirrored table has one truth to meet in full, its source, row for row: that comparison, not
    # the share of closed event-time buckets (it has no windows to close), decides.
    mirrored = p.pipeline.source is not None and not p.bounded
    run.gate = run_gate(ctx, p.pipeline, live, p.tables, p.live_params, p.params, _closed_ms(ctx, p, progress),
                        replayed, p.topic, live_ends=routed_ends(ctx, live, p.topic, p.pipeline.name),
                        accept_coverage=accept_coverage,
                        coverage_waived_for="the table is compared with its source row for row instead"
                        if mirrored else "")
    for topic, ranges in p.joined.items():  # a joined topic: each of its records once, in its own raw table
        joined_replayed = ({r.partition: (r.start, r.end or r.start) for r in ranges} if p.bounded else
                           {r.partition: (r.start, progress.joined_committed.get(topic, {}).get(r.partition, r.start))
                            for r in ranges})
        raw = p.tables[p.pipeline.raw_role(topic)]
        lines, failures = accounting(ctx, {**p.tables, "raw": raw}, topic, joined_replayed, p.job)
        run.gate.lines += [f"{line} (topic {topic})" for line in lines]
        run.gate.failures += [f"topic {topic}: {f}" for f in failures]
        run.gate.passed = run.gate.passed and not failures
    if mirrored:
        equal = compare.compare_until_equal(ctx, p.pipeline, 2 * ctx.settings.flink.checkpoint_interval_s + 10,
                                            table=p.tables["current"])
        if equal.equal:
            run.gate.lines.append(f"ok       {equal.summary()}")
        else:
            run.gate.failures.append(f"{equal.summary()} ({'; '.join(equal.examples[:3])})")
            run.gate.passed = False
    return run.gate


def _closed_ms(ctx: Context, p: ReplayPlan, progress: ReplayProgress) -> int | None:
    """Event time up to which both versions have fired, and committed, every window: their watermarks,
    and as far as their committed events take a watermark. A finished bounded replay fired everything."""
    ns = ctx.settings.jobs.namespace
    delay = 1000 * max(int(p.live_params.get("out_of_orderness_s", 0)), int(p.params.get("out_of_orderness_s", 0)))
    raws = [p.pipeline.table_names(p.from_version)["raw"]] + ([] if p.bounded else [p.tables["raw"]])
    candidates = [w for w in (progress.live_watermark, None if p.bounded else progress.replay_watermark)
                  if w is not None]
    for raw in raws:
        sql = f"SELECT max(event_ts_ms) FROM {qualified(ns, raw)}"
        newest = query.run(ctx.settings, sql, user="pipeline").rows[0][0]
        if newest is None:
            return None
        candidates.append(int(newest) - delay)
    return min(candidates)


def cutover(ctx: Context, job: str, version: int, replay_job_id: str | None = None) -> list[str]:
    """Point the views at `version`, stop the old version with a savepoint; the old tables stay."""
    store = JobStore(ctx.settings.state)
    record = store.get(job)
    old = record.version
    if old == version:
        raise KappaError(f"{job} v{version} is already live")
    pipeline = get_definition(ctx.settings, job).pipeline
    try:
        switched = apply_job_views(ctx, pipeline, version)
    except KappaError as exc:
        # Some views may point at the new version already: put them all back, so that analysts never
        # read a mix of versions, and leave both jobs running for the user to retry.
        apply_job_views(ctx, pipeline, old)
        raise KappaError(f"cut-over of {job} to v{version} failed, every view is back on v{old} and both "
                         f"versions still run (retry `kappa replay cutover`): {exc}") from exc
    savepoint = stop_job(ctx, job, savepoint=True)
    record = store.get(job)
    if savepoint:
        record.retired[str(old)] = savepoint
    record.previous_version, record.version = old, version
    record.job_id, record.last_savepoint, record.desired = replay_job_id, None, "running"
    store.put(record)
    return switched


def rollback(ctx: Context, job_or_table: str) -> tuple[str, int, int]:
    """Switch a job's views back to its previous version and run that version again (from the
    savepoint it stopped with); the rolled-back version is stopped with a savepoint of its own."""
    job = resolve_job(ctx, job_or_table)
    store = JobStore(ctx.settings.state)
    record = store.get(job)
    if record.previous_version is None:
        raise KappaError(f"{job} has no previous version to roll back to (live: v{record.version})")
    current, previous = record.version, record.previous_version
    apply_job_views(ctx, get_definition(ctx.settings, job).pipeline, previous)
    savepoint = stop_job(ctx, job, savepoint=True)
    record = store.get(job)
    if savepoint:
        record.retired[str(current)] = savepoint
    record.version, record.previous_version = previous, current
    record.last_savepoint, record.job_id = record.retired.get(str(previous)), None
    store.put(record)
    start_job(ctx, job)
    return job, current, previous


def resolve_job(ctx: Context, name: str) -> str:
    """A job name, or a table or view name, to the job that owns it."""
    registry = ctx.settings.pipelines
    live = [p.name for p in registry.live]
    if name in live:
        return name
    try:
        return registry.owner(name.split(".")[-1])[0].name
    except KeyError:
        raise KappaError(f"{name!r} is neither a job ({', '.join(live)}) nor one of their tables") from None


def cancel(ctx: Context, job_id: str) -> None:
    """Cancel a replay's job, if it still runs (its tables stay)."""
    rest = FlinkRest(ctx)
    if rest.job(job_id)["state"] in ("RUNNING", "CREATED", "RESTARTING", "INITIALIZING"):
        rest.cancel(job_id)


# --- history -------------------------------------------------------------------------------------

HISTORY_SCHEMA = Schema(
    NestedField(1, "replay_id", StringType(), required=False),
    NestedField(2, "action", StringType(), required=False),
    NestedField(3, "job", StringType(), required=False),
    NestedField(4, "requested_by", StringType(), required=False),
    NestedField(5, "started_at", TimestamptzType(), required=False),
    NestedField(6, "finished_at", TimestamptzType(), required=False),
    NestedField(7, "from_version", IntegerType(), required=False),
    NestedField(8, "to_version", IntegerType(), required=False),
    NestedField(9, "offsets", StringType(), required=False),
    NestedField(10, "params", StringType(), required=False),
    NestedField(11, "gate_passed", BooleanType(), required=False),
    NestedField(12, "gate_report", StringType(), required=False),
    NestedField(13, "outcome", StringType(), required=False),
    NestedField(14, "coverage", DoubleType(), required=False),
    NestedField(15, "coverage_accepted", BooleanType(), required=False),
)


def _history_table(ctx: Context):  # type: ignore[no-untyped-def]
    cat = catalog(ctx)
    ns = ctx.settings.jobs.ops_namespace
    with contextlib.suppress(NamespaceAlreadyExistsError):
        cat.create_namespace(ns)
    try:
        table = cat.load_table((ns, HISTORY_TABLE))
    except NoSuchTableError:
        return cat.create_table((ns, HISTORY_TABLE), schema=HISTORY_SCHEMA, properties={"format-version": "2"})
    missing = [f for f in HISTORY_SCHEMA.fields if f.name not in table.schema().column_names]
    if missing:  # a history written before these columns existed
        with table.update_schema() as update:
            for f in missing:
                update.add_column(f.name, f.field_type)
        table = cat.load_table((ns, HISTORY_TABLE))
    return table


def record_history(ctx: Context, *, action: str, job: str, from_version: int, to_version: int, outcome: str,
                   started_at: float, ranges: list[PartitionRange] | None = None,
                   params: dict[str, Any] | None = None, gate_result: GateResult | None = None,
                   replay_id: str | None = None, coverage: float | None = None,
                   coverage_accepted: bool | None = None) -> str:
    """One row of `ops.replay_history`. The coverage is the gate's unless given (a cut-over that
    accepts a coverage the gate refused)."""
    replay_id = replay_id or uuid.uuid4().hex[:12]
    if gate_result is not None and gate_result.coverage is not None and coverage is None:
        coverage = gate_result.coverage.share
    if gate_result is not None and coverage_accepted is None:
        coverage_accepted = gate_result.accepted_coverage
    row = {
        "replay_id": replay_id, "action": action, "job": job, "requested_by": getpass.getuser(),
        "started_at": datetime.fromtimestamp(started_at, UTC), "finished_at": datetime.now(UTC),
        "from_version": from_version, "to_version": to_version,
        "offsets": json.dumps([{"partition": r.partition, "start": r.start, "end": r.end} for r in ranges or []]),
        "params": json.dumps(params or {}, sort_keys=True),
        "gate_passed": None if gate_result is None else gate_result.passed,
        "gate_report": None if gate_result is None else json.dumps(gate_result.as_dict()),
        "outcome": outcome,
        "coverage": coverage,
        "coverage_accepted": coverage_accepted,
    }
    table = _history_table(ctx)
    arrow_schema = table.schema().as_arrow()
    import pyarrow as pa  # heavy: the history's writes alone

    table.append(pa.Table.from_pylist([row], schema=arrow_schema))
    return replay_id


def history(ctx: Context, limit: int = 50) -> list[dict[str, Any]]:
    rows = _history_table(ctx).scan().to_arrow().to_pylist()
    rows.sort(key=lambda r: r["finished_at"], reverse=True)
    return rows[:limit]
