"""The shared Iceberg JDBC catalog, opened with PyIceberg."""

from __future__ import annotations

from pathlib import Path

from pyiceberg.catalog.sql import SqlCatalog


def open_catalog(name: str, *, host: str, port: int, database: str, user: str, password: str,
                 warehouse: Path) -> SqlCatalog:
    """The same catalog (same `catalog_name` rows) that Flink and Trino use."""
    from urllib.parse import quote

    from sqlalchemy.exc import IntegrityError, ProgrammingError

    uri = f"postgresql+psycopg2://{quote(user)}:{quote(password)}@{host}:{port}/{database}"
    try:
        return SqlCatalog(name, uri=uri, warehouse=warehouse.as_uri(), **{"pool_pre_ping": "true"})
    except (IntegrityError, ProgrammingError):
        # Two processes (the CLI, a Dagster sensor, a test) opened a new catalog at the same moment and
        # both created its tables; the other one won, so the tables now exist.
        return SqlCatalog(name, uri=uri, warehouse=warehouse.as_uri(), **{"pool_pre_ping": "true"})
