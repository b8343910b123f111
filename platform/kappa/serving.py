"""Apply the `analytics` views (lakehouse/views.py) for the live version of every pipeline, through Trino.

`CREATE OR REPLACE VIEW` swaps one catalog pointer, so a query sees either the old or the new
version, never a missing or half-written view. Applied by `kappa up` and by replay cut-over; a view
statement that fails for a transient reason (the catalog database restarting) is retried, since
replacing a view twice is harmless.
"""

from __future__ import annotations

from kappa import query
from kappa.context import Context
from kappa.jobs.store import JobStore
from lakehouse.catalog import TRINO_CATALOG
from lakehouse.pipeline import Pipeline
from lakehouse.sql import qualified
from lakehouse.views import pipeline_views


def ensure_views_schema(ctx: Context) -> None:
    schema = qualified(TRINO_CATALOG, ctx.settings.jobs.views_namespace)
    query.run_idempotent(ctx.settings, f"CREATE SCHEMA IF NOT EXISTS {schema}")


def apply_job_views(ctx: Context, pipeline: Pipeline, version: int) -> list[str]:
    s = ctx.settings
    ensure_views_schema(ctx)
    names = []
    for view in pipeline_views(pipeline, version):
        query.run_idempotent(s, view.create_sql(TRINO_CATALOG, s.jobs.views_namespace, s.jobs.namespace))
        names.append(f"{s.jobs.views_namespace}.{view.name} -> {s.jobs.namespace}.{view.source_table}")
    return names


def apply_views(ctx: Context) -> list[str]:
    """Every pipeline's views at its live version; idempotent."""
    applied = []
    store = JobStore(ctx.settings.state)
    for p in ctx.settings.pipelines.live:
        applied += apply_job_views(ctx, p, store.get(p.name).version)
    return applied


def drop_pipeline_tables(ctx: Context, pipeline: Pipeline, tables: list[str]) -> list[str]:
    """Drop a pipeline's analytics views, then `tables` (its own, of any version), through Trino."""
    s = ctx.settings
    dropped = []
    for t in pipeline.published:
        query.run_idempotent(s, f"DROP VIEW IF EXISTS {qualified(TRINO_CATALOG, s.jobs.views_namespace, t.name)}")
        dropped.append(f"{s.jobs.views_namespace}.{t.name}")
    for name in tables:
        query.run_idempotent(s, f"DROP TABLE IF EXISTS {qualified(TRINO_CATALOG, s.jobs.namespace, name)}")
        dropped.append(f"{s.jobs.namespace}.{name}")
    return dropped
