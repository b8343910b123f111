"""iot-sensors -> per-minute statistics and threshold alerts on the real stack, against plain Python."""

from __future__ import annotations

import math
import uuid

import pytest

from kappa.context import Context
from kappa.jobs import start_job
from lakehouse.scenarios import ScenarioOptions
from tests import expected
from tests.integration.streams import close_windows, fresh_event_time, ms, produce_scenario, rows_when, topic_of

MIN = 60_000


@pytest.fixture(scope="module")
def produced(ctx: Context) -> dict:
    start_job(ctx, "iot_sensors")
    base = fresh_event_time(ctx, "iot_sensors_raw")
    prefix = f"s{uuid.uuid4().hex[:6]}-"
    opts = ScenarioOptions(count=2000, seed=3, start_ms=base, event_interval_ms=300, keys=15, key_prefix=prefix,
                           malformed_share=0.03, out_of_order_share=0.2, max_disorder_ms=2000)
    delivered = produce_scenario(ctx, "iot-sensors", topic_of(ctx, "iot_sensors"), opts)
    records = [d.event.record for d in delivered if d.event.record]
    close_windows(ctx, topic_of(ctx, "iot_sensors"), max(r["timestamp"] for r in records) + 5 * MIN)
    return {"prefix": prefix, "records": records, "delivered": delivered}


def test_sensor_stats(ctx: Context, produced: dict) -> None:
    want = expected.sensor_stats(produced["records"], ctx.settings.jobs.iot_sensors.stats_window_min * MIN)
    rows = rows_when(ctx, f"SELECT window_start, sensor_id, location, avg_temperature, min_temperature, "
                          f"max_temperature, avg_humidity, min_humidity, max_humidity, reading_count "
                          f"FROM sensor_stats_1m WHERE sensor_id LIKE '{produced['prefix']}%'",
                     lambda r: len(r) >= len(want), f"{len(want)} stats rows")
    got = {(ms(r[0]), r[1], r[2]): tuple(r[3:]) for r in rows}
    assert set(got) == set(want) and len(rows) == len(want)
    for key, values in want.items():
        assert got[key][-1] == values[-1]
        assert all(math.isclose(a, b, rel_tol=1e-9) for a, b in zip(got[key][:-1], values[:-1], strict=True))


def test_sensor_alerts(ctx: Context, produced: dict) -> None:
    job = ctx.settings.jobs.iot_sensors
    want = expected.sensor_alerts(produced["records"], job.temperature_above, job.humidity_above)
    assert want, "the stream should trip the alert rules"
    rows = rows_when(ctx, f"SELECT sensor_id, event_time, rule FROM sensor_alerts "
                          f"WHERE sensor_id LIKE '{produced['prefix']}%'",
                     lambda r: len(r) >= len(want), f"{len(want)} sensor alerts")
    assert {(r[0], ms(r[1]), r[2]) for r in rows} == want
