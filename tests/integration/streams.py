"""Helpers for the pipeline tests: fresh event times, closing windows, waiting for rows."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from flink_jobs.spec import pipeline_name
from kappa.context import Context
from kappa.jobs import JobStore, get_definition
from kappa.producer import Delivered, produce
from kappa.topics import group_lag
from lakehouse.registry import generate
from lakehouse.scenarios import ScenarioOptions
from lakehouse.scenarios.base import Event, encode
from tests.integration.conftest import trino_rows, wait_for

HOUR_MS = 3_600_000


def fresh_event_time(ctx: Context, raw_table: str, align_ms: int = HOUR_MS) -> int:
    """An aligned event time after anything the job has seen (its raw table's newest event), so
    nothing a test produces from there is late."""
    newest = trino_rows(ctx.settings, f"SELECT max(event_ts_ms) FROM {raw_table}")[0][0] or 0
    base = max(int(time.time() * 1000), newest + align_ms)
    return base - base % align_ms + align_ms


def later_event(topic: str, key: str, partition: int, ts: int) -> Event:
    """A valid event of `topic`, used to push the watermark past everything under test."""
    if topic == "transactions":
        record: dict[str, Any] = {"transaction_id": f"{key}-{partition}", "user_id": key, "amount": 1.0,
                                  "merchant": "x", "timestamp": ts}
    elif topic == "user-events":
        record = {"event_id": f"{key}-{partition}", "user_id": key, "action": "view_product", "timestamp": ts}
    else:
        record = {"sensor_id": key, "temperature": 20.0, "humidity": 40.0, "pressure": 1013.0, "timestamp": ts,
                  "location": "test"}
    return Event(key, encode(record), record, partition=partition)


def close_windows(ctx: Context, topic: str, after_ms: int) -> None:
    """One valid event per partition at `after_ms`, so the watermark passes every earlier window."""
    marker = f"wm-{uuid.uuid4().hex[:8]}"
    partitions = ctx.settings.kafka.topics[topic].partitions
    produce(ctx.kafka(), topic, [later_event(topic, marker, p, after_ms) for p in range(partitions)])


def produce_scenario(ctx: Context, scenario: str, topic: str, opts: ScenarioOptions,
                     extra: list[Event] | None = None) -> list[Delivered]:
    events = list(generate(scenario, opts)) + (extra or [])
    _, delivered = produce(ctx.kafka(), topic, events, collect=True)
    assert len(delivered) == len(events)
    return delivered


def rows_when(ctx: Context, sql: str, ready: Callable[[list[list[Any]]], bool], what: str,
              timeout_s: float = 300) -> list[list[Any]]:
    """Poll a Trino query until `ready(rows)`; fail naming `what` otherwise."""
    def probe() -> list[list[Any]] | None:
        rows = trino_rows(ctx.settings, sql)
        return rows if ready(rows) else None

    return wait_for(probe, timeout_s=timeout_s, what=what)


def ms(value: Any) -> int:
    return int(value.timestamp() * 1000)


def settle(ctx: Context, job: str, timeout_s: float = 300) -> None:
    """Wait until the live job has consumed everything and committed it (two checkpoints later)."""

    group = pipeline_name(job, JobStore(ctx.settings.state).get(job).version)
    topic = get_definition(ctx.settings, job).topic
    lags: list = []

    def consumed() -> bool:
        lags[:] = group_lag(ctx.kafka(), group, topic)
        return sum(p.lag for p in lags) == 0

    try:
        wait_for(consumed, timeout_s=timeout_s, what=f"{job} to consume its topic")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; group {group}: {lags}") from None
    time.sleep(2 * ctx.settings.flink.checkpoint_interval_s + 2)


def topic_of(ctx: Context, job: str) -> str:
    """The topic a pipeline reads (its declaration's)."""
    return get_definition(ctx.settings, job).topic
