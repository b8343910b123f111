"""user_events_avro: the source document's Avro producer (section "Schema Registry"): `UserEvent`
records in the Confluent wire format on `user-events-avro`, landed as they are. Its contract is the
Avro schema in lakehouse/contracts/ (registered as `user-events-avro-value`). SQL:
flink_jobs/user_events_avro.py."""

from __future__ import annotations

from lakehouse.pipeline import (
    Checks,
    ContractFields,
    Gate,
    NotNull,
    Pipeline,
    PipelineSettings,
    Scenario,
    Topic,
    Unique,
    raw,
)
from lakehouse.scenarios import user_events_avro as generator

TOPIC = Topic("user-events-avro", partitions=3, key="user_id (the document's producer sends none)",
              scenario=Scenario("user-events-avro", generator.generate, key_prefix="user_",
                                description="the document's UserEvents, in Avro with the registry's schema id"))


class Settings(PipelineSettings):
    """user-events-avro -> raw (nothing to set beyond what every pipeline has)."""


PIPELINE = Pipeline(
    name="user_events_avro",
    description="user-events-avro (Avro, Confluent wire format) -> raw",
    topic=TOPIC,
    module="flink_jobs.user_events_avro",
    settings=Settings,
    tables=(
        raw("user_events_avro_raw", TOPIC,
            gate=Gate("event_time", ()),
            checks=Checks(("kafka_partition", "kafka_offset"), (
                NotNull(("user_id", "action", "event_time")), Unique(("kafka_partition", "kafka_offset")),
                ContractFields()))),
    ),
)
