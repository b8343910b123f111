"""SQL building blocks every job shares: session config, catalog, source, contract-driven parsing,
and the routing of each event to exactly one of: on time, late, quarantined.

Views a job gets from `prepare_source`:
  <topic>_parsed   every Kafka record: typed fields, `reason` (why it is quarantined, or NULL), `is_late`
  <topic>_ontime   valid events not behind the watermark: what raw tables and windows consume
Plus three inserts: raw landing, quarantine and late events, so that for every job
consumed = landed + quarantined + late.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flink_jobs.spec import (
    CATALOG_RETRYABLE_SQL_STATES,
    CatalogSpec,
    JobSpec,
    KafkaSource,
    ident,
    kafka_java_security,
    literal,
)


def configure(t_env, spec: JobSpec) -> None:  # type: ignore[no-untyped-def]
    """Session configuration every job shares: names, checkpoints, time zone, stable operator ids."""
    conf = t_env.get_config()
    conf.set("pipeline.name", spec.pipeline_name)
    conf.set("execution.checkpointing.interval", f"{spec.checkpoint_interval_s}s")
    conf.set("execution.checkpointing.mode", "EXACTLY_ONCE")
    conf.set("parallelism.default", str(spec.parallelism))
    conf.set("table.local-time-zone", "UTC")
    # Chained operators hand rows on without copying them (a third faster: the copies were 10-15% of
    # every job's CPU). Safe for these jobs: Flink's SQL operators, its CEP operator and the Iceberg
    # and Kafka sinks copy or serialize whatever they keep; the Flink tier checks every output exactly.
    conf.set("pipeline.object-reuse", "true")
    conf.set("table.exec.source.idle-timeout", f"{int(spec.params['idle_timeout_s'])} s")
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


def catalog_options(c: CatalogSpec) -> dict[str, str]:
    """The platform's Iceberg JDBC catalog, as a Flink catalog."""
    return {
        "type": "iceberg",
        "catalog-impl": "org.apache.iceberg.jdbc.JdbcCatalog",
        "uri": c.jdbc_url,
        "jdbc.user": c.user,
        "jdbc.password": c.password,
        "jdbc.schema-version": "V1",
        "retryable_status_codes": CATALOG_RETRYABLE_SQL_STATES,
        "warehouse": c.warehouse,
        **c.io,
    }


def create_catalog(t_env, spec: JobSpec) -> None:  # type: ignore[no-untyped-def]
    c = spec.catalog
    t_env.execute_sql(f"CREATE CATALOG IF NOT EXISTS {ident(c.name)} WITH ({with_options(catalog_options(c))})")


def kafka_security_options(k: KafkaSource) -> dict[str, str]:
    """The job's own principal, for its source and its alerts sink."""
    if not k.username:
        return {}
    return {f"properties.{key}": value for key, value in kafka_java_security(k.username, k.password).items()}


