"""Kafka positions from the command line, resolved to exact offsets per partition.

Accepted: `earliest`, `latest`, an ISO time or epoch milliseconds (Kafka record time, i.e. when the
event was produced), or `offsets:P=O,P=O`. Resolution is explicit and checked: an offset below the
log-start offset (deleted by retention) or a time older than the oldest record still held is an
error naming what is available, never a silent fallback to the latest offset (FLINK-32021).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from confluent_kafka import Consumer, TopicPartition

from kappa.errors import KappaError
from kappa.kafka_clients import KafkaAccess
from kappa.timeparse import parse_time_ms
from kappa.topics import end_offsets


@dataclass(frozen=True)
class PartitionRange:
    partition: int
    start: int
    end: int | None  # exclusive; None = unbounded (keep following the topic)
    log_start: int
    log_end: int

    @property
    def events(self) -> int:
        """Events from start to the end (or to the current log end when unbounded)."""
        return max(0, (self.end if self.end is not None else self.log_end) - self.start)


_OFFSETS = re.compile(r"^offsets:((?:\d+=\d+)(?:,\d+=\d+)*)$")


def _explicit(text: str) -> dict[int, int] | None:
    m = _OFFSETS.match(text.strip())
    if not m:
        return None
    return {int(p): int(o) for p, o in (pair.split("=") for pair in m.group(1).split(","))}


def _record_time(kafka: KafkaAccess, topic: str, partition: int, offset: int) -> int | None:
    consumer = Consumer(kafka.config(**{"group.id": "kappa-offsets", "enable.auto.commit": False}))
    try:
        consumer.assign([TopicPartition(topic, partition, offset)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            msg = consumer.poll(1)
            if msg is not None and msg.error() is None:
                return int(msg.timestamp()[1])
        return None
    finally:
        consumer.close()


def _times_to_offsets(kafka: KafkaAccess, topic: str, ts_ms: int, partitions: list[int],
                      ends: dict[int, tuple[int, int]]) -> dict[int, int]:
    consumer = Consumer(kafka.config(**{"group.id": "kappa-offsets", "enable.auto.commit": False}))
    try:
        found = consumer.offsets_for_times([TopicPartition(topic, p, ts_ms) for p in partitions], timeout=10)
    finally:
        consumer.close()
    # -1: no record that new in this partition: start at its end (it has nothing to replay).
    return {tp.partition: (tp.offset if tp.offset >= 0 else ends[tp.partition][1]) for tp in found}


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def _refuse_future_start(start: str) -> None:
    """A start in the future has nothing to replay: say so rather than plan an empty replay."""
    text = start.strip()
    if text in ("earliest", "latest") or text.startswith("offsets:"):
        return
    ts, now = parse_time_ms(text), int(time.time() * 1000)
    if ts > now:
        raise KappaError(f"--from {text} is {_iso(ts)}, in the future: no record is that new yet (now is {_iso(now)})")


def check_start(text: str) -> None:
    """Refuse a start position that cannot be read, or a time in the future, before any service is asked."""
    text = text.strip()
    if text.startswith("offsets:") and _explicit(text) is None:
        raise KappaError(f"cannot read {text!r}: use offsets:PARTITION=OFFSET,... e.g. offsets:0=120,1=98")
    _refuse_future_start(text)


def resolve(kafka: KafkaAccess, topic: str, start: str, stop: str | None = None) -> list[PartitionRange]:
    _refuse_future_start(start)
    ends = end_offsets(kafka, topic)
    partitions = sorted(ends)
    starts = _position(kafka, topic, start, ends, partitions, is_start=True)
    stops: dict[int, int | None] = {p: None for p in partitions}
    if stop is not None:
        stops = dict(_position(kafka, topic, stop, ends, partitions, is_start=False))
    ranges = []
    for p in partitions:
        end = stops[p]
        if end is not None and end < starts[p]:
            raise KappaError(f"partition {p}: the end offset {end} is before the start offset {starts[p]}")
        ranges.append(PartitionRange(p, starts[p], end, ends[p][0], ends[p][1]))
    return ranges


def _position(kafka: KafkaAccess, topic: str, text: str, ends: dict[int, tuple[int, int]], partitions: list[int],
              *, is_start: bool) -> dict[int, int]:
    text = text.strip()
    if text == "earliest":
        return {p: ends[p][0] for p in partitions}
    if text == "latest":
        return {p: ends[p][1] for p in partitions}
    explicit = _explicit(text)
    if explicit is not None:
        unknown = sorted(set(explicit) - set(partitions))
        if unknown:
            raise KappaError(f"topic {topic} has partitions {partitions}; there is no partition {unknown[0]}")
        missing = [p for p in partitions if p not in explicit]
        if missing:
            listed = ",".join(f"{p}={ends[p][0] if is_start else ends[p][1]}" for p in partitions)
            raise KappaError(f"{text!r} does not name partition(s) {missing} of {topic}; name every partition, "
                             f"e.g. offsets:{listed}")
        result = {}
        for p in partitions:
            offset = explicit[p]
            low, high = ends[p]
            if offset < low:
                raise KappaError(f"partition {p}: offset {offset} is below the log-start offset {low}; Kafka's "
                                 f"retention deleted older records, the earliest available offset is {low}")
            if offset > high:
                raise KappaError(f"partition {p}: offset {offset} is beyond the end of the log ({high})")
            result[p] = offset
        return result
    if text.startswith("offsets:"):
        raise KappaError(f"cannot read {text!r}: use offsets:PARTITION=OFFSET,... e.g. offsets:0=120,1=98")
    ts = parse_time_ms(text)
    if is_start:
        for p in partitions:
            low, high = ends[p]
            if low > 0 and low < high:
                oldest = _record_time(kafka, topic, p, low)
                if oldest is not None and ts < oldest:
                    raise KappaError(
                        f"partition {p} no longer holds records from {_iso(ts)}: retention deleted them; the "
                        f"earliest available is offset {low}, produced at {_iso(oldest)}")
    return _times_to_offsets(kafka, topic, ts, partitions, ends)


def to_flink_offsets(ranges: list[PartitionRange], which: str = "start") -> str:
    """Flink's `scan.startup.specific-offsets` / `scan.bounded.specific-offsets` syntax."""
    return ";".join(f"partition:{r.partition},offset:{getattr(r, which)}" for r in ranges)
