"""transactions: the source document's ksqlDB example. Tumbling event-time windows per user with
count and sum, and the windows that look suspicious (count or sum above the thresholds).
SQL: flink_jobs/transactions.py."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from lakehouse.pipeline import (
    Between,
    Checks,
    ContractFields,
    Gate,
    NotNull,
    OneOf,
    Pipeline,
    PipelineSettings,
    Scenario,
    Topic,
    Unique,
    WindowLength,
    raw,
    windowed,
)
from lakehouse.scenarios import transactions as generator

TOPIC = Topic("transactions", partitions=6, key="user_id",
              scenario=Scenario("transactions", generator.generate, key_prefix="user-",
                                description="purchases keyed by user, lognormal amounts, eight merchants"))


class Settings(PipelineSettings):
    """transactions -> raw, tumbling windows per user, suspicious activity."""

    window_size_min: int = Field(5, ge=1)
    suspicious_window_min: int = Field(5, ge=1)
    suspicious_count_above: int = Field(10, ge=0)
    suspicious_total_above: int = Field(5000, ge=0)


def suspicious_rules(p: dict[str, Any]) -> list[str]:
    """The `rule` texts a suspicious window can carry (the SQL module writes the same)."""
    n, total = p["suspicious_count_above"], p["suspicious_total_above"]
    return [f"count > {n} and total > {total}", f"count > {n}", f"total > {total}"]


WINDOW_KEYS = ("window_start", "window_end", "user_id")

PIPELINE = Pipeline(
    name="transactions",
    description="transactions -> raw, 5-minute windows, suspicious activity",
    topic=TOPIC,
    module="flink_jobs.transactions",
    settings=Settings,
    tables=(
        raw("transactions_raw", TOPIC,
            gate=Gate("event_time", ("amount",)),
            checks=Checks(("transaction_id",), (
                NotNull(("transaction_id", "event_time")), Unique(("kafka_partition", "kafka_offset")),
                ContractFields()))),
        windowed("windows", "transactions_5m",
                 (("user_id", "STRING"), ("transaction_count", "BIGINT"), ("total_amount", "DECIMAL(18, 2)")),
                 "Tumbling event-time windows of transactions per user",
                 gate=Gate("window_end", ("transaction_count", "total_amount"), ("window_size_min",)),
                 checks=Checks(WINDOW_KEYS, (
                     NotNull(WINDOW_KEYS), Unique(WINDOW_KEYS), Between("transaction_count", 1),
                     Between("total_amount", 0), WindowLength("window_size_min")))),
        windowed("suspicious", "suspicious_activity",
                 (("user_id", "STRING"), ("transaction_count", "BIGINT"), ("total_amount", "DECIMAL(18, 2)"),
                  ("rule", "STRING"), ("alert_id", "STRING")),
                 "Tumbling windows per user with too many transactions or too much spent",
                 gate=Gate("window_end", ("transaction_count", "total_amount"),
                           ("suspicious_window_min", "suspicious_count_above", "suspicious_total_above")),
                 checks=Checks(WINDOW_KEYS, (
                     NotNull((*WINDOW_KEYS, "alert_id")), Unique((*WINDOW_KEYS, "alert_id")),
                     Between("transaction_count", 1), OneOf("rule", suspicious_rules),
                     WindowLength("suspicious_window_min")))),
    ),
)
