"""`kappa bench` pipelines: the product's own jobs, measured as users run them, next to q0 -> Iceberg.

- throughput: each job reads a backlog from its scenario generator (Zipf keys, 1% malformed, 5% out
  of order within the watermark delay) as a bounded new version into tables of its own (namespace
  `bench`), exactly as a replay or a backfill runs it. Its sustained rate is the backlog over the
  span of the rows' own `ingest_time` (stamped as each record passes the parse), so the job's
  start-up and final commit do not count; q0 -> Iceberg is measured the same way on the Nexmark topic
  in the same run, and the ratio is the figure. Every record must be accounted for (landed +
  quarantined + late = backlog), or the run fails.
- replay: the job runs live on a stream produced at `live_rate` events/s (event time = wall clock);
  then a new version replays the topic from its first offset to the offsets of that moment (a
  bounded `kappa replay`) while the live stream keeps flowing: its catch-up rate over the live rate.
- freshness: during the transactions job's live phase, how long after it was produced each event is
  visible in Trino, over the checkpoint interval.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from kappa import kafka_clients, query
from kappa.bench import profile
from kappa.bench.freshness import percentile
from kappa.bench.nexmark import BID, kind
from kappa.catalog import catalog
from kappa.errors import KappaError
from kappa.jobs import FLINK_JOBS_DIR, FlinkRest, JobDefinition, get_definition, render_spec, submit
from kappa.offsets import resolve
from kappa.producer import produce
from kappa.replay import replay_spec
from kappa.scenarios import ScenarioOptions, generate
from kappa.scenarios.registry import SCENARIOS
from kappa.services.base import Context
from kappa.settings import TopicSettings
from kappa.topics import end_offsets, ensure_topics
from lakehouse.tables import ensure_tables, job_table_specs

Progress = Callable[[str], None]
NAMESPACE = "bench"
ALERTS_TOPIC = "bench-alerts"
PIPELINES = {"transactions": "transactions", "user_activity": "user-events", "iot_sensors": "iot-sensors"}
# Targets of the issue "Pipelines at engine speed": sustained rate over q0 -> Iceberg's.
TARGETS = {"transactions": 0.5, "user_activity": 0.35, "iot_sensors": 0.35}
REPLAY_TARGET = 10.0  # replay catch-up rate over the live rate
FRESHNESS_TARGET = 1.5  # p95 visibility latency over the checkpoint interval
ROUTES = ("raw", "quarantine", "late")  # where every record of a job ends, exactly once
EVENT_TIME_START_MS = 1_790_000_000_000  # backlogs are deterministic for a seed


def backlog_options(scenario: str, count: int, seed: int) -> ScenarioOptions:
    """What the throughput runs read: realistic keys, malformed and out-of-order shares."""
    return ScenarioOptions(count=count, seed=seed, start_ms=EVENT_TIME_START_MS, event_interval_ms=2.0,
                           keys=10_000, key_prefix=SCENARIOS[scenario].key_prefix, malformed_share=0.01,
                           out_of_order_share=0.05, max_disorder_ms=2_000)


def fill_backlog(ctx: Context, scenario: str, count: int, seed: int, partitions: int, progress: Progress) -> str:
    """A topic holding `count` events of the scenario, filled once (a rerun reuses it)."""
    topic = f"bench-{scenario}-{count}-s{seed}"
    admin = kafka_clients.admin(ctx.settings.kafka_bootstrap)
    ensure_topics(admin, {topic: TopicSettings(partitions=partitions, retention_ms=-1)})
    have = sum(end - start for start, end in _wait_for_leaders(ctx, topic).values())
    if have == count:
        progress(f"reusing {topic} ({have:,} events)")
        return topic
    if have:
        raise KappaError(f"topic {topic} holds {have:,} events, not {count:,}; delete it and rerun")
    started = time.perf_counter()
    produce(ctx.settings.kafka_bootstrap, topic, generate(scenario, backlog_options(scenario, count, seed)),
            prime=False)
    progress(f"filled {topic}: {count:,} events in {time.perf_counter() - started:.1f}s")
    return topic


def _wait_for_leaders(ctx: Context, topic: str, timeout_s: float = 30) -> dict[int, tuple[int, int]]:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return end_offsets(ctx.settings.kafka_bootstrap, topic)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def bench_tables(ctx: Context, job: str, suffix: str) -> dict[str, str]:
    """The job's tables under bench names (`<table>_<suffix>` in namespace `bench`), created."""
    specs = {role: spec.renamed(f"{spec.name}_{suffix}") for role, spec in job_table_specs(job, 1).items()}
    ensure_tables(catalog(ctx), NAMESPACE, specs.values())
    return {role: spec.name for role, spec in specs.items()}


