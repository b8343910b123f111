"""<database>.<schema>.<table> (Debezium change events) -> change log (raw) and current state.

Every record of the topic lands exactly once: a change event in the change log, anything else in
quarantine with the reason. The current-state table holds, for each primary key, the row its latest
change left (none after a delete): the changes are deduplicated by key, keeping the last one read
(one key's changes share a Kafka partition, so they are read in commit order), and the resulting
retractions reach the Iceberg sink as deletes of the key's previous row (equality deletes, or
position deletes within a checkpoint). Parsing is SQL's JSON functions over the record's text: a
record that is no JSON, has no known `op` or no key is quarantined, never dropped, never fatal.

Debezium's JSON (worker converters without schemas): `{"before": {...}|null, "after": {...}|null,
"source": {"lsn": ..., "ts_ms": ..., "snapshot": ...}, "op": "r|c|u|d", "ts_ms": ...}`; decimals as
strings (`decimal.handling.mode=string`), timestamptz as ISO-8601 text in UTC.
"""

from __future__ import annotations

from flink_jobs.runner import run
from flink_jobs.spec import JobSpec, ident, literal
from flink_jobs.sql import Output, configure, create_catalog, kafka_options, output, statement_set, with_options

OPERATIONS = ("r", "c", "u", "d")


def field_value(image: str, name: str, sql_type: str) -> str:
    """A column of a row image (`after` or `before`) as its SQL type."""
    path = literal(f"$.{image}.{name}")
    text = f"JSON_VALUE(payload, {path})"
    if sql_type == "TIMESTAMP":  # '2026-11-27T13:01:02.123456Z' (UTC)
        return f"CAST(TRY_CAST(REPLACE(REPLACE({text}, 'T', ' '), 'Z', '') AS TIMESTAMP(6)) AS TIMESTAMP_LTZ(6))"
    if sql_type == "STRING":
        return text
    return f"TRY_CAST({text} AS {sql_type})"


