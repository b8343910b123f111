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
    from pyiceberg.table import Table as IcebergTable

# Format v2, Parquet with zstd, 128 MiB target files; old metadata files are cleaned on commit.
DEFAULT_PROPERTIES = {
    "format-version": "2",
    "write.format.default": "parquet",
    "write.parquet.compression-codec": "zstd",
    "write.target-file-size-bytes": str(128 * 1024 * 1024),
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "50",
}


# An upsert table: merge-on-read deletes (what the Flink sink writes), and changes routed to writers
# by key, so that every change of a key within a checkpoint meets its earlier rows in one writer,
# which turns them into position deletes (apache/iceberg#15305: equality deletes with the same
# sequence number as their data never apply).
UPSERT_PROPERTIES = {
    "write.distribution-mode": "hash",
    "write.delete.mode": "merge-on-read",
    "write.update.mode": "merge-on-read",
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
    # malformed events are routed to quarantine before they get here anyway. An upsert table's key
    # columns are Iceberg's identifier fields, which must be required (the job quarantines a change
    # without its key), and the Flink sink writes equality deletes by them.
    fields = [NestedField(field_id=i, name=column, field_type=iceberg_type(sql_type),
                          required=column in table.primary_key)
              for i, (column, sql_type) in enumerate(table.columns, start=1)]
    keys = [f.field_id for f in fields if f.name in table.primary_key]
    schema = Schema(*fields, identifier_field_ids=keys)
    return TableSpec(name or table.name, schema, table.day_partition, UPSERT_PROPERTIES if keys else {},
                     table.description)


def version_specs(pipeline: Pipeline, version: int = 1) -> dict[str, TableSpec]:
    """Every table a pipeline version writes, by role, under its version's names."""
    names = pipeline.table_names(version)
    return {t.role: table_spec(t, names[t.role]) for t in pipeline.written}


def platform_specs(registry: Registry) -> list[TableSpec]:
    """The base tables of every live pipeline and the shared ones."""
    return [table_spec(t) for t in ROUTED] + [table_spec(t) for p in registry.live for t in p.tables]


EVOLVED = " + "  # what ensure_tables reports for a table that gained columns: "<table> + <columns>"


@dataclass(frozen=True)
class Evolution:
    """What an existing table lacks of its declaration: columns to add (name, type, the column to put
    it after, None for first), and the differences schema evolution does not make (a type changed, a
    column the declaration dropped)."""

    table: str
    added: tuple[tuple[str, IcebergType, str | None], ...]
    problems: tuple[str, ...]


def evolution(current: Schema, spec: TableSpec) -> Evolution:
    have = {f.name: f.field_type for f in current.fields}
    wanted = [(f.name, f.field_type) for f in spec.schema.fields]
    added: list[tuple[str, IcebergType, str | None]] = []
    problems: list[str] = []
    previous: str | None = None
    for name, kind in wanted:
        if name not in have:
            added.append((name, kind, previous))
        elif have[name] != kind:
            problems.append(f"column {name} is {have[name]} in table {spec.name}, {kind} in its declaration "
                            "(a type change is not evolved in place: replay into a new version)")
        previous = name
    problems += [f"table {spec.name} has column {name}, which its declaration no longer has (columns are not "
                 "dropped in place: replay into a new version)" for name in have if name not in dict(wanted)]
    return Evolution(spec.name, tuple(added), tuple(problems))


def evolve(table: IcebergTable, change: Evolution) -> None:
    """Add the columns, each where the declaration puts it: the table's column order stays the one a new
    table gets, which the jobs' INSERTs follow. Metadata only: no data file is rewritten, and rows
    written before read NULL there."""
    with table.update_schema() as update:
        for name, kind, after in change.added:
            update.add_column(name, kind, required=False)
            if after is None:
                update.move_first(name)
            else:
                update.move_after(name, after)


def ensure_tables(catalog: Catalog, namespace: str, specs: Iterable[TableSpec], *, evolve_existing: bool = True
                  ) -> list[str]:
    """Create the namespace and any missing table, and (unless not `evolve_existing`) add to an existing
    table the columns its declaration gained (a new contract version's fields); returns what was
    created or evolved. Raises TableEvolutionError, before changing any table, when a table differs
    otherwise."""
    created = []
    try:
        catalog.create_namespace(namespace)
        created.append(namespace)
    except NamespaceAlreadyExistsError:
        pass
    pending: list[tuple[IcebergTable, Evolution]] = []
    for spec in specs:
        identifier = (namespace, spec.name)
        try:
            table = catalog.load_table(identifier)
        except NoSuchTableError:
            catalog.create_table(
                identifier, schema=spec.schema, partition_spec=spec.partition_spec(),
                properties={**DEFAULT_PROPERTIES, **spec.properties},
            )
            created.append(f"{namespace}.{spec.name}")
            continue
        change = evolution(table.schema(), spec)
        if evolve_existing and (change.added or change.problems):
            pending.append((table, change))
    problems = [p for _t, change in pending for p in change.problems]
    if problems:
        raise TableEvolutionError("; ".join(problems))
    for table, change in pending:
        evolve(table, change)
        created.append(f"{namespace}.{change.table}{EVOLVED}{', '.join(name for name, _k, _a in change.added)}")
    return created


def evolved(changes: Iterable[str]) -> bool:
    """Whether `ensure_tables` added columns to an existing table (its entries `<table> + <columns>`)."""
    return any(EVOLVED in change for change in changes)


class TableEvolutionError(ValueError):
    """A table differs from its declaration in a way schema evolution does not bridge."""
