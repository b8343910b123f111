"""kappa bench: Nexmark-style throughput, ratios and footprint, measured in one run."""

from __future__ import annotations

from pathlib import Path

import typer

from kappa.cli.output import console
from kappa.runtime.stack import build_context
from kappa.settings import KappaSettings


def bench(
    ctx: typer.Context,
    profile: str = typer.Option("quick", help="quick (300k events, under 10 minutes) or full (3M events)"),
    events: int | None = typer.Option(None, min=1000, help="events to generate (overrides the profile)"),  # noqa: UP007
    parallelism: int = typer.Option(1, min=1, help="Flink parallelism of each query"),
    partitions: int = typer.Option(3, min=1, help="partitions of the benchmark topic"),
    seed: int = typer.Option(1, help="generator seed (same seed, same events)"),
    query: list[str] | None = typer.Option(None, help="only these queries (q0 always runs)"),  # noqa: UP007
    interval: list[int] | None = typer.Option(None, min=1, help="checkpoint intervals (s) for freshness; "  # noqa: UP007
                                                                  "repeat the option (default 1 and 5)"),
    fresh_rate: int = typer.Option(10_000, min=100, help="produce rate (events/s) of the freshness runs"),
    out: Path = typer.Option(Path("bench-results"), help="results folder"),
) -> None:
    """Fill a topic with Nexmark events, then measure consume limits, Nexmark queries, freshness,
    replay, serving (Trino vs DuckDB, compaction) and footprint."""
    from kappa.bench.run import bench as run_bench

    settings: KappaSettings = ctx.obj
    c = build_context(settings)
    result, report = run_bench(c, profile, events, parallelism, partitions, seed, out, console.print, query, interval,
                               fresh_rate)
    console.print(report.read_text())
    console.print(f"report: {report}")
