"""kappa bench: Nexmark-style throughput, ratios and footprint, measured in one run."""

from __future__ import annotations

from pathlib import Path

import typer

from kappa.bench.run import bench as run_bench
from kappa.cli.output import console
from kappa.context import build_context
from kappa.settings import KappaSettings


def bench(
    ctx: typer.Context,
    profile: str = typer.Option("quick", help="quick (pipelines over 1M-event backlogs, 2 rounds; 300k Nexmark "
                                              "events) or full (2M, 3 rounds; 3M)"),
    events: int | None = typer.Option(None, min=1000, help="events to generate (overrides the profile)"),  # noqa: UP007
    parallelism: int = typer.Option(1, min=1, help="Flink parallelism of each query"),
    partitions: int = typer.Option(3, min=1, help="partitions of the benchmark topic"),
    seed: int = typer.Option(1, help="generator seed (same seed, same events)"),
    query: list[str] | None = typer.Option(None, help="only these queries (q0 always runs)"),  # noqa: UP007
    interval: list[int] | None = typer.Option(None, min=1, help="checkpoint intervals (s) for freshness; "  # noqa: UP007
                                                                  "repeat the option (default 1 and 5)"),
    fresh_rate: int = typer.Option(10_000, min=100, help="produce rate (events/s) of the freshness runs"),
    pipelines_only: bool = typer.Option(False, "--pipelines-only", help="only the product pipelines (and q0 -> "
                                                                         "Iceberg, their reference)"),
    pipeline_events: int | None = typer.Option(None, min=300_000, help="backlog per pipeline "  # noqa: UP007
                                                                       "(overrides the profile)"),
    live_rate: int = typer.Option(5_000, min=100, help="events/s of the live stream the pipeline replays run against"),
    compare_jobs: Path | None = typer.Option(None, exists=True, file_okay=False,  # noqa: UP007
                                             help="also run the pipelines from this `flink_jobs` folder (e.g. a "
                                                  "checkout of another commit), side by side"),
    pipeline: list[str] | None = typer.Option(None, help="only these product pipelines (repeat the option)"),  # noqa: UP007
    scaling: int | None = typer.Option(None, min=2, help="only the scaling: each pipeline live over its "  # noqa: UP007
                                                          "backlog at parallelism 1, then this one; their ratio"),
    out: Path = typer.Option(Path("bench-results"), help="results folder"),
) -> None:
    """Fill topics with Nexmark and scenario events, then measure the product's pipelines (throughput
    against q0 -> Iceberg, replay over a live stream, freshness), consume limits, Nexmark queries,
    freshness, replay, serving (Trino vs DuckDB, compaction) and footprint."""
    settings: KappaSettings = ctx.obj
    c = build_context(settings)
    result, report = run_bench(c, profile, events, parallelism, partitions, seed, out, console.print, query, interval,
                               fresh_rate, pipelines_only, pipeline_events, live_rate,
                               compare_jobs.resolve() if compare_jobs else None, pipeline, scaling)
    console.print(report.read_text())
    console.print(f"report: {report}")
