"""Deterministic event generators for the reference workloads (`kappa produce --scenario NAME`);
each topic's declaration (lakehouse/pipelines/) names its generator."""

from lakehouse.scenarios.base import Event, ScenarioOptions

__all__ = ["Event", "ScenarioOptions"]
