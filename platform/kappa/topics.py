"""Kafka topics as the settings declare them, and consumer lag."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic, OffsetSpec

from kappa import kafka_clients
from kappa.errors import KappaError
from kappa.kafka_clients import KafkaAccess
from kappa.settings import TopicSettings


def topic_configs(spec: TopicSettings) -> dict[str, str]:
    return {"retention.ms": str(spec.retention_ms), "cleanup.policy": spec.cleanup_policy}


def ensure_topics(admin: AdminClient, topics: Mapping[str, TopicSettings], timeout_s: float = 30) -> list[str]:
    """Create missing topics, grow partitions, apply configs. Returns what changed."""
    changes: list[str] = []
    existing = admin.list_topics(timeout=timeout_s).topics
    new = [
        NewTopic(name, spec.partitions, spec.replication_factor, config=topic_configs(spec))
        for name, spec in topics.items() if name not in existing
    ]
    if new:
        for name, fut in admin.create_topics(new, request_timeout=timeout_s).items():
            try:
                fut.result(timeout_s)
                changes.append(f"created topic {name}")
            except Exception as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise KappaError(f"could not create topic {name}: {exc}") from exc
    for name, spec in topics.items():
        if name not in existing:
            continue
        have = len(existing[name].partitions)
        if have < spec.partitions:
            admin.create_partitions([NewPartitions(name, spec.partitions)])[name].result(timeout_s)
            changes.append(f"grew {name} from {have} to {spec.partitions} partitions")
        elif have > spec.partitions:
            raise KappaError(
                f"topic {name} has {have} partitions but the settings ask for {spec.partitions}; "
                "Kafka cannot shrink a topic"
            )
        resource = ConfigResource(ConfigResource.Type.TOPIC, name)
        current = admin.describe_configs([resource])[resource].result(timeout_s)
        wanted = topic_configs(spec)
        if any(current[k].value != v for k, v in wanted.items()):
            for k, v in wanted.items():
                resource.set_config(k, v)
            admin.alter_configs([resource])[resource].result(timeout_s)
            changes.append(f"updated {name} configs")
    return changes


@dataclass(frozen=True)
class PartitionLag:
    partition: int
    committed: int | None
    end: int

    @property
    def lag(self) -> int:
        return self.end - (self.committed if self.committed is not None and self.committed >= 0 else 0)


def end_offsets(kafka: KafkaAccess, topic: str, timeout_s: float = 10) -> dict[int, tuple[int, int]]:
    """(log-start, end) offsets per partition."""
    client = kafka_clients.admin(kafka)
    md = client.list_topics(topic, timeout=timeout_s)
    if topic not in md.topics or md.topics[topic].error is not None:
        raise KappaError(f"topic {topic} does not exist")
    partitions = sorted(md.topics[topic].partitions)
    result: dict[int, list[int]] = {p: [0, 0] for p in partitions}
    for index, spec in ((0, OffsetSpec.earliest()), (1, OffsetSpec.latest())):
        futures = client.list_offsets({TopicPartition(topic, p): spec for p in partitions},
                                      request_timeout=timeout_s)
        for tp, future in futures.items():
            result[tp.partition][index] = future.result(timeout_s).offset
    return {p: (lo, hi) for p, (lo, hi) in result.items()}


def group_lag(kafka: KafkaAccess, group: str, topic: str, timeout_s: float = 10) -> list[PartitionLag]:
    ends = end_offsets(kafka, topic, timeout_s)
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in ends])
    committed: dict[int, int] = {}
    try:
        result = kafka_clients.admin(kafka).list_consumer_group_offsets([request])[group].result(timeout_s)
        committed = {tp.partition: tp.offset for tp in result.topic_partitions}
    except Exception:  # a group that never committed: everything is lag
        committed = {}
    return [PartitionLag(p, committed.get(p), high) for p, (_low, high) in sorted(ends.items())]
