"""Alerts reach the `alerts` Kafka topic with ids a consumer can deduplicate on."""

from __future__ import annotations

import json
import time
import uuid

from confluent_kafka import Consumer

from kappa.context import Context
from kappa.jobs import start_job
from kappa.kafka_acl import CONSUMER
from kappa.producer import produce
from lakehouse.scenarios.base import Event, encode
from tests.integration.streams import close_windows, fresh_event_time, rows_when, topic_of

MIN = 60_000


def test_suspicious_windows_are_published_once_per_window(ctx: Context) -> None:
    job = ctx.settings.jobs.transactions
    start_job(ctx, "transactions")
    base = fresh_event_time(ctx, "transactions_raw")
    user = f"al{uuid.uuid4().hex[:6]}"
    n = job.suspicious_count_above + 3  # too many transactions in one window
    records = [{"transaction_id": f"{user}-{i}", "user_id": user, "amount": 5.0, "merchant": "m",
                "timestamp": base + i * 1000} for i in range(n)]
    produce(ctx.kafka(), topic_of(ctx, "transactions"), [Event(user, encode(r), r) for r in records])
    close_windows(ctx, topic_of(ctx, "transactions"), base + 3 * job.window_size_min * MIN)
    rows = rows_when(ctx, f"SELECT alert_id, rule, transaction_count FROM suspicious_activity WHERE user_id = '{user}'",
                     lambda r: len(r) >= 1, "the suspicious window")
    assert rows == [[rows[0][0], f"count > {job.suspicious_count_above}", n]]
    alert_id = rows[0][0]

    # as an application reading alerts would: the consumer principal
    consumer = Consumer(ctx.kafka(CONSUMER).config(**{"group.id": f"test-{user}", "auto.offset.reset": "earliest",
                                                      "isolation.level": "read_committed"}))
    consumer.subscribe([ctx.settings.jobs.alerts_topic])
    mine = []
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and not mine:
            for msg in consumer.consume(500, timeout=1):
                if msg.error() is None and msg.key() == user.encode():
                    mine.append(json.loads(msg.value()))
    finally:
        consumer.close()
    assert mine, "the alert was not published"
    assert {m["alert_id"] for m in mine} == {alert_id}, "duplicates (at-least-once) share one id"
    alert = mine[0]
    assert alert["alert_type"] == "suspicious_activity" and alert["entity_id"] == user
    assert json.loads(alert["detail"])["transaction_count"] == n