def create_source(t_env, spec: JobSpec, name: str) -> None:  # type: ignore[no-untyped-def]
    if spec.source == "file":  # tests: a CSV of payloads and Kafka coordinates
        options = {"connector": "filesystem", "path": spec.source_path, "format": "csv",
                   "csv.allow-comments": "false"}
        meta = """kafka_topic STRING, kafka_partition INT, kafka_offset BIGINT, kafka_ts_ms BIGINT,
            kafka_timestamp AS TO_TIMESTAMP_LTZ(kafka_ts_ms, 3),"""
    else:
        # Kafka Connect writes the changes in transactions (exactly-once source): only committed ones count
        options = kafka_options(spec) | {"format": "raw", "raw.charset": "UTF-8",
                                         "properties.isolation.level": "read_committed"}
        meta = """kafka_topic STRING METADATA FROM 'topic' VIRTUAL,
            kafka_partition INT METADATA FROM 'partition' VIRTUAL,
            kafka_offset BIGINT METADATA FROM 'offset' VIRTUAL,
            kafka_timestamp TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,"""
    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE {ident(name)} (
            payload STRING,
            {meta}
            read_at AS PROCTIME()
        ) WITH ({with_options(options)})
    """)


def outputs(t_env, spec: JobSpec) -> list[Output]:  # type: ignore[no-untyped-def]
    cdc = spec.contract["x-cdc"]
    columns: list[tuple[str, str]] = [(n, t) for n, t in cdc["columns"]]
    key: list[str] = list(cdc["key"])
    types = dict(columns)
    create_source(t_env, spec, "changes_source")
    max_chars = int(spec.params["max_payload_chars"])
    keys = ", ".join(f"COALESCE({field_value('after', k, types[k])}, {field_value('before', k, types[k])}) "
                     f"AS {ident(k)}" for k in key)
    key_list = ", ".join(ident(k) for k in key)
    ops = ", ".join(literal(o) for o in OPERATIONS)
    t_env.execute_sql(f"""
        CREATE TEMPORARY VIEW changes_parsed AS
        SELECT JSON_VALUE(payload, '$.op') AS op, {keys},
               TRY_CAST(JSON_VALUE(payload, '$.source.lsn') AS BIGINT) AS source_lsn,
               JSON_VALUE(payload, '$.source.snapshot') AS snapshot,
               TRY_CAST(JSON_VALUE(payload, '$.source.ts_ms') AS BIGINT) AS event_ts_ms,
               JSON_EXISTS(payload, '$.after.{key[0]}') AS has_after,
               payload, kafka_topic, kafka_partition, kafka_offset, kafka_timestamp, read_at
        FROM changes_source
        WHERE payload IS NULL OR CHAR_LENGTH(payload) <= {max_chars}
    """)
    key_missing = " OR ".join(f"{ident(k)} IS NULL" for k in key)
    t_env.execute_sql(f"""
        CREATE TEMPORARY VIEW changes_checked AS
        SELECT *, CASE
            WHEN payload IS NULL THEN 'empty record (a tombstone)'
            WHEN op IS NULL THEN 'not a Debezium change event (no JSON object with an op)'
            WHEN op NOT IN ({ops}) THEN CONCAT('unknown op ', op)
            WHEN {key_missing} THEN 'no primary key in the change ({", ".join(key)})'
            WHEN event_ts_ms IS NULL THEN 'no source.ts_ms (commit time)'
            WHEN op <> 'd' AND NOT has_after THEN 'no after image'
            ELSE NULL END AS reason
        FROM changes_parsed
    """)
    t_env.execute_sql("""
        CREATE TEMPORARY VIEW changes_valid AS
        SELECT *, TO_TIMESTAMP_LTZ(event_ts_ms, 3) AS event_time FROM changes_checked WHERE reason IS NULL
    """)
    # The last change of each key (processing time: one key's changes are read in commit order). Its
    # state holds the change as received, not its columns: a column the declaration gains changes
    # what is read from it below, never the state's type, so the job resumes from its savepoint.
    t_env.execute_sql(f"""
        CREATE TEMPORARY VIEW changes_latest AS
        SELECT {key_list}, op, payload, source_lsn, event_time FROM (
            SELECT {key_list}, op, payload, source_lsn, event_time,
                   ROW_NUMBER() OVER (PARTITION BY {key_list} ORDER BY read_at DESC) AS rn
            FROM changes_valid)
        WHERE rn = 1
    """)
    row = ", ".join(ident(n) if n in key else f"{field_value('after', n, t)} AS {ident(n)}" for n, t in columns)
    return [
        output(spec, "raw", f"""
            SELECT op, {key_list}, JSON_QUERY(payload, '$.before') AS `before`,
                   JSON_QUERY(payload, '$.after') AS `after`, source_lsn, snapshot, event_time, event_ts_ms,
                   kafka_topic, kafka_partition, kafka_offset, kafka_timestamp, CURRENT_TIMESTAMP AS ingest_time
            FROM changes_valid"""),
        # A delete leaves only the retraction of the key's previous row: the sink deletes it.
        output(spec, "current", f"""
            SELECT {row}, source_lsn AS cdc_lsn, event_time AS cdc_committed_at
            FROM changes_latest WHERE op <> 'd'"""),
        output(spec, "quarantine", f"""
            SELECT {literal(spec.job)} AS job, reason, COALESCE(payload, '') AS payload,
                   kafka_topic, kafka_partition, kafka_offset, kafka_timestamp, CURRENT_TIMESTAMP AS ingest_time
            FROM changes_checked WHERE reason IS NOT NULL"""),
        output(spec, "quarantine", f"""
            SELECT {literal(spec.job)} AS job, {literal(f'oversized (more than {max_chars} characters)')} AS reason,
                   SUBSTRING(payload FROM 1 FOR 1024) AS payload,
                   kafka_topic, kafka_partition, kafka_offset, kafka_timestamp, CURRENT_TIMESTAMP AS ingest_time
            FROM changes_source WHERE CHAR_LENGTH(payload) > {max_chars}"""),
    ]


def build(t_env, spec: JobSpec):  # type: ignore[no-untyped-def]
    configure(t_env, spec)
    create_catalog(t_env, spec)
    return statement_set(t_env, outputs(t_env, spec))


if __name__ == "__main__":
    run(build, __doc__ or "")
