"""Iceberg tables from the pipeline declarations: schema, day partitioning and properties.

Tables are created here (by `kappa up` / `kappa jobs start`, through PyIceberg) before a Flink job
writes them, so the schema is reviewed as code (in the declaration) rather than implied by a job's DDL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyiceberg.exceptions import NamespaceAlreadyExistsError, NoSuchTableError
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import DayTransform
from pyiceberg.types import (
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    IcebergType,
    IntegerType,
    LongType,
    NestedField,
    StringType,
    TimestamptzType,
)

from lakehouse.pipeline import ROUTED, Pipeline, Table
from lakehouse.registry import Registry

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

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
    """A declared table as PyIceberg creates it."""

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
        """The same table under another name (a replay's new version, a benchmark's copy)."""
        return TableSpec(name, self.schema, self.day_partition_source, self.properties, self.description)


def iceberg_type(sql_type: str) -> IcebergType:
    sql_type = sql_type.replace(" ", "").upper()
    simple: dict[str, IcebergType] = {
        "STRING": StringType(), "VARCHAR": StringType(), "JSON": StringType(), "INT": IntegerType(),
        "BIGINT": LongType(), "DOUBLE": DoubleType(), "BOOLEAN": BooleanType(), "DATE": DateType(),
        "TIMESTAMP": TimestamptzType(),
    }
    if sql_type in simple:
        return simple[sql_type]
    if sql_type.startswith("DECIMAL("):
        precision, scale = sql_type[len("DECIMAL("):-1].split(",")
        return DecimalType(int(precision), int(scale))
    raise ValueError(f"no Iceberg type for {sql_type}")


def table_spec(table: Table, name: str | None = None) -> TableSpec:
    # Columns are optional: a NOT NULL column makes Flink's sink fail the job on a null, and
    # malformed events are routed to quarantine before they get here anyway.
    schema = Schema(*[NestedField(field_id=i, name=column, field_type=iceberg_type(sql_type), required=False)
                      for i, (column, sql_type) in enumerate(table.columns, start=1)])
    return TableSpec(name or table.name, schema, table.day_partition, {}, table.description)


def version_specs(pipeline: Pipeline, version: int = 1) -> dict[str, TableSpec]:
    """Every table a pipeline version writes, by role, under its version's names."""
    names = pipeline.table_names(version)
    return {t.role: table_spec(t, names[t.role]) for t in pipeline.written}


def platform_specs(registry: Registry) -> list[TableSpec]:
    """The base tables of every live pipeline and the shared ones."""
    return [table_spec(t) for t in ROUTED] + [table_spec(t) for p in registry.live for t in p.tables]


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
