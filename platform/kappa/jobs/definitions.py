"""Pipelines as the platform runs them: each declaration with its settings applied."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kappa.errors import KappaError
from kappa.jobs.store import JobStore
from kappa.settings import KappaSettings
from lakehouse.pipeline import Pipeline


@dataclass(frozen=True)
class JobDefinition:
    """A pipeline with its settings: what `kappa jobs`, replay, backfill and the benchmark run."""

    name: str  # the job's name on the platform (its record, logs and Flink pipeline name)
    pipeline: Pipeline
    params: dict[str, Any]  # what its SQL module is given
    autostart: bool
    parallelism: int = 1  # when it runs live

    @property
    def module(self) -> str:
        return self.pipeline.module

    @property
    def topic(self) -> str:
        return self.pipeline.topic.name

    @property
    def description(self) -> str:
        return self.pipeline.description

    def tables(self, version: int = 1) -> dict[str, str]:
        """Role -> table name for one version of the job."""
        return self.pipeline.table_names(version)


def definition(settings: KappaSettings, pipeline: Pipeline) -> JobDefinition:
    cfg = settings.jobs.pipeline(pipeline.name)
    return JobDefinition(pipeline.name, pipeline, cfg.params(), cfg.autostart,
                         cfg.parallelism or settings.flink.parallelism)


def job_definitions(settings: KappaSettings) -> dict[str, JobDefinition]:
    """Every live pipeline, in declaration order."""
    return {p.name: definition(settings, p) for p in settings.pipelines.live}


def get_definition(settings: KappaSettings, name: str, *, live: bool = True) -> JobDefinition:
    """One pipeline by name (`live=False` also finds the benchmark's)."""
    candidates = settings.pipelines.live if live else settings.pipelines.pipelines
    for p in candidates:
        if p.name == name:
            return definition(settings, p)
    raise KappaError(f"unknown job {name!r}; known jobs: {', '.join(p.name for p in candidates)}")


def live_tables(settings: KappaSettings, name: str) -> dict[str, str]:
    """Role -> table name of the job's live version (the one the analytics views point at)."""
    return get_definition(settings, name).tables(JobStore(settings.state).get(name).version)
