"""SQL building blocks every job shares: session config, catalog, source, contract-driven parsing,
and the routing of each event to exactly one of: on time, late, quarantined.

Views a job gets from `prepare_source`:
  <topic>_parsed   every Kafka record: typed fields, `reason` (why it is quarantined, or NULL), `is_late`
  <topic>_ontime   valid events not behind the watermark: what raw tables and windows consume
Plus three inserts: raw landing, quarantine and late events, so that for every job
consumed = landed + quarantined + late.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flink_jobs.spec import JobSpec, ident, literal


def configure(t_env, spec: JobSpec) -> None:  # type: ignore[no-untyped-def]
    """Session configuration every job shares: names, checkpoints, time zone, stable operator ids."""
    conf = t_env.get_config()
    conf.set("pipeline.name", spec.pipeline_name)
    conf.set("execution.checkpointing.interval", f"{spec.checkpoint_interval_s}s")
    conf.set("execution.checkpointing.mode", "EXACTLY_ONCE")
    conf.set("parallelism.default", str(spec.parallelism))
    conf.set("table.local-time-zone", "UTC")
    conf.set("table.exec.source.idle-timeout", f"{int(spec.params.get('idle_timeout_s', 30))} s")
    # Operator uids derived from the job name and version: stable for a version, new for a replay.
    conf.set("table.exec.uid.generation", "ALWAYS")
    conf.set("table.exec.uid.format", f"{spec.job}-v{spec.version}-<id>_<transformation>")


def seconds_interval(seconds: int) -> str:
    """A day-to-second interval literal: `INTERVAL 'n' SECOND` allows only two digits of seconds."""
    days, rest = divmod(int(seconds), 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"INTERVAL '{days} {hours:02d}:{minutes:02d}:{secs:02d}' DAY TO SECOND"


def with_options(options: dict[str, str]) -> str:
    return ", ".join(f"{literal(k)} = {literal(v)}" for k, v in options.items())


def create_catalog(t_env, spec: JobSpec) -> None:  # type: ignore[no-untyped-def]
    c = spec.catalog
    options = {
        "type": "iceberg",
        "catalog-impl": "org.apache.iceberg.jdbc.JdbcCatalog",
        "uri": c.jdbc_url,
        "jdbc.user": c.user,
        "jdbc.password": c.password,
        "jdbc.schema-version": "V1",
        "warehouse": c.warehouse,
    }
    t_env.execute_sql(f"CREATE CATALOG IF NOT EXISTS {ident(c.name)} WITH ({with_options(options)})")


def kafka_options(spec: JobSpec) -> dict[str, str]:
    k = spec.kafka
    options = {
        "connector": "kafka",
        "topic": k.topic,
        "properties.bootstrap.servers": k.bootstrap,
        "properties.group.id": k.group_id,
        "properties.auto.offset.reset": "earliest",
        "scan.startup.mode": k.startup_mode,
        "format": "raw",
        "raw.charset": "UTF-8",
        # every partition keeps moving while a backlog is read, so none is taken for idle (settings.py)
        "properties.max.partition.fetch.bytes": str(int(spec.params.get("max_partition_fetch_kib", 32)) * 1024),
    }
    if k.startup_mode == "specific-offsets":
        options["scan.startup.specific-offsets"] = k.specific_offsets
    if k.startup_mode == "timestamp" and k.startup_timestamp_ms is not None:
        options["scan.startup.timestamp-millis"] = str(k.startup_timestamp_ms)
    if k.bounded_mode:
        options["scan.bounded.mode"] = k.bounded_mode
        if k.bounded_mode == "specific-offsets":
            options["scan.bounded.specific-offsets"] = k.bounded_specific_offsets
    return options


@dataclass(frozen=True)
class Field:
    name: str
    sql_type: str  # STRING | BIGINT | DOUBLE | DECIMAL(p, s) | JSON
    required: bool
    required_when: dict[str, list[str]]
    enum: list[str] | None
    minimum: float | None
    maximum: float | None
    max_length: int | None

    @property
    def raw(self) -> str:
        if self.sql_type == "JSON":
            return f"JSON_QUERY(payload, '$.{self.name}' NULL ON EMPTY NULL ON ERROR)"
        return f"JSON_VALUE(payload, '$.{self.name}' NULL ON EMPTY NULL ON ERROR)"

    @property
    def typed(self) -> str:
        """The field as its SQL type; NULL when absent or not convertible."""
        if self.sql_type in ("STRING", "JSON"):
            return self.raw
        return f"TRY_CAST({self.raw} AS {self.sql_type})"

    @property
    def column_type(self) -> str:
        return "STRING" if self.sql_type == "JSON" else self.sql_type


def contract_fields(contract: dict[str, Any]) -> list[Field]:
    required = set(contract.get("required", ()))
    fields = []
    for name, prop in contract["properties"].items():
        fields.append(Field(
            name=name, sql_type=prop.get("x-sql-type", "STRING"), required=name in required,
            required_when=dict(prop.get("x-required-when", {})), enum=prop.get("enum"),
            minimum=prop.get("minimum"), maximum=prop.get("maximum"), max_length=prop.get("maxLength"),
        ))
    return fields


# A decimal as the contract accepts it: plain or exponent notation, the exponent not below -20.
DECIMAL_LITERAL = r"^ *[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE]([+]?[0-9]+|-0*([0-9]|1[0-9]|20)))? *$"


def _field_checks(field: Field, by_name: dict[str, Field]) -> list[tuple[str, str]]:
    """(condition, reason) pairs for one field, in the order they are checked."""
    if field.sql_type == "JSON":
        return []
    checks = []
    present = f"({field.raw} IS NOT NULL AND {field.raw} <> '')"
    needed = ["TRUE"] if field.required else []
    for key, allowed in field.required_when.items():
        needed.append(f"{by_name[key].raw} IN ({', '.join(literal(a) for a in allowed)})")
    if needed:
        checks.append((f"NOT {present} AND ({' OR '.join(needed)})", f"missing {field.name}"))
    if field.sql_type == "STRING":
        if field.enum:
            checks.append((f"{present} AND {field.raw} NOT IN ({', '.join(literal(e) for e in field.enum)})",
                           f"invalid {field.name}"))
        if field.max_length is not None:
            checks.append((f"{present} AND CHAR_LENGTH({field.raw}) > {int(field.max_length)}",
                           f"{field.name} too long"))
        return checks
    unusable = f"{field.typed} IS NULL"
    if field.sql_type == "BIGINT":  # Flink's cast truncates "1.5" to 1; the contract wants an integer
        unusable += f" OR NOT REGEXP({field.raw}, '^ *[+-]?[0-9]+ *$')"
    elif field.sql_type.startswith("DECIMAL"):  # Flink's cast is erratic below 1e-20 (the fuzz): refuse those
        unusable += f" OR NOT REGEXP({field.raw}, '{DECIMAL_LITERAL}')"
    checks.append((f"{present} AND ({unusable})", f"invalid {field.name}"))
    bounds = []
    if field.minimum is not None:
        bounds.append(f"{field.typed} < {field.minimum!r}")
    if field.maximum is not None:
        bounds.append(f"{field.typed} > {field.maximum!r}")
    if bounds:
        checks.append((f"{present} AND ({' OR '.join(bounds)})", f"{field.name} out of range"))
    return checks


def reason_sql(spec: JobSpec) -> str:
    """A CASE expression: why the payload is quarantined, or NULL when it is usable."""
    max_chars = int(spec.params.get("max_payload_chars", 65536))
    fields = contract_fields(spec.contract)
    by_name = {f.name: f for f in fields}
    whens = [
        ("payload IS NULL", "empty payload"),
        (f"CHAR_LENGTH(payload) > {max_chars}", f"oversized payload (> {max_chars} characters)"),
        ("NOT (payload IS JSON OBJECT)", "invalid JSON"),
    ]
    for f in fields:
        whens += _field_checks(f, by_name)
    body = "\n".join(f"            WHEN {cond} THEN {literal(reason)}" for cond, reason in whens)
    return f"CASE\n{body}\n            ELSE CAST(NULL AS STRING)\n        END"


def _event_time_bounds(spec: JobSpec) -> tuple[int, int]:
    ts = spec.contract["properties"]["timestamp"]
    return int(ts["minimum"]), int(ts["maximum"])


def create_source(t_env, spec: JobSpec, name: str) -> None:  # type: ignore[no-untyped-def]
    """The topic as raw UTF-8 payloads plus Kafka metadata, with an event-time watermark.

    Payloads are parsed in SQL so that no format drops anything: an unparseable event still
    reaches the job and its quarantine. A missing or implausible event time becomes 0, which
    never advances the watermark, so one bad event cannot make every later event late.
    Tests replace Kafka with a CSV file carrying the same columns (spec.source == "file").
    """
    ooo_s = int(spec.params.get("out_of_orderness_s", 5))
    lo, hi = _event_time_bounds(spec)
    ts = "TRY_CAST(JSON_VALUE(payload, '$.timestamp' NULL ON EMPTY NULL ON ERROR) AS BIGINT)"
    if spec.source == "file":
        meta = """kafka_topic STRING, kafka_partition INT, kafka_offset BIGINT, kafka_ts_ms BIGINT,
            kafka_timestamp AS TO_TIMESTAMP_LTZ(kafka_ts_ms, 3),"""
        options = {"connector": "filesystem", "path": spec.source_path, "format": "csv",
                   "csv.allow-comments": "false", "csv.null-literal": "\\N"}
    else:
        meta = """kafka_topic STRING METADATA FROM 'topic' VIRTUAL,
            kafka_partition INT METADATA FROM 'partition' VIRTUAL,
            kafka_offset BIGINT METADATA FROM 'offset' VIRTUAL,
            kafka_timestamp TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,"""
        options = kafka_options(spec)
    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE {ident(name)} (
            payload STRING,
            {meta}
            event_ts_ms AS {ts},
            event_time AS TO_TIMESTAMP_LTZ(CASE WHEN {ts} BETWEEN {lo} AND {hi} THEN {ts} ELSE 0 END, 3),
            WATERMARK FOR event_time AS event_time - {seconds_interval(ooo_s)}
        ) WITH ({with_options(options)})
    """)


