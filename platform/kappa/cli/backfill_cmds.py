"""kappa backfill JOB --from DAY --to DAY."""

from __future__ import annotations

import typer

from kappa import backfill as b
from kappa.cli.output import console
from kappa.context import build_context
from kappa.errors import KappaError
from kappa.settings import KappaSettings
from lakehouse.registry import default_registry

LIVE_PIPELINES = ", ".join(pipeline.name for pipeline in default_registry().live)


def backfill(
    ctx: typer.Context,
    job: str = typer.Argument(..., help="a pipeline: " + LIVE_PIPELINES),
    first: str = typer.Option(..., "--from", help="first day, YYYY-MM-DD (UTC)"),
    last: str | None = typer.Option(None, "--to", help="last day (default: the first)"),  # noqa: UP007
    checks: bool = typer.Option(True, help="block publishing when a quality check fails"),
) -> None:
    """Reprocess whole days from Kafka and overwrite exactly those day partitions (idempotent)."""
    settings: KappaSettings = ctx.obj
    c = build_context(settings)
    check = b.declared_checks(settings, job) if checks else None
    failed = []
    for day in b.days(b.parse_day(first), b.parse_day(last or first)):
        result = b.backfill_day(c, job, day, check, progress=console.print)
        if not result.ok:
            failed.append(str(day))
    if failed:
        raise KappaError(f"quality checks blocked publishing for {', '.join(failed)}; those days are unchanged")
