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
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
from confluent_kafka import Consumer, TopicPartition

from kappa import query as trino
from kappa.artifacts.java import find_java
from kappa.bench import cdc, freshness, pipelines, profile, serving
from kappa.bench.bench_jobs import (
    bench_pipelines,
    cpu_seconds,
    fill_nexmark,
    flink_pids,
    nexmark_definition,
    nexmark_spec,
    table_ref,
)
from kappa.bench.report import write_report
from kappa.bench.targets import PUBLISHED
from kappa.context import Context
from kappa.errors import KappaError
from kappa.flink_rest import FlinkRest
from kappa.jobs import submit
from kappa.runtime.process import ProcessTable
from kappa.topics import end_offsets
from lakehouse.scenarios.nexmark import NexmarkOptions

Progress = Callable[[str], None]
ALL_QUERIES = ["q0", "q5", "q7", "q8", "q11", "q1_udf", "q1_sql"]
PROFILES: dict[str, dict[str, Any]] = {
    # The pipelines run over backlogs of a million events or more: at 300,000 a job's processing lasts
    # 2-5 s and rates from one run to the next differed by up to 2x; at 1M the rounds agree within ~15%.
    # A replay runs over 120 s of live stream (600,000 events at 5k/s): over 30 s (150,000 events) the job's
    # start and first checkpoints were most of the catch-up, and transactions measured 4.5x instead of 13.5x.
    "quick": {"events": 300_000, "queries": ALL_QUERIES, "intervals": [1, 5], "fresh_seconds": 30,
              "pipeline_events": 1_000_000, "pipeline_repeats": 2, "live_s": 120, "cdc_changes": 20_000},
    "full": {"events": 3_000_000, "queries": ALL_QUERIES, "intervals": [1, 5], "fresh_seconds": 120,
             "pipeline_events": 2_000_000, "pipeline_repeats": 3, "live_s": 120, "cdc_changes": 100_000},
}
LIVE_RATE = 5_000  # events/s of the live stream the pipelines' replays run against
FRESH_RATE = 10_000  # events/s: the freshness target is stated at this rate


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
    queries: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> events/s, seconds, profile
    ratios: dict[str, float] = field(default_factory=dict)
    freshness: list[dict[str, Any]] = field(default_factory=list)
    replay: dict[str, Any] = field(default_factory=dict)
    serving: dict[str, Any] = field(default_factory=dict)
    compaction: dict[str, Any] = field(default_factory=dict)
    footprint: dict[str, Any] = field(default_factory=dict)
    pipelines: dict[str, Any] = field(default_factory=dict)
    cdc: dict[str, Any] = field(default_factory=dict)
    scaling: dict[str, Any] = field(default_factory=dict)


def machine() -> dict[str, Any]:
    return {"cpus": psutil.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "cpu": stdlib_platform.processor() or stdlib_platform.machine(), "python": stdlib_platform.python_version()}


def jvm_consume_rate(ctx: Context, topic: str, count: int) -> float:
    """Kafka's own consumer perf tool: fetch-phase messages per second."""
    java = find_java("Kafka", minimum=17, maximum=25, explicit=ctx.settings.java_home, prefer=17)
    kafka = ctx.kafka()
    config = ctx.service_dir("bench") / "consumer.properties"  # the credentials: never on a command line
    config.write_text("".join(f"{k}={v}\n" for k, v in kafka.java_properties().items()))
    cmd = [str(java.home / "bin" / "java"), "-Xmx1g", "-cp", f"{ctx.installs.kafka_classpath}/*",
           "org.apache.kafka.tools.ConsumerPerformance", "--bootstrap-server", kafka.bootstrap,
           "--consumer.config", str(config),
           "--topic", topic, "--messages", str(count), "--group", f"kappa-bench-{time.time_ns()}",
           "--timeout", "120000", "--hide-header"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.count(",") >= 9]
    if done.returncode != 0 or not lines:
        raise KappaError(f"ConsumerPerformance failed: {(done.stderr or done.stdout).strip()[-300:]}")
    return float(lines[-1].split(",")[-1])  # fetch.nMsg.sec