def kafka_options(spec: JobSpec) -> dict[str, str]:
    k = spec.kafka
    options = {
        "connector": "kafka",
        "topic": k.topic,
        "properties.bootstrap.servers": k.bootstrap,
        **kafka_security_options(k),
        "properties.group.id": k.group_id,
        "properties.auto.offset.reset": "earliest",
        "scan.startup.mode": k.startup_mode,
        # every partition keeps moving while a backlog is read, so none is taken for idle (settings.py)
        "properties.max.partition.fetch.bytes": str(int(spec.params["max_partition_fetch_kib"]) * 1024),
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


EVENT_TIME_FIELD = "timestamp"  # every contract's event time, read as epoch milliseconds (x-time-formats)


def column_type(prop: dict[str, Any]) -> str:
    """A contract property's column type: its `x-sql-type`, a JSON field as its text."""
    sql_type = str(prop.get("x-sql-type", "STRING"))
    return "STRING" if sql_type == "JSON" else sql_type


def field_columns(spec: JobSpec) -> list[tuple[str, str]]:
    """(name, type) of the contract's fields as typed columns; the event time is `event_ts_ms`."""
    return [(name, column_type(prop)) for name, prop in spec.contract["properties"].items()
            if name != EVENT_TIME_FIELD]


DERIVED_FROM_COORDINATES = "kafka-coordinates"


def field_values(spec: JobSpec) -> list[str]:
    """Each contract field's value as the job carries it: as sent, except that an id the record does
    not name (absent or empty) is derived from its Kafka coordinates, `<topic>:<partition>:<offset>`,
    the same in every replay (`x-derived-when-absent`; lakehouse.contracts.derived_id)."""
    values = []
    for name, _type in field_columns(spec):
        column = ident(name)
        if spec.contract["properties"][name].get("x-derived-when-absent") == DERIVED_FROM_COORDINATES:
            column = (f"CASE WHEN {column} IS NULL OR {column} = '' THEN CONCAT_WS(':', kafka_topic, "
                      f"CAST(kafka_partition AS STRING), CAST(kafka_offset AS STRING)) ELSE {column} END AS {column}")
        values.append(column)
    return values


def ahead_of(event_ms: str, record_time: str, spec: JobSpec) -> str:
    """True when the event time is further past its Kafka record time than `max_future_skew_s`."""
    skew = int(spec.params["max_future_skew_s"])
    return f"TO_TIMESTAMP_LTZ({event_ms}, 3) > {record_time} + {seconds_interval(skew)}"


def future_reason(spec: JobSpec) -> str:
    """The quarantine reason of such an event (lakehouse.contracts.future_reason says the same)."""
    return (f"{EVENT_TIME_FIELD} in the future (more than {int(spec.params['max_future_skew_s'])} s after its "
            "Kafka record time)")


def _event_time_bounds(spec: JobSpec) -> tuple[int, int]:
    ts = spec.contract["properties"][EVENT_TIME_FIELD]
    return int(ts["minimum"]), int(ts["maximum"])


def create_source(t_env, spec: JobSpec, name: str) -> None:  # type: ignore[no-untyped-def]
    """The topic, each record parsed once by the `kappa-contract` format (flink_jobs/contract_format):
    the contract's fields as typed columns, `reason` (why it is quarantined, NULL when it conforms),
    `event_ts_ms`, the raw `payload`, the Kafka coordinates, and an event-time watermark.

    The format never drops a record and never fails on one: an unusable record is a row with a reason.
    A missing or implausible event time becomes 0, which never advances the watermark, so one bad
    event cannot make every later event late; nor can an event stamped further ahead of its Kafka
    record time than `max_future_skew_s` (a producer whose clock is ahead), which is quarantined.
    Tests replace Kafka with a file of Kafka records read by the same parsing (spec.source == "file",
    format `kappa-contract-records`).
    """
    ooo_s = int(spec.params["out_of_orderness_s"])
    lo, hi = _event_time_bounds(spec)
    record_time = "kafka_timestamp"
    if spec.source == "file":
        meta = """kafka_topic STRING, kafka_partition INT, kafka_offset BIGINT, kafka_ts_ms BIGINT,
            kafka_timestamp AS TO_TIMESTAMP_LTZ(kafka_ts_ms, 3),"""
        record_time = "TO_TIMESTAMP_LTZ(kafka_ts_ms, 3)"  # a computed column cannot name another
        fmt = "kappa-contract-records"
        options = {"connector": "filesystem", "path": spec.source_path, "format": fmt}
    else:
        meta = """kafka_topic STRING METADATA FROM 'topic' VIRTUAL,
            kafka_partition INT METADATA FROM 'partition' VIRTUAL,
            kafka_offset BIGINT METADATA FROM 'offset' VIRTUAL,
            kafka_timestamp TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,"""
        fmt = "kappa-contract"
        options = kafka_options(spec)
    options |= {
        "format": fmt,
        f"{fmt}.contract": json.dumps(spec.contract, separators=(",", ":")),
        f"{fmt}.max-payload-chars": str(int(spec.params["max_payload_chars"])),
        f"{fmt}.event-time-field": EVENT_TIME_FIELD,
    }
    wire = spec.contract.get("x-wire")
    if wire:  # an Avro topic (lakehouse.contracts.avro_contract): writer schemas from the registry by id
        options |= {f"{fmt}.wire": str(wire), f"{fmt}.registry-socket": spec.registry_socket}
    fields = "".join(f"{ident(n)} {t},\n            " for n, t in field_columns(spec))
    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE {ident(name)} (
            {fields}event_ts_ms BIGINT,
            reason STRING,
            payload STRING,
            {meta}
            event_time AS TO_TIMESTAMP_LTZ(CASE WHEN event_ts_ms BETWEEN {lo} AND {hi}
                THEN CASE WHEN {ahead_of("event_ts_ms", record_time, spec)} THEN 0 ELSE event_ts_ms END
                ELSE 0 END, 3),
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
    # An event is late when the watermark has already passed it: windows would drop it silently.
    t_env.execute_sql(f"""
        CREATE TEMPORARY VIEW {ident(parsed)} AS
        SELECT {", ".join(field_values(spec))}, event_ts_ms,
            CASE WHEN reason IS NULL AND {ahead_of("event_ts_ms", "kafka_timestamp", spec)}
                 THEN {literal(future_reason(spec))} ELSE reason END AS reason, payload,
            kafka_topic, kafka_partition, kafka_offset, kafka_timestamp, event_time,
            CURRENT_WATERMARK(event_time) AS watermark_at_arrival,
            COALESCE(event_time <= CURRENT_WATERMARK(event_time), FALSE) AS is_late
        FROM {ident(source)}
    """)
    t_env.execute_sql(f"""
        CREATE TEMPORARY VIEW {ident(ontime)} AS
        SELECT * FROM {ident(parsed)} WHERE reason IS NULL AND NOT is_late
    """)
    raw_columns = ", ".join(ident(n) for n, _ in field_columns(spec))
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
            **kafka_security_options(spec.kafka),
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
