"""Kafka topics as the settings declare them, and consumer lag."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic, OffsetSpec

from kappa import kafka_clients
from kappa.errors import KappaError
from kappa.kafka_clients import KafkaAccess
from kappa.settings import TopicSettings


def topic_configs(spec: TopicSettings) -> dict[str, str]:
    return {"retention.ms": str(spec.retention_ms), "cleanup.policy": spec.cleanup_policy,
            "min.insync.replicas": str(spec.min_insync_replicas)}


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
    committed = committed_offsets(kafka, group, topic, list(ends), timeout_s)
    return [PartitionLag(p, committed.get(p), high) for p, (_low, high) in sorted(ends.items())]


def committed_offsets(kafka: KafkaAccess, group: str, topic: str, partitions: list[int],
                      timeout_s: float = 10) -> dict[int, int]:
    """The offsets `group` committed (none for a group that never committed), asked by a consumer of the
    group that joins nothing. Not the admin client's `list_consumer_group_offsets`: on a group
    coordinator's NOT_COORDINATOR answer (a group not yet loaded, a broker just restarted) librdkafka
    follows a null consumer-group pointer there and crashes the process (confluent-kafka-python#1982),
    or leaves the client timing out on every later call."""
    consumer = Consumer(kafka.config(**{"group.id": group, "enable.auto.commit": False}), logger=kafka_clients.LOG)
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=timeout_s)
    except Exception:  # Kafka unreachable or the group's coordinator not ready: nothing known committed
        return {}
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in found if tp.error is None}


def committed_records(kafka: KafkaAccess, topic: str, ranges: Mapping[int, tuple[int, int]],
                      timeout_s: float = 120) -> dict[int, int]:
    """How many records each partition holds in its range [lo, hi) for a read_committed reader. A
    topic written in transactions (Kafka Connect's exactly-once source tasks) has offsets that are
    no record: each transaction's commit marker, and aborted records."""
    wanted = {p: (lo, hi) for p, (lo, hi) in ranges.items() if hi > lo}
    counts = {p: 0 for p in ranges}
    if not wanted:
        return counts
    consumer = Consumer(kafka.config(**{
        "group.id": f"kappa-count-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
        "isolation.level": "read_committed", "enable.partition.eof": True}), logger=kafka_clients.LOG)
    try:
        consumer.assign([TopicPartition(topic, p, lo) for p, (lo, _hi) in wanted.items()])
        open_partitions = set(wanted)
        deadline = time.monotonic() + timeout_s
        while open_partitions:
            if time.monotonic() > deadline:
                raise KappaError(f"counting the records of {topic} timed out after {timeout_s:.0f}s "
                                 f"(partitions {sorted(open_partitions)} unfinished)")
            for msg in consumer.consume(num_messages=10_000, timeout=1.0):
                p = msg.partition()
                if p not in open_partitions:
                    continue
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        open_partitions.discard(p)
                        continue
                    raise KappaError(f"reading {topic} partition {p}: {error}")
                offset = msg.offset() or 0  # a record (not an error) always has its offset
                if offset >= wanted[p][1]:
                    open_partitions.discard(p)
                    continue
                counts[p] += 1
                if offset == wanted[p][1] - 1:
                    open_partitions.discard(p)
    finally:
        consumer.close()
    return counts
