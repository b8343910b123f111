"""How to reach Kafka as a principal, and long-lived clients: one of each per principal and process.

librdkafka clients are expensive to create and, destroyed while their background threads are still
busy (an idempotent producer acquiring its id, say), have crashed this process (a segfault in
`rdk:main`). Reusing one admin client and one producer avoids both.
"""

from __future__ import annotations

import atexit
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from flink_jobs.spec import KAFKA_SASL_MECHANISM, KAFKA_SECURITY_PROTOCOL, kafka_java_security

# librdkafka's own messages (reconnects, retries) go to logging rather than straight to stderr.
LOG = logging.getLogger("kappa.kafka")
_lock = threading.Lock()


@dataclass(frozen=True)
class KafkaAccess:
    """Kafka's address and one principal's SCRAM credentials: what any client needs to connect."""

    bootstrap: str
    username: str
    password: str = field(repr=False)
    mechanism: str = KAFKA_SASL_MECHANISM

    def config(self, **extra: Any) -> dict[str, Any]:
        """librdkafka (confluent-kafka) settings."""
        return {"bootstrap.servers": self.bootstrap, "security.protocol": KAFKA_SECURITY_PROTOCOL,
                "sasl.mechanism": self.mechanism, "sasl.username": self.username,
                "sasl.password": self.password, **extra}

    def java_properties(self) -> dict[str, str]:
        """Kafka's Java clients' settings (the perf tools)."""
        return {"bootstrap.servers": self.bootstrap,
                **kafka_java_security(self.username, self.password, self.mechanism)}


_admins: dict[KafkaAccess, AdminClient] = {}
_producers: dict[KafkaAccess, Producer] = {}


def admin(kafka: KafkaAccess) -> AdminClient:
    with _lock:
        if kafka not in _admins:
            _admins[kafka] = AdminClient(kafka.config(**{"socket.timeout.ms": 5000}), logger=LOG)
        return _admins[kafka]


def producer(kafka: KafkaAccess) -> Producer:
    """An idempotent, acks=all producer with Java-compatible key hashing."""
    with _lock:
        if kafka not in _producers:
            _producers[kafka] = Producer({
                **kafka.config(),
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 20,
                "batch.num.messages": 10000,
                "compression.type": "none",
                "message.max.bytes": 1_000_000,
                # the same key lands on the same partition as with Kafka's own clients
                "partitioner": "murmur2_random",
            }, logger=LOG)
        return _producers[kafka]


def release(bootstrap: str, timeout_s: float = 5.0) -> None:
    """Deliver what this process still holds for `bootstrap` and drop its clients, whatever their
    principal: called before the broker stops, so that no client keeps reconnecting to a broker that is gone."""
    nodes = set(bootstrap.split(","))
    with _lock:  # a node's own clients (its health probe) included
        held = [_producers.pop(k) for k in list(_producers) if nodes & set(k.bootstrap.split(","))]
        for k in [k for k in _admins if nodes & set(k.bootstrap.split(","))]:
            _admins.pop(k)
    for p in held:
        p.flush(timeout_s)


@atexit.register
def _flush_all() -> None:
    for p in list(_producers.values()):
        p.flush(10)
