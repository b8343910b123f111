"""What every `kappa bench` pipeline run shares: backlogs from the scenario generators, the job's
own spec and tables under bench names, running a bounded job to its end, and the accounting
(landed + quarantined + late) every run is checked against."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil

from kappa import kafka_clients, query, schemas
from kappa.bench import profile
from kappa.catalog import catalog, job_catalog_spec
from kappa.context import Context
from kappa.errors import KappaError
from kappa.flink_rest import FlinkRest
from kappa.jobs import FLINK_JOBS_DIR, JobDefinition, get_definition, render_spec, submit
from kappa.producer import produce
from kappa.runtime.process import ProcessTable
from kappa.services.flink import taskmanagers
from kappa.settings import TopicSettings
from kappa.topics import end_offsets, ensure_topics
from lakehouse.catalog import TRINO_CATALOG
from lakehouse.pipeline import ROUTES
from lakehouse.registry import generate
from lakehouse.scenarios import ScenarioOptions
from lakehouse.scenarios.nexmark import NexmarkOptions, events
from lakehouse.sql import qualified
from lakehouse.tables import ensure_tables, table_spec

Progress = Callable[[str], None]
NAMESPACE = "bench"
ALERTS_TOPIC = "bench-alerts"
EVENT_TIME_START_MS = 1_790_000_000_000  # backlogs are deterministic for a seed
_NAME = re.compile(r"^[a-z0-9_]+$")


def table_ref(name: str) -> str:
    """A bench table for Trino SQL; bench names are generated, and checked all the same."""
    if not _NAME.match(name):
        raise KappaError(f"not a bench table name: {name!r}")
    return qualified(TRINO_CATALOG, NAMESPACE, name)


def backlog_options(ctx: Context, scenario: str, count: int, seed: int) -> ScenarioOptions:
    """What the throughput runs read: realistic keys, malformed and out-of-order shares."""
    return ScenarioOptions(count=count, seed=seed, start_ms=EVENT_TIME_START_MS, event_interval_ms=2.0,
                           keys=10_000, key_prefix=key_prefix(ctx, scenario), malformed_share=0.01,
                           out_of_order_share=0.05, max_disorder_ms=2_000)


def key_prefix(ctx: Context, scenario: str) -> str:
    return ctx.settings.pipelines.scenarios[scenario][0].key_prefix


def bench_pipelines(ctx: Context) -> dict[str, str]:
    """Every live pipeline whose topic has a scenario, with that scenario: what the bench measures."""
    return {p.name: p.topic.scenario.name for p in ctx.settings.pipelines.live if p.topic.scenario is not None}


def scenario_of(ctx: Context, job: str) -> str:
    """The scenario that fills a pipeline's topic."""
    scenario = get_definition(ctx.settings, job).pipeline.topic.scenario
    if scenario is None:
        raise KappaError(f"pipeline {job} has no scenario to fill its topic with")
    return scenario.name


def fill_backlog(ctx: Context, scenario: str, count: int, seed: int, partitions: int, progress: Progress,
                 fmt: str | None = None) -> str:
    """A topic holding `count` events of the scenario, filled once (a rerun reuses it): in the format its
    topic is written in, or `fmt` (json: an Avro topic's records as JSON, for the side-by-side)."""
    topic = f"bench-{scenario}-{count}-s{seed}" + (f"-{fmt}" if fmt else "")
    if filled_before(ctx, topic, partitions, count, progress):
        return topic
    started = time.perf_counter()
    events = generate(scenario, backlog_options(ctx, scenario, count, seed), ctx.settings.pipelines)
    # as the scenario's topic is written: an Avro topic's events in the wire format, with the registry's id
    produce(ctx.kafka(), topic, schemas.in_wire_format(ctx.settings, ctx.settings.pipelines.scenarios[scenario][1].name,
                                                      events, fmt), prime=False)
    progress(f"filled {topic}: {count:,} events in {time.perf_counter() - started:.1f}s")
    return topic


def fill_nexmark(ctx: Context, opts: NexmarkOptions, partitions: int, progress: Progress) -> tuple[str, float]:
    """The topic for these options, filled once (a rerun with the same options reuses it)."""
    topic = f"nexmark-{opts.count}-s{opts.seed}"
    if filled_before(ctx, topic, partitions, opts.count, progress):
        return topic, 0.0
    producer = kafka_clients.producer(ctx.kafka())
    started = time.perf_counter()
    for i, (key, value, ts) in enumerate(events(opts)):
        while True:
            try:
                producer.produce(topic, value, key, timestamp=ts)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 100_000 == 0 and i:
            producer.poll(0)
            progress(f"  produced {i:,} / {opts.count:,}")
    if producer.flush(120):
        raise KappaError(f"could not deliver every event to {topic}")
    rate = opts.count / (time.perf_counter() - started)
    progress(f"filled {topic}: {opts.count:,} events at {rate:,.0f}/s (generate + produce)")
    return topic, rate


