"""Deterministic event generators for the reference workloads (`kappa produce --scenario NAME`)."""

from kappa.scenarios.base import Event, ScenarioOptions
from kappa.scenarios.registry import SCENARIOS, generate

__all__ = ["SCENARIOS", "Event", "ScenarioOptions", "generate"]
