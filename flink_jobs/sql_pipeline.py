"""Every pipeline written in SQL (lakehouse/pipelines/<name>.sql): the topic parsed by its contract,
malformed and late events routed as for every pipeline, the valid on-time events offered to the
user's SQL under the topic's name, the user's views, and each declared view written to its Iceberg
table with the columns recorded when the SQL was planned.

The spec carries the SQL as the platform rendered it (settings substituted), so a job version runs
the query it was started with.
"""

from __future__ import annotations

from typing import Any

from flink_jobs.runner import run
from flink_jobs.spec import JobSpec, ident
from flink_jobs.sql import Output, configure, create_catalog, field_columns, output, prepare_source, statement_set

# Offered to the SQL besides the contract's fields: the event time (a time attribute: windows and
# MATCH_RECOGNIZE order by it) and the Kafka coordinates.
STREAM_COLUMNS = ("event_time", "event_ts_ms", "kafka_partition", "kafka_offset", "kafka_timestamp")


def create_stream(t_env, spec: JobSpec) -> list[Output]:  # type: ignore[no-untyped-def]
    """The source, the routing outputs, and the view the user's SQL reads the topic by."""
    sql: dict[str, Any] = spec.sql
    stream = str(sql["stream"])
    result = prepare_source(t_env, spec, f"{stream}__kappa")
    columns = [ident(n) for n, _ in field_columns(spec)] + [ident(c) for c in STREAM_COLUMNS]
    t_env.execute_sql(f"CREATE TEMPORARY VIEW {ident(stream)} AS "
                      f"SELECT {', '.join(columns)} FROM {ident(stream + '__kappa_ontime')}")
    return result


def create_views(t_env, spec: JobSpec) -> list[Output]:  # type: ignore[no-untyped-def]
    """The stream and the user's views, in order; returns the routing outputs."""
    result = create_stream(t_env, spec)
    for name, query in spec.sql["views"]:
        t_env.execute_sql(f"CREATE TEMPORARY VIEW {ident(name)} AS {query}")
    return result


def stored(column: str, sql_type: str) -> str:
    """A view's column as its table stores it: a timestamp as an instant (the session zone is UTC)."""
    target = "TIMESTAMP_LTZ(3)" if sql_type == "TIMESTAMP" else sql_type
    return f"CAST({ident(column)} AS {target}) AS {ident(column)}"


def outputs(t_env, spec: JobSpec) -> list[Output]:  # type: ignore[no-untyped-def]
    result = create_views(t_env, spec)
    for role, columns in spec.sql["outputs"]:
        result.append(output(spec, role, f"SELECT {', '.join(stored(c, t) for c, t in columns)} FROM {ident(role)}"))
    return result


def build(t_env, spec: JobSpec):  # type: ignore[no-untyped-def]
    configure(t_env, spec)
    create_catalog(t_env, spec)
    return statement_set(t_env, outputs(t_env, spec))


if __name__ == "__main__":
    run(build, __doc__ or "")
