"""Kafka lets no one in without credentials, and each principal only as far as its ACLs say
(kafka_acl.py): probed with real clients against the running broker."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from kappa.context import Context
from kappa.kafka_acl import CONSUMER, DAGSTER, PRODUCER, TERRAFORM, job_principal
from tests.integration.streams import topic_of

pytestmark = pytest.mark.security


def produce_error(config: dict[str, Any], topic: str) -> str | None:
    """The delivery's error (None when the broker took the record)."""
    errors: list[Any] = []
    producer = Producer({**config, "message.timeout.ms": 5000, "retries": 0})
    producer.produce(topic, b'{"probe": true}', on_delivery=lambda err, _msg: errors.append(err))
    producer.flush(15)
    if not errors:
        return "no delivery report"
    return None if errors[0] is None else str(errors[0])


def consume_error(config: dict[str, Any], topic: str, group: str) -> str | None:
    """The error of joining `group` and fetching from `topic` (None when records or the end came back)."""
    consumer = Consumer({**config, "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            msg = consumer.poll(1)
            if msg is None:
                continue
            if msg.error() is None or msg.error().code() == KafkaError._PARTITION_EOF:
                return None
            return str(msg.error())
        return "nothing came back"
    finally:
        consumer.close()


@pytest.mark.parametrize(("what", "config"), [
    ("no credentials", lambda ctx: {"bootstrap.servers": ctx.settings.kafka_bootstrap}),
    ("a wrong password", lambda ctx: ctx.kafka(PRODUCER).config(**{"sasl.password": "guess"})),
    ("an unknown user", lambda ctx: ctx.kafka(PRODUCER).config(**{"sasl.username": "mallory"})),
    ("the broker's name over SCRAM", lambda ctx: ctx.kafka("broker").config()),
])
def test_kafka_refuses_a_client_without_valid_credentials(
        ctx: Context, what: str, config: Callable[[Context], dict[str, Any]]) -> None:
    topic = topic_of(ctx, "transactions")
    admin = AdminClient({**config(ctx), "socket.timeout.ms": 3000})
    with pytest.raises(KafkaException):
        admin.list_topics(topic, timeout=5)
    assert produce_error(config(ctx), topic) is not None, f"a record was taken from a client with {what}"


def test_each_principal_does_only_its_own_work(ctx: Context) -> None:
    transactions, iot = topic_of(ctx, "transactions"), topic_of(ctx, "iot_sensors")
    alerts = ctx.settings.jobs.alerts_topic
    group = f"security-{uuid.uuid4().hex[:8]}"
    # what each may do
    assert consume_error(ctx.kafka(CONSUMER).config(), transactions, group) is None
    assert consume_error(ctx.kafka(job_principal("transactions")).config(), transactions, "kappa.transactions.v99") \
        is None
    # what each may not
    denied = {
        "producer reads": consume_error(ctx.kafka(PRODUCER).config(), transactions, group),
        "consumer writes": produce_error(ctx.kafka(CONSUMER).config(), transactions),
        "consumer joins a pipeline's group": consume_error(ctx.kafka(CONSUMER).config(), transactions,
                                                           "kappa.transactions.v1"),
        "a job reads another pipeline's topic": consume_error(ctx.kafka(job_principal("transactions")).config(),
                                                              iot, "kappa.transactions.v99"),
        "a job joins another pipeline's group": consume_error(ctx.kafka(job_principal("iot_sensors")).config(),
                                                              iot, "kappa.transactions.v99"),
        "a job writes its own source": produce_error(ctx.kafka(job_principal("transactions")).config(), transactions),
        "dagster writes": produce_error(ctx.kafka(DAGSTER).config(), alerts),
        "terraform writes": produce_error(ctx.kafka(TERRAFORM).config(), transactions),
    }
    allowed = [what for what, error in denied.items() if error is None]
    assert not allowed, allowed
    assert all("AUTHORIZATION" in str(e).upper() for e in denied.values()), denied


def test_only_terraform_and_the_admin_may_delete_a_topic_or_its_records(ctx: Context) -> None:
    topic = topic_of(ctx, "transactions")
    for who in (PRODUCER, CONSUMER, DAGSTER, job_principal("transactions")):
        client = AdminClient(ctx.kafka(who).config(**{"socket.timeout.ms": 5000}))
        with pytest.raises(KafkaException, match="AUTHORIZATION"):
            client.delete_topics([topic], operation_timeout=10)[topic].result(15)
        with pytest.raises(KafkaException, match="AUTHORIZATION"):
            client.delete_records([TopicPartition(topic, 0, 1)], request_timeout=10)[TopicPartition(topic, 0, 1)] \
                .result(15)
    assert topic in AdminClient(ctx.kafka().config()).list_topics(timeout=10).topics
