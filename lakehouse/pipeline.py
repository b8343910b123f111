"""The language a pipeline is declared in (`lakehouse/pipelines/<name>.py`).

A declaration is plain data: the topic it reads (with its contract and scenario generator), the
Flink SQL module that runs it, its settings and their defaults, and every table it writes, each with
its columns, day partitioning, whether analysts see it, the measures the replay gate compares and
the quality checks it must pass. Everything else (the settings model, Iceberg tables, Flink specs,
views, the replay gate, backfills, Dagster's assets and checks, the benchmark) is derived from it by
the registry (`lakehouse/registry.py`). Nothing here imports an engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from lakehouse.contracts import EVENT_TIME_FIELD, LATEST, contract
from lakehouse.scenarios.base import Event, ScenarioOptions

# --- settings -----------------------------------------------------------------------------------


class PipelineSettings(BaseModel):
    """What every pipeline has in `[jobs.<name>]`: event-time tolerance, routing limits, start-up.
    A declaration subclasses it with its own windows and thresholds (each with its default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    autostart: bool = Field(True, description="`kappa up` starts the job")
    out_of_orderness_s: int = Field(5, ge=0, description="watermark delay = allowed lateness")
    # While Kafka is unreachable every partition is quiet; past this timeout they are all idle and, when
    # Kafka returns, the first partitions read move the watermark past the others' buffered events,
    # which become late. 30 s rode through a broker restart (found by `make chaos`: with 10 s, three
    # ~15-20 s outages turned 18,366 of 60,000 events late). The whole stack beside it grew: a lone Kafka
    # killed under the 8 jobs' load took 30-47 s to serve again (fault suite, 2026-11-28; one CI run at 30 s
    # had 1,686 of 27,011 events late), so 60 s. A truly idle partition delays windows this long.
    idle_timeout_s: int = Field(60, ge=1, description="a partition quiet this long stops holding the watermark")
    # Catching up a backlog (after a restart, an outage, or a replay), the Kafka consumer hands the job
    # one partition's fetched batch after another; with 1 MiB per partition the last partitions wait
    # longer than the idle timeout, are taken for idle, and their events arrive late. Small per-partition
    # fetches (32 KiB: ~200 events) keep every partition moving, each within the out-of-orderness of
    # the others (found by the JobManager and Kafka kill -9 tests).
    max_partition_fetch_kib: int = Field(32, ge=1, description="Kafka max.partition.fetch.bytes of the job, KiB")
    max_payload_chars: int = Field(65536, ge=256, description="a longer record is quarantined as oversized")
    # One producer with a clock ahead would otherwise move the watermark past everyone else's events,
    # which would all go late: an event time this far past its Kafka record time is quarantined instead.
    max_future_skew_s: int = Field(300, ge=0, description="an event time further ahead of its Kafka record "
                                   "time is quarantined (and never moves the watermark)")
    # Measured on 2 cores (kappa bench, README): 2 instead of 1 gave 5-15% more events/s, as each job
    # already keeps both cores busy with its chained and keyed stages, and writes twice the files.
    parallelism: int | None = Field(None, ge=1, description="this job's Flink parallelism when it runs live; "
                                    "default [flink] parallelism (bounded runs always use 1)")

    # Settings that change which events are late or quarantined: every table of a replay may differ.
    ROUTING: ClassVar[tuple[str, ...]] = ("out_of_orderness_s", "idle_timeout_s", "max_payload_chars",
                                          "max_future_skew_s")
    # Settings that are the platform's business, not the job's SQL.
    PLATFORM: ClassVar[tuple[str, ...]] = ("autostart", "parallelism")

    def params(self) -> dict[str, Any]:
        """What the job's SQL is given (everything but start-up and parallelism)."""
        return {k: v for k, v in self.model_dump().items() if k not in self.PLATFORM}


def longest_window_ms(params: dict[str, Any]) -> int:
    """The longest span among a job's `*_min` settings (windows, gaps, pattern limits), in ms: how
    far an event's effect reaches in event time (a backfill's lookahead, the gate's margin)."""
    return int(max((v for k, v in params.items() if k.endswith("_min")), default=0) * 60_000)


# --- topics and scenarios -----------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """A deterministic generator of realistic records for a topic (`kappa produce --scenario NAME`)."""

    name: str
    generate: Callable[[ScenarioOptions], Iterator[Event]]
    key_prefix: str
    description: str = ""


@dataclass(frozen=True)
class Topic:
    """A Kafka topic a pipeline reads: its default partitions, its contract and its generator."""

    name: str
    partitions: int
    scenario: Scenario | None = None
    # lakehouse/contracts/<name>.v<n>.schema.json (or .avsc): the newest (LATEST) or a fixed version; None: none
    contract_version: int | str | None = LATEST
    key: str = ""  # what producers key records by (documentation)
    retention_ms: int | None = None  # None: [kafka.topics] default; -1 keeps every record (replayable)


# --- quality checks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """A check bound that is a pipeline setting (e.g. the fraud threshold)."""

    name: str


Bound = float | int | Param | None


@dataclass(frozen=True)
class NotNull:
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Unique:
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Between:
    column: str
    low: Bound = None
    high: Bound = None
    strict_low: bool = False


@dataclass(frozen=True)
class OneOf:
    """The column's values are among those the settings produce (e.g. the rules' texts)."""

    column: str
    values: Callable[[dict[str, Any]], list[str]]


@dataclass(frozen=True)
class WindowLength:
    """window_end - window_start equals the setting, in minutes."""

    param: str


@dataclass(frozen=True)
class ContractFields:
    """The contract's required fields are present, within their enums and ranges (raw tables).
    `topic`: a joined topic's (a SQL pipeline's `joins`); empty: the pipeline's own."""

    topic: str = ""


Expectation = NotNull | Unique | Between | OneOf | WindowLength | ContractFields


def describe(e: Expectation) -> str:
    """An expectation in a few words, as `kappa pipeline plan` lists it."""

    def shown(b: Bound) -> str:
        return f"${{{b.name}}}" if isinstance(b, Param) else str(b)

    if isinstance(e, NotNull):
        return f"{', '.join(e.columns)} not null"
    if isinstance(e, Unique):
        return f"({', '.join(e.columns)}) unique" if len(e.columns) > 1 else f"{e.columns[0]} unique"
    if isinstance(e, Between):
        low = "" if e.low is None else f"{shown(e.low)} {'<' if e.strict_low else '<='} "
        return f"{low}{e.column}" + ("" if e.high is None else f" <= {shown(e.high)}")
    if isinstance(e, OneOf):
        return f"{e.column} in the accepted values"
    if isinstance(e, WindowLength):
        return f"windows of ${{{e.param}}} minutes"
    return "the contract's fields present, within their enums and ranges"


@dataclass(frozen=True)
class Checks:
    """A table's quality suite: failing rows are reported by `keys`."""

    keys: tuple[str, ...]
    expectations: tuple[Expectation, ...]


# --- tables -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    """What the replay gate compares for a table: row counts and sums of `measures` over `time`,
    and the settings whose change alters the table on purpose (reported, not failed)."""

    time: str
    measures: tuple[str, ...]
    changed_by: tuple[str, ...] = ()


Columns = tuple[tuple[str, str], ...]  # (name, SQL type): STRING, INT, BIGINT, DOUBLE, DECIMAL(p, s), TIMESTAMP


@dataclass(frozen=True)
class Table:
    """One table a pipeline writes, under its role (the name the SQL module writes it by)."""

    role: str
    name: str
    columns: Columns
    description: str
    day_partition: str | None = None  # the TIMESTAMP column partitioned by day
    primary_key: tuple[str, ...] = ()  # an upsert table: Iceberg identifier fields, one row per key
    published: bool = True  # an `analytics` view for analysts
    gate: Gate | None = None
    checks: Checks | None = None

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


WINDOW: Columns = (("window_start", "TIMESTAMP"), ("window_end", "TIMESTAMP"))
KAFKA_METADATA: Columns = (("kafka_topic", "STRING"), ("kafka_partition", "INT"), ("kafka_offset", "BIGINT"),
                           ("kafka_timestamp", "TIMESTAMP"), ("ingest_time", "TIMESTAMP"))


def contract_columns(topic: Topic) -> Columns:
    """The contract's fields as columns (a JSON field as its text), without the event time."""
    if topic.contract_version is None:
        raise ValueError(f"topic {topic.name} has no contract")
    props: dict[str, Any] = contract(topic.name, topic.contract_version)["properties"]
    return tuple((name, "STRING" if p.get("x-sql-type", "STRING") == "JSON" else str(p.get("x-sql-type", "STRING")))
                 for name, p in props.items() if name != EVENT_TIME_FIELD)


QUARANTINE = Table("quarantine", "quarantine", (("job", "STRING"), ("reason", "STRING"), ("payload", "STRING"))
                   + KAFKA_METADATA, "Events a job could not use, with the reason and the raw payload",
                   day_partition="ingest_time", published=False)
LATE = Table("late", "late_events", (("job", "STRING"), ("event_time", "TIMESTAMP"), ("watermark", "TIMESTAMP"),
                                     ("payload", "STRING")) + KAFKA_METADATA,
             "Valid events that arrived after the watermark had passed them (windows would drop them)",
             day_partition="ingest_time", published=False)
# Shared by every pipeline: with its own raw table, where each record of its topic ends, exactly once.
ROUTED = (QUARANTINE, LATE)
ROUTES = ("raw", "quarantine", "late")


def raw(name: str, topic: Topic, *, gate: Gate, checks: Checks) -> Table:
    """A topic's landing table: the contract's fields, the event time, the Kafka coordinates."""
    return Table("raw", name, contract_columns(topic) + (("event_time", "TIMESTAMP"), ("event_ts_ms", "BIGINT"))
                 + KAFKA_METADATA, f"Every valid, on-time event of topic {topic.name}, with its Kafka coordinates",
                 day_partition="event_time", gate=gate, checks=checks)


def windowed(role: str, name: str, columns: Columns, description: str, *, gate: Gate, checks: Checks) -> Table:
    """A table of event-time windows: window bounds first, partitioned by the window's day."""
    return Table(role, name, WINDOW + columns, description, day_partition="window_start", gate=gate, checks=checks)


@dataclass(frozen=True)
class Daily:
    """A daily rollup through Trino over the pipeline's views, one day partition at a time.

    `select` reads views as `{views}.<table>` and the day's bounds from the `bounds` relation
    (columns `lo`, `hi`, `day`), which the platform joins in with the day as query parameters."""

    name: str
    columns: Columns
    select: str
    sources: tuple[str, ...]  # roles of the published tables it reads
    description: str


def versioned_name(pipeline: str, table: Table, version: int) -> str:
    if version == 1:
        return table.name
    if table in ROUTED:
        return f"{table.name}__{pipeline}_v{version}"
    return f"{table.name}__v{version}"


# --- change data capture -----------------------------------------------------------------------


@dataclass(frozen=True)
class SourceColumn:
    """A column of a captured database table: its PostgreSQL type (the source's DDL) and the SQL type
    it lands as. `references` names another captured table whose key it holds (a foreign key)."""

    name: str
    pg_type: str
    sql_type: str
    nullable: bool = True
    references: str | None = None


@dataclass(frozen=True)
class SourceTable:
    """A table of the source database whose changes Debezium captures into the pipeline's topic."""

    database: str
    schema: str
    name: str
    columns: tuple[SourceColumn, ...]
    primary_key: tuple[str, ...]

    def column(self, name: str) -> SourceColumn:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.schema}.{self.name} has no column {name!r}")


