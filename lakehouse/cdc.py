"""Change data capture pipelines: a database table mirrored into an upsert table through Kafka.

Debezium (in Kafka Connect, `kappa up`) writes every committed change of a declared source table to
the topic `<database>.<schema>.<table>`; the pipeline's Flink job (flink_jobs/cdc.py) lands every
change in a change log (role `raw`: the operation, both row images, the source LSN and commit time,
the Kafka coordinates) and keeps an Iceberg v2 table keyed by the primary key (role `current`) equal
to the source table. A declaration names the source table once (`lakehouse/pipelines/ecommerce_*.py`);
the topic, both tables, the source database's DDL and the job's parsing follow from it here.
"""

from __future__ import annotations

from typing import Any

from lakehouse.pipeline import (
    KAFKA_METADATA,
    Checks,
    Columns,
    Gate,
    NotNull,
    Pipeline,
    PipelineSettings,
    SourceTable,
    Table,
    Topic,
    Unique,
)

CDC_MODULE = "flink_jobs.cdc"
OPERATIONS = {"r": "read (initial snapshot)", "c": "create", "u": "update", "d": "delete"}
# What the current-state table adds to the source's columns: the change that made the row what it is.
CURRENT_METADATA: Columns = (("cdc_lsn", "BIGINT"), ("cdc_committed_at", "TIMESTAMP"))
NUMERIC = ("INT", "BIGINT", "DOUBLE", "DECIMAL")


class CdcSettings(PipelineSettings):
    """A change-data-capture pipeline (nothing to set beyond what every pipeline has)."""


def topic_name(source: SourceTable) -> str:
    """Debezium's topic for a table: `<topic.prefix>.<schema>.<table>`, the prefix being the database."""
    return f"{source.database}.{source.schema}.{source.name}"


def key_columns(source: SourceTable) -> Columns:
    """The key's columns with their types (a key naming no column is left to source_problems)."""
    types = {c.name: c.sql_type for c in source.columns}
    return tuple((k, types[k]) for k in source.primary_key if k in types)


def changes_table(source: SourceTable, name: str) -> Table:
    """Every change of the topic, in order: an append-only log (role `raw`)."""
    columns: Columns = (("op", "STRING"), *key_columns(source), ("before", "STRING"), ("after", "STRING"),
                        ("source_lsn", "BIGINT"), ("snapshot", "STRING"), ("event_time", "TIMESTAMP"),
                        ("event_ts_ms", "BIGINT"), *KAFKA_METADATA)
    keys = ("kafka_partition", "kafka_offset")
    return Table("raw", name, columns,
                 f"Every change Debezium captured from {source.schema}.{source.name} (event_time: its commit "
                 "time), with both row images as JSON", day_partition="event_time", published=True,
                 gate=Gate("event_time", ()),
                 checks=Checks(keys, (NotNull(("op", *source.primary_key, "event_time")), Unique(keys))))


def current_table(source: SourceTable, name: str) -> Table:
    """The source table's current state, one row per primary key (role `current`)."""
    columns: Columns = (*((c.name, c.sql_type) for c in source.columns), *CURRENT_METADATA)
    measures = tuple(c.name for c in source.columns
                     if c.sql_type.startswith(NUMERIC) and c.name not in source.primary_key and not c.references)
    return Table("current", name, columns,
                 f"The current rows of {source.schema}.{source.name}, kept by change data capture",
                 primary_key=source.primary_key, gate=Gate("cdc_committed_at", measures),
                 checks=Checks(source.primary_key, (NotNull(source.primary_key), Unique(source.primary_key))))


def cdc_pipeline(name: str, source: SourceTable, *, partitions: int = 3, description: str = "") -> Pipeline:
    """The pipeline mirroring `source`: tables `<name>` (current state) and `<name>_changes`."""
    topic = Topic(topic_name(source), partitions=partitions, contract_version=None,
                  key=f"the primary key ({', '.join(source.primary_key)})", retention_ms=-1)
    return Pipeline(
        name=name,
        description=description or f"{source.database}.{source.schema}.{source.name} (Debezium) -> change log, "
                                   "current state",
        topic=topic,
        module=CDC_MODULE,
        settings=CdcSettings,
        tables=(changes_table(source, f"{name}_changes"), current_table(source, name)),
        source=source,
    )


def job_contract(source: SourceTable) -> dict[str, Any]:
    """What the Flink job reads the topic by (its spec's `contract`): the columns, types and key."""
    return {"x-cdc": {"table": f"{source.schema}.{source.name}", "key": list(source.primary_key),
                      "columns": [[c.name, c.sql_type] for c in source.columns]}}


def source_problems(pipelines: tuple[Pipeline, ...]) -> list[str]:
    """Captured tables must agree: one source database, keys that are columns, references to
    captured tables' keys."""
    problems: list[str] = []
    sources = {p.source.name: p for p in pipelines if p.source is not None}
    databases = {p.source.database for p in pipelines if p.source is not None}
    if len(databases) > 1:
        problems.append(f"captured tables come from one database; declared: {', '.join(sorted(databases))}")
    for p in pipelines:
        s = p.source
        if s is None:
            continue
        where = f"pipeline {p.name}, source {s.schema}.{s.name}"
        names = [c.name for c in s.columns]
        if not s.primary_key or any(k not in names for k in s.primary_key):
            problems.append(f"{where}: the primary key must name its columns")
        for c in s.columns:
            if c.references is not None and c.references not in sources:
                problems.append(f"{where}: column {c.name} references {c.references}, which no pipeline captures")
        if p.module != CDC_MODULE:
            problems.append(f"{where}: a captured table runs in {CDC_MODULE}")
    return problems
