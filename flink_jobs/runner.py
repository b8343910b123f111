"""Entry point shared by the job modules: `python -m flink_jobs.<job> --spec spec.json`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from flink_jobs.spec import JobSpec


def run(build: Callable[[Any, JobSpec], Any], description: str, argv: list[str] | None = None) -> None:
    from pyflink.table import EnvironmentSettings, TableEnvironment

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--spec", required=True, help="job spec JSON rendered by the platform")
    args = parser.parse_args(argv)
    spec = JobSpec.load(args.spec)
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    build(t_env, spec).execute()