def filled_before(ctx: Context, topic: str, partitions: int, count: int, progress: Progress,
                  timeout_s: float = 60) -> bool:
    """Whether the bench's own topic already holds its `count` events (a rerun reuses them); else it is
    left empty, made afresh if an earlier run was stopped while filling it."""
    admin = kafka_clients.admin(ctx.kafka())
    ensure_topics(admin, {topic: TopicSettings(partitions=partitions, retention_ms=-1)})
    have = sum(end - start for start, end in wait_for_leaders(ctx, topic).values())
    if have == count:
        progress(f"reusing {topic} ({have:,} events)")
        return True
    if have:
        progress(f"{topic} holds {have:,} of {count:,} events (a fill was stopped): making it afresh")
        for future in admin.delete_topics([topic]).values():
            future.result(timeout_s)
        deadline = time.monotonic() + timeout_s
        while topic in admin.list_topics(timeout=10).topics:
            if time.monotonic() > deadline:
                raise KappaError(f"topic {topic} was not deleted within {timeout_s:.0f}s")
            time.sleep(0.5)
        while True:  # Kafka refuses the name while the deletion completes on every node
            try:
                ensure_topics(admin, {topic: TopicSettings(partitions=partitions, retention_ms=-1)})
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        wait_for_leaders(ctx, topic)
    return False


def wait_for_leaders(ctx: Context, topic: str, timeout_s: float = 30) -> dict[int, tuple[int, int]]:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return end_offsets(ctx.kafka(), topic)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def bench_tables(ctx: Context, job: str, suffix: str) -> dict[str, str]:
    """The job's tables under bench names (`<table>_<suffix>` in namespace `bench`), created."""
    pipeline = get_definition(ctx.settings, job).pipeline
    specs = {t.role: table_spec(t, f"{t.name}_{suffix}") for t in pipeline.written}
    ensure_tables(catalog(ctx), NAMESPACE, specs.values())
    return {role: spec.name for role, spec in specs.items()}


def bench_spec(ctx: Context, job: str, topic: str, tables: dict[str, str], tag: str, *,
               bounded: bool, wire: bool = True) -> dict[str, Any]:
    """The job's spec as the platform renders it, pointed at a bench topic, tables and consumer group;
    without `wire`, an Avro topic's contract reads its records as JSON instead (the same fields)."""
    spec = render_spec(ctx, get_definition(ctx.settings, job), 1, startup_mode="earliest-offset", tables=tables,
                       **({"bounded_mode": "latest-offset"} if bounded else {}))
    if not wire:
        spec["contract"] = {k: v for k, v in spec["contract"].items() if k != "x-wire"}
    return as_bench(ctx, spec, job, tag, topic)


def as_bench(ctx: Context, spec: dict[str, Any], job: str, tag: str, topic: str) -> dict[str, Any]:
    """A rendered spec (the job's own contract and settings) reading a bench topic into bench tables, as
    the operator (the job's own Kafka user may read only its topic; the bench creates its own)."""
    spec = {**spec, "job": f"bench_{job}_{tag}", "namespace": NAMESPACE, "alerts_topic": ALERTS_TOPIC}
    operator = ctx.kafka()
    spec["kafka"] = {**spec["kafka"], "topic": topic, "group_id": f"kappa-bench-{job}-{tag}",
                     "username": operator.username, "password": operator.password}
    return spec


def bench_definition(ctx: Context, job: str, tag: str) -> JobDefinition:
    return replace(get_definition(ctx.settings, job), name=f"bench-{job}-{tag}")


def nexmark_definition(ctx: Context, name: str) -> JobDefinition:
    """The declared Nexmark pipeline under a run's own name."""
    return replace(get_definition(ctx.settings, "nexmark", live=False), name=name)


def nexmark_spec(ctx: Context, *, query: str, sink: str, topic: str, run: str, parallelism: int = 1,
                 checkpoint_interval_s: int | None = None, table: str | None = None, bounded: bool = True,
                 ingest_time: bool = False) -> dict[str, Any]:
    """A Nexmark query's spec (flink_jobs/nexmark.py): bounded unless said otherwise; an Iceberg sink
    writes `bench.<table>` in the platform's catalog."""
    kafka = ctx.kafka()  # the operator's: the bench creates and reads its own topics
    spec: dict[str, Any] = {
        "version": 1, "query": query, "sink": sink, "topic": topic, "bootstrap": kafka.bootstrap,
        "username": kafka.username, "password": kafka.password,
        "parallelism": parallelism, "run": run, "bounded": bounded, "ingest_time": ingest_time,
        "checkpoint_interval_s": checkpoint_interval_s or ctx.settings.flink.checkpoint_interval_s,
        "table": table or f"{query}_{run}".replace("-", "_"), "namespace": NAMESPACE,
    }
    if sink == "iceberg":
        spec["catalog"] = job_catalog_spec(ctx)
    return spec


def flink_pids(ctx: Context) -> list[int]:
    table = ProcessTable(ctx.settings.state / "run")
    pids = []
    for name in ("flink-jobmanager", *(tm.name for tm in taskmanagers(ctx))):
        running = table.get(name)
        if running is not None:
            pids.append(running.pid)
    return pids


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                t = p.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
        except psutil.NoSuchProcess:
            continue
    return total


