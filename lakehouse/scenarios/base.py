"""What every scenario shares: options, the event envelope, key skew and malformed payloads."""

from __future__ import annotations

import bisect
import json
import random
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ScenarioOptions:
    count: int
    seed: int = 42
    start_ms: int = 0
    event_interval_ms: float = 100.0
    keys: int = 1000
    key_prefix: str = "user-"
    skew: float = 1.1  # Zipf exponent: a few hot keys, a long tail
    malformed_share: float = 0.0
    out_of_order_share: float = 0.0
    max_disorder_ms: int = 2000
    late_share: float = 0.0  # events stamped `late_by_ms` in the past: behind any watermark
    late_by_ms: int = 600_000
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    """One Kafka record: the key, the bytes sent, and the parsed record when it is well formed."""

    key: str | None
    value: bytes
    record: dict[str, Any] | None
    malformed_kind: str | None = None
    partition: int | None = None  # None: Kafka's key hashing decides
    kafka_ts_ms: int | None = None  # None: the time it is produced


class ZipfKeys:
    """Keys 1..n drawn with probability proportional to 1 / rank**skew."""

    def __init__(self, n: int, skew: float, prefix: str) -> None:
        weights = [1.0 / (rank**skew) for rank in range(1, n + 1)]
        total = 0.0
        self.cumulative = []
        for w in weights:
            total += w
            self.cumulative.append(total)
        self.prefix = prefix

    def draw(self, rng: random.Random) -> str:
        i = bisect.bisect_left(self.cumulative, rng.random() * self.cumulative[-1])
        return f"{self.prefix}{i + 1:05d}"


MALFORMED_KINDS = ("invalid_json", "missing_field", "wrong_type", "oversized", "empty")


def event_time(rng: random.Random, opts: ScenarioOptions, i: int) -> int:
    """The i-th event's time: on schedule, a little out of order, or (rarely) late."""
    ts = opts.start_ms + int(i * opts.event_interval_ms)
    if opts.out_of_order_share and rng.random() < opts.out_of_order_share:
        ts -= rng.randint(1, opts.max_disorder_ms)
    if opts.late_share and rng.random() < opts.late_share:
        ts -= opts.late_by_ms
    return ts


def encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode()


def malformed(rng: random.Random, good: dict[str, Any], required: tuple[str, ...], numeric: str) -> tuple[bytes, str]:
    """A payload the jobs must quarantine, derived from a good record so its key stays realistic."""
    kind = rng.choice(MALFORMED_KINDS)
    if kind == "invalid_json":
        text = encode(good).decode()
        return text[: max(1, len(text) // 2)].encode(), kind
    if kind == "missing_field":
        bad = dict(good)
        bad.pop(rng.choice(required))
        return encode(bad), kind
    if kind == "wrong_type":
        bad = dict(good)
        bad[numeric] = "not-a-number"
        return encode(bad), kind
    if kind == "oversized":
        bad = dict(good)
        bad["padding"] = "x" * 70_000
        return encode(bad), kind
    return b"", kind