@dataclass(frozen=True)
class Output:
    """One of a job's results: a query and the table it goes to (an Iceberg role or a sink)."""

    name: str  # the table role ("raw", "windows", ...) or the sink's name
    target: str  # quoted identifier
    query: str


def output(spec: JobSpec, role: str, query: str) -> Output:
    return Output(role, spec.table(role), query)


def prepare_source(t_env, spec: JobSpec, prefix: str) -> list[Output]:  # type: ignore[no-untyped-def]
    """Source, parsed and on-time views for the job's topic; returns the routing outputs
    (raw landing, quarantine, late events) every job writes."""
    source, parsed, ontime = f"{prefix}_source", f"{prefix}_parsed", f"{prefix}_ontime"
    create_source(t_env, spec, source)
    fields = contract_fields(spec.contract)
    columns = ",\n            ".join(f"{f.typed} AS {ident(f.name)}" for f in fields if f.name != "timestamp")
    # An event is late when the watermark has already passed it: windows would drop it silently.
    t_env.execute_sql(f"""
        CREATE TEMPORARY VIEW {ident(parsed)} AS
        SELECT
            {columns},
            event_ts_ms, event_time, payload,
            kafka_topic, kafka_partition, kafka_offset, kafka_timestamp,
            {reason_sql(spec)} AS reason,
            CURRENT_WATERMARK(event_time) AS watermark_at_arrival,
            COALESCE(event_time <= CURRENT_WATERMARK(event_time), FALSE) AS is_late
        FROM {ident(source)}
    """)
    t_env.execute_sql(f"""
        CREATE TEMPORARY VIEW {ident(ontime)} AS
        SELECT * FROM {ident(parsed)} WHERE reason IS NULL AND NOT is_late
    """)
    raw_columns = ", ".join(ident(f.name) for f in fields if f.name != "timestamp")
    return [
        output(spec, "raw", f"""
            SELECT {raw_columns}, event_time, event_ts_ms,
                   kafka_topic, kafka_partition, kafka_offset, kafka_timestamp, CURRENT_TIMESTAMP AS ingest_time
            FROM {ident(ontime)}"""),
        output(spec, "quarantine", f"""
            SELECT {literal(spec.job)} AS job, reason, COALESCE(payload, '') AS payload,
                   kafka_topic, kafka_partition, kafka_offset, kafka_timestamp, CURRENT_TIMESTAMP AS ingest_time
            FROM {ident(parsed)} WHERE reason IS NOT NULL"""),
        output(spec, "late", f"""
            SELECT {literal(spec.job)} AS job, event_time, watermark_at_arrival AS `watermark`, payload,
                   kafka_topic, kafka_partition, kafka_offset, kafka_timestamp, CURRENT_TIMESTAMP AS ingest_time
            FROM {ident(parsed)} WHERE reason IS NULL AND is_late"""),
    ]


