"""Produce scenario events to Kafka: idempotent, acks=all, paced to a rate, every delivery checked."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from confluent_kafka import Producer

from kappa.errors import KappaError
from kappa.scenarios.base import Event


@dataclass(frozen=True)
class Delivered:
    event: Event
    partition: int
    offset: int


def make_producer(bootstrap: str) -> Producer:
    return Producer({
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 20,
        "batch.num.messages": 10000,
        "compression.type": "none",
        "message.max.bytes": 1_000_000,
        # Java-compatible key hashing: the same key lands on the same partition as with Kafka's own clients.
        "partitioner": "murmur2_random",
    })


def produce(
    bootstrap: str,
    topic: str,
    events: Iterable[Event],
    *,
    rate: float = 0.0,
    collect: bool = False,
    on_progress: Callable[[int], None] = lambda _n: None,
) -> tuple[int, list[Delivered]]:
    """Send events (rate <= 0 means as fast as possible). Returns (count, deliveries if collect)."""
    producer = make_producer(bootstrap)
    delivered: list[Delivered] = []
    errors: list[str] = []
    sent = 0
    started = time.monotonic()

    def _on_delivery(event: Event):  # type: ignore[no-untyped-def]
        def callback(err, msg):  # type: ignore[no-untyped-def]
            if err is not None:
                errors.append(str(err))
            elif collect:
                delivered.append(Delivered(event, msg.partition(), msg.offset()))
        return callback

    for event in events:
        if rate > 0:
            due = started + sent / rate
            delay = due - time.monotonic()
            if delay > 0:
                producer.poll(0)
                time.sleep(delay)
        while True:
            try:
                if event.partition is None:
                    producer.produce(topic, key=event.key, value=event.value, on_delivery=_on_delivery(event))
                else:
                    producer.produce(topic, key=event.key, value=event.value, partition=event.partition,
                                     on_delivery=_on_delivery(event))
                break
            except BufferError:
                producer.poll(0.05)
        sent += 1
        if sent % 1000 == 0:
            producer.poll(0)
            on_progress(sent)
        if errors:
            break
    remaining = producer.flush(60)
    on_progress(sent)
    if errors:
        raise KappaError(f"Kafka rejected events on {topic}: {errors[0]} ({len(errors)} failures)")
    if remaining:
        raise KappaError(f"{remaining} events to {topic} were not acknowledged within 60s; is Kafka up at {bootstrap}?")
    return sent, delivered


__all__ = ["Delivered", "make_producer", "produce"]
