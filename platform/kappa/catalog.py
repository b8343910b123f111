"""The platform's handle on the shared Iceberg catalog (PyIceberg), built from the settings."""

from __future__ import annotations

from pyiceberg.catalog.sql import SqlCatalog

from kappa import infra
from kappa.services.base import Context
from lakehouse.catalog import open_catalog
from lakehouse.tables import all_streaming_tables, ensure_tables, job_table_specs


def catalog(ctx: Context) -> SqlCatalog:
    s = ctx.settings
    provisioned = infra.outputs(ctx)
    return open_catalog(
        s.catalog.name, host=s.host, port=s.postgres.port, database=provisioned.catalog_database,
        user=provisioned.catalog_role, password=ctx.secrets.catalog_password, warehouse=provisioned.warehouse,
    )


def ensure_streaming_tables(ctx: Context) -> list[str]:
    return ensure_tables(catalog(ctx), ctx.settings.jobs.namespace, all_streaming_tables())


def ensure_job_tables(ctx: Context, job: str, version: int) -> list[str]:
    return ensure_tables(catalog(ctx), ctx.settings.jobs.namespace, job_table_specs(job, version).values())
