"""The fault-injection suite's shared parts: how big a run is, how a service is killed and brought
back, and the one reconciliation every fault case ends with.

`make test` runs the bounded suite; `make chaos` (KAPPA_CHAOS=full) runs more events, more kills
and more fuzz examples. Every case reconciles the same way, from Kafka's delivery reports and a
plain-Python computation over the produced events:

    produced = landed + quarantined + late      (each event found once, by its Kafka coordinates)
    zero duplicate event ids, zero missing ones
    windows equal to the plain-Python expectation
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import threading
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from flink_jobs.spec import pipeline_name
from kappa.catalog import catalog
from kappa.context import Context
from kappa.flink_rest import FlinkRest
from kappa.jobs import JobStore, live_tables, resume_desired, start_job
from kappa.producer import Delivered, produce
from kappa.runtime.stack import Stack
from kappa.services.flink import taskmanagers
from kappa.topics import group_lag
from lakehouse.registry import generate
from lakehouse.scenarios import ScenarioOptions
from lakehouse.scenarios.base import Event
from tests.expected import tumbling_windows
from tests.integration.conftest import trino_rows, wait_for
from tests.integration.streams import close_windows, fresh_event_time, ms, rows_when, topic_of

MIN = 60_000
JOB = "transactions"
CHECKPOINT_PROPERTY = "flink.max-committed-checkpoint-id"  # Iceberg's Flink sink, in each snapshot it commits


@dataclass(frozen=True)
class Scale:
    events: int  # per case
    rate: int  # events/s while the fault happens
    kills: int  # how many times a killed service is killed per case
    fuzz_examples: int  # hypothesis examples (each one a batch through the real stack)
    fuzz_batch: int  # malformed events per example


def scale() -> Scale:
    if os.environ.get("KAPPA_CHAOS", "bounded") == "full":
        return Scale(events=60_000, rate=1500, kills=3, fuzz_examples=8, fuzz_batch=400)
    return Scale(events=9_000, rate=600, kills=1, fuzz_examples=2, fuzz_batch=120)


def job_tables(ctx: Context, job: str = JOB) -> dict[str, str]:
    return live_tables(ctx.settings, job)


# --- faults --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fault:
    service: str
    wall: float  # time.time() of the fault
    monotonic: float
    checkpoint: int  # the job's latest completed checkpoint just before it


def latest_checkpoint(ctx: Context) -> int:
    """The id of the job's latest completed checkpoint (0 before its first, -1 with the job not running:
    a kill outside a fault case)."""
    job = _job(ctx)
    if job is None:
        return -1
    latest = FlinkRest(ctx).checkpoints(job["jid"])["latest"]["completed"]
    return int(latest["id"]) if latest else 0


def kill9(ctx: Context, service: str) -> Fault:
    """kill -9 one supervised service (and whatever it forked, all at once, as a crash would)."""
    stack = Stack(ctx)
    running = stack.table.get(service)
    assert running is not None, f"{service} is not running"
    family = [psutil.Process(running.pid), *psutil.Process(running.pid).children(recursive=True)]
    checkpoint = latest_checkpoint(ctx)
    fault = Fault(service, time.time(), time.monotonic(), checkpoint)
    for proc in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGKILL)
    psutil.wait_procs(family, timeout=30)
    return fault


def taskmanager_running(ctx: Context, job: str = JOB) -> str:
    """The TaskManager service `job` runs on: the one a TaskManager case kills (the jobs spread over
    the TaskManagers, and a kill elsewhere would leave it untouched)."""
    rest = FlinkRest(ctx)
    jid = wait_for(lambda: _job(ctx), timeout_s=120, what=f"{job} running")["jid"]
    ids = {tm["taskmanager-id"] for v in rest.get(f"/jobs/{jid}")["vertices"]
           for tm in rest.get(f"/jobs/{jid}/vertices/{v['id']}/taskmanagers")["taskmanagers"]}
    names = [tm.name for tm in taskmanagers(ctx) if tm.resource_id() in ids]
    assert len(names) == 1, f"{job} runs on TaskManagers {sorted(ids)}, which are {names}"
    return names[0]


def stop_cleanly(ctx: Context, service: str) -> Fault:
    """A clean stop (the service's own stop signal, as an operator or an upgrade would): the supervisor
    leaves it stopped; `bring_back` starts it again."""
    stack = Stack(ctx)
    checkpoint = latest_checkpoint(ctx)
    fault = Fault(service, time.time(), time.monotonic(), checkpoint)
    assert stack.table.stop(service), f"{service} was not running"
    return fault


def bring_back(ctx: Context) -> None:
    """What an operator runs after stopping a service: `kappa up` starts whatever is missing and resumes
    the jobs that should be running (each from its newest checkpoint or savepoint)."""
    stack = Stack(ctx)
    stack.up()
    resume_desired(ctx)
    wait_for(stack.all_healthy, timeout_s=180, what="every service to be healthy again")


def _job(ctx: Context) -> dict[str, Any] | None:
    record = JobStore(ctx.settings.state).get(JOB)
    active = FlinkRest(ctx).running_by_name(pipeline_name(JOB, record.version))
    return active[0] if active else None


@dataclass(frozen=True)
class Recovery:
    """Seconds from a fault until the service runs again (its process healthy, restarted by the
    supervisor), the job's first Iceberg commit after it, and the job's consumer lag back to its level
    before the fault (measured once the job commits again; inf if it was not back when the watch
    ended)."""

    service_s: float
    committing_s: float
    lag_s: float

    def __str__(self) -> str:
        lag = f"{self.lag_s:.1f}s" if math.isfinite(self.lag_s) else "not back when the watch ended"
        return f"service {self.service_s:.1f}s, committing {self.committing_s:.1f}s, lag {lag}"


def job_lag(ctx: Context) -> int | None:
    record = JobStore(ctx.settings.state).get(JOB)
    try:
        return sum(p.lag for p in group_lag(ctx.kafka(), pipeline_name(JOB, record.version),
                                            topic_of(ctx, "transactions"), timeout_s=2))
    except Exception:  # Kafka itself down: no figure now
        return None


def lag_level(ctx: Context) -> int:
    """The job's consumer lag before a fault: the highest of two checkpoint intervals' samples (the
    group's offsets move on checkpoints, so the lag saws up and down between them)."""
    end = time.monotonic() + 2 * ctx.settings.flink.checkpoint_interval_s
    samples = []
    while time.monotonic() < end:
        samples.append(job_lag(ctx))
        time.sleep(0.5)
    return max(s for s in samples if s is not None)


def first_commit_after(ctx: Context, wall: float, checkpoint: int = -1) -> float | None:
    """The commit time (epoch s) of the job's raw table's first Iceberg snapshot after `wall` of a
    checkpoint after `checkpoint`: a commit of the checkpoint completed just before a fault, landing
    just after it, is not a recovery. Read from the catalog (PostgreSQL) and the table's metadata, as
    the job's own commits are, not through Trino: a query a second would load the 2 cores the recovery
    needs (and Trino is one of the killed)."""
    try:
        table = catalog(ctx).load_table((ctx.settings.jobs.namespace, job_tables(ctx)["raw"]))
    except Exception:  # PostgreSQL (the catalog) down: not yet
        return None
    after = [s.timestamp_ms / 1000 for s in table.snapshots() if s.timestamp_ms / 1000 > wall
             and s.summary is not None and int(s.summary.get(CHECKPOINT_PROPERTY) or -1) > checkpoint]
    return min(after) if after else None


def _healthy(stack: Stack, name: str) -> bool:
    try:
        return stack.table.get(name) is not None and stack.by_name[name].healthy()
    except Exception:  # a probe that throws: not yet
        return False


def restarted(ctx: Context, fault: Fault, timeout_s: float = 300) -> float:
    """Seconds from the fault until its service runs and is healthy again."""
    stack = Stack(ctx)
    wait_for(lambda: _healthy(stack, fault.service), timeout_s=timeout_s, what=f"{fault.service} to run again",
             interval_s=0.2)
    return time.monotonic() - fault.monotonic


def recovered(ctx: Context, fault: Fault, lag_before: int, timeout_s: float = 300) -> Recovery:
    """Watch, without running `kappa up`, for three things at once, each timed from the fault: the
    supervisor has the service healthy again, the job commits a checkpoint taken after the fault to
    Iceberg, and (once it does) its lag is back to `lag_before`. The job's two do not wait for a
    service it does not need (Trino, say)."""
    stack = Stack(ctx)
    service_s = committed = lag_s = None
    deadline = time.monotonic() + timeout_s
    while service_s is None or committed is None or lag_s is None:
        if time.monotonic() > deadline:
            # a job back to committing but still working off its backlog is slow, not broken: reported
            assert service_s is not None and committed is not None, (
                f"not recovered {timeout_s:.0f}s after the fault: service back after {service_s}s, "
                f"first commit at {committed}")
            lag_s = math.inf
            break
        if service_s is None and _healthy(stack, fault.service):
            service_s = time.monotonic() - fault.monotonic
        if committed is None:
            committed = first_commit_after(ctx, fault.wall, fault.checkpoint)
        if committed is not None and lag_s is None and (lag := job_lag(ctx)) is not None and lag <= lag_before:
            lag_s = time.monotonic() - fault.monotonic
        time.sleep(0.3)
    return Recovery(service_s, committed - fault.wall, lag_s)


# --- a stream under fault ------------------------------------------------------------------------

@dataclass
class Run:
    prefix: str
    events: list[Event]
    delivered: list[Delivered] = field(default_factory=list)
    recoveries: list[Recovery] = field(default_factory=list)


def stream_with_fault(ctx: Context, case: str, fault: Callable[[Run], None], *, warmup_s: float = 5,
                      mix: Callable[[str, list[Event]], list[Event]] | None = None, events: int | None = None) -> Run:
    """Produce a known transactions stream at a steady rate and inject `fault` while it flows;
    `fault` appends its recovery times to the run. The stream has the scale's events at least and
    flows on until `fault` returns, so there is always new data for the recovered job to commit.
    `mix(prefix, valid)` returns a fixed stream to send instead (the fuzz mixes malformed events in)."""
    sc = scale()
    # The whole stack running, as in production: every job `kappa up` starts, then this case's own
    resume_desired(ctx)
    start_job(ctx, JOB)
    base = fresh_event_time(ctx, job_tables(ctx)["raw"])
    prefix = f"{case}{uuid.uuid4().hex[:6]}-"
    minimum = events or sc.events
    # Event time advances as fast as the wall clock, as in production: a partition that resumes a
    # second after another after a restart is then a second behind, within the out-of-orderness.
    opts = ScenarioOptions(count=minimum if mix else 100 * minimum, seed=zlib.crc32(case.encode()), start_ms=base,
                           event_interval_ms=1000 / sc.rate, keys=60, key_prefix=prefix)
    faulted = threading.Event()

    def until_faulted() -> Iterator[Event]:
        for n, event in enumerate(generate(JOB, opts)):
            if n >= minimum and faulted.is_set():
                return
            yield event

    stream = mix(prefix, list(generate(JOB, opts))) if mix is not None else until_faulted()
    run = Run(prefix, [])
    outcome: dict[str, Any] = {"sent": 0}

    def producer() -> None:
        try:
            outcome["sent"], run.delivered = produce(ctx.kafka(), topic_of(ctx, "transactions"), stream,
                                       rate=sc.rate, collect=True, flush_timeout_s=300)
        except Exception as exc:  # reported below, with the fault's own outcome
            outcome["error"] = exc

    thread = threading.Thread(target=producer, name=f"produce-{case}")
    producing = time.time()
    thread.start()
    time.sleep(warmup_s)
    # The fault hits a job in its stride, committing the stream, not one still starting: recovery is
    # measured from there
    wait_for(lambda: first_commit_after(ctx, producing), timeout_s=300, what=f"{JOB} committing the stream",
             interval_s=1)
    try:
        fault(run)
    finally:
        faulted.set()
    thread.join(timeout=900)
    assert not thread.is_alive(), "the producer did not finish"
    assert "error" not in outcome, f"the producer failed: {outcome.get('error')}"
    run.events = [d.event for d in run.delivered]
    assert len(run.delivered) == outcome["sent"] >= minimum, \
        f"Kafka acknowledged {len(run.delivered)} of {outcome['sent']} events (at least {minimum} due)"
    return run


def case_with_fault(ctx: Context, label: str, case: str, fault: Callable[[Run], None]) -> None:
    """A whole case: the stream with `fault` injected, then its reconciliation, reported and exact."""
    run = stream_with_fault(ctx, label, fault)
    result = reconcile(ctx, run)
    report(case, run, result)
    result.assert_exact()


# --- the reconciliation --------------------------------------------------------------------------

@dataclass
class Reconciliation:
    produced: int
    landed: int
    quarantined: int
    late: int
    duplicates: list[tuple[int, int]]  # Kafka coordinates found more than once
    missing: list[tuple[int, int]]  # produced but found nowhere
    duplicate_ids: int
    windows_expected: int
    windows_wrong: dict[Any, Any]
    placement: dict[tuple[int, int], str]  # coordinates -> "landed", "late" or the quarantine reason

    def assert_exact(self) -> None:
        assert not self.missing, f"{len(self.missing)} events lost, e.g. {self.missing[:5]}"
        assert not self.duplicates, f"{len(self.duplicates)} events stored twice, e.g. {self.duplicates[:5]}"
        assert self.produced == self.landed + self.quarantined + self.late, self.summary()
        assert self.duplicate_ids == 0, f"{self.duplicate_ids} duplicate transaction ids"
        assert not self.windows_wrong, f"{len(self.windows_wrong)} windows differ, e.g. " \
                                       f"{list(self.windows_wrong.items())[:3]}"

    def summary(self) -> str:
        return (f"produced {self.produced} = landed {self.landed} + quarantined {self.quarantined} + late {self.late}; "
                f"{len(self.missing)} missing, {len(self.duplicates)} duplicated, {self.duplicate_ids} duplicate ids, "
                f"{self.windows_expected - len(self.windows_wrong)}/{self.windows_expected} windows exact")


def reconcile(ctx: Context, run: Run, timeout_s: float = 600) -> Reconciliation:
    job = ctx.settings.jobs.transactions
    tables = job_tables(ctx)
    records = [d.event.record for d in run.delivered if d.event.record is not None and d.event.key
               and d.event.key.startswith(run.prefix) and not d.event.key.startswith(f"{run.prefix}bad")]
    size_ms = job.window_size_min * MIN
    close_windows(ctx, topic_of(ctx, "transactions"), max(r["timestamp"] for r in records) + 3 * size_ms)

    coords = [(d.partition, d.offset) for d in run.delivered]
    ranges: dict[int, list[int]] = {}
    for p, o in coords:
        ranges.setdefault(p, []).append(o)
    where = " OR ".join(f"(kafka_partition = {p} AND kafka_offset BETWEEN {min(o)} AND {max(o)})"
                        for p, o in sorted(ranges.items()))
    topic = "kafka_topic = '" + topic_of(ctx, "transactions") + "'"
    queries = {
        "landed": f"SELECT kafka_partition, kafka_offset, transaction_id, '' FROM {tables['raw']} "
                  f"WHERE {topic} AND ({where})",
        "quarantined": f"SELECT kafka_partition, kafka_offset, '', reason FROM {tables['quarantine']} "
                       f"WHERE job = '{JOB}' AND {topic} AND ({where})",
        "late": f"SELECT kafka_partition, kafka_offset, '', '' FROM {tables['late']} "
                f"WHERE job = '{JOB}' AND {topic} AND ({where})",
    }
    wanted = set(coords)

    def found() -> dict[str, list[list[Any]]] | None:
        rows = {k: [r for r in trino_rows(ctx.settings, q) if (r[0], r[1]) in wanted] for k, q in queries.items()}
        return rows if sum(len(v) for v in rows.values()) >= len(wanted) else None

    try:
        rows = wait_for(found, timeout_s=timeout_s, what=f"{len(wanted)} events accounted for", interval_s=3)
    except AssertionError:
        rows = {k: [r for r in trino_rows(ctx.settings, q) if (r[0], r[1]) in wanted] for k, q in queries.items()}
    seen = Counter((r[0], r[1]) for v in rows.values() for r in v)
    # ids of the valid events only: a fuzzed event may carry any id, two of them the same one
    valid_ids = {r["transaction_id"] for r in records}
    ids = Counter(r[2] for r in rows["landed"] if r[2] in valid_ids)

    expected = tumbling_windows(records, size_ms)
    window_rows = rows_when(ctx, f"SELECT window_start, window_end, user_id, transaction_count, total_amount "
                                 f"FROM {tables['windows']} WHERE user_id LIKE '{run.prefix}%' "
                                 f"AND user_id NOT LIKE '{run.prefix}bad%'",
                            lambda r: len(r) >= len(expected), f"{len(expected)} windows", timeout_s=timeout_s)
    actual: dict[Any, Any] = {}
    for r in window_rows:
        key = (ms(r[0]), ms(r[1]), r[2])
        actual[key] = "twice" if key in actual else (r[3], r[4])
    wrong = {k: (expected.get(k), actual.get(k)) for k in expected.keys() | actual.keys()
             if expected.get(k) != actual.get(k)}
    return Reconciliation(
        produced=len(wanted), landed=len(rows["landed"]), quarantined=len(rows["quarantined"]), late=len(rows["late"]),
        duplicates=sorted(c for c, n in seen.items() if n > 1), missing=sorted(wanted - set(seen)),
        duplicate_ids=sum(n - 1 for n in ids.values() if n > 1), windows_expected=len(expected), windows_wrong=wrong,
        placement={**{(r[0], r[1]): "landed" for r in rows["landed"]}, **{(r[0], r[1]): "late" for r in rows["late"]},
                   **{(r[0], r[1]): r[3] for r in rows["quarantined"]}},
    )


ARTIFACTS = Path(__file__).resolve().parents[2] / ".pytest-artifacts"


def report(case: str, run: Run, result: Reconciliation) -> None:
    """Print the case's figures and append them to .pytest-artifacts/faults.jsonl (kept by CI runs)."""
    recovered = "; ".join(str(r) for r in run.recoveries) or "n/a"
    if len(run.recoveries) > 1:
        recovered += (f" (max: committing {max(r.committing_s for r in run.recoveries):.1f}s, "
                      f"lag {max(r.lag_s for r in run.recoveries):.1f}s)")
    print(f"\n[fault] {case}: {result.summary()}; recovery {recovered}")
    ARTIFACTS.mkdir(exist_ok=True)
    with (ARTIFACTS / "faults.jsonl").open("a") as fh:
        fh.write(json.dumps({
            "case": case, "scale": os.environ.get("KAPPA_CHAOS", "bounded"), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "produced": result.produced, "landed": result.landed, "quarantined": result.quarantined,
            "late": result.late,
            "missing": len(result.missing), "duplicated": len(result.duplicates), "duplicate_ids": result.duplicate_ids,
            "windows_exact": result.windows_expected - len(result.windows_wrong), "windows": result.windows_expected,
            "recovery_s": [{"service": round(r.service_s, 1), "committing": round(r.committing_s, 1),
                            "lag": round(r.lag_s, 1) if math.isfinite(r.lag_s) else None}  # None: not back
                           for r in run.recoveries]}) + "\n")
