"""The platform's handle on the shared Iceberg catalog (PyIceberg), built from the settings."""

from __future__ import annotations

from pyiceberg.catalog.sql import SqlCatalog

from kappa.services.base import Context
from lakehouse.catalog import open_catalog
from lakehouse.tables import all_streaming_tables, ensure_tables, job_table_specs


def catalog(ctx: Context) -> SqlCatalog:
    s = ctx.settings
    return open_catalog(
        s.catalog.name, host=s.host, port=s.postgres.port, database=s.postgres.database,
        user=s.postgres.user, password=ctx.secrets.catalog_password, warehouse=s.warehouse,
    )


def ensure_streaming_tables(ctx: Context) -> list[str]:
    ctx.settings.warehouse.mkdir(parents=True, exist_ok=True)
    return ensure_tables(catalog(ctx), ctx.settings.jobs.namespace, all_streaming_tables())


def ensure_job_tables(ctx: Context, job: str, version: int) -> list[str]:
    ctx.settings.warehouse.mkdir(parents=True, exist_ok=True)
    return ensure_tables(catalog(ctx), ctx.settings.jobs.namespace, job_table_specs(job, version).values())