ALERTS_SINK = "alerts_sink"


def create_alerts_sink(t_env, spec: JobSpec, name: str = ALERTS_SINK) -> str:  # type: ignore[no-untyped-def]
    """The shared `alerts` topic: JSON alerts keyed by entity, each with a stable id to dedupe on."""
    if spec.source == "file" or not spec.alerts_topic:
        options = {"connector": "blackhole"}
    else:
        options = {
            "connector": "kafka", "topic": spec.alerts_topic,
            "properties.bootstrap.servers": spec.kafka.bootstrap,
            "key.format": "raw", "key.fields": "entity_id", "value.format": "json",
            "value.fields-include": "ALL", "sink.delivery-guarantee": "at-least-once",
        }
    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE {ident(name)} (
            alert_id STRING, alert_type STRING, job STRING, entity_id STRING,
            window_start TIMESTAMP_LTZ(3), window_end TIMESTAMP_LTZ(3), detail STRING,
            detected_at TIMESTAMP_LTZ(3)
        ) WITH ({with_options(options)})
    """)
    return name


def alert_id(rule: str, *parts: str) -> str:
    """A stable id: the same alert from any job version or replay has the same id."""
    return f"MD5(CONCAT_WS('|', {literal(rule)}, {', '.join(parts)}))"


def window_bound(column: str) -> str:
    """Window TVF bounds are TIMESTAMP(3) in the session zone (UTC); tables store instants."""
    return f"CAST({column} AS TIMESTAMP_LTZ(3))"


def alert_output(spec: JobSpec, *, alert_type: str, entity: str, start: str, end: str, detail: str,
                 source: str) -> Output:
    """An alert for the `alerts` topic from `source`, which must have an `alert_id` column."""
    return Output("alerts_topic", ident(ALERTS_SINK), f"""
        SELECT alert_id, {literal(alert_type)} AS alert_type, {literal(spec.job)} AS job, {entity} AS entity_id,
               {start} AS window_start, {end} AS window_end, {detail} AS detail, CURRENT_TIMESTAMP AS detected_at
        FROM {source}""")


def statement_set(t_env, outputs: list[Output]):  # type: ignore[no-untyped-def]
    """All of a job's outputs as one Flink job: the source is read once and shared."""
    result = t_env.create_statement_set()
    for out in outputs:
        result.add_insert_sql(f"INSERT INTO {out.target} {out.query}")
    return result
