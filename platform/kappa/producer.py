"""Produce scenario events to Kafka: idempotent, acks=all, paced to a rate, every delivery checked."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Producer

from kappa import kafka_clients
from kappa.errors import KappaError
from kappa.kafka_clients import KafkaAccess
from lakehouse.scenarios.base import Event


@dataclass(frozen=True)
class Delivered:
    event: Event
    partition: int
    offset: int


PRIME_MAX_EVENTS = 500  # give up priming if the keys never reach some partition
PRIME_PAUSE_S = 2.0  # several watermark intervals (200 ms) and consumer polls


def produce(
    kafka: KafkaAccess,
    topic: str,
    events: Iterable[Event],
    *,
    rate: float = 0.0,
    collect: bool = False,
    prime: bool = True,
    on_progress: Callable[[int], None] = lambda _n: None,
    flush_timeout_s: float = 60.0,
) -> tuple[int, list[Delivered]]:
    """Send events (rate <= 0 means as fast as possible). Returns (count, deliveries if collect).

    With `prime`, events go out one at a time until every partition has one, then the producer
    pauses briefly before the rest. A Flink source marks a partition idle after a quiet spell and
    ignores it for the watermark; in a burst after a lull the first partition read could otherwise
    push the watermark past the events still waiting in the others, making them late. Priming
    wakes every partition first; the events and their order are unchanged. After the last event
    it waits up to `flush_timeout_s` for the broker's acknowledgements.
    """
    producer = kafka_clients.producer(kafka)
    delivered: list[Delivered] = []
    errors: list[str] = []
    sent = 0
    started = time.monotonic()
    partitions_seen: set[int] = set()
    unprimed = _partition_count(producer, topic) if prime else 0

    def _on_delivery(event: Event):  # type: ignore[no-untyped-def]
        def callback(err, msg):  # type: ignore[no-untyped-def]
            if err is not None:
                errors.append(str(err))
                return
            partitions_seen.add(msg.partition())
            if collect:
                delivered.append(Delivered(event, msg.partition(), msg.offset()))
        return callback

    for event in events:
        if unprimed:
            producer.flush(30)
            if len(partitions_seen) >= unprimed or sent >= PRIME_MAX_EVENTS:
                unprimed = 0
                time.sleep(PRIME_PAUSE_S)
        if rate > 0:
            due = started + sent / rate
            delay = due - time.monotonic()
            if delay > 0:
                producer.poll(0)
                time.sleep(delay)
        while True:
            try:
                options: dict[str, Any] = {}
                if event.partition is not None:
                    options["partition"] = event.partition
                if event.kafka_ts_ms is not None:
                    options["timestamp"] = event.kafka_ts_ms
                producer.produce(topic, key=event.key, value=event.value, on_delivery=_on_delivery(event),
                                 **options)
                break
            except BufferError:
                producer.poll(0.05)
        sent += 1
        if sent % 1000 == 0:
            producer.poll(0)
            on_progress(sent)
        if errors:
            break
    remaining = producer.flush(flush_timeout_s)
    on_progress(sent)
    if errors:
        raise KappaError(f"Kafka rejected events on {topic}: {errors[0]} ({len(errors)} failures)")
    if remaining:
        raise KappaError(f"{remaining} events to {topic} were not acknowledged within {flush_timeout_s:.0f}s; "
                         f"is Kafka up at {kafka.bootstrap}?")
    return sent, delivered


def _partition_count(producer: Producer, topic: str) -> int:
    md = producer.list_topics(topic, timeout=10)
    if topic not in md.topics or md.topics[topic].error is not None:
        raise KappaError(f"topic {topic} does not exist; is it in kappa.toml's [kafka.topics]?")
    return len(md.topics[topic].partitions)


__all__ = ["Delivered", "produce"]
