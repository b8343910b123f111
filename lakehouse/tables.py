"""Iceberg table definitions: one place for every table's schema, partitioning and properties.

Tables are created here (by `kappa up` / `kappa jobs start`, through PyIceberg) before a Flink job
writes them, so the schema is reviewed as code rather than implied by a job's DDL. Raw landing
tables follow their topic's contract.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NamespaceAlreadyExistsError, NoSuchTableError
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import DayTransform
from pyiceberg.types import (
    DecimalType,
    DoubleType,
    IcebergType,
    IntegerType,
    LongType,
    NestedField,
    StringType,
    TimestamptzType,
)

from lakehouse.contracts import contract

# Format v2, Parquet with zstd, 128 MiB target files; old metadata files are cleaned on commit.
DEFAULT_PROPERTIES = {
    "format-version": "2",
    "write.format.default": "parquet",
    "write.parquet.compression-codec": "zstd",
    "write.target-file-size-bytes": str(128 * 1024 * 1024),
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "50",
}


@dataclass(frozen=True)
class TableSpec:
    name: str
    schema: Schema
    day_partition_source: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    description: str = ""

    def partition_spec(self) -> PartitionSpec:
        if self.day_partition_source is None:
            return PartitionSpec()
        source = self.schema.find_field(self.day_partition_source)
        return PartitionSpec(
            PartitionField(source_id=source.field_id, field_id=1000, transform=DayTransform(),
                           name=f"{self.day_partition_source}_day")
        )

    def renamed(self, name: str) -> TableSpec:
        """The same table under another name (a replay's new version, e.g. `x__v2`)."""
        return TableSpec(name, self.schema, self.day_partition_source, self.properties, self.description)


def _schema(*fields: tuple[str, IcebergType]) -> Schema:
    # Columns are optional: a NOT NULL column makes Flink's sink fail the job on a null, and
    # malformed events are routed to quarantine before they get here anyway.
    return Schema(*[
        NestedField(field_id=i, name=name, field_type=ftype, required=False)
        for i, (name, ftype) in enumerate(fields, start=1)
    ])


MONEY = DecimalType(18, 2)
TS = TimestamptzType()

KAFKA_METADATA: tuple[tuple[str, IcebergType], ...] = (
    ("kafka_topic", StringType()),
    ("kafka_partition", IntegerType()),
    ("kafka_offset", LongType()),
    ("kafka_timestamp", TS),
    ("ingest_time", TS),
)


def iceberg_type(sql_type: str) -> IcebergType:
    sql_type = sql_type.replace(" ", "").upper()
    if sql_type in ("STRING", "JSON"):
        return StringType()
    if sql_type == "BIGINT":
        return LongType()
    if sql_type == "DOUBLE":
        return DoubleType()
    if sql_type.startswith("DECIMAL("):
        precision, scale = sql_type[len("DECIMAL("):-1].split(",")
        return DecimalType(int(precision), int(scale))
    raise ValueError(f"no Iceberg type for contract type {sql_type}")


def raw_table(name: str, topic: str) -> TableSpec:
    """A topic's landing table: the contract's fields, the event time, the Kafka coordinates."""
    props: dict[str, Any] = contract(topic)["properties"]
    fields = [(n, iceberg_type(p.get("x-sql-type", "STRING"))) for n, p in props.items() if n != "timestamp"]
    return TableSpec(
        name,
        _schema(*fields, ("event_time", TS), ("event_ts_ms", LongType()), *KAFKA_METADATA),
        day_partition_source="event_time",
        description=f"Every valid, on-time event of topic {topic}, with its Kafka coordinates",
    )


def _windowed(name: str, *fields: tuple[str, IcebergType], description: str) -> TableSpec:
    return TableSpec(name, _schema(("window_start", TS), ("window_end", TS), *fields),
                     day_partition_source="window_start", description=description)


QUARANTINE = TableSpec(
    "quarantine",
    _schema(("job", StringType()), ("reason", StringType()), ("payload", StringType()), *KAFKA_METADATA),
    day_partition_source="ingest_time",
    description="Events a job could not use, with the reason and the raw payload",
)

LATE_EVENTS = TableSpec(
    "late_events",
    _schema(("job", StringType()), ("event_time", TS), ("watermark", TS), ("payload", StringType()),
            *KAFKA_METADATA),
    day_partition_source="ingest_time",
    description="Valid events that arrived after the watermark had passed them (windows would drop them)",
)

SHARED_TABLES = {"quarantine": QUARANTINE, "late": LATE_EVENTS}

JOB_TABLES: dict[str, dict[str, TableSpec]] = {
    "transactions": {
        "raw": raw_table("transactions_raw", "transactions"),
        "windows": _windowed(
            "transactions_5m", ("user_id", StringType()), ("transaction_count", LongType()),
            ("total_amount", MONEY), description="Tumbling event-time windows of transactions per user"),
        "suspicious": _windowed(
            "suspicious_activity", ("user_id", StringType()), ("transaction_count", LongType()),
            ("total_amount", MONEY), ("rule", StringType()), ("alert_id", StringType()),
            description="Tumbling windows per user with too many transactions or too much spent"),
    },
    "user_activity": {
        "raw": raw_table("user_events_raw", "user-events"),
        "spend": _windowed(
            "user_spend_5m", ("user_id", StringType()), ("total_spent", MONEY), ("transaction_count", LongType()),
            description="Purchases per user in sliding windows"),
        "fraud": _windowed(
            "fraud_alerts", ("user_id", StringType()), ("total_spent", MONEY), ("transaction_count", LongType()),
            ("alert_id", StringType()), description="Sliding windows whose spend is above the threshold"),
        "patterns": TableSpec(
            "suspicious_patterns",
            _schema(("user_id", StringType()), ("failed_event_id", StringType()), ("failed_time", TS),
                    ("success_event_id", StringType()), ("success_time", TS),
                    ("purchase_event_id", StringType()), ("purchase_time", TS), ("purchase_amount", MONEY),
                    ("alert_id", StringType())),
            day_partition_source="failed_time",
            description="login_failed, then login_success, then a large purchase, within minutes"),
        "sessions": TableSpec(
            "user_sessions",
            _schema(("user_id", StringType()), ("session_start", TS), ("session_end", TS),
                    ("event_count", LongType()), ("purchases", IntegerType()), ("total_spent", MONEY)),
            day_partition_source="session_start",
            description="Session windows per user (session_end = last event + gap)"),
    },
    "iot_sensors": {
        "raw": raw_table("iot_sensors_raw", "iot-sensors"),
        "stats": _windowed(
            "sensor_stats_1m", ("sensor_id", StringType()), ("location", StringType()),
            ("avg_temperature", DoubleType()), ("min_temperature", DoubleType()), ("max_temperature", DoubleType()),
            ("avg_humidity", DoubleType()), ("min_humidity", DoubleType()), ("max_humidity", DoubleType()),
            ("reading_count", LongType()), description="Per-minute statistics per sensor and location"),
        "alerts": TableSpec(
            "sensor_alerts",
            _schema(("sensor_id", StringType()), ("location", StringType()), ("event_time", TS),
                    ("temperature", DoubleType()), ("humidity", DoubleType()), ("rule", StringType()),
                    ("alert_id", StringType())),
            day_partition_source="event_time",
            description="Readings above a threshold, one row per rule that fired"),
    },
}


# Tables analysts query through `analytics` views; quarantine and late events stay operational.
PUBLISHED_ROLES: dict[str, tuple[str, ...]] = {
    "transactions": ("raw", "windows", "suspicious"),
    "user_activity": ("raw", "spend", "fraud", "patterns", "sessions"),
    "iot_sensors": ("raw", "stats", "alerts"),
}


def job_table_specs(job: str, version: int = 1) -> dict[str, TableSpec]:
    """Every table a job version writes, by role. Version 1 writes the base names; a replay's
    version N writes `<name>__vN` (shared tables: `<name>__<job>_vN`), so versions never mix."""
    specs: dict[str, TableSpec] = {}
    for role, spec in {**SHARED_TABLES, **JOB_TABLES[job]}.items():
        if version == 1:
            specs[role] = spec
        elif role in SHARED_TABLES:
            specs[role] = spec.renamed(f"{spec.name}__{job}_v{version}")
        else:
            specs[role] = spec.renamed(f"{spec.name}__v{version}")
    return specs


def all_streaming_tables() -> list[TableSpec]:
    return [*SHARED_TABLES.values(), *(t for tables in JOB_TABLES.values() for t in tables.values())]


def ensure_tables(catalog: Catalog, namespace: str, specs: Iterable[TableSpec]) -> list[str]:
    """Create the namespace and any missing table; existing tables are left as they are."""
    created = []
    try:
        catalog.create_namespace(namespace)
        created.append(namespace)
    except NamespaceAlreadyExistsError:
        pass
    for spec in specs:
        identifier = (namespace, spec.name)
        try:
            catalog.load_table(identifier)
            continue
        except NoSuchTableError:
            pass
        catalog.create_table(
            identifier, schema=spec.schema, partition_spec=spec.partition_spec(),
            properties={**DEFAULT_PROPERTIES, **spec.properties},
        )
        created.append(f"{namespace}.{spec.name}")
    return created
