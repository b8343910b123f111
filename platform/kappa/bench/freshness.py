"""Freshness: how long after an event is produced it is visible to an analyst in Trino.

At a fixed produce rate, bids go to a one-partition topic, each stamped with its produce time; the
streaming passthrough job (Nexmark q0, parallelism 1) commits them into Iceberg on every checkpoint.
With one partition and one reader every commit holds a prefix of the stream, so when Trino's
`count(*)` first shows n rows, events [previous n, n) became visible at that moment: their
latency is that moment minus their produce time. Trino is polled every `poll_s`, which bounds the
error (reported). Done for each checkpoint interval; the ratio to the interval is what matters.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

from kappa import kafka_clients, query
from kappa.bench.bench_jobs import nexmark_definition, nexmark_spec, table_ref
from kappa.context import Context
from kappa.errors import KappaError
from kappa.flink_rest import FlinkRest
from kappa.jobs import submit
from kappa.kafka_clients import KafkaAccess
from kappa.settings import TopicSettings
from kappa.topics import ensure_topics
from lakehouse.scenarios.nexmark import BID

Progress = Callable[[str], None]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def latencies(produced_at: list[float], visible: list[tuple[float, int]]) -> list[float]:
    """Per event: the first poll time whose count covers it, minus its produce time."""
    out: list[float] = []
    seen = 0
    for at, count in visible:
        for i in range(seen, min(count, len(produced_at))):
            out.append(at - produced_at[i])
        seen = max(seen, min(count, len(produced_at)))
    return out


def _produce_paced(kafka: KafkaAccess, topic: str, rate: int, count: int, produced_at: list[float],
                   failed: list[str]) -> None:
    producer = kafka_clients.producer(kafka)
    started = time.time()
    batch = max(1, rate // 100)  # 10 ms of events at a time
    for i in range(count):
        if i % batch == 0:
            delay = started + i / rate - time.time()
            if delay > 0:
                time.sleep(delay)
            producer.poll(0)
        now = time.time()
        bid = {"auction": i % 1000, "bidder": i % 5000, "price": 100 + i % 900, "channel": "Google",
               "dateTime": int(now * 1000), "extra": ""}
        value = orjson.dumps({"event_type": BID, "bid": bid})
        while True:
            try:
                producer.produce(topic, value, str(i % 1000).encode())
                break
            except BufferError:
                producer.poll(0.01)
        produced_at.append(now)
    if producer.flush(60):
        failed.append(f"events to {topic} were not acknowledged")


def measure(ctx: Context, *, interval_s: int, rate: int, seconds: int, run_id: str, progress: Progress,
            poll_s: float = 0.2) -> dict[str, Any]:
    topic = f"nexmark-fresh-{run_id}-{interval_s}s"
    table = f"fresh_{run_id}_{interval_s}s"
    ensure_topics(kafka_clients.admin(ctx.kafka()), {topic: TopicSettings(partitions=1,
                                                                                           retention_ms=86_400_000)})
    spec = nexmark_spec(ctx, query="q0", sink="iceberg", topic=topic, checkpoint_interval_s=interval_s,
                        run=f"{run_id}-fresh-{interval_s}", table=table, bounded=False)
    rest = FlinkRest(ctx)
    job_id = submit(ctx, nexmark_definition(ctx, f"bench-fresh-{interval_s}s"), spec)
    try:
        wait_running_and_visible(ctx, rest, job_id, table_ref(table))
        count = rate * seconds
        produced_at: list[float] = []
        failed: list[str] = []
        producer = threading.Thread(target=_produce_paced, name="freshness-producer",
                                    args=(ctx.kafka(), topic, rate, count, produced_at, failed))
        progress(f"  freshness at {rate:,} events/s, checkpoint every {interval_s}s, for {seconds}s")
        producer.start()
        visible: list[tuple[float, int]] = []
        deadline = time.time() + seconds + 10 * interval_s + 60
        n = 0
        while n < count and time.time() < deadline:
            n = int(query.run(ctx.settings, f"SELECT count(*) FROM {table_ref(table)}").rows[0][0])
            visible.append((time.time(), n))
            time.sleep(poll_s)
        producer.join(timeout=120)
        if failed:
            raise KappaError(failed[0])
        if n < count:
            raise KappaError(f"freshness: only {n:,} of {count:,} events visible in Trino before the deadline")
    finally:
        rest.cancel(job_id)
    lat = latencies(produced_at, visible)
    achieved = count / (produced_at[-1] - produced_at[0]) if len(produced_at) > 1 else 0.0
    p50, p95 = percentile(lat, 50), percentile(lat, 95)
    progress(f"    p50 {p50:.2f}s, p95 {p95:.2f}s ({p95 / interval_s:.2f} checkpoint intervals)")
    return {"checkpoint_interval_s": interval_s, "target_rate": rate, "achieved_rate": round(achieved),
            "events": count, "p50_s": round(p50, 3), "p95_s": round(p95, 3), "max_s": round(max(lat), 3),
            "p50_over_interval": round(p50 / interval_s, 3), "p95_over_interval": round(p95 / interval_s, 3),
            "poll_s": poll_s, "table": table}


def wait_running_and_visible(ctx: Context, rest: FlinkRest, job_id: str, table: str, timeout_s: float = 180) -> None:
    """Until every task runs and Trino can read the (empty) table: measurement starts after start-up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state, every_task = rest.state(job_id)
        if state in ("FAILED", "CANCELED", "FINISHED"):
            raise KappaError(f"the bench job {job_id} ended {state} before measuring")
        if every_task:
            try:
                query.run(ctx.settings, f"SELECT count(*) FROM {table}")
                return
            except KappaError:
                pass
        time.sleep(1)
    raise KappaError(f"the bench job {job_id} was not running within {timeout_s:.0f}s")
