"""`kappa bench`: Nexmark-style measurements, side by side in one run on one machine.

Steps: fill a topic with the generator (before any measurement), measure the raw consume rate with
Kafka's own JVM consumer perf tool and with the Python client, then run each Nexmark query as a
bounded Flink job over the whole topic and divide its events/s by the reference rates. Peak memory
per service and the Flink processes' CPU-seconds per event come from /proc.
"""

from __future__ import annotations

import json
import platform as stdlib_platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
from confluent_kafka import Consumer, KafkaException, TopicPartition

from kappa import infra, kafka_clients
from kappa.artifacts.java import find_java
from kappa.bench.nexmark import NexmarkOptions, events
from kappa.errors import KappaError
from kappa.jobs import FlinkRest, JobDefinition, submit
from kappa.runtime.process import ProcessTable
from kappa.services.base import Context
from kappa.settings import TopicSettings
from kappa.topics import end_offsets, ensure_topics

Progress = Callable[[str], None]
# Nexmark's published throughput ratios to q0 (Flink's nexmark results, same cluster).
PUBLISHED = {"q5": 0.14, "q7": 0.08, "q8": 0.94, "q11": 0.26}
PROFILES = {
    "quick": {"events": 300_000, "queries": ["q0", "q5", "q7", "q8", "q11", "q1_udf", "q1_sql"]},
    "full": {"events": 3_000_000, "queries": ["q0", "q5", "q7", "q8", "q11", "q1_udf", "q1_sql"]},
}


@dataclass
class BenchResult:
    profile: str
    events: int
    partitions: int
    parallelism: int
    checkpoint_interval_s: int
    machine: dict[str, Any]
    generate_events_per_s: float = 0.0
    limit: dict[str, float] = field(default_factory=dict)  # events/s
    queries: dict[str, dict[str, float]] = field(default_factory=dict)  # name -> events/s, seconds
    ratios: dict[str, float] = field(default_factory=dict)
    footprint: dict[str, Any] = field(default_factory=dict)
    not_measured: list[str] = field(default_factory=list)


def machine() -> dict[str, Any]:
    return {"cpus": psutil.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "cpu": stdlib_platform.processor() or stdlib_platform.machine(), "python": stdlib_platform.python_version()}


def fill(ctx: Context, opts: NexmarkOptions, partitions: int, progress: Progress) -> tuple[str, float]:
    """The topic for these options, filled once (a rerun with the same options reuses it)."""
    topic = f"nexmark-{opts.count}-s{opts.seed}"
    admin = kafka_clients.admin(ctx.settings.kafka_bootstrap)
    ensure_topics(admin, {topic: TopicSettings(partitions=partitions, retention_ms=-1)})
    have = sum(end - start for start, end in _offsets_when_ready(ctx, topic).values())
    if have == opts.count:
        progress(f"reusing {topic} ({have:,} events)")
        return topic, 0.0
    if have:
        raise KappaError(f"topic {topic} holds {have:,} events, not {opts.count:,}; delete it and rerun")
    producer = kafka_clients.producer(ctx.settings.kafka_bootstrap)
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


def _offsets_when_ready(ctx: Context, topic: str, timeout_s: float = 30) -> dict[int, tuple[int, int]]:
    """A topic created a moment ago answers once its partitions have leaders."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return end_offsets(ctx.settings.kafka_bootstrap, topic)
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def jvm_consume_rate(ctx: Context, topic: str, count: int) -> float:
    """Kafka's own consumer perf tool: fetch-phase messages per second."""
    java = find_java("Kafka", minimum=17, maximum=25, explicit=ctx.settings.java_home, prefer=17)
    cmd = [str(java.home / "bin" / "java"), "-Xmx1g", "-cp", f"{ctx.installs.kafka_classpath}/*",
           "org.apache.kafka.tools.ConsumerPerformance", "--bootstrap-server", ctx.settings.kafka_bootstrap,
           "--topic", topic, "--messages", str(count), "--group", f"kappa-bench-{time.time_ns()}",
           "--timeout", "120000", "--hide-header"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.count(",") >= 9]
    if done.returncode != 0 or not lines:
        raise KappaError(f"ConsumerPerformance failed: {(done.stderr or done.stdout).strip()[-300:]}")
    return float(lines[-1].split(",")[-1])  # fetch.nMsg.sec


def python_consume_rate(ctx: Context, topic: str, count: int) -> float:
    consumer = Consumer({"bootstrap.servers": ctx.settings.kafka_bootstrap, "group.id": f"kappa-bench-{time.time_ns()}",
                         "enable.auto.commit": False, "fetch.max.bytes": 52428800})
    ends = end_offsets(ctx.settings.kafka_bootstrap, topic)
    consumer.assign([TopicPartition(topic, p, start) for p, (start, _) in ends.items()])
    seen = 0
    started = None
    try:
        while seen < count:
            batch = consumer.consume(10_000, timeout=5)
            if not batch:
                raise KappaError(f"the Python consumer stalled at {seen:,} of {count:,}")
            started = started or time.perf_counter()
            seen += len(batch)
    finally:
        consumer.close()
    return seen / (time.perf_counter() - (started or time.perf_counter()))


def flink_pids(ctx: Context) -> list[int]:
    table = ProcessTable(ctx.settings.state / "run")
    pids = []
    for name in ("flink-jobmanager", "flink-taskmanager"):
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


