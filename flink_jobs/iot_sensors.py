"""iot-sensors -> iot_sensors_raw, sensor_stats_1m, sensor_alerts (+ alerts).

sensor_stats_1m: avg/min/max of temperature and humidity per sensor and location in tumbling
windows of `stats_window_min`; sensor_alerts: one row per reading and rule that fired
(temperature above `temperature_above`, humidity above `humidity_above`).
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

ONTIME = "sensors_ontime"


def outputs(t_env, spec: JobSpec) -> list[Output]:  # type: ignore[no-untyped-def]
    p = spec.params
    result = prepare_source(t_env, spec, "sensors")
    size = int(p["stats_window_min"])
    result.append(output(spec, "stats", f"""
        SELECT {window_bound('window_start')} AS window_start, {window_bound('window_end')} AS window_end,
               sensor_id, location,
               AVG(temperature) AS avg_temperature, MIN(temperature) AS min_temperature,
               MAX(temperature) AS max_temperature, AVG(humidity) AS avg_humidity,
               MIN(humidity) AS min_humidity, MAX(humidity) AS max_humidity, COUNT(*) AS reading_count
        FROM TABLE(TUMBLE(TABLE {ident(ONTIME)}, DESCRIPTOR(event_time), INTERVAL '{size}' MINUTE))
        GROUP BY window_start, window_end, sensor_id, location"""))
    rules = [
        (f"temperature > {p['temperature_above']}", f"temperature > {float(p['temperature_above'])!r}"),
        (f"humidity > {p['humidity_above']}", f"humidity > {float(p['humidity_above'])!r}"),
    ]
    selects = [
        f"""SELECT sensor_id, location, event_time, event_ts_ms, temperature, humidity, {literal(name)} AS rule,
                   {alert_id('sensor_alert', 'sensor_id', literal(name), 'CAST(event_ts_ms AS STRING)')} AS alert_id
            FROM {ident(ONTIME)} WHERE {condition}"""
        for name, condition in rules
    ]
    t_env.execute_sql(f"CREATE TEMPORARY VIEW sensor_alerts_view AS {' UNION ALL '.join(selects)}")
    result.append(output(spec, "alerts", """
        SELECT sensor_id, location, event_time, temperature, humidity, rule, alert_id FROM sensor_alerts_view"""))
    create_alerts_sink(t_env, spec)
    result.append(alert_output(
        spec, alert_type="sensor_alert", entity="sensor_id", source="sensor_alerts_view",
        # a sink takes one time attribute: the second bound is the same instant, as a plain value
        start="event_time", end="TO_TIMESTAMP_LTZ(event_ts_ms, 3)",
        detail="JSON_OBJECT('rule' VALUE rule, 'location' VALUE location, 'temperature' VALUE temperature, "
               "'humidity' VALUE humidity)"))
    return result


def build(t_env, spec: JobSpec):  # type: ignore[no-untyped-def]
    configure(t_env, spec)
    create_catalog(t_env, spec)
    return statement_set(t_env, outputs(t_env, spec))


if __name__ == "__main__":
    run(build, __doc__ or "")