def bench_spec(ctx: Context, job: str, topic: str, tables: dict[str, str], tag: str, *,
               bounded: bool) -> dict[str, Any]:
    """The job's spec as the platform renders it, pointed at a bench topic, tables and consumer group."""
    spec = render_spec(ctx, get_definition(ctx, job), 1, startup_mode="earliest-offset", tables=tables,
                       **({"bounded_mode": "latest-offset"} if bounded else {}))
    return _as_bench(spec, job, tag, topic)


def _as_bench(spec: dict[str, Any], job: str, tag: str, topic: str) -> dict[str, Any]:
    """A rendered spec (the job's own contract and settings) reading a bench topic into bench tables."""
    spec = {**spec, "job": f"bench_{job}_{tag}", "namespace": NAMESPACE, "alerts_topic": ALERTS_TOPIC}
    spec["kafka"] = {**spec["kafka"], "topic": topic, "group_id": f"kappa-bench-{job}-{tag}"}
    return spec


def _definition(ctx: Context, job: str, tag: str) -> JobDefinition:
    return replace(get_definition(ctx, job), name=f"bench-{job}-{tag}")


def drop_tables(ctx: Context, names: Iterable[str]) -> None:
    """Bench tables have served once their figures are taken: drop them and their files."""
    cat = catalog(ctx)
    for name in names:
        cat.purge_table((NAMESPACE, name))


def accounted(ctx: Context, tables: dict[str, str], topic: str) -> tuple[int, float, float]:
    """(records landed + quarantined + late, first and last ingest time in epoch seconds)."""
    parts = " UNION ALL ".join(
        f"SELECT count(*) AS n, min(ingest_time) AS lo, max(ingest_time) AS hi FROM iceberg.{NAMESPACE}.{tables[r]}"
        + ("" if r == "raw" else f" WHERE kafka_topic = '{topic}'") for r in ROUTES)
    row = query.run(ctx.settings, f"SELECT sum(n), to_unixtime(min(lo)), to_unixtime(max(hi)) FROM ({parts})").rows[0]
    return int(row[0] or 0), float(row[1] or 0), float(row[2] or 0)


def run_to_end(ctx: Context, definition: JobDefinition, spec: dict[str, Any], *, jobs_dir: Path = FLINK_JOBS_DIR,
               timeout_s: float = 3600) -> dict[str, Any]:
    """Submit a bounded job and wait for it to finish: wall time, Flink CPU-seconds, merged flame graph."""
    from kappa.bench.run import cpu_seconds, flink_pids

    pids = flink_pids(ctx)
    cpu_before = cpu_seconds(pids)
    submitted = time.monotonic()
    job_id = submit(ctx, definition, spec, jobs_dir=jobs_dir)
    flame: dict[str, Any] = {}
    sampler = threading.Thread(target=lambda: flame.update(profile.sample_job(ctx.settings.flink_rest_url, job_id)
                                                           or {}), name=f"flamegraph-{definition.name}", daemon=True)
    sampler.start()
    info = wait_finished(ctx, job_id, timeout_s)
    sampler.join(timeout=30)
    result = {"job_id": job_id, "seconds": info["duration"] / 1000, "wall_s": time.monotonic() - submitted,
              "cpu_s": cpu_seconds(pids) - cpu_before}
    if flame:
        result["profile"] = flame
    return result


def wait_finished(ctx: Context, job_id: str, timeout_s: float) -> dict[str, Any]:
    rest = FlinkRest(ctx.settings.flink_rest_url)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        info = rest.job(job_id)
        if info["state"] == "FINISHED":
            return info
        if info["state"] in ("FAILED", "CANCELED"):
            raise KappaError(f"Flink job {job_id} ended {info['state']}; see {ctx.settings.flink_rest_url}/#/job/"
                             f"completed/{job_id}/exceptions")
        time.sleep(1)
    raise KappaError(f"Flink job {job_id} did not finish within {timeout_s:.0f}s")