# --- SQL pipelines ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SqlQuery:
    """A pipeline written in SQL (lakehouse/sql_pipelines.py): its views, in order, and which of them
    are written to which table (by role, which is the view's name)."""

    path: str  # the .sql file
    stream: str  # the name the SQL reads the topic's valid, on-time events by
    views: tuple[tuple[str, str], ...]  # (view, SELECT ...) with ${setting} placeholders
    outputs: tuple[tuple[str, str], ...]  # (role = view, table name)
    digest: str  # of the SQL and the contract the columns were planned against
    # (rule, view, entity column): each row of a stored view also sent to the `alerts` topic
    alerts: tuple[tuple[str, str, str], ...] = ()
    # the other topics it joins: (the name the SQL reads it by, topic, role of its raw table)
    inputs: tuple[tuple[str, str, str], ...] = ()


# --- the declaration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pipeline:
    """Everything about one pipeline, in one place."""

    name: str
    description: str
    topic: Topic
    module: str  # the Flink SQL module (flink_jobs/<name>.py) that builds its statement set
    settings: type[PipelineSettings]
    tables: tuple[Table, ...]
    daily: tuple[Daily, ...] = ()
    live: bool = True  # False: run only by `kappa bench` (never started, no views, no Dagster assets)
    source: SourceTable | None = None  # a change-data-capture pipeline: the database table it mirrors
    sql: SqlQuery | None = None  # a pipeline written in SQL: its query (the module runs every such pipeline)
    joined: tuple[Topic, ...] = ()  # a SQL pipeline's other topics (`joins`): each parsed, routed and landed

    @property
    def topics(self) -> tuple[Topic, ...]:
        """Every topic it reads: its own, then those it joins."""
        return (self.topic, *self.joined)

    @property
    def _raw_of_joined(self) -> dict[str, str]:
        """Joined topic -> the role of the raw table its accepted events land in."""
        return {topic: role for _, topic, role in (self.sql.inputs if self.sql else ())}

    def topics_of(self, role: str) -> tuple[str, ...]:
        """The topics a table's rows come from: a raw table's one topic, every topic for the others."""
        if role == "raw":
            return (self.topic.name,)
        joined = [topic for topic, r in self._raw_of_joined.items() if r == role]
        return tuple(joined) or tuple(t.name for t in self.topics)

    def raw_role(self, topic: str) -> str:
        """The role of the raw table a topic's accepted events land in."""
        return "raw" if topic == self.topic.name else self._raw_of_joined[topic]

    @property
    def raw_roles(self) -> tuple[str, ...]:
        """The tables each topic's accepted events land in: its own topic's, then each joined topic's."""
        return ("raw", *self._raw_of_joined.values())

    def table(self, role: str) -> Table:
        for t in self.written:
            if t.role == role:
                return t
        raise KeyError(f"pipeline {self.name} has no table {role!r}")

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(t.role for t in self.tables)

    @property
    def written(self) -> tuple[Table, ...]:
        """Every table a version of the pipeline writes: the shared quarantine and late events, and its own."""
        return ROUTED + self.tables if self.live else self.tables

    def table_names(self, version: int = 1) -> dict[str, str]:
        """Role -> table name for one version. Version 1 writes the base names; a replay's version N
        writes `<name>__vN` (the shared tables: `<name>__<pipeline>_vN`), so versions never mix."""
        return {t.role: versioned_name(self.name, t, version) for t in self.written}

    @property
    def published(self) -> tuple[Table, ...]:
        return tuple(t for t in self.tables if t.published)
