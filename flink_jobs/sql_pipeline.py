"""Every pipeline written in SQL (lakehouse/pipelines/<name>.sql): the topic parsed by its contract,
malformed and late events routed as for every pipeline, the valid on-time events offered to the
user's SQL under the topic's name, the user's views, each declared view written to its Iceberg
table with the columns recorded when the SQL was planned, and the rows of the views its alert rules
name sent to the `alerts` topic.

The spec carries the SQL as the platform rendered it (settings substituted), so a job version runs
the query it was started with.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flink_jobs.runner import run
from flink_jobs.spec import JobSpec, ident, literal
from flink_jobs.sql import (
    Output,
    alert_id,
    alert_output,
    configure,
    create_alerts_sink,
    create_catalog,
    field_columns,
    output,
    prepare_source,
    statement_set,
    window_bound,
)

# Offered to the SQL besides the contract's fields: the event time (a time attribute: windows and
# MATCH_RECOGNIZE order by it) and the Kafka coordinates.
STREAM_COLUMNS = ("event_time", "event_ts_ms", "kafka_partition", "kafka_offset", "kafka_timestamp")


def input_spec(spec: JobSpec, joined: dict[str, Any]) -> JobSpec:
    """The spec of a joined topic (`sql.inputs`): its topic, contract, start and end offsets, source
    file (tests) and raw table; the quarantine and late tables are the job's."""
    kafka = dataclasses.replace(
        spec.kafka, topic=str(joined["topic"]), specific_offsets=str(joined.get("specific_offsets", "")),
        bounded_specific_offsets=str(joined.get("bounded_specific_offsets", "")))
    return dataclasses.replace(spec, kafka=kafka, contract=dict(joined["contract"]),
                               tables={**spec.tables, "raw": spec.tables[str(joined["role"])]},
                               source_path=str(joined.get("source_path", "")))


def _stream(t_env, spec: JobSpec, stream: str) -> list[Output]:  # type: ignore[no-untyped-def]
    result = prepare_source(t_env, spec, f"{stream}__kappa")
    columns = [ident(n) for n, _ in field_columns(spec)] + [ident(c) for c in STREAM_COLUMNS]
    t_env.execute_sql(f"CREATE TEMPORARY VIEW {ident(stream)} AS "
                      f"SELECT {', '.join(columns)} FROM {ident(stream + '__kappa_ontime')}")
    return result


def create_stream(t_env, spec: JobSpec) -> list[Output]:  # type: ignore[no-untyped-def]
    """Each topic's source, its routing outputs, and the view the user's SQL reads it by."""
    sql: dict[str, Any] = spec.sql
    result = _stream(t_env, spec, str(sql["stream"]))
    for joined in sql.get("inputs", []):
        result += [dataclasses.replace(out, name=str(joined["role"])) if out.name == "raw" else out
                   for out in _stream(t_env, input_spec(spec, joined), str(joined["stream"]))]
    return one_per_table(result)


def one_per_table(outputs: list[Output]) -> list[Output]:
    """The routing outputs of several topics into the shared quarantine and late tables, as one insert
    per table (UNION ALL): one Iceberg committer per table and job, whose checkpoint ids in the
    table's snapshots are its own to recover from."""
    merged: dict[str, Output] = {}
    for out in outputs:
        first = merged.get(out.target)
        merged[out.target] = out if first is None else dataclasses.replace(
            first, query=f"{first.query}\nUNION ALL\n{out.query}")
    return list(merged.values())


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


def alert(spec: JobSpec, rule: str, view: str, entity: str, columns: list[str]) -> Output:
    """Each row of `view` as an alert of type `rule` about `entity`. A windowed view's alert is
    identified by rule, entity and window start, as the built-in pipelines' are (the same alert from
    any version or replay, or from a built-in job applying the same rule, has the same id); the
    other columns are its detail, as text."""
    windowed = {"window_start", "window_end"} <= set(columns)
    keys = [entity, "window_start"] if windowed else columns
    detail = ", ".join(f"{literal(c)} VALUE CAST({ident(c)} AS STRING)" for c in columns
                       if c not in (entity, "window_start", "window_end"))
    source = (f"(SELECT *, {alert_id(rule, *(f'CAST({ident(k)} AS STRING)' for k in keys))} AS alert_id "
              f"FROM {ident(view)}) AS {ident(rule + '__alerts')}")
    no_time = "CAST(NULL AS TIMESTAMP_LTZ(3))"
    return alert_output(spec, alert_type=rule, entity=f"CAST({ident(entity)} AS STRING)", source=source,
                        start=window_bound("window_start") if windowed else no_time,
                        end=window_bound("window_end") if windowed else no_time,
                        detail=f"JSON_OBJECT({detail})" if detail else "'{}'")


def outputs(t_env, spec: JobSpec) -> list[Output]:  # type: ignore[no-untyped-def]
    result = create_views(t_env, spec)
    columns = {role: cols for role, cols in spec.sql["outputs"]}
    for role, cols in columns.items():
        result.append(output(spec, role, f"SELECT {', '.join(stored(c, t) for c, t in cols)} FROM {ident(role)}"))
    rules = spec.sql.get("alerts", [])
    if rules:
        create_alerts_sink(t_env, spec)
    for rule, view, entity in rules:
        result.append(alert(spec, rule, view, entity, [c for c, _ in columns[view]]))
    return result


def build(t_env, spec: JobSpec):  # type: ignore[no-untyped-def]
    configure(t_env, spec)
    create_catalog(t_env, spec)
    return statement_set(t_env, outputs(t_env, spec))


if __name__ == "__main__":
    run(build, __doc__ or "")
