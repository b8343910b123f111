"""The platform's handle on the shared Iceberg catalog (PyIceberg), built from the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kappa.context import Context
from kappa.errors import KappaError
from kappa.objectstore import iceberg_s3_properties, s3_client_properties
from kappa.provisioned import outputs as provisioned_outputs
from lakehouse.catalog import open_catalog
from lakehouse.pipeline import Pipeline
from lakehouse.tables import TableEvolutionError, ensure_tables, platform_specs, version_specs

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog


def catalog(ctx: Context) -> SqlCatalog:
    s = ctx.settings
    provisioned = provisioned_outputs(s)
    return open_catalog(
        s.catalog.name, host=s.host, port=s.postgres.port, database=provisioned.catalog_database,
        user=provisioned.catalog_role, password=ctx.secrets.catalog_password, warehouse=provisioned.warehouse_uri,
        io=s3_client_properties(ctx) if provisioned.in_object_store else None,
    )


def job_catalog_spec(ctx: Context) -> dict[str, Any]:
    """The catalog as a Flink job's spec names it (flink_jobs.spec.CatalogSpec)."""
    provisioned = provisioned_outputs(ctx.settings)
    return {"name": ctx.settings.catalog.name, "jdbc_url": provisioned.catalog_jdbc_url,
            "user": provisioned.catalog_role, "password": ctx.secrets.catalog_password,
            "warehouse": provisioned.warehouse_uri,
            "io": iceberg_s3_properties(ctx) if provisioned.in_object_store else {}}


def ensure_streaming_tables(ctx: Context) -> list[str]:
    """The shared tables and every live pipeline's first version's, created if missing (a job's start
    evolves the tables of the version it writes)."""
    return ensure_tables(catalog(ctx), ctx.settings.jobs.namespace, platform_specs(ctx.settings.pipelines),
                         evolve_existing=False)


def ensure_job_tables(ctx: Context, pipeline: Pipeline, version: int) -> list[str]:
    """The tables a pipeline version writes, created, or given the columns its declaration gained."""
    try:
        return ensure_tables(catalog(ctx), ctx.settings.jobs.namespace, version_specs(pipeline, version).values())
    except TableEvolutionError as exc:
        raise KappaError(f"pipeline {pipeline.name} v{version}: {exc}") from None
