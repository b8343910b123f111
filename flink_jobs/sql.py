"""SQL building blocks shared by the jobs: the catalog, the Kafka source, validation."""

from __future__ import annotations

from flink_jobs.spec import JobSpec, ident, literal

# Plausible event times (2000-01-01 .. 2100-01-01, epoch ms); anything else is quarantined.
MIN_EVENT_MS = 946_684_800_000
MAX_EVENT_MS = 4_102_444_800_000


def configure(t_env, spec: JobSpec) -> None:  # type: ignore[no-untyped-def]
    """Session configuration every job shares: names, checkpoints, time zone, stable operator ids."""
    conf = t_env.get_config()
    conf.set("pipeline.name", spec.pipeline_name)
    conf.set("execution.checkpointing.interval", f"{spec.checkpoint_interval_s}s")
    conf.set("execution.checkpointing.mode", "EXACTLY_ONCE")
    conf.set("parallelism.default", str(spec.parallelism))
    conf.set("table.local-time-zone", "UTC")
    conf.set("table.exec.source.idle-timeout", f"{int(spec.params.get('idle_timeout_s', 10))} s")
    # Operator uids derived from the job name and version: stable for a version, new for a replay.
    conf.set("table.exec.uid.generation", "ALWAYS")
    conf.set("table.exec.uid.format", f"{spec.job}-v{spec.version}-<id>_<transformation>")


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


def with_options(options: dict[str, str]) -> str:
    return ", ".join(f"{literal(k)} = {literal(v)}" for k, v in options.items())


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


def create_raw_kafka_source(t_env, spec: JobSpec, name: str) -> None:  # type: ignore[no-untyped-def]
    """A Kafka topic read as raw UTF-8 payloads plus Kafka metadata, with an event-time watermark.

    Payloads are parsed in SQL so that nothing is dropped by the format: an unparseable event still
    reaches the job (and its quarantine). A missing or implausible event time falls back to 0,
    which never advances the watermark, so one bad event cannot make every later event "late".
    """
    ooo_s = int(spec.params.get("out_of_orderness_s", 5))
    # JSON_VALUE cannot return BIGINT (Flink 2.1), so the text is cast; non-integers become NULL.
    ts = "TRY_CAST(JSON_VALUE(payload, '$.timestamp') AS BIGINT)"
    lo, hi = int(spec.params.get("min_event_ms", MIN_EVENT_MS)), int(spec.params.get("max_event_ms", MAX_EVENT_MS))
    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE {ident(name)} (
            payload STRING,
            kafka_topic STRING METADATA FROM 'topic' VIRTUAL,
            kafka_partition INT METADATA FROM 'partition' VIRTUAL,
            kafka_offset BIGINT METADATA FROM 'offset' VIRTUAL,
            kafka_timestamp TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
            event_ts_ms AS {ts},
            event_time AS TO_TIMESTAMP_LTZ(CASE WHEN {ts} BETWEEN {lo} AND {hi} THEN {ts} ELSE 0 END, 3),
            WATERMARK FOR event_time AS event_time - INTERVAL '{ooo_s}' SECOND
        ) WITH ({with_options(kafka_options(spec))})
    """)
