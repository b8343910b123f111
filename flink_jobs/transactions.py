"""transactions -> transactions_raw, transactions_5m, suspicious_activity (+ alerts).

The source document's ksqlDB example as Flink SQL: tumbling event-time windows per user with count
and sum, and the windows that look suspicious (count or sum above the thresholds).
"""

from __future__ import annotations

from flink_jobs.runner import run
from flink_jobs.spec import JobSpec, ident, literal
from flink_jobs.sql import (
    Output,
    alert_id,
    alert_output,
    configure,
    create_alerts_sink,
    create_catalog,
    output,
    prepare_source,
    statement_set,
    window_bound,
)

ONTIME = "transactions_ontime"
BOUNDS = f"{window_bound('window_start')} AS window_start, {window_bound('window_end')} AS window_end"


def tumbling_view(t_env, name: str, size_min: int) -> str:  # type: ignore[no-untyped-def]
    t_env.execute_sql(f"""
        CREATE TEMPORARY VIEW {ident(name)} AS
        SELECT window_start, window_end, user_id, COUNT(*) AS transaction_count,
               CAST(SUM(amount) AS DECIMAL(18, 2)) AS total_amount
        FROM TABLE(TUMBLE(TABLE {ident(ONTIME)}, DESCRIPTOR(event_time), INTERVAL '{int(size_min)}' MINUTE))
        GROUP BY window_start, window_end, user_id
    """)
    return name


def outputs(t_env, spec: JobSpec) -> list[Output]:  # type: ignore[no-untyped-def]
    p = spec.params
    result = prepare_source(t_env, spec, "transactions")
    windows = tumbling_view(t_env, "transactions_windows", p["window_size_min"])
    result.append(output(spec, "windows", f"""
        SELECT {BOUNDS}, user_id, transaction_count, total_amount FROM {ident(windows)}"""))

    n, total = int(p["suspicious_count_above"]), int(p["suspicious_total_above"])
    suspicious_windows = windows
    if p["suspicious_window_min"] != p["window_size_min"]:
        suspicious_windows = tumbling_view(t_env, "suspicious_windows", p["suspicious_window_min"])
    both, by_count, by_total = f"count > {n} and total > {total}", f"count > {n}", f"total > {total}"
    rule = (f"CASE WHEN transaction_count > {n} AND total_amount > {total} THEN {literal(both)}"
            f" WHEN transaction_count > {n} THEN {literal(by_count)} ELSE {literal(by_total)} END")
    t_env.execute_sql(f"""
        CREATE TEMPORARY VIEW suspicious AS
        SELECT window_start, window_end, user_id, transaction_count, total_amount, {rule} AS rule,
               {alert_id('suspicious_activity', 'user_id', 'CAST(window_start AS STRING)')} AS alert_id
        FROM {ident(suspicious_windows)}
        WHERE transaction_count > {n} OR total_amount > {total}
    """)
    result.append(output(spec, "suspicious", f"""
        SELECT {BOUNDS}, user_id, transaction_count, total_amount, rule, alert_id FROM suspicious"""))
    create_alerts_sink(t_env, spec)
    result.append(alert_output(
        spec, alert_type="suspicious_activity", entity="user_id", source="suspicious",
        start=window_bound("window_start"), end=window_bound("window_end"),
        detail="JSON_OBJECT('rule' VALUE rule, 'transaction_count' VALUE transaction_count, "
               "'total_amount' VALUE CAST(total_amount AS STRING))"))
    return result


def build(t_env, spec: JobSpec):  # type: ignore[no-untyped-def]
    configure(t_env, spec)
    create_catalog(t_env, spec)
    return statement_set(t_env, outputs(t_env, spec))


if __name__ == "__main__":
    run(build, __doc__ or "")
