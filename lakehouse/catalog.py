"""The shared Iceberg JDBC catalog: opened with PyIceberg, and as Trino's `iceberg` catalog."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote

from flink_jobs.spec import CATALOG_PASSWORD_ENV, CATALOG_RETRYABLE_SQL_STATES

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog

TRINO_CATALOG = "iceberg"  # the name analysts type: iceberg.<schema>.<table>
# Trino reads `${ENV:NAME}` in any of its properties files: the password stays out of them.
CATALOG_PASSWORD_REF = f"${{ENV:{CATALOG_PASSWORD_ENV}}}"


def trino_catalog_properties(name: str, *, jdbc_url: str, user: str, password: str, warehouse: str,
                             storage: Literal["local", "s3"], s3_endpoint: str = "", s3_region: str = "",
                             s3_keys: tuple[str, str] | None = None) -> dict[str, str]:
    """Trino's Iceberg catalog on the JDBC catalog, for the local stack and for a cluster (the
    Kubernetes environment renders its `trino_catalog_properties` with this too: `kappa infra
    kubernetes-vars`). `password` may be a reference such as `${ENV:KAPPA_CATALOG_PASSWORD}`."""
    properties = {
        "connector.name": "iceberg",
        "iceberg.catalog.type": "jdbc",
        "iceberg.jdbc-catalog.catalog-name": name,
        "iceberg.jdbc-catalog.driver-class": "org.postgresql.Driver",
        "iceberg.jdbc-catalog.connection-url": jdbc_url,
        "iceberg.jdbc-catalog.connection-user": user,
        "iceberg.jdbc-catalog.connection-password": password,
        "iceberg.jdbc-catalog.default-warehouse-dir": warehouse,
        "iceberg.jdbc-catalog.schema-version": "V1",
        "iceberg.jdbc-catalog.retryable-status-codes": CATALOG_RETRYABLE_SQL_STATES,
        # The platform's maintenance applies its own (longer) retention; these are Trino's floors.
        "iceberg.expire-snapshots.min-retention": "1h",
        "iceberg.remove-orphan-files.min-retention": "1h",
        "iceberg.file-format": "PARQUET",
        "iceberg.compression-codec": "ZSTD",
    }
    if storage == "local":
        # Flink writes file:/ paths; Trino's local file system serves them with its root at "/".
        properties |= {"fs.native-local.enabled": "true", "local.location": "/"}
    else:
        properties |= {"fs.native-s3.enabled": "true"}
        if s3_endpoint:
            properties |= {"s3.endpoint": s3_endpoint, "s3.path-style-access": "true"}
        if s3_region:
            properties |= {"s3.region": s3_region}
        if s3_keys:  # references such as ${ENV:NAME}, like `password`
            properties |= {"s3.aws-access-key": s3_keys[0], "s3.aws-secret-key": s3_keys[1]}
    return properties


def open_catalog(name: str, *, host: str, port: int, database: str, user: str, password: str,
                 warehouse: str, io: Mapping[str, str] | None = None) -> SqlCatalog:
    """The same catalog (same `catalog_name` rows) that Flink and Trino use. `warehouse`: a file:// or
    s3:// location; `io`: the FileIO's properties (an object store's endpoint and key)."""
    # SQLAlchemy and PyIceberg's SQL catalog take half a second to import: only commands that open it pay
    from pyiceberg.catalog.sql import SqlCatalog
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    uri = f"postgresql+psycopg2://{quote(user)}:{quote(password)}@{host}:{port}/{database}"
    try:
        return SqlCatalog(name, uri=uri, warehouse=warehouse, **{"pool_pre_ping": "true", **(io or {})})
    except (IntegrityError, ProgrammingError):
        # Two processes (the CLI, a Dagster sensor, a test) opened a new catalog at the same moment and
        # both created its tables; the other one won, so the tables now exist.
        return SqlCatalog(name, uri=uri, warehouse=warehouse, **{"pool_pre_ping": "true", **(io or {})})
