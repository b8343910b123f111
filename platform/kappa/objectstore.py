"""How the platform's clients reach the object store (the cluster profile's warehouse): PyIceberg
through PyArrow, Flink through Iceberg's S3FileIO, Trino through its native S3 file system. The
server is services/objectstore.py."""

from __future__ import annotations

from typing import Any

from kappa.context import Context

# Trino reads `${ENV:NAME}` in its properties files: the key stays out of them (services/trino.py sets these)
S3_ACCESS_KEY_ENV = "KAPPA_S3_ACCESS_KEY"
S3_SECRET_KEY_ENV = "KAPPA_S3_SECRET_KEY"


def s3_client_properties(ctx: Context) -> dict[str, str]:
    """PyIceberg's (PyArrow's) S3 FileIO properties for the object store."""
    s = ctx.settings
    return {"s3.endpoint": s.s3_endpoint, "s3.region": s.objectstore.region,
            "s3.access-key-id": ctx.secrets.s3_access_key, "s3.secret-access-key": ctx.secrets.s3_secret_key,
            "s3.force-virtual-addressing": "false"}


def iceberg_s3_properties(ctx: Context) -> dict[str, str]:
    """Iceberg Java's S3FileIO (Flink's catalog) for the object store."""
    s = ctx.settings
    return {"io-impl": "org.apache.iceberg.aws.s3.S3FileIO", "s3.endpoint": s.s3_endpoint,
            "s3.path-style-access": "true", "client.region": s.objectstore.region,
            "s3.access-key-id": ctx.secrets.s3_access_key, "s3.secret-access-key": ctx.secrets.s3_secret_key}


def filesystem(ctx: Context) -> Any:
    """A PyArrow S3 file system on the object store, as the platform's key."""
    from pyarrow import fs  # the CLI's other commands do not pay for PyArrow's S3 start-up

    s = ctx.settings
    return fs.S3FileSystem(access_key=ctx.secrets.s3_access_key, secret_key=ctx.secrets.s3_secret_key,
                           endpoint_override=s.s3_endpoint, scheme="http", region=s.objectstore.region,
                           connect_timeout=2, request_timeout=5, allow_bucket_creation=True)


def trino_s3_environment(ctx: Context) -> dict[str, str]:
    return {S3_ACCESS_KEY_ENV: ctx.secrets.s3_access_key, S3_SECRET_KEY_ENV: ctx.secrets.s3_secret_key}
