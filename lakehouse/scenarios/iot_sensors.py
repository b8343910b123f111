"""Environment sensors keyed by sensor_id: temperature, humidity and pressure readings.

Each sensor has a home location and a baseline; readings drift around it, and a few sensors run
hot or humid so that the alert rules fire.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from lakehouse.contracts import contract
from lakehouse.scenarios.base import Event, ScenarioOptions, ZipfKeys, encode, event_time, malformed

LOCATIONS = ("warehouse-a", "warehouse-b", "office", "server-room", "cold-storage", "rooftop")
REQUIRED = tuple(contract("iot-sensors")["required"])  # dropping one makes a malformed event


def generate(opts: ScenarioOptions) -> Iterator[Event]:
    rng = random.Random(opts.seed)
    sensors = ZipfKeys(opts.keys, opts.extra.get("skew", 0.3), opts.key_prefix)
    baseline: dict[str, tuple[str, float, float]] = {}
    for i in range(opts.count):
        sensor = sensors.draw(rng)
        if sensor not in baseline:
            hot = rng.random() < 0.1
            baseline[sensor] = (rng.choice(LOCATIONS), rng.uniform(28, 34) if hot else rng.uniform(15, 26),
                                rng.uniform(60, 80) if hot else rng.uniform(30, 60))
        location, temp, hum = baseline[sensor]
        record = {
            "sensor_id": sensor,
            "temperature": round(temp + rng.gauss(0, 1.5), 2),
            "humidity": round(min(100.0, max(0.0, hum + rng.gauss(0, 4))), 2),
            "pressure": round(rng.gauss(1013, 6), 1),
            "timestamp": event_time(rng, opts, i),
            "location": location,
        }
        if opts.malformed_share and rng.random() < opts.malformed_share:
            if rng.random() < 0.3:  # physically impossible: quarantined as out of range
                bad = dict(record, humidity=round(rng.uniform(101, 200), 1))
                yield Event(sensor, encode(bad), None, "out_of_range")
            else:
                payload, kind = malformed(rng, record, REQUIRED, "temperature")
                yield Event(sensor, payload, None, kind)
        else:
            yield Event(sensor, encode(record), record)
