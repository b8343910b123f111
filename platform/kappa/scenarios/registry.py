"""Scenario names -> generators and their topics."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from kappa.errors import KappaError
from kappa.scenarios import iot_sensors, transactions, user_events
from kappa.scenarios.base import Event, ScenarioOptions


@dataclass(frozen=True)
class Scenario:
    name: str
    topic: str
    generate: Callable[[ScenarioOptions], Iterator[Event]]
    key_prefix: str


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("transactions", "transactions", transactions.generate, "user-"),
        Scenario("user-events", "user-events", user_events.generate, "user-"),
        Scenario("iot-sensors", "iot-sensors", iot_sensors.generate, "sensor-"),
    )
}


def generate(name: str, opts: ScenarioOptions) -> Iterator[Event]:
    if name not in SCENARIOS:
        raise KappaError(f"unknown scenario {name!r}; choose one of: {', '.join(sorted(SCENARIOS))}")
    return SCENARIOS[name].generate(opts)
