"""Long-lived Kafka clients, one of each per bootstrap address and process.

librdkafka clients are expensive to create and, destroyed while their background threads are still
busy (an idempotent producer acquiring its id, say), have crashed this process (a segfault in
`rdk:main`). Reusing one admin client and one producer avoids both.
"""

from __future__ import annotations

import atexit
import logging
import threading

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

# librdkafka's own messages (reconnects, retries) go to logging rather than straight to stderr.
LOG = logging.getLogger("kappa.kafka")
_lock = threading.Lock()
_admins: dict[str, AdminClient] = {}
_producers: dict[str, Producer] = {}


def admin(bootstrap: str) -> AdminClient:
    with _lock:
        if bootstrap not in _admins:
            _admins[bootstrap] = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 5000},
                                             logger=LOG)
        return _admins[bootstrap]


def producer(bootstrap: str) -> Producer:
    """An idempotent, acks=all producer with Java-compatible key hashing."""
    with _lock:
        if bootstrap not in _producers:
            _producers[bootstrap] = Producer({
                "bootstrap.servers": bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 20,
                "batch.num.messages": 10000,
                "compression.type": "none",
                "message.max.bytes": 1_000_000,
                # the same key lands on the same partition as with Kafka's own clients
                "partitioner": "murmur2_random",
            }, logger=LOG)
        return _producers[bootstrap]


def release(bootstrap: str, timeout_s: float = 5.0) -> None:
    """Deliver what this process still holds for `bootstrap` and drop its clients: called before the
    broker stops, so that no client keeps reconnecting to a broker that is gone."""
    with _lock:
        held = _producers.pop(bootstrap, None)
        _admins.pop(bootstrap, None)
    if held is not None:
        held.flush(timeout_s)


@atexit.register
def _flush_all() -> None:
    for p in list(_producers.values()):
        p.flush(10)