def run_query(ctx: Context, topic: str, query: str, sink: str, count: int, parallelism: int,
              run_id: str, progress: Progress) -> dict[str, float]:
    spec: dict[str, Any] = {
        "version": 1, "query": query, "sink": sink, "topic": topic, "bootstrap": ctx.settings.kafka_bootstrap,
        "parallelism": parallelism, "checkpoint_interval_s": ctx.settings.flink.checkpoint_interval_s,
        "run": f"{run_id}-{query}-{sink}", "table": f"{query}_{run_id}",
    }
    if sink == "iceberg":
        p = infra.outputs(ctx)
        spec["catalog"] = {"name": ctx.settings.catalog.name, "jdbc_url": p.catalog_jdbc_url, "user": p.catalog_role,
                           "password": ctx.secrets.catalog_password, "warehouse": p.warehouse_uri}
    job = JobDefinition(name=f"bench-{query}-{sink}", module="flink_jobs.nexmark", topic=topic, tables={}, params={},
                        autostart=False, description="kappa bench")
    pids = flink_pids(ctx)
    cpu_before = cpu_seconds(pids)
    job_id = submit(ctx, job, spec)
    rest = FlinkRest(ctx.settings.flink_rest_url)
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        info = rest.job(job_id)
        if info["state"] in ("FINISHED", "FAILED", "CANCELED"):
            break
        time.sleep(1)
    else:
        raise KappaError(f"{query} into {sink} did not finish within an hour (Flink job {job_id})")
    if info["state"] != "FINISHED":
        raise KappaError(f"{query} into {sink} ended {info['state']} (Flink job {job_id}; see the Flink UI)")
    seconds = info["duration"] / 1000
    cpu = cpu_seconds(pids) - cpu_before
    result = {"events_per_s": count / seconds, "seconds": seconds, "cpu_s_per_1k_events": 1000 * cpu / count}
    progress(f"  {query} -> {sink}: {result['events_per_s']:,.0f} events/s ({seconds:.1f}s)")
    return result


def peak_memory(ctx: Context) -> dict[str, float]:
    """Peak resident memory (MiB) per service, with its children (VmHWM from /proc)."""
    table = ProcessTable(ctx.settings.state / "run")
    result = {}
    for name in table.names():
        running = table.get(name)
        if running is None:
            continue
        try:
            procs = [psutil.Process(running.pid), *psutil.Process(running.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        total = 0
        for p in procs:
            try:
                status = Path(f"/proc/{p.pid}/status").read_text()
                hwm = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
                total += int(hwm.split()[1])
            except (OSError, StopIteration):
                continue
        result[name] = round(total / 1024, 1)
    return result


def bench(ctx: Context, profile: str, events_count: int | None, parallelism: int, partitions: int, seed: int,
          out_dir: Path, progress: Progress, queries: list[str] | None = None) -> tuple[BenchResult, Path]:
    if profile not in PROFILES:
        raise KappaError(f"unknown profile {profile!r}; choose {' or '.join(PROFILES)}")
    count = events_count or int(PROFILES[profile]["events"])  # type: ignore[call-overload]
    chosen = queries or list(PROFILES[profile]["queries"])  # type: ignore[call-overload]
    result = BenchResult(profile=profile, events=count, partitions=partitions, parallelism=parallelism,
                         checkpoint_interval_s=ctx.settings.flink.checkpoint_interval_s, machine=machine())
    run_id = time.strftime("%Y%m%d%H%M%S")
    topic, result.generate_events_per_s = fill(ctx, NexmarkOptions(count=count, seed=seed), partitions, progress)
    progress("measuring the raw consume rate (Kafka's JVM perf tool, then the Python client)")
    result.limit["jvm_consumer"] = jvm_consume_rate(ctx, topic, count)
    result.limit["python_consumer"] = python_consume_rate(ctx, topic, count)
    progress(f"  JVM {result.limit['jvm_consumer']:,.0f}/s, Python {result.limit['python_consumer']:,.0f}/s")
    plan = [("q0", "iceberg"), ("q0", "blackhole")] + [(q, "blackhole") for q in chosen if q != "q0"]
    for query, sink in plan:
        result.queries[f"{query}:{sink}"] = run_query(ctx, topic, query, sink, count, parallelism, run_id, progress)
    q = {k: v["events_per_s"] for k, v in result.queries.items()}
    jvm = result.limit["jvm_consumer"]
    result.ratios["ingest_efficiency_q0_iceberg_vs_jvm_consume"] = q["q0:iceberg"] / jvm
    result.ratios["q0_blackhole_vs_jvm_consume"] = q["q0:blackhole"] / jvm
    result.ratios["iceberg_sink_cost_q0_iceberg_vs_blackhole"] = q["q0:iceberg"] / q["q0:blackhole"]
    for name in PUBLISHED:
        if f"{name}:blackhole" in q:
            result.ratios[f"{name}_vs_q0"] = q[f"{name}:blackhole"] / q["q0:blackhole"]
    if "q1_udf:blackhole" in q and "q1_sql:blackhole" in q:
        result.ratios["python_udf_vs_sql_twin"] = q["q1_udf:blackhole"] / q["q1_sql:blackhole"]
    result.footprint["peak_rss_mib"] = peak_memory(ctx)
    result.footprint["total_peak_rss_gib"] = round(sum(result.footprint["peak_rss_mib"].values()) / 1024, 2)
    result.not_measured = ["freshness (p50/p95 visible-in-Trino latency)", "replay catch-up vs live rate",
                           "serving: Trino vs DuckDB, before/after compaction"]
    folder = out_dir / run_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "result.json").write_text(json.dumps(asdict(result), indent=1))
    from kappa.bench.report import write_report

    report = write_report(result, folder)
    return result, report


__all__ = ["PROFILES", "PUBLISHED", "BenchResult", "bench"]