def python_consume_rate(ctx: Context, topic: str, count: int) -> float:
    consumer = Consumer(ctx.kafka().config(**{"group.id": f"kappa-bench-{time.time_ns()}",
                                                "enable.auto.commit": False, "fetch.max.bytes": 52428800}))
    ends = end_offsets(ctx.kafka(), topic)
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


def run_query(ctx: Context, topic: str, query: str, sink: str, count: int, parallelism: int,
              run_id: str, progress: Progress, table: str | None = None) -> dict[str, Any]:
    spec = nexmark_spec(ctx, query=query, sink=sink, topic=topic, parallelism=parallelism,
                        run=f"{run_id}-{query}-{sink}-{table or ''}", table=table or f"{query}_{run_id}")
    pids = flink_pids(ctx)
    cpu_before = cpu_seconds(pids)
    job_id = submit(ctx, nexmark_definition(ctx, f"bench-{query}-{sink}"), spec)
    rest = FlinkRest(ctx)
    flame: dict[str, Any] = {}
    sampler = threading.Thread(target=lambda: flame.update(profile.sample(FlinkRest(ctx), job_id) or {}),
                               name=f"flamegraph-{query}", daemon=True)
    sampler.start()
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
    sampler.join(timeout=30)
    result: dict[str, Any] = {"events_per_s": count / seconds, "seconds": seconds,
                              "cpu_s_per_million_events": 1e6 * cpu / count}
    if flame:
        result["profile"] = flame
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


def table_checksum(ctx: Context, table: str) -> tuple[int, int]:
    """(rows, order-independent checksum of every row) of a bench table, computed by Trino."""
    row = trino.run(ctx.settings, f"SELECT count(*), checksum(concat_ws('|', CAST(auction AS varchar), "
                                  f"CAST(bidder AS varchar), CAST(price AS varchar), channel, extra, "
                                  f"CAST(ts AS varchar))) FROM {table_ref(table)}").rows[0]
    return int(row[0]), int.from_bytes(bytes(row[1] or b""), "big")


def replay_figures(ctx: Context, fresh: dict[str, Any], parallelism: int, run_id: str,
                   progress: Progress) -> dict[str, Any]:
    """Replay the freshness run's live stream (produced in real time at the live rate and committed
    by the streaming q0 job) as a new version: the same query reading the topic from its first offset
    into a new table, as fast as it can. Compares its rate to the live rate and its content to the live table's."""
    topic = f"nexmark-fresh-{run_id}-{fresh['checkpoint_interval_s']}s"
    progress(f"replaying {topic} ({fresh['events']:,} events) into a new table version")
    rate = run_query(ctx, topic, "q0", "iceberg", fresh["events"], parallelism, run_id, progress,
                     table=f"replay_{run_id}")
    live_rows, live_sum = table_checksum(ctx, fresh["table"])
    replay_rows, replay_sum = table_checksum(ctx, f"replay_{run_id}")
    return {"events": fresh["events"], "live_rate": fresh["achieved_rate"],
            "catch_up_rate": round(rate["events_per_s"]),
            "replay_vs_live": round(rate["events_per_s"] / fresh["achieved_rate"], 2), "seconds": rate["seconds"],
            "live_rows": live_rows, "replay_rows": replay_rows,
            "content_equal": (live_rows, live_sum) == (replay_rows, replay_sum)}


