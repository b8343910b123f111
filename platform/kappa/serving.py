"""Apply the `analytics` views (lakehouse/views.py) for the live version of every job, through Trino.

`CREATE OR REPLACE VIEW` swaps one catalog pointer, so a query sees either the old or the new
version, never a missing or half-written view. Applied by `kappa up` and by replay cut-over.
"""

from __future__ import annotations

from kappa import query
from kappa.jobs import JobStore, job_definitions
from kappa.services.base import Context
from kappa.services.trino import ICEBERG_CATALOG
from lakehouse.views import job_views


def ensure_views_schema(ctx: Context) -> None:
    query.run(ctx.settings, f'CREATE SCHEMA IF NOT EXISTS "{ICEBERG_CATALOG}"."{ctx.settings.jobs.views_namespace}"')


def apply_job_views(ctx: Context, job: str, version: int) -> list[str]:
    s = ctx.settings
    ensure_views_schema(ctx)
    names = []
    for view in job_views(job, version):
        query.run(s, view.create_sql(ICEBERG_CATALOG, s.jobs.views_namespace, s.jobs.namespace))
        names.append(f"{s.jobs.views_namespace}.{view.name} -> {s.jobs.namespace}.{view.source_table}")
    return names


def apply_views(ctx: Context) -> list[str]:
    """Every job's views at its live version; idempotent."""
    applied = []
    store = JobStore(ctx.settings.state)
    for name in job_definitions(ctx):
        applied += apply_job_views(ctx, name, store.get(name).version)
    return applied