def drop_tables(ctx: Context, names: Iterable[str]) -> None:
    """Bench tables have served once their figures are taken: drop them and their files."""
    cat = catalog(ctx)
    for name in names:
        cat.purge_table((NAMESPACE, name))


def accounted(ctx: Context, tables: dict[str, str], topic: str) -> tuple[int, float, float]:
    """(records landed + quarantined + late, first and last ingest time in epoch seconds)."""
    parts = " UNION ALL ".join(
        f"SELECT count(*) AS n, min(ingest_time) AS lo, max(ingest_time) AS hi FROM {table_ref(tables[r])} "
        "WHERE kafka_topic = ?" for r in ROUTES)
    sql = f"SELECT sum(n), to_unixtime(min(lo)), to_unixtime(max(hi)) FROM ({parts})"
    row = query.run(ctx.settings, sql, [topic] * len(ROUTES)).rows[0]
    return int(row[0] or 0), float(row[1] or 0), float(row[2] or 0)


def run_to_end(ctx: Context, definition: JobDefinition, spec: dict[str, Any], *, jobs_dir: Path = FLINK_JOBS_DIR,
               timeout_s: float = 3600) -> dict[str, Any]:
    """Submit a bounded job and wait for it to finish: wall time, Flink CPU-seconds, merged flame graph."""
    pids = flink_pids(ctx)
    cpu_before = cpu_seconds(pids)
    submitted = time.monotonic()
    job_id = submit(ctx, definition, spec, jobs_dir=jobs_dir)
    flame: dict[str, Any] = {}
    sampler = threading.Thread(target=lambda: flame.update(profile.sample_job(FlinkRest(ctx), job_id)
                                                           or {}), name=f"flamegraph-{definition.name}", daemon=True)
    sampler.start()
    info = wait_finished(ctx, job_id, timeout_s)
    sampler.join(timeout=30)
    result = {"job_id": job_id, "seconds": info["duration"] / 1000, "wall_s": time.monotonic() - submitted,
              "cpu_s": cpu_seconds(pids) - cpu_before}
    if flame:
        result["profile"] = flame
    return result


def run_until_accounted(ctx: Context, definition: JobDefinition, spec: dict[str, Any], tables: dict[str, str],
                        topic: str, count: int, *, timeout_s: float = 3600, poll_s: float = 5) -> dict[str, Any]:
    """Submit an unbounded job and cancel it once `count` records of its topic are accounted for in its
    tables: a job at any parallelism (a bounded run always writes with one writer, see `render_spec`)."""
    pids = flink_pids(ctx)
    cpu_before = cpu_seconds(pids)
    submitted = time.monotonic()
    job_id = submit(ctx, definition, spec)
    rest = FlinkRest(ctx)
    ends = {p: hi for p, (_lo, hi) in end_offsets(ctx.kafka(), topic).items()}
    try:
        # Trino is asked only once the source has read to the end: its counts would cost the job CPU
        while (n := accounted(ctx, tables, topic)[0] if read_to(rest, job_id, topic, ends) else 0) < count:
            state = rest.job(job_id)["state"]
            ended = state in ("FAILED", "CANCELED", "FINISHED")
            # a restart would count in its rate: not a measurement
            why = f"ended {state}" if ended else "restarted" if rest.restarts(job_id) else None
            if why is None and time.monotonic() - submitted > timeout_s:
                why = f"timed out after {timeout_s:.0f}s"
            if why is not None:
                n = accounted(ctx, tables, topic)[0]  # what landed so far, source at its end or not
                raise KappaError(f"Flink job {job_id} {why} with {n:,} of {count:,} records accounted for; see "
                                 f"{ctx.settings.flink_ui_url}/#/job/{'completed' if ended else 'running'}/"
                                 f"{job_id}/exceptions")
            time.sleep(poll_s)
    finally:
        rest.cancel(job_id)
    return {"job_id": job_id, "wall_s": time.monotonic() - submitted, "cpu_s": cpu_seconds(pids) - cpu_before}


def read_to(rest: FlinkRest, job_id: str, topic: str, ends: dict[int, int]) -> bool:
    """Whether the job's Kafka source has read every partition of `topic` up to `ends`."""
    position = rest.source_offsets(job_id, topic)
    return all(position.get(p, 0) >= end for p, end in ends.items() if end > 0)


def wait_finished(ctx: Context, job_id: str, timeout_s: float) -> dict[str, Any]:
    rest = FlinkRest(ctx)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        info = rest.job(job_id)
        if info["state"] == "FINISHED":
            return info
        if info["state"] in ("FAILED", "CANCELED"):
            raise KappaError(f"Flink job {job_id} ended {info['state']}; see {ctx.settings.flink_ui_url}/#/job/"
                             f"completed/{job_id}/exceptions")
        time.sleep(1)
    raise KappaError(f"Flink job {job_id} did not finish within {timeout_s:.0f}s")


