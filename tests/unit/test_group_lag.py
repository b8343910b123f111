"""The consumer lag of a group (kappa.topics.group_lag) with a stand-in admin client: the real broker
crash that left librdkafka's cached client timing out is in test_faults.py (the Kafka case measures the
job's lag back through it)."""

from __future__ import annotations

from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any

import pytest

from kappa import kafka_clients, topics
from kappa.kafka_clients import KafkaAccess


class Admin:
    def __init__(self, stuck: bool) -> None:
        self.stuck = stuck

    def list_consumer_group_offsets(self, requests: list[Any]) -> dict[str, Future[Any]]:
        future: Future[Any] = Future()
        if self.stuck:
            future.set_exception(TimeoutError())
        else:
            future.set_result(SimpleNamespace(topic_partitions=[SimpleNamespace(partition=p.partition, offset=40)
                                                                for p in requests[0].topic_partitions]))
        return {requests[0].group_id: future}


def test_a_client_stuck_since_a_broker_crash_is_renewed(monkeypatch: pytest.MonkeyPatch) -> None:
    kafka = KafkaAccess("127.0.0.1:1", "admin", "pw")
    stuck, fresh = Admin(stuck=True), Admin(stuck=False)
    cached = {kafka: stuck}
    monkeypatch.setattr(topics, "end_offsets", lambda *_a, **_k: {0: (0, 100), 1: (0, 50)})
    monkeypatch.setattr(kafka_clients, "admin", lambda k: cached[k])

    def renew(k: KafkaAccess) -> Admin:
        cached[k] = fresh
        return fresh

    monkeypatch.setattr(kafka_clients, "renew_admin", renew)
    assert [p.lag for p in topics.group_lag(kafka, "g", "t", timeout_s=1)] == [60, 10]
    assert cached[kafka] is fresh  # the next call uses the new client at once