def throughput(ctx: Context, job: str, topic: str, count: int, run_id: str, progress: Progress, *,
               jobs_dir: Path = FLINK_JOBS_DIR, label: str = "") -> dict[str, Any]:
    """One bounded run of the job over the backlog: sustained events/s, CPU per event, profile."""
    tag = f"{run_id}{label}"
    tables = bench_tables(ctx, job, tag)
    ran = run_to_end(ctx, _definition(ctx, job, tag), bench_spec(ctx, job, topic, tables, tag, bounded=True),
                     jobs_dir=jobs_dir)
    n, first, last = accounted(ctx, tables, topic)
    if n != count:
        raise KappaError(f"{job}: {n:,} records landed, quarantined or late, of {count:,} read (tables *_{tag})")
    drop_tables(ctx, tables.values())
    rate = count / max(last - first, 1e-3)
    result = {**ran, "events": count, "events_per_s": rate, "cpu_s_per_million_events": 1e6 * ran["cpu_s"] / count}
    progress(f"  {job}{label}: {rate:,.0f} events/s sustained ({last - first:.1f}s of processing, "
             f"{ran['seconds']:.1f}s job), {result['cpu_s_per_million_events']:.0f} CPU-s per million")
    return result


def q0_reference(ctx: Context, nexmark_topic: str, count: int, run_id: str, progress: Progress) -> dict[str, Any]:
    """q0 -> Iceberg over the Nexmark topic, its rate measured like the pipelines' (ingest-time span)."""
    from kappa.bench.run import catalog_spec

    table = f"q0_ingest_{run_id}"
    spec = {"version": 1, "query": "q0", "sink": "iceberg", "topic": nexmark_topic,
            "bootstrap": ctx.settings.kafka_bootstrap, "parallelism": 1,  # bounded: one writer (jobs.render_spec)
            "checkpoint_interval_s": ctx.settings.flink.checkpoint_interval_s, "run": f"{run_id}-q0-ingest",
            "table": table, "ingest_time": True, "catalog": catalog_spec(ctx)}
    definition = JobDefinition(name="bench-q0-ingest", module="flink_jobs.nexmark", topic=nexmark_topic, tables={},
                               params={}, autostart=False, description="kappa bench")
    ran = run_to_end(ctx, definition, spec)
    row = query.run(ctx.settings, f"SELECT count(*), to_unixtime(min(ingest_time)), to_unixtime(max(ingest_time)) "
                                  f"FROM iceberg.{NAMESPACE}.{table}").rows[0]
    bids = int(row[0])
    expected = sum(1 for i in range(count) if kind(i) == BID)
    if bids != expected:
        raise KappaError(f"q0 -> Iceberg wrote {bids:,} bids of the {expected:,} in the topic (table bench.{table})")
    # q0 keeps the bids (46 of every 50 events) but reads every event: its rate is of events read
    rate = count / max(float(row[2]) - float(row[1]), 1e-3)
    drop_tables(ctx, [table])
    progress(f"  q0 -> Iceberg: {rate:,.0f} events/s sustained ({bids:,} bids written)")
    return {**ran, "events": count, "events_per_s": rate, "cpu_s_per_million_events": 1e6 * ran["cpu_s"] / count}


def replay_over_live(ctx: Context, job: str, run_id: str, live_rate: int, live_s: int, seed: int,
                     progress: Progress) -> dict[str, Any]:
    """The job live on a stream at `live_rate`, then a bounded replay of everything so far, the live
    stream still flowing: catch-up rate over the live rate; for transactions, freshness as well."""
    scenario = PIPELINES[job]
    tag = f"{run_id}_live"
    topic = f"bench-live-{scenario}-{run_id}"
    partitions = ctx.settings.kafka.topics[scenario].partitions
    ensure_topics(kafka_clients.admin(ctx.settings.kafka_bootstrap),
                  {topic: TopicSettings(partitions=partitions, retention_ms=86_400_000)})
    _wait_for_leaders(ctx, topic)
    live_tables = bench_tables(ctx, job, tag)
    rest = FlinkRest(ctx.settings.flink_rest_url)
    live_id = submit(ctx, _definition(ctx, job, tag), bench_spec(ctx, job, topic, live_tables, tag, bounded=False))
    _wait_running(rest, live_id)
    stop = threading.Event()
    failures: list[str] = []
    producer = threading.Thread(target=_produce_live, name=f"live-{job}", daemon=True,
                                args=(ctx, topic, scenario, live_rate, seed, stop, failures))
    progress(f"  {job}: live at {live_rate:,} events/s for {live_s}s, then a bounded replay of the topic")
    producer.start()
    try:
        polls = _poll_visibility(ctx, live_tables["raw"], live_s) if job == "transactions" else []
        if not polls:
            time.sleep(live_s)
        ranges = resolve(ctx.settings.kafka_bootstrap, topic, "earliest", "latest")
        events = sum(r.events for r in ranges)
        replay_tag = f"{run_id}_replay"
        replay_tables = bench_tables(ctx, job, replay_tag)
        spec = _as_bench(replay_spec(ctx, get_definition(ctx, job), 2, ranges, bounded=True, tables=replay_tables),
                         job, replay_tag, topic)
        ran = run_to_end(ctx, _definition(ctx, job, replay_tag), spec)
    finally:
        stop.set()
        producer.join(timeout=60)
        rest.cancel(live_id)
    if failures:
        raise KappaError(failures[0])
    n, first, last = accounted(ctx, replay_tables, topic)
    if n != events:
        raise KappaError(f"{job} replay: {n:,} records landed, quarantined or late, of {events:,} replayed")
    fresh = freshness(ctx, live_tables["raw"], polls) if polls else None
    drop_tables(ctx, [*live_tables.values(), *replay_tables.values()])
    kafka_clients.admin(ctx.settings.kafka_bootstrap).delete_topics([topic])
    rate = events / max(last - first, 1e-3)
    result: dict[str, Any] = {"events": events, "live_rate": live_rate, "catch_up_rate": round(rate),
                              "replay_vs_live": round(rate / live_rate, 2), "seconds": ran["seconds"],
                              "wall_s": round(ran["wall_s"], 1)}
    progress(f"    replay of {events:,} events: {rate:,.0f}/s = {result['replay_vs_live']}x the live rate "
             f"({ran['wall_s']:.0f}s from submission to its last commit)")
    if fresh is not None:
        result["freshness"] = fresh
    return result