def bench(ctx: Context, profile: str, events_count: int | None, parallelism: int, partitions: int, seed: int,
          out_dir: Path, progress: Progress, queries: list[str] | None = None, intervals: list[int] | None = None,
          fresh_rate: int = FRESH_RATE, pipelines_only: bool = False, pipeline_events: int | None = None,
          live_rate: int = LIVE_RATE, compare_jobs: Path | None = None,
          only_pipelines: list[str] | None = None, scale_to: int | None = None) -> tuple[BenchResult, Path]:
    if profile not in PROFILES:
        raise KappaError(f"unknown profile {profile!r}; choose {' or '.join(PROFILES)}")
    known = bench_pipelines(ctx)
    unknown_pipelines = sorted(set(only_pipelines or ()) - set(known))
    if unknown_pipelines:
        raise KappaError(f"unknown pipeline {', '.join(unknown_pipelines)}; choose from {', '.join(known)}")
    p = PROFILES[profile]
    count = events_count or int(p["events"])
    chosen = queries or list(p["queries"])
    unknown = sorted(set(chosen) - set(ALL_QUERIES))
    if unknown:
        raise KappaError(f"unknown query {', '.join(unknown)}; choose from {', '.join(ALL_QUERIES)}")
    result = BenchResult(profile=profile, events=count, partitions=partitions, parallelism=parallelism,
                         checkpoint_interval_s=ctx.settings.flink.checkpoint_interval_s, machine=machine())
    run_id = time.strftime("%Y%m%d%H%M%S")
    if scale_to is not None:
        result.scaling = pipelines.scaling(ctx, count=pipeline_events or int(p["pipeline_events"]), seed=seed,
                                           run_id=run_id, parallelism=scale_to, progress=progress,
                                           only=only_pipelines)
        return _finish(ctx, result, out_dir, run_id)
    topic, result.generate_events_per_s = fill_nexmark(ctx, NexmarkOptions(count=count, seed=seed), partitions,
                                                       progress)
    result.pipelines = pipelines.measure(
        ctx, count=pipeline_events or int(p["pipeline_events"]), seed=seed, run_id=run_id,
        repeats=int(p["pipeline_repeats"]), live_rate=live_rate, live_s=int(p["live_s"]), progress=progress,
        compare_jobs=compare_jobs, only=only_pipelines)
    if ctx.settings.pipelines.captured and not only_pipelines:
        result.cdc = cdc.measure(ctx, changes=int(p["cdc_changes"]), seed=seed, progress=progress)
    for job, r in result.pipelines["jobs"].items():
        result.ratios[f"pipeline_{job}_vs_q0_iceberg"] = r["vs_q0"]
    for job, r in result.pipelines["replay"].items():
        result.ratios[f"pipeline_{job}_replay_vs_live_rate"] = r["replay_vs_live"]
        if "freshness" in r:
            result.ratios[f"pipeline_{job}_freshness_p95_over_interval"] = r["freshness"]["p95_over_interval"]
    if pipelines_only:
        return _finish(ctx, result, out_dir, run_id)
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

    progress(f"freshness: visible-in-Trino latency at {fresh_rate:,} events/s")
    for interval in intervals or p["intervals"]:
        result.freshness.append(freshness.measure(ctx, interval_s=interval, rate=fresh_rate,
                                                  seconds=int(p["fresh_seconds"]), run_id=run_id,
                                                  progress=progress))
    for f in result.freshness:
        result.ratios[f"freshness_p95_over_interval_{f['checkpoint_interval_s']}s"] = f["p95_over_interval"]
    result.replay = replay_figures(ctx, result.freshness[0], parallelism, run_id, progress)
    result.ratios["replay_vs_live_rate"] = result.replay["replay_vs_live"]
    progress(f"  replay {result.replay['catch_up_rate']:,}/s = {result.replay['replay_vs_live']}x the live rate; "
             f"content {'equal' if result.replay['content_equal'] else 'DIFFERENT'}")
    missing = serving.duckdb_missing()
    if missing:
        progress(f"serving: Trino against DuckDB skipped: {missing}")
    else:
        progress("serving: Trino (analytics view) against DuckDB (same Iceberg snapshot)")
        result.serving = serving.trino_vs_duckdb(ctx, f"q0_{run_id}", progress)
    progress("serving: many small commits against after compaction")
    result.compaction = serving.compaction(ctx, result.freshness[0]["table"], progress)

    return _finish(ctx, result, out_dir, run_id)


def _finish(ctx: Context, result: BenchResult, out_dir: Path, run_id: str) -> tuple[BenchResult, Path]:
    result.footprint["peak_rss_mib"] = peak_memory(ctx)
    result.footprint["total_peak_rss_gib"] = round(sum(result.footprint["peak_rss_mib"].values()) / 1024, 2)
    folder = out_dir / run_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "result.json").write_text(json.dumps(asdict(result), indent=1, default=str))
    report = write_report(result, folder)
    return result, report


__all__ = ["PROFILES", "BenchResult", "bench"]
