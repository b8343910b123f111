"""`kappa bench`: a product job live on a stream at a fixed rate, then a bounded replay of that
topic while the stream keeps flowing (its catch-up rate over the live rate), and how soon after it
was produced each event of the live run was visible in Trino (freshness)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from kappa import kafka_clients, query
from kappa.bench.bench_jobs import (
    Progress,
    accounted,
    as_bench,
    bench_definition,
    bench_spec,
    bench_tables,
    drop_tables,
    key_prefix,
    run_to_end,
    scenario_of,
    table_ref,
    wait_for_leaders,
)
from kappa.bench.freshness import percentile, wait_running_and_visible
from kappa.context import Context
from kappa.errors import KappaError
from kappa.flink_rest import FlinkRest
from kappa.jobs import get_definition, submit
from kappa.offsets import resolve
from kappa.producer import produce
from kappa.replay import replay_spec
from kappa.settings import TopicSettings
from kappa.topics import ensure_topics
from lakehouse.registry import generate
from lakehouse.scenarios import ScenarioOptions


def replay_over_live(ctx: Context, job: str, run_id: str, live_rate: int, live_s: int, seed: int,
                     progress: Progress) -> dict[str, Any]:
    """The job live on a stream at `live_rate`, then a bounded replay of everything so far, the live
    stream still flowing: catch-up rate over the live rate; for transactions, freshness as well."""
    scenario = scenario_of(ctx, job)
    tag = f"{run_id}_live"
    topic = f"bench-live-{scenario}-{run_id}"
    partitions = ctx.settings.pipelines.scenarios[scenario][1].partitions
    ensure_topics(kafka_clients.admin(ctx.kafka()),
                  {topic: TopicSettings(partitions=partitions, retention_ms=86_400_000)})
    wait_for_leaders(ctx, topic)
    live_tables = bench_tables(ctx, job, tag)
    rest = FlinkRest(ctx)
    live_id = submit(ctx, bench_definition(ctx, job, tag), bench_spec(ctx, job, topic, live_tables, tag, bounded=False))
    wait_running_and_visible(ctx, rest, live_id, table_ref(live_tables["raw"]))
    stop = threading.Event()
    failures: list[str] = []
    producer = threading.Thread(target=_produce_live, name=f"live-{job}", daemon=True,
                                args=(ctx, topic, scenario, live_rate, seed, stop, failures))
    progress(f"  {job}: live at {live_rate:,} events/s for {live_s}s, then a bounded replay of the topic")
    producer.start()
    started = time.monotonic()
    try:
        polls = _poll_visibility(ctx, live_tables["raw"], live_s) if job == "transactions" else []
        if not polls:
            time.sleep(live_s)
        ranges = resolve(ctx.kafka(), topic, "earliest", "latest")
        events = sum(r.events for r in ranges)
        achieved = events / (time.monotonic() - started)  # what the producer kept up, not what was asked
        replay_tag = f"{run_id}_replay"
        replay_tables = bench_tables(ctx, job, replay_tag)
        definition = get_definition(ctx.settings, job)
        spec = as_bench(ctx, replay_spec(ctx, definition, 2, ranges, bounded=True, tables=replay_tables),
                        job, replay_tag, topic)
        ran = run_to_end(ctx, bench_definition(ctx, job, replay_tag), spec)
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
    kafka_clients.admin(ctx.kafka()).delete_topics([topic])
    rate = events / max(last - first, 1e-3)
    result: dict[str, Any] = {"events": events, "live_rate": round(achieved), "catch_up_rate": round(rate),
                              "replay_vs_live": round(rate / achieved, 2), "seconds": ran["seconds"],
                              "wall_s": round(ran["wall_s"], 1)}
    progress(f"    replay of {events:,} events: {rate:,.0f}/s = {result['replay_vs_live']}x the live rate "
             f"({ran['wall_s']:.0f}s from submission to its last commit)")
    if fresh is not None:
        result["freshness"] = fresh
    return result


def _produce_live(ctx: Context, topic: str, scenario: str, rate: int, seed: int, stop: threading.Event,
                  failures: list[str]) -> None:
    """The scenario at `rate` events/s, event time = wall clock, until `stop`."""
    opts = ScenarioOptions(count=10**9, seed=seed, start_ms=int(time.time() * 1000), event_interval_ms=1000 / rate,
                           keys=10_000, key_prefix=key_prefix(ctx, scenario), malformed_share=0.01,
                           out_of_order_share=0.05, max_disorder_ms=2_000)

    def until_stopped():  # type: ignore[no-untyped-def]
        for event in generate(scenario, opts, ctx.settings.pipelines):
            if stop.is_set():
                return
            yield event

    try:
        produce(ctx.kafka(), topic, until_stopped(), rate=rate)
    except KappaError as exc:
        failures.append(str(exc))


Polls = list[tuple[float, dict[int, int]]]


def _poll_visibility(ctx: Context, raw_table: str, seconds: int, poll_s: float = 0.25) -> Polls:
    """Every `poll_s`: the highest offset per partition an analyst can see in the raw table."""
    polls: Polls = []
    deadline = time.time() + seconds
    sql = f"SELECT kafka_partition, max(kafka_offset) FROM {table_ref(raw_table)} GROUP BY 1"
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
                                   f"FROM {table_ref(raw_table)}").rows
    latencies = visibility_latencies(rows, polls)
    if not latencies:
        raise KappaError(f"freshness: no event of {raw_table} became visible while it was polled")
    interval = ctx.settings.flink.checkpoint_interval_s
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    poll_s = (polls[-1][0] - polls[0][0]) / max(1, len(polls) - 1)
    return {"events": len(latencies), "checkpoint_interval_s": interval, "p50_s": round(p50, 3),
            "p95_s": round(p95, 3), "max_s": round(max(latencies), 3), "p95_over_interval": round(p95 / interval, 3),
            "poll_s": round(poll_s, 3)}


