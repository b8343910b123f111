"""The consumer lag of a group (kappa.topics.group_lag) with a stand-in consumer: against a real
broker killed and restarted, test_faults.py's Kafka case measures the job's lag back through it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from kappa import topics
from kappa.kafka_clients import KafkaAccess


class Consumer:
    made: list[Consumer] = []

    def __init__(self, config: dict[str, Any], logger: Any = None) -> None:
        self.config, self.closed = config, False
        Consumer.made.append(self)

    def committed(self, partitions: list[Any], timeout: float) -> list[Any]:
        if self.config["group.id"] == "down":
            raise RuntimeError("KafkaError{code=_TRANSPORT}")
        offsets = {0: 40, 1: -1001}  # partition 1: nothing committed yet
        return [SimpleNamespace(partition=p.partition, offset=offsets[p.partition], error=None) for p in partitions]

    def close(self) -> None:
        self.closed = True


@pytest.fixture(autouse=True)
def fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    Consumer.made.clear()
    monkeypatch.setattr(topics, "Consumer", Consumer)
    monkeypatch.setattr(topics, "end_offsets", lambda *_a, **_k: {0: (0, 100), 1: (0, 50)})


def test_lag_is_what_the_group_has_not_committed_read_by_a_consumer_of_the_group() -> None:
    lags = topics.group_lag(KafkaAccess("127.0.0.1:1", "admin", "pw"), "kappa.transactions.v1", "t", timeout_s=1)
    assert [(p.partition, p.lag) for p in lags] == [(0, 60), (1, 50)]
    [consumer] = Consumer.made
    assert consumer.config["group.id"] == "kappa.transactions.v1" and consumer.config["enable.auto.commit"] is False
    assert consumer.closed


def test_an_unreachable_coordinator_counts_everything_as_lag_and_closes_the_consumer() -> None:
    lags = topics.group_lag(KafkaAccess("127.0.0.1:1", "admin", "pw"), "down", "t", timeout_s=1)
    assert [p.lag for p in lags] == [100, 50] and Consumer.made[0].closed
