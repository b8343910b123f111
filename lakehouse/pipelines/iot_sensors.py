"""iot_sensors: environment sensors. Per-minute statistics per sensor and location, and an alert
for every reading above a threshold (temperature > 30 or humidity > 70 in the source document).
SQL: flink_jobs/iot_sensors.py."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from lakehouse.pipeline import (
    Between,
    Checks,
    ContractFields,
    Daily,
    Gate,
    NotNull,
    OneOf,
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
from lakehouse.scenarios import iot_sensors as generator

TOPIC = Topic("iot-sensors", partitions=3, key="sensor_id",
              scenario=Scenario("iot-sensors", generator.generate, key_prefix="sensor-",
                                description="readings drifting around each sensor's baseline; a few run hot"))


class Settings(PipelineSettings):
    """iot-sensors -> raw, per-minute statistics, threshold alerts."""

    stats_window_min: int = Field(1, ge=1)
    temperature_above: float = 30.0
    humidity_above: float = 70.0


def sensor_rules(p: dict[str, Any]) -> list[str]:
    """The `rule` texts an alert can carry (the SQL module writes the same)."""
    return [f"temperature > {float(p['temperature_above'])!r}", f"humidity > {float(p['humidity_above'])!r}"]


STATS_KEYS = ("window_start", "window_end", "sensor_id", "location")
ALERT_KEYS = ("sensor_id", "event_time", "rule")

DAILY_SENSOR_HEALTH = Daily(
    "daily_sensor_health",
    (("sensor_id", "VARCHAR"), ("location", "VARCHAR"), ("readings", "BIGINT"), ("avg_temperature", "DOUBLE"),
     ("max_temperature", "DOUBLE"), ("avg_humidity", "DOUBLE"), ("alerts", "BIGINT"), ("day", "DATE")),
    """SELECT s.sensor_id, s.location, s.readings, s.avg_temperature, s.max_temperature, s.avg_humidity,
              COALESCE(a.alerts, 0), b.day
       FROM (SELECT x.sensor_id, x.location, sum(x.reading_count) AS readings,
                    sum(x.avg_temperature * x.reading_count) / sum(x.reading_count) AS avg_temperature,
                    max(x.max_temperature) AS max_temperature,
                    sum(x.avg_humidity * x.reading_count) / sum(x.reading_count) AS avg_humidity
             FROM {views}.sensor_stats_1m x CROSS JOIN bounds b
             WHERE x.window_start >= b.lo AND x.window_start < b.hi
             GROUP BY x.sensor_id, x.location) s
       LEFT JOIN (SELECT y.sensor_id, count(*) AS alerts
                  FROM {views}.sensor_alerts y CROSS JOIN bounds b
                  WHERE y.event_time >= b.lo AND y.event_time < b.hi
                  GROUP BY y.sensor_id) a ON a.sensor_id = s.sensor_id
       CROSS JOIN bounds b""",
    sources=("stats", "alerts"),
    description="readings, averages, maxima and alerts per sensor and day",
)

PIPELINE = Pipeline(
    name="iot_sensors",
    description="iot-sensors -> raw, per-minute stats, threshold alerts",
    topic=TOPIC,
    module="flink_jobs.iot_sensors",
    settings=Settings,
    tables=(
        raw("iot_sensors_raw", TOPIC,
            gate=Gate("event_time", ("temperature", "humidity")),
            checks=Checks(("sensor_id", "event_time"), (
                NotNull(("sensor_id", "event_time")), Unique(("kafka_partition", "kafka_offset")),
                ContractFields()))),
        windowed("stats", "sensor_stats_1m",
                 (("sensor_id", "STRING"), ("location", "STRING"), ("avg_temperature", "DOUBLE"),
                  ("min_temperature", "DOUBLE"), ("max_temperature", "DOUBLE"), ("avg_humidity", "DOUBLE"),
                  ("min_humidity", "DOUBLE"), ("max_humidity", "DOUBLE"), ("reading_count", "BIGINT")),
                 "Per-minute statistics per sensor and location",
                 gate=Gate("window_end", ("reading_count", "max_temperature"), ("stats_window_min",)),
                 checks=Checks(("window_start", "window_end", "sensor_id"), (
                     NotNull(STATS_KEYS), Unique(STATS_KEYS), Between("reading_count", 1),
                     Between("min_temperature", -60, 90), Between("max_temperature", -60, 90),
                     Between("min_humidity", 0, 100), Between("max_humidity", 0, 100),
                     WindowLength("stats_window_min")))),
        Table("alerts", "sensor_alerts",
              (("sensor_id", "STRING"), ("location", "STRING"), ("event_time", "TIMESTAMP"),
               ("temperature", "DOUBLE"), ("humidity", "DOUBLE"), ("rule", "STRING"), ("alert_id", "STRING")),
              "Readings above a threshold, one row per rule that fired",
              day_partition="event_time",
              gate=Gate("event_time", ("temperature",), ("temperature_above", "humidity_above")),
              checks=Checks(ALERT_KEYS, (NotNull(ALERT_KEYS), Unique(ALERT_KEYS), OneOf("rule", sensor_rules)))),
    ),
    daily=(DAILY_SENSOR_HEALTH,),
)
