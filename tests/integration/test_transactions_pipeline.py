"""transactions -> Flink (event time, tumbling windows) -> Iceberg -> Trino, checked row for row
against a plain-Python computation over exactly the events this test produced."""

from __future__ import annotations

import uuid
from dataclasses import replace
from decimal import Decimal

import pytest
from pyiceberg.expressions import StartsWith

from kappa.catalog import catalog
from kappa.context import Context
from kappa.jobs import start_job
from kappa.producer import produce
from lakehouse.contracts import contract, quarantine_reason
from lakehouse.registry import generate
from lakehouse.scenarios import ScenarioOptions
from lakehouse.scenarios.base import Event, encode
from tests.expected import tumbling_windows
from tests.integration.conftest import trino_rows
from tests.integration.streams import close_windows, fresh_event_time, ms, rows_when, topic_of

MIN = 60_000


@pytest.fixture(scope="module")
def produced(ctx: Context) -> dict:
    """Start the job and produce one known stream: skewed users, out-of-order and malformed events."""
    s = ctx.settings
    job = s.jobs.transactions
    partitions = s.kafka.topics[topic_of(ctx, "transactions")].partitions
    start_job(ctx, "transactions")
    size_ms = job.window_size_min * MIN
    base = fresh_event_time(ctx, "transactions_raw")
    prefix = f"it{uuid.uuid4().hex[:6]}-"
    opts = ScenarioOptions(
        count=3000, seed=20261123, start_ms=base + 17_000, event_interval_ms=400, keys=25, key_prefix=prefix,
        malformed_share=0.03, out_of_order_share=0.1, max_disorder_ms=min(2000, job.out_of_orderness_s * 1000),
    )
    # The hottest user's events are spread over every partition: its windows must still be whole.
    hot = f"{prefix}00001"
    events = [replace(e, partition=i % partitions) if e.key == hot and e.record else e
              for i, e in enumerate(generate("transactions", opts))]
    _, delivered = produce(ctx.kafka(), topic_of(ctx, "transactions"), events, collect=True)
    last_ms = max(d.event.record["timestamp"] for d in delivered if d.event.record)
    close_windows(ctx, topic_of(ctx, "transactions"), last_ms + 2 * size_ms)
    return {"prefix": prefix, "delivered": delivered, "size_ms": size_ms, "hot": hot,
            "topic": topic_of(ctx, "transactions"),
            "last_ms": last_ms}


def _prefix_rows(ctx: Context, table: str, columns: str, prefix: str, expected_count: int) -> list[list]:
    return rows_when(ctx, f"SELECT {columns} FROM {table} WHERE user_id LIKE '{prefix}%'",
                     lambda r: len(r) >= expected_count, f"{expected_count} rows in {table}")


def test_windows_equal_plain_python(ctx: Context, produced: dict) -> None:
    valid = [d.event.record for d in produced["delivered"] if d.event.record]
    expected = tumbling_windows(valid, produced["size_ms"])
    hot_partitions = {d.partition for d in produced["delivered"] if d.event.key == produced["hot"] and d.event.record}
    assert len(hot_partitions) > 1, "the test must cover windows whose events span partitions"
    rows = _prefix_rows(ctx, "transactions_5m", "window_start, window_end, user_id, transaction_count, total_amount",
                        produced["prefix"], len(expected))
    actual = {(ms(r[0]), ms(r[1]), r[2]): (r[3], r[4]) for r in rows}
    assert len(rows) == len(actual), "a (window, user) row appeared twice"
    assert actual == expected
    assert all(isinstance(total, Decimal) for _, total in actual.values())


def test_suspicious_activity_equals_plain_python(ctx: Context, produced: dict) -> None:
    job = ctx.settings.jobs.transactions
    valid = [d.event.record for d in produced["delivered"] if d.event.record]
    windows = tumbling_windows(valid, job.suspicious_window_min * MIN)
    expected = {k for k, (count, total) in windows.items()
                if count > job.suspicious_count_above or total > job.suspicious_total_above}
    assert expected, "the stream should contain suspicious windows"
    rows = _prefix_rows(ctx, "suspicious_activity", "window_start, window_end, user_id, rule, alert_id",
                        produced["prefix"], len(expected))
    assert {(ms(r[0]), ms(r[1]), r[2]) for r in rows} == expected
    assert len({r[4] for r in rows}) == len(rows), "alert ids are unique per window and user"