def _wait_running(rest: FlinkRest, job_id: str, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        info = rest.job(job_id)
        if info["state"] in ("FAILED", "CANCELED", "FINISHED"):
            raise KappaError(f"the live bench job {job_id} ended {info['state']}")
        if info["state"] == "RUNNING" and all(v["status"] == "RUNNING" for v in info["vertices"]):
            return
        time.sleep(1)
    raise KappaError(f"the live bench job {job_id} was not running within {timeout_s:.0f}s")


def _produce_live(ctx: Context, topic: str, scenario: str, rate: int, seed: int, stop: threading.Event,
                  failures: list[str]) -> None:
    """The scenario at `rate` events/s, event time = wall clock, until `stop`."""
    opts = ScenarioOptions(count=10**9, seed=seed, start_ms=int(time.time() * 1000), event_interval_ms=1000 / rate,
                           keys=10_000, key_prefix=SCENARIOS[scenario].key_prefix, malformed_share=0.01,
                           out_of_order_share=0.05, max_disorder_ms=2_000)

    def until_stopped():  # type: ignore[no-untyped-def]
        for event in generate(scenario, opts):
            if stop.is_set():
                return
            yield event

    try:
        produce(ctx.settings.kafka_bootstrap, topic, until_stopped(), rate=rate)
    except KappaError as exc:
        failures.append(str(exc))


Polls = list[tuple[float, dict[int, int]]]


def _poll_visibility(ctx: Context, raw_table: str, seconds: int, poll_s: float = 0.25) -> Polls:
    """Every `poll_s`: the highest offset per partition an analyst can see in the raw table."""
    polls: Polls = []
    deadline = time.time() + seconds
    sql = f"SELECT kafka_partition, max(kafka_offset) FROM iceberg.{NAMESPACE}.{raw_table} GROUP BY 1"
    while time.time() < deadline:
        rows = query.run(ctx.settings, sql).rows
        polls.append((time.time(), {int(p): int(o) for p, o in rows}))
        time.sleep(poll_s)
    return polls


def visibility_latencies(rows: Iterable[Sequence[Any]], polls: Polls) -> list[float]:
    """Per landed event (partition, offset, produce time): the first poll showing its offset, minus
    its produce time. A checkpoint commits a prefix of every partition, so an offset is visible once
    the partition's visible maximum reaches it. Events produced after the last poll are left out."""
    by_partition: dict[int, list[tuple[int, float]]] = {}
    for p, o, ts in rows:
        by_partition.setdefault(int(p), []).append((int(o), float(ts)))
    latencies: list[float] = []
    for p, events in by_partition.items():
        events.sort()
        i = 0
        for at, visible in polls:
            top = visible.get(p, -1)
            while i < len(events) and events[i][0] <= top:
                latencies.append(at - events[i][1])
                i += 1
    return latencies


def freshness(ctx: Context, raw_table: str, polls: Polls) -> dict[str, Any]:
    """How long after it was produced each event of the live run became visible in Trino."""
    rows = query.run(ctx.settings, f"SELECT kafka_partition, kafka_offset, to_unixtime(kafka_timestamp) "
                                   f"FROM iceberg.{NAMESPACE}.{raw_table}").rows
    latencies = visibility_latencies(rows, polls)
    if not latencies:
        raise KappaError(f"freshness: no event of {raw_table} became visible while it was polled")
    interval = ctx.settings.flink.checkpoint_interval_s
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    poll_s = (polls[-1][0] - polls[0][0]) / max(1, len(polls) - 1)
    return {"events": len(latencies), "checkpoint_interval_s": interval, "p50_s": round(p50, 3),
            "p95_s": round(p95, 3), "max_s": round(max(latencies), 3), "p95_over_interval": round(p95 / interval, 3),
            "poll_s": round(poll_s, 3)}


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def summarise_runs(runs: list[dict[str, Any]], references: list[dict[str, Any]]) -> dict[str, Any]:
    """A job's repeated runs against the q0 runs of the same rounds: medians, and each round's ratio
    (a job and the q0 run beside it saw the same machine, which is why ratios are what is compared)."""
    ratios = [r["events_per_s"] / q["events_per_s"] for r, q in zip(runs, references, strict=True)]
    cpu = [r["cpu_s_per_million_events"] for r in runs]
    ref_cpu = [q["cpu_s_per_million_events"] for q in references]
    return {"events_per_s": _median([r["events_per_s"] for r in runs]), "vs_q0": round(_median(ratios), 3),
            "vs_q0_range": [round(min(ratios), 3), round(max(ratios), 3)],
            "cpu_s_per_million_events": _median(cpu),
            "cpu_vs_q0": round(_median([c / q for c, q in zip(cpu, ref_cpu, strict=True)]), 2),
            "profile": next((r["profile"] for r in runs if r.get("profile")), None),
            "runs": [{k: v for k, v in r.items() if k != "profile"} for r in runs]}


def measure(ctx: Context, *, count: int, seed: int, run_id: str, repeats: int, live_rate: int, live_s: int,
            progress: Progress, compare_jobs: Path | None = None) -> dict[str, Any]:
    """The pipelines section of a bench run: `repeats` rounds of q0 -> Iceberg and every job over
    backlogs of `count` events (each round's ratio over its own q0 run; medians reported), then each
    job's replay over a live stream (and the transactions pipeline's freshness)."""
    from kappa.bench.nexmark import NexmarkOptions
    from kappa.bench.run import fill

    ensure_topics(kafka_clients.admin(ctx.settings.kafka_bootstrap),
                  {ALERTS_TOPIC: TopicSettings(partitions=3, retention_ms=86_400_000)})
    nexmark_topic, _ = fill(ctx, NexmarkOptions(count=count, seed=seed), 3, progress)
    topics = {job: fill_backlog(ctx, scenario, count, seed, ctx.settings.kafka.topics[scenario].partitions, progress)
              for job, scenario in PIPELINES.items()}
    references: list[dict[str, Any]] = []
    runs: dict[str, list[dict[str, Any]]] = {job: [] for job in PIPELINES}
    compared: dict[str, list[dict[str, Any]]] = {job: [] for job in PIPELINES}
    for round_ in range(1, repeats + 1):
        progress(f"pipelines, round {round_} of {repeats}: q0 -> Iceberg, then each product job over its backlog")
        references.append(q0_reference(ctx, nexmark_topic, count, f"{run_id}_{round_}", progress))
        for job, topic in topics.items():
            runs[job].append(throughput(ctx, job, topic, count, f"{run_id}_{round_}", progress))
            if compare_jobs is not None:
                compared[job].append(throughput(ctx, job, topic, count, f"{run_id}_{round_}", progress,
                                                jobs_dir=compare_jobs, label="_compared"))
    jobs = {job: summarise_runs(runs[job], references) for job in PIPELINES}
    if compare_jobs is not None:
        for job in PIPELINES:
            other = summarise_runs(compared[job], references)
            jobs[job]["compared"] = {"jobs_dir": str(compare_jobs), **{k: other[k] for k in (
                "events_per_s", "vs_q0", "cpu_s_per_million_events", "profile")},
                "speedup": round(_median([a["events_per_s"] / b["events_per_s"]
                                          for a, b in zip(runs[job], compared[job], strict=True)]), 2)}
    reference = {"events_per_s": _median([q["events_per_s"] for q in references]),
                 "cpu_s_per_million_events": _median([q["cpu_s_per_million_events"] for q in references]),
                 "profile": next((q["profile"] for q in references if q.get("profile")), None),
                 "runs": [{k: v for k, v in q.items() if k != "profile"} for q in references]}
    replays = {job: replay_over_live(ctx, job, run_id, live_rate, live_s, seed, progress) for job in PIPELINES}
    return {"events": count, "repeats": repeats, "q0_iceberg": reference, "jobs": jobs, "replay": replays}
