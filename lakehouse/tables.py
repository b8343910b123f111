"""Iceberg table definitions: one place for every table's schema, partitioning and properties.

Tables are created here (by `kappa up` / `kappa jobs start`) before a Flink job writes them, so the
schema is reviewed as code rather than implied by a job's `CREATE TABLE IF NOT EXISTS`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NamespaceAlreadyExistsError, NoSuchTableError
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import DayTransform
from pyiceberg.types import (
    DecimalType,
    IntegerType,
    LongType,
    NestedField,
    StringType,
    TimestamptzType,
)

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


def _schema(*fields: tuple[str, object]) -> Schema:
    # Columns are optional: a NOT NULL column makes Flink's sink fail the job on a null, and
    # malformed events are routed to quarantine before they get here anyway.
    return Schema(*[
        NestedField(field_id=i, name=name, field_type=ftype, required=False)  # type: ignore[arg-type]
        for i, (name, ftype) in enumerate(fields, start=1)
    ])


MONEY = DecimalType(18, 2)

KAFKA_METADATA = (
    ("kafka_topic", StringType()),
    ("kafka_partition", IntegerType()),
    ("kafka_offset", LongType()),
    ("kafka_timestamp", TimestamptzType()),
    ("ingest_time", TimestamptzType()),
)

TRANSACTIONS_RAW = TableSpec(
    "transactions_raw",
    _schema(
        ("transaction_id", StringType()),
        ("user_id", StringType()),
        ("amount", MONEY),
        ("merchant", StringType()),
        ("event_time", TimestamptzType()),
        ("event_ts_ms", LongType()),
        *KAFKA_METADATA,
    ),
    day_partition_source="event_time",
    description="Every valid transaction event, with its Kafka coordinates",
)

TRANSACTIONS_5M = TableSpec(
    "transactions_5m",
    _schema(
        ("window_start", TimestamptzType()),
        ("window_end", TimestamptzType()),
        ("user_id", StringType()),
        ("transaction_count", LongType()),
        ("total_amount", MONEY),
    ),
    day_partition_source="window_start",
    description="Tumbling event-time windows of transactions per user",
)

QUARANTINE = TableSpec(
    "quarantine",
    _schema(
        ("job", StringType()),
        ("reason", StringType()),
        ("payload", StringType()),
        *KAFKA_METADATA,
    ),
    day_partition_source="ingest_time",
    description="Events a job could not use, with the reason and the raw payload",
)

STREAMING_TABLES: tuple[TableSpec, ...] = (TRANSACTIONS_RAW, TRANSACTIONS_5M, QUARANTINE)


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
