"""user_activity: what users do on the site. Purchases per user in sliding windows and the fraud
alerts among them, the login pattern (failed, then successful, then a big purchase) and sessions.
SQL: flink_jobs/user_activity.py."""

from __future__ import annotations

from pydantic import Field

from lakehouse.pipeline import (
    Between,
    Checks,
    ContractFields,
    Daily,
    Gate,
    NotNull,
    Param,
    Pipeline,
    PipelineSettings,
    Scenario,
    Table,
    Topic,
    Unique,
    WindowLength,
    raw,
    windowed,
)
from lakehouse.scenarios import user_events as generator

TOPIC = Topic("user-events", partitions=6, key="user_id",
              scenario=Scenario("user-events", generator.generate, key_prefix="user-",
                                description="logins, browsing and purchases, with the fraud pattern sprinkled in"))


class Settings(PipelineSettings):
    """user-events -> raw, sliding spend windows, fraud alerts, login patterns, sessions."""

    spend_window_min: int = Field(5, ge=1)
    spend_slide_min: int = Field(1, ge=1)
    fraud_total_above: int = Field(1000, ge=0)
    pattern_within_min: int = Field(10, ge=1)
    pattern_purchase_above: int = Field(500, ge=0)
    session_gap_min: int = Field(30, ge=1)


WINDOW_KEYS = ("window_start", "window_end", "user_id")
SPEND = (("user_id", "STRING"), ("total_spent", "DECIMAL(18, 2)"), ("transaction_count", "BIGINT"))
PATTERN_KEYS = ("user_id", "failed_event_id", "success_event_id", "purchase_event_id")
SESSION_KEYS = ("user_id", "session_start", "session_end")

DAILY_USER_SPEND = Daily(
    "daily_user_spend",
    (("user_id", "VARCHAR"), ("purchases", "BIGINT"), ("total_spent", "DECIMAL(18, 2)"), ("fraud_windows", "BIGINT"),
     ("day", "DATE")),
    """SELECT p.user_id, p.purchases, p.total_spent, COALESCE(f.fraud_windows, 0), b.day
       FROM (SELECT r.user_id, count(*) AS purchases, CAST(sum(r.amount) AS DECIMAL(18, 2)) AS total_spent
             FROM {views}.user_events_raw r CROSS JOIN bounds b
             WHERE r.action = 'purchase' AND r.event_time >= b.lo AND r.event_time < b.hi
             GROUP BY r.user_id) p
       LEFT JOIN (SELECT a.user_id, count(*) AS fraud_windows
                  FROM {views}.fraud_alerts a CROSS JOIN bounds b
                  WHERE a.window_start >= b.lo AND a.window_start < b.hi
                  GROUP BY a.user_id) f ON f.user_id = p.user_id
       CROSS JOIN bounds b""",
    sources=("raw", "fraud"),
    description="purchases, spend and fraud windows per user and day",
)

PIPELINE = Pipeline(
    name="user_activity",
    description="user-events -> raw, spend windows, fraud, patterns, sessions",
    topic=TOPIC,
    module="flink_jobs.user_activity",
    settings=Settings,
    tables=(
        raw("user_events_raw", TOPIC,
            gate=Gate("event_time", ("amount",)),
            checks=Checks(("event_id",), (
                NotNull(("event_id", "event_time")), Unique(("kafka_partition", "kafka_offset")), ContractFields()))),
        windowed("spend", "user_spend_5m", SPEND, "Purchases per user in sliding windows",
                 gate=Gate("window_end", ("total_spent", "transaction_count"), ("spend_window_min", "spend_slide_min")),
                 checks=Checks(WINDOW_KEYS, (
                     NotNull(WINDOW_KEYS), Unique(WINDOW_KEYS), Between("transaction_count", 1),
                     Between("total_spent", 0), WindowLength("spend_window_min")))),
        windowed("fraud", "fraud_alerts", SPEND + (("alert_id", "STRING"),),
                 "Sliding windows whose spend is above the threshold",
                 gate=Gate("window_end", ("total_spent",),
                           ("spend_window_min", "spend_slide_min", "fraud_total_above")),
                 checks=Checks(WINDOW_KEYS, (
                     NotNull((*WINDOW_KEYS, "alert_id")), Unique((*WINDOW_KEYS, "alert_id")),
                     Between("total_spent", 0), Between("total_spent", Param("fraud_total_above"), strict_low=True)))),
        Table("patterns", "suspicious_patterns",
              (("user_id", "STRING"), ("failed_event_id", "STRING"), ("failed_time", "TIMESTAMP"),
               ("success_event_id", "STRING"), ("success_time", "TIMESTAMP"), ("purchase_event_id", "STRING"),
               ("purchase_time", "TIMESTAMP"), ("purchase_amount", "DECIMAL(18, 2)"), ("alert_id", "STRING")),
              "login_failed, then login_success, then a large purchase, within minutes",
              day_partition="failed_time",
              gate=Gate("purchase_time", ("purchase_amount",), ("pattern_within_min", "pattern_purchase_above")),
              checks=Checks(("user_id", "failed_event_id"), (
                  NotNull(PATTERN_KEYS), Unique(PATTERN_KEYS), Between("purchase_amount", 0)))),
        Table("sessions", "user_sessions",
              (("user_id", "STRING"), ("session_start", "TIMESTAMP"), ("session_end", "TIMESTAMP"),
               ("event_count", "BIGINT"), ("purchases", "INT"), ("total_spent", "DECIMAL(18, 2)")),
              "Session windows per user (session_end = last event + gap)",
              day_partition="session_start",
              gate=Gate("session_end", ("event_count", "total_spent"), ("session_gap_min",)),
              checks=Checks(("user_id", "session_start"), (
                  NotNull(SESSION_KEYS), Unique(SESSION_KEYS), Between("event_count", 1), Between("purchases", 0)))),
    ),
    daily=(DAILY_USER_SPEND,),
)
