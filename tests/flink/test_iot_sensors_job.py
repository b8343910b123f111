"""iot_sensors job on a local Flink: per-minute statistics and threshold alerts, against plain Python."""

from __future__ import annotations

import math
from pathlib import Path

from lakehouse.contracts import contract, quarantine_reason
from lakehouse.scenarios import ScenarioOptions, iot_sensors
from tests import expected
from tests.flink.harness import records, run_outputs, spec_for, write_records

MIN = 60_000
T0 = 1_800_000_000_000
TABLES = {"raw": "r", "stats": "s", "alerts": "a", "quarantine": "q", "late": "l"}
PARAMS = {"stats_window_min": 1, "temperature_above": 30.0, "humidity_above": 70.0}


def test_stats_alerts_and_out_of_range_readings(tmp_path: Path) -> None:
    opts = ScenarioOptions(count=1500, seed=5, start_ms=T0, event_interval_ms=400, keys=12, key_prefix="s-",
                           malformed_share=0.05, out_of_order_share=0.2, max_disorder_ms=3000)
    events = list(iot_sensors.generate(opts))
    path = tmp_path / "iot.records"
    write_records(path, records([e.value.decode() for e in events], "iot-sensors"))
    out = run_outputs("flink_jobs.iot_sensors", spec_for("iot_sensors", "iot-sensors", TABLES, PARAMS, path))

    valid = [e.record for e in events if e.record]
    assert out["late"] == []
    assert len(out["raw"]) == len(valid)

    got = {(r["window_start"], r["sensor_id"], r["location"]): r for r in out["stats"]}
    want = expected.sensor_stats(valid, MIN)
    assert set(got) == set(want)
    for key, (avg_t, min_t, max_t, avg_h, min_h, max_h, count) in want.items():
        row = got[key]
        assert row["reading_count"] == count
        assert (row["min_temperature"], row["max_temperature"], row["min_humidity"], row["max_humidity"]) == (
            min_t, max_t, min_h, max_h)
        assert math.isclose(row["avg_temperature"], avg_t, rel_tol=1e-9)
        assert math.isclose(row["avg_humidity"], avg_h, rel_tol=1e-9)

    alerts = {(r["sensor_id"], r["event_time"], r["rule"]) for r in out["alerts"]}
    assert alerts == expected.sensor_alerts(valid, 30.0, 70.0)
    assert {r["rule"] for r in out["alerts"]} == {"temperature > 30.0", "humidity > 70.0"}

    schema = contract("iot-sensors")
    bad = {i: quarantine_reason(e.value, schema, 65536) for i, e in enumerate(events) if e.record is None}
    assert {r["kafka_offset"]: r["reason"] for r in out["quarantine"]} == bad
    assert "humidity out of range" in bad.values()
