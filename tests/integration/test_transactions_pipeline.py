"""transactions -> Flink (event time, tumbling windows) -> Iceberg -> Trino, checked row for row
against a plain-Python computation over exactly the events this test produced."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import pytest
from pyiceberg.expressions import StartsWith

from kappa.catalog import catalog
from kappa.jobs import start_job
from kappa.producer import Delivered, produce
from kappa.scenarios import ScenarioOptions, generate
from kappa.scenarios.base import Event, encode
from kappa.services.base import Context
from lakehouse.contracts import contract, quarantine_reason
from tests.expected import tumbling_windows
from tests.integration.conftest import trino_rows, wait_for


def ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def fresh_event_time(ctx: Context, size_ms: int) -> int:
    """A window-aligned event time after anything the job has seen, so nothing here is late."""
    newest = trino_rows(ctx.settings, "SELECT max(event_ts_ms) FROM transactions_raw")[0][0] or 0
    base = max(int(time.time() * 1000), newest + 2 * size_ms)
    return base - base % size_ms + size_ms


def advance_watermark(ctx: Context, topic: str, event_ms: int, partitions: int) -> None:
    """One valid event per partition, later than everything under test, so every window closes."""
    marker = f"wm-{uuid.uuid4().hex[:8]}"
    events = [
        Event(marker, encode({"transaction_id": f"{marker}-{p}", "user_id": marker, "amount": 1.0,
                              "merchant": "x", "timestamp": event_ms}), None, partition=p)
        for p in range(partitions)
    ]
    produce(ctx.settings.kafka_bootstrap, topic, events)


@pytest.fixture(scope="module")
def produced(ctx: Context) -> dict:
    """Start the job and produce one known stream: skewed users, out-of-order and malformed events."""
    s = ctx.settings
    job = s.jobs.transactions
    partitions = s.kafka.topics[job.topic].partitions
    start_job(ctx, "transactions")
    size_ms = job.window_size_min * 60_000
    base = fresh_event_time(ctx, size_ms)
    prefix = f"it{uuid.uuid4().hex[:6]}-"
    opts = ScenarioOptions(
        count=3000, seed=20261123, start_ms=base + 17_000, event_interval_ms=400, keys=25, key_prefix=prefix,
        malformed_share=0.03, out_of_order_share=0.1, max_disorder_ms=min(2000, job.out_of_orderness_s * 1000),
    )
    events = list(generate("transactions", opts))
    # The hottest user's events are spread over every partition: its windows must still be whole.
    hot = f"{prefix}00001"
    events = [replace(e, partition=i % partitions) if e.key == hot and e.record else e for i, e in enumerate(events)]
    _, delivered = produce(s.kafka_bootstrap, job.topic, events, collect=True)
    last_ms = max(e.record["timestamp"] for e in events if e.record)
    advance_watermark(ctx, job.topic, last_ms + 2 * size_ms, partitions)
    return {"prefix": prefix, "delivered": delivered, "size_ms": size_ms, "hot": hot, "topic": job.topic}


def test_windows_equal_plain_python(ctx: Context, produced: dict) -> None:
    valid = [d.event.record for d in produced["delivered"] if d.event.record]
    expected = tumbling_windows(valid, produced["size_ms"])
    hot_partitions = {d.partition for d in produced["delivered"] if d.event.key == produced["hot"] and d.event.record}
    assert len(hot_partitions) > 1, "the test must cover windows whose events span partitions"
    sql = (f"SELECT window_start, window_end, user_id, transaction_count, total_amount FROM transactions_5m "
           f"WHERE user_id LIKE '{produced['prefix']}%'")
    rows = wait_for(lambda: (r := trino_rows(ctx.settings, sql)) and len(r) >= len(expected) and r,
                    timeout_s=300, what=f"{len(expected)} window rows in Trino")
    actual = {(ms(r[0]), ms(r[1]), r[2]): (r[3], r[4]) for r in rows}
    assert len(rows) == len(actual), "a (window, user) row appeared twice"
    assert actual == expected
    assert all(isinstance(total, Decimal) for _, total in actual.values())


def test_raw_table_holds_every_valid_event_once_with_its_offset(ctx: Context, produced: dict) -> None:
    valid = {d.event.record["transaction_id"]: (d.partition, d.offset) for d in produced["delivered"] if d.event.record}
    sql = (f"SELECT transaction_id, kafka_partition, kafka_offset, kafka_topic FROM transactions_raw "
           f"WHERE user_id LIKE '{produced['prefix']}%'")
    rows = wait_for(lambda: (r := trino_rows(ctx.settings, sql)) and len(r) >= len(valid) and r,
                    timeout_s=300, what=f"{len(valid)} raw rows")
    assert len(rows) == len(valid), "duplicates in the raw table"
    assert {r[0]: (r[1], r[2]) for r in rows} == valid
    assert {r[3] for r in rows} == {produced["topic"]}


def test_malformed_events_are_quarantined_with_a_reason(ctx: Context, produced: dict) -> None:
    bad: dict[tuple[int, int], Delivered] = {(d.partition, d.offset): d for d in produced["delivered"]
                                             if d.event.record is None}
    assert bad, "the stream must contain malformed events"
    lo = {p: min(o for (pp, o) in bad if pp == p) for p, _ in bad}
    where = " OR ".join(f"(kafka_partition = {p} AND kafka_offset >= {o})" for p, o in lo.items())
    sql = (f"SELECT kafka_partition, kafka_offset, reason, payload FROM quarantine "
           f"WHERE kafka_topic = 'transactions' AND ({where})")

    def found() -> dict:
        got = {(r[0], r[1]): (r[2], r[3]) for r in trino_rows(ctx.settings, sql)}
        return got if set(bad) <= set(got) else {}

    quarantined = wait_for(found, timeout_s=300, what=f"{len(bad)} quarantined events")
    for key, d in bad.items():
        reason, payload = quarantined[key]
        assert payload.encode() == d.event.value, "the raw payload is kept as sent"
        assert reason == quarantine_reason(d.event.value, contract("transactions"), 65536), d.event.malformed_kind


def test_consumed_equals_landed_plus_quarantined(ctx: Context, produced: dict) -> None:
    ranges: dict[int, list[int]] = {}
    for d in produced["delivered"]:
        ranges.setdefault(d.partition, []).append(d.offset)
    where = " OR ".join(f"(kafka_partition = {p} AND kafka_offset BETWEEN {min(o)} AND {max(o)})"
                        for p, o in ranges.items())
    produced_count = len(produced["delivered"])
    sql = (f"SELECT (SELECT count(*) FROM transactions_raw WHERE {where}) "
           f"+ (SELECT count(*) FROM quarantine WHERE kafka_topic = 'transactions' AND ({where}))")
    total = wait_for(lambda: (n := trino_rows(ctx.settings, sql)[0][0]) >= produced_count and n,
                     timeout_s=300, what=f"{produced_count} events accounted for")
    assert total == produced_count


def test_pyiceberg_reads_what_trino_serves(ctx: Context, produced: dict) -> None:
    sql = f"SELECT count(*), sum(total_amount) FROM transactions_5m WHERE user_id LIKE '{produced['prefix']}%'"
    count, total = trino_rows(ctx.settings, sql)[0]
    table = catalog(ctx).load_table("streaming.transactions_5m")
    arrow = table.scan(row_filter=StartsWith("user_id", produced["prefix"])).to_arrow()
    assert arrow.num_rows == count
    assert sum(arrow["total_amount"].to_pylist(), Decimal(0)) == total
    summary = table.current_snapshot().summary
    assert summary.get("flink.job-id"), "the snapshot was committed by the Flink sink"
