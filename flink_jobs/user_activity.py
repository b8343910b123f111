"""user-events -> user_events_raw, user_spend_5m, fraud_alerts, suspicious_patterns, user_sessions (+ alerts).

- user_spend_5m: purchases per user in windows of `spend_window_min` sliding every `spend_slide_min`;
  fraud_alerts: those windows with total_spent above `fraud_total_above`.
- suspicious_patterns: per user, login_failed then login_success then a purchase above
  `pattern_purchase_above`, within `pattern_within_min` (MATCH_RECOGNIZE, other events may come between).
- user_sessions: session windows per user closed by a gap of `session_gap_min`.
"""

from __future__ import annotations

from flink_jobs.runner import run
from flink_jobs.spec import JobSpec, ident
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

ONTIME = "user_events_ontime"
BOUNDS = f"{window_bound('window_start')} AS window_start, {window_bound('window_end')} AS window_end"


def spend_outputs(t_env, spec: JobSpec) -> list[Output]:  # type: ignore[no-untyped-def]
    p = spec.params
    slide, size, threshold = int(p["spend_slide_min"]), int(p["spend_window_min"]), int(p["fraud_total_above"])
    t_env.execute_sql(f"""
        CREATE TEMPORARY VIEW user_spend AS
        SELECT window_start, window_end, user_id, CAST(SUM(amount) AS DECIMAL(18, 2)) AS total_spent,
               COUNT(*) AS transaction_count
        FROM TABLE(HOP(
            (SELECT * FROM {ident(ONTIME)} WHERE action = 'purchase'), DESCRIPTOR(event_time),
            INTERVAL '{slide}' MINUTE, INTERVAL '{size}' MINUTE))
        GROUP BY window_start, window_end, user_id
    """)
    t_env.execute_sql(f"""
        CREATE TEMPORARY VIEW fraud AS
        SELECT *, {alert_id('fraud_alert', 'user_id', 'CAST(window_start AS STRING)')} AS alert_id
        FROM user_spend WHERE total_spent > {threshold}
    """)
    return [
        output(spec, "spend", f"SELECT {BOUNDS}, user_id, total_spent, transaction_count FROM user_spend"),
        output(spec, "fraud", f"SELECT {BOUNDS}, user_id, total_spent, transaction_count, alert_id FROM fraud"),
        alert_output(
            spec, alert_type="fraud_alert", entity="user_id", source="fraud",
            start=window_bound("window_start"), end=window_bound("window_end"),
            detail=f"JSON_OBJECT('total_spent' VALUE CAST(total_spent AS STRING), "
                   f"'transaction_count' VALUE transaction_count, 'threshold' VALUE {threshold})"),
    ]


def pattern_outputs(t_env, spec: JobSpec) -> list[Output]:  # type: ignore[no-untyped-def]
    """Only failures, successes and big purchases enter the pattern: every other event could only be
    one of the `N1*`/`N2*` events in between, so leaving it out changes no match, while each one
    kept would be stored in every open partial match (the pattern ran 15x slower with them). The
    conditions name no pattern variable (`action`, not `F.action`: the row being tried either way),
    so Flink's CEP need not extract the partial match to evaluate each one."""
    p = spec.params
    within, above = int(p["pattern_within_min"]), int(p["pattern_purchase_above"])
    t_env.execute_sql(f"""
        CREATE TEMPORARY VIEW patterns AS
        SELECT *, {alert_id('suspicious_pattern', 'user_id', 'failed_event_id')} AS alert_id
        FROM (SELECT user_id, event_id, action, amount, event_time FROM {ident(ONTIME)}
              WHERE action IN ('login_failed', 'login_success') OR (action = 'purchase' AND amount > {above}))
        MATCH_RECOGNIZE (
            PARTITION BY user_id
            ORDER BY event_time
            MEASURES
                F.event_id AS failed_event_id, F.event_time AS failed_time,
                S.event_id AS success_event_id, S.event_time AS success_time,
                P.event_id AS purchase_event_id, P.event_time AS purchase_time, P.amount AS purchase_amount
            ONE ROW PER MATCH
            AFTER MATCH SKIP PAST LAST ROW
            PATTERN (F N1* S N2* P) WITHIN INTERVAL '{within}' MINUTE
            DEFINE
                F AS action = 'login_failed',
                N1 AS action <> 'login_success',
                S AS action = 'login_success',
                N2 AS NOT (action = 'purchase' AND amount > {above}),
                P AS action = 'purchase' AND amount > {above}
        )
    """)
    return [
        output(spec, "patterns", """
            SELECT user_id, failed_event_id, failed_time, success_event_id, success_time,
                   purchase_event_id, purchase_time, purchase_amount, alert_id FROM patterns"""),
        alert_output(
            spec, alert_type="suspicious_pattern", entity="user_id", source="patterns",
            start="failed_time", end="purchase_time",
            detail="JSON_OBJECT('failed_event_id' VALUE failed_event_id, 'success_event_id' VALUE success_event_id, "
                   "'purchase_event_id' VALUE purchase_event_id, "
                   "'purchase_amount' VALUE CAST(purchase_amount AS STRING))"),
    ]


def session_outputs(spec: JobSpec) -> list[Output]:
    gap = int(spec.params["session_gap_min"])
    return [output(spec, "sessions", f"""
        SELECT user_id, {window_bound('window_start')} AS session_start, {window_bound('window_end')} AS session_end,
               COUNT(*) AS event_count, SUM(CASE WHEN action = 'purchase' THEN 1 ELSE 0 END) AS purchases,
               CAST(COALESCE(SUM(CASE WHEN action = 'purchase' THEN amount END), 0) AS DECIMAL(18, 2)) AS total_spent
        FROM TABLE(SESSION(TABLE {ident(ONTIME)} PARTITION BY user_id, DESCRIPTOR(event_time),
                           INTERVAL '{gap}' MINUTE))
        GROUP BY window_start, window_end, user_id""")]


def outputs(t_env, spec: JobSpec) -> list[Output]:  # type: ignore[no-untyped-def]
    result = prepare_source(t_env, spec, "user_events")
    create_alerts_sink(t_env, spec)
    return result + spend_outputs(t_env, spec) + pattern_outputs(t_env, spec) + session_outputs(spec)


def build(t_env, spec: JobSpec):  # type: ignore[no-untyped-def]
    configure(t_env, spec)
    create_catalog(t_env, spec)
    return statement_set(t_env, outputs(t_env, spec))


if __name__ == "__main__":
    run(build, __doc__ or "")
