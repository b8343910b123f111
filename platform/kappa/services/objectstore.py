"""The object store holding the cluster profile's warehouse: the Versity S3 Gateway (built from source,
artifacts/objectstore.py) serving the S3 API over a folder of the state directory.

Loopback only; every request is signed (AWS Signature V4) with the platform's key, which the server
reads from its environment (never its command line) and the engines from their private configs. The
bucket is created at start; Flink (Iceberg's S3FileIO), Trino (its native S3 file system) and PyIceberg
(PyArrow's S3) read and write it."""

from __future__ import annotations

from kappa.artifacts.objectstore import VERSITYGW, ensure_objectstore, objectstore_binary
from kappa.context import Context
from kappa.objectstore import filesystem
from kappa.runtime.process import ProcessSpec


class ObjectStore:
    name = "objectstore"
    depends_on: tuple[str, ...] = ()
    version = f"Versity S3 Gateway {VERSITYGW.version}"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.dir = ctx.settings.state / "objectstore"

    def ports(self) -> list[int]:
        return [self.ctx.settings.objectstore.port]

    def url(self) -> str | None:
        return self.ctx.settings.s3_endpoint

    def prepare(self) -> None:
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        ensure_objectstore(self.ctx.settings.cache, lambda _m: None)  # built by `kappa setup` already

    def spec(self) -> ProcessSpec:
        s = self.ctx.settings
        return ProcessSpec(
            name=self.name,
            argv=[str(objectstore_binary(s.cache)), "--port", f"{s.host}:{s.objectstore.port}",
                  "--region", s.objectstore.region, "--quiet", "posix", str(self.dir / "data")],
            env={"ROOT_ACCESS_KEY_ID": self.ctx.secrets.s3_access_key,
                 "ROOT_SECRET_ACCESS_KEY": self.ctx.secrets.s3_secret_key},
            log_path=self.ctx.log_path(self.name), ports=self.ports(), cwd=self.dir,
        )

    def healthy(self) -> bool:
        """A signed request answered: the bucket listing."""
        from pyarrow import fs

        filesystem(self.ctx).get_file_info(fs.FileSelector("", recursive=False))
        return True

    def after_start(self) -> None:
        """The warehouse bucket (an existing one is kept)."""
        filesystem(self.ctx).create_dir(self.ctx.settings.objectstore.bucket)