def test_raw_table_holds_every_valid_event_once_with_its_offset(ctx: Context, produced: dict) -> None:
    valid = {d.event.record["transaction_id"]: (d.partition, d.offset) for d in produced["delivered"] if d.event.record}
    rows = _prefix_rows(ctx, "transactions_raw", "transaction_id, kafka_partition, kafka_offset, kafka_topic",
                        produced["prefix"], len(valid))
    assert len(rows) == len(valid), "duplicates in the raw table"
    assert {r[0]: (r[1], r[2]) for r in rows} == valid
    assert {r[3] for r in rows} == {produced["topic"]}


def test_malformed_events_are_quarantined_with_the_contract_reason(ctx: Context, produced: dict) -> None:
    bad = {(d.partition, d.offset): d for d in produced["delivered"] if d.event.record is None}
    assert bad, "the stream must contain malformed events"
    where = " OR ".join(f"(kafka_partition = {p} AND kafka_offset = {o})" for p, o in bad)
    rows = rows_when(ctx, f"SELECT kafka_partition, kafka_offset, reason, payload FROM quarantine "
                          f"WHERE kafka_topic = 'transactions' AND ({where})",
                     lambda r: len(r) >= len(bad), f"{len(bad)} quarantined events")
    assert len(rows) == len(bad)
    schema = contract("transactions")
    for p, o, reason, payload in rows:
        sent = bad[(p, o)].event.value
        assert payload.encode() == sent, "the raw payload is kept as sent"
        assert reason == quarantine_reason(sent, schema, ctx.settings.jobs.transactions.max_payload_chars)


def test_late_events_are_kept_aside_and_windows_do_not_change(ctx: Context, produced: dict) -> None:
    prefix, topic = produced["prefix"], produced["topic"]
    before = trino_rows(ctx.settings, f"SELECT count(*), sum(total_amount) FROM transactions_5m "
                                      f"WHERE user_id LIKE '{prefix}%'")[0]
    # The watermark is past last_ms + 2 windows: these belong to windows that have already fired.
    late = [Event(f"{prefix}late", encode(r), r) for r in (
        {"transaction_id": f"{prefix}late-{i}", "user_id": f"{prefix}late", "amount": 10.0, "merchant": "m",
         "timestamp": produced["last_ms"] - 5 * MIN + i} for i in range(5))]
    _, delivered = produce(ctx.kafka(), topic, late, collect=True)
    offsets = {(d.partition, d.offset) for d in delivered}
    rows = rows_when(ctx, f"SELECT kafka_partition, kafka_offset, event_time, watermark FROM late_events "
                          f"WHERE job = 'transactions' AND payload LIKE '%{prefix}late-%'",
                     lambda r: len(r) >= 5, "5 late events")
    assert {(r[0], r[1]) for r in rows} == offsets
    assert all(r[3] >= r[2] for r in rows), "each was behind the watermark when it arrived"
    assert trino_rows(ctx.settings, f"SELECT count(*) FROM transactions_raw WHERE user_id = '{prefix}late'") == [[0]]
    after = trino_rows(ctx.settings, f"SELECT count(*), sum(total_amount) FROM transactions_5m "
                                     f"WHERE user_id LIKE '{prefix}%'")[0]
    assert after == before


def test_consumed_equals_landed_plus_quarantined_plus_late(ctx: Context, produced: dict) -> None:
    ranges: dict[int, list[int]] = {}
    for d in produced["delivered"]:
        ranges.setdefault(d.partition, []).append(d.offset)
    where = " OR ".join(f"(kafka_partition = {p} AND kafka_offset BETWEEN {min(o)} AND {max(o)})"
                        for p, o in ranges.items())
    produced_count = sum(max(o) - min(o) + 1 for o in ranges.values())
    sql = (f"SELECT (SELECT count(*) FROM transactions_raw WHERE {where}) "
           f"+ (SELECT count(*) FROM quarantine WHERE kafka_topic = 'transactions' AND ({where})) "
           f"+ (SELECT count(*) FROM late_events WHERE kafka_topic = 'transactions' AND ({where}))")
    total = rows_when(ctx, sql, lambda r: r[0][0] >= produced_count, f"{produced_count} events accounted for")
    assert total[0][0] == produced_count


def test_pyiceberg_reads_what_trino_serves(ctx: Context, produced: dict) -> None:
    sql = f"SELECT count(*), sum(total_amount) FROM transactions_5m WHERE user_id LIKE '{produced['prefix']}%'"
    count, total = trino_rows(ctx.settings, sql)[0]
    table = catalog(ctx).load_table("streaming.transactions_5m")
    arrow = table.scan(row_filter=StartsWith("user_id", produced["prefix"])).to_arrow()
    assert arrow.num_rows == count
    assert sum(arrow["total_amount"].to_pylist(), Decimal(0)) == total
    summary = table.current_snapshot().summary
    assert summary.get("flink.job-id"), "the snapshot was committed by the Flink sink"
