"""transactions -> streaming.transactions_raw + streaming.transactions_5m (+ quarantine).

The source document's ksqlDB example as Flink SQL: events keyed by user, tumbling event-time
windows per user with count and sum. Malformed events land in the quarantine table with a reason.
"""

from __future__ import annotations

import argparse

from flink_jobs.spec import JobSpec, ident, literal
from flink_jobs.sql import MAX_EVENT_MS, MIN_EVENT_MS, configure, create_catalog, create_raw_kafka_source

SOURCE = "transactions_source"
PARSED = "transactions_parsed"


def _field(name: str, returning: str = "") -> str:
    suffix = f" RETURNING {returning} NULL ON EMPTY NULL ON ERROR" if returning else " NULL ON EMPTY NULL ON ERROR"
    return f"JSON_VALUE(payload, '$.{name}'{suffix})"


def parsed_view_sql(spec: JobSpec) -> str:
    """Every source row with its fields parsed and `reason` set when the event cannot be used."""
    max_bytes = int(spec.params.get("max_payload_bytes", 65536))
    lo = int(spec.params.get("min_event_ms", MIN_EVENT_MS))
    hi = int(spec.params.get("max_event_ms", MAX_EVENT_MS))
    amount = f"TRY_CAST({_field('amount')} AS DECIMAL(18, 2))"
    return f"""
        CREATE TEMPORARY VIEW {ident(PARSED)} AS
        SELECT
            {_field('transaction_id')} AS transaction_id,
            {_field('user_id')} AS user_id,
            {amount} AS amount,
            {_field('merchant')} AS merchant,
            event_ts_ms, event_time,
            kafka_topic, kafka_partition, kafka_offset, kafka_timestamp, payload,
            CASE
                WHEN payload IS NULL THEN 'empty payload'
                WHEN CHAR_LENGTH(payload) > {max_bytes} THEN 'oversized payload (> {max_bytes} characters)'
                WHEN NOT (payload IS JSON OBJECT) THEN 'invalid JSON'
                WHEN {_field('transaction_id')} IS NULL OR {_field('transaction_id')} = ''
                    THEN 'missing transaction_id'
                WHEN {_field('user_id')} IS NULL OR {_field('user_id')} = '' THEN 'missing user_id'
                WHEN {amount} IS NULL THEN 'missing or non-numeric amount'
                WHEN {amount} < 0 THEN 'negative amount'
                WHEN event_ts_ms IS NULL THEN 'missing or non-integer timestamp'
                WHEN event_ts_ms NOT BETWEEN {lo} AND {hi} THEN 'timestamp out of range'
                ELSE CAST(NULL AS STRING)
            END AS reason
        FROM {ident(SOURCE)}
    """


def raw_insert_sql(spec: JobSpec) -> str:
    return f"""
        INSERT INTO {spec.table('raw')}
        SELECT transaction_id, user_id, amount, COALESCE(merchant, ''), event_time, event_ts_ms,
               kafka_topic, kafka_partition, kafka_offset, kafka_timestamp, CURRENT_TIMESTAMP
        FROM {ident(PARSED)} WHERE reason IS NULL
    """


def windows_insert_sql(spec: JobSpec) -> str:
    size_min = int(spec.params.get("window_size_min", 5))
    return f"""
        INSERT INTO {spec.table('windows')}
        SELECT CAST(window_start AS TIMESTAMP_LTZ(3)), CAST(window_end AS TIMESTAMP_LTZ(3)), user_id,
               COUNT(*), CAST(SUM(amount) AS DECIMAL(18, 2))
        FROM TABLE(TUMBLE(
            (SELECT * FROM {ident(PARSED)} WHERE reason IS NULL), DESCRIPTOR(event_time),
            INTERVAL '{size_min}' MINUTE))
        GROUP BY window_start, window_end, user_id
    """


def quarantine_insert_sql(spec: JobSpec) -> str:
    return f"""
        INSERT INTO {spec.table('quarantine')}
        SELECT {literal(spec.job)}, reason, COALESCE(payload, ''),
               kafka_topic, kafka_partition, kafka_offset, kafka_timestamp, CURRENT_TIMESTAMP
        FROM {ident(PARSED)} WHERE reason IS NOT NULL
    """


def build(t_env, spec: JobSpec):  # type: ignore[no-untyped-def]
    """The job's statement set, on any table environment (tests use a local one)."""
    configure(t_env, spec)
    create_catalog(t_env, spec)
    create_raw_kafka_source(t_env, spec, SOURCE)
    t_env.execute_sql(parsed_view_sql(spec))
    statements = t_env.create_statement_set()
    statements.add_insert_sql(raw_insert_sql(spec))
    statements.add_insert_sql(windows_insert_sql(spec))
    statements.add_insert_sql(quarantine_insert_sql(spec))
    return statements


def main(argv: list[str] | None = None) -> None:
    from pyflink.table import EnvironmentSettings, TableEnvironment

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spec", required=True, help="job spec JSON rendered by the platform")
    args = parser.parse_args(argv)
    spec = JobSpec.load(args.spec)
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    build(t_env, spec).execute()


if __name__ == "__main__":
    main()
