"""Trino, serving the Iceberg catalog over SQL. Runs on a JDK >= 24 (Trino 476+)."""

from __future__ import annotations

import requests

from flink_jobs.spec import CATALOG_PASSWORD_ENV
from kappa import query
from kappa.artifacts.java import JavaRuntime, find_java
from kappa.artifacts.versions import TRINO_JAVA_MIN, TRINO_VERSION
from kappa.context import Context
from kappa.errors import KappaError
from kappa.objectstore import S3_ACCESS_KEY_ENV, S3_SECRET_KEY_ENV, trino_s3_environment
from kappa.provisioned import outputs as provisioned_outputs
from kappa.runtime.process import ProcessSpec
from kappa.services.trino_security import SHARED_SECRET_ENV, write_security
from lakehouse.catalog import CATALOG_PASSWORD_REF, TRINO_CATALOG, trino_catalog_properties


def iceberg_catalog_properties(ctx: Context) -> dict[str, str]:
    s = ctx.settings
    provisioned = provisioned_outputs(s)
    # the object store's key by reference: its values are in Trino's environment (env())
    s3 = provisioned.in_object_store
    return trino_catalog_properties(
        s.catalog.name, jdbc_url=provisioned.catalog_jdbc_url, user=provisioned.catalog_role,
        password=CATALOG_PASSWORD_REF, warehouse=provisioned.warehouse_uri, storage="s3" if s3 else "local",
        s3_endpoint=s.s3_endpoint if s3 else "", s3_region=s.objectstore.region if s3 else "",
        s3_keys=(f"${{ENV:{S3_ACCESS_KEY_ENV}}}", f"${{ENV:{S3_SECRET_KEY_ENV}}}") if s3 else None)


def _properties(values: dict[str, str]) -> str:
    return "".join(f"{k}={v}\n" for k, v in values.items())


class Trino:
    name = "trino"
    version = TRINO_VERSION
    depends_on: tuple[str, ...] = ("infra",)

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.dir = ctx.settings.state / "trino"
        self.etc = self.dir / "etc"

    def ports(self) -> list[int]:
        return [self.ctx.settings.trino.port, self.ctx.settings.trino.https_port]

    def url(self) -> str | None:
        return self.ctx.settings.trino_url

    def java(self) -> JavaRuntime:
        return find_java(
            f"Trino {TRINO_VERSION}", minimum=TRINO_JAVA_MIN, explicit=self.ctx.settings.trino.java_home
        )

    def prepare(self) -> None:
        s = self.ctx.settings
        (self.etc / "catalog").mkdir(parents=True, exist_ok=True)
        heap_mb = s.trino.heap_mb
        query_mb = max(256, int(heap_mb * 0.5))
        security = write_security(self.etc, s.trino_ca_file.parent, self.ctx.secrets, s.host,
                                  s.jobs.views_namespace)
        (self.etc / "config.properties").write_text(_properties({
            "coordinator": "true",
            "node-scheduler.include-coordinator": "true",
            "http-server.http.port": str(s.trino.port),
            "http-server.https.port": str(s.trino.https_port),
            "discovery.uri": f"http://{s.host}:{s.trino.port}",
            "query.max-memory": f"{query_mb}MB",
            "query.max-memory-per-node": f"{query_mb}MB",
            "task.concurrency": "2",
            "password-authenticator.config-files": str(self.etc / "password-authenticator.properties"),
            "access-control.config-files": str(self.etc / "access-control.properties"),
            **security,
        }))
        (self.etc / "log.properties").write_text("io.trino=INFO\n")
        catalog = self.etc / "catalog" / f"{TRINO_CATALOG}.properties"
        catalog.write_text(_properties(iceberg_catalog_properties(self.ctx)))

    def heap_mb(self) -> int:
        return self.ctx.settings.trino.heap_mb

    def node_properties(self) -> dict[str, str]:
        return {
            "node.environment": "kappa",
            "node.id": "kappa-coordinator",
            "node.data-dir": str(self.dir / "data"),
            "node.bind-ip": self.ctx.settings.host,
            "node.internal-address": self.ctx.settings.host,
        }

    def spec(self) -> ProcessSpec:
        java = self.java()
        home = self.ctx.installs.trino_home
        argv = [
            str(java.java), f"-Xmx{self.heap_mb()}m", "-XX:+UseG1GC", "-XX:+ExitOnOutOfMemoryError",
            "-XX:ReservedCodeCacheSize=256M", "-Djdk.attach.allowAttachSelf=true",
            "-XX:+UnlockDiagnosticVMOptions", "-Dfile.encoding=UTF-8",
        ]
        if java.has_module("jdk.incubator.vector"):
            argv.append("--add-modules=jdk.incubator.vector")
        argv += [
            # Node properties go on the command line, as Trino's own launcher passes them.
            *(f"-D{k}={v}" for k, v in self.node_properties().items()),
            f"-Dconfig={self.etc / 'config.properties'}",
            f"-Dlog.levels-file={self.etc / 'log.properties'}",
            f"-Dcatalog.config-dir={self.etc / 'catalog'}",
            f"-Dplugin.dir={home / 'plugin'}",
            "-cp", f"{home / 'lib'}/*", "io.trino.server.TrinoServer",
        ]
        return ProcessSpec(
            name=self.name, argv=argv, log_path=self.ctx.log_path(self.name), ports=self.ports(), cwd=self.dir,
            env=self.env(),
        )

    def env(self) -> dict[str, str]:
        """The secrets the properties files refer to (`${ENV:...}`): in Trino's environment only."""
        return {CATALOG_PASSWORD_ENV: self.ctx.secrets.catalog_password,
                SHARED_SECRET_ENV: self.ctx.secrets.trino_shared_secret,
                **(trino_s3_environment(self.ctx) if self.ctx.settings.objectstore.enabled else {})}

    def healthy(self) -> bool:
        r = requests.get(self.ctx.settings.trino_health_url, timeout=2)
        return r.status_code == 200 and r.json().get("starting") is False

    def after_start(self) -> None:
        return None

    def refresh_catalog_connections(self, attempts: int = 6) -> int:
        """After the catalog database restarted under a running Trino: a pooled catalog connection
        could fail once ("Cannot check and eventually update SQL schema": Iceberg's JDBC pool
        reconnected only on SQLSTATE 08xxx, and PostgreSQL's restart reports 57P01; the catalog now
        lists 57P01-57P03 as retryable too), so use them up here rather than in an analyst's queries.
        Returns how many queries failed before two in a row succeeded."""
        failed = ok = 0
        for _ in range(attempts):
            try:
                query.run(self.ctx.settings, "SELECT count(*) FROM iceberg.information_schema.schemata")
                ok += 1
                if ok == 2:
                    break
            except KappaError:
                failed, ok = failed + 1, 0
        return failed


class TrinoWorker(Trino):
    """A worker node: it runs the coordinator's tasks (no client connects to it). Its HTTP port carries
    Trino's internal traffic, which every node signs with the cluster's shared secret; only its health
    (/v1/info) answers without it."""

    depends_on: tuple[str, ...] = ("infra",)

    def __init__(self, ctx: Context, index: int = 0) -> None:
        super().__init__(ctx)
        self.index = index
        self.name = "trino-worker" if index == 0 else f"trino-worker-{index + 1}"
        self.dir = ctx.settings.state / self.name
        self.etc = self.dir / "etc"
        self.port = ctx.settings.trino.worker_port + index

    def ports(self) -> list[int]:
        return [self.port]

    def url(self) -> str | None:
        return None

    def heap_mb(self) -> int:
        return self.ctx.settings.trino.worker_heap_mb

    def prepare(self) -> None:
        s = self.ctx.settings
        (self.etc / "catalog").mkdir(parents=True, exist_ok=True)
        query_mb = max(256, int(self.heap_mb() * 0.5))
        (self.etc / "config.properties").write_text(_properties({
            "coordinator": "false",
            "http-server.http.port": str(self.port),
            "discovery.uri": f"http://{s.host}:{s.trino.port}",
            "query.max-memory": f"{query_mb}MB",
            "query.max-memory-per-node": f"{query_mb}MB",
            "task.concurrency": "2",
            "internal-communication.shared-secret": f"${{ENV:{SHARED_SECRET_ENV}}}",
        }))
        (self.etc / "log.properties").write_text("io.trino=INFO\n")
        catalog = self.etc / "catalog" / f"{TRINO_CATALOG}.properties"
        catalog.write_text(_properties(iceberg_catalog_properties(self.ctx)))

    def node_properties(self) -> dict[str, str]:
        return {**super().node_properties(), "node.id": f"kappa-{self.name}"}

    def healthy(self) -> bool:
        r = requests.get(f"http://{self.ctx.settings.host}:{self.port}/v1/info", timeout=2)
        return r.status_code == 200 and r.json().get("starting") is False


def trino_workers(ctx: Context) -> list[TrinoWorker]:
    return [TrinoWorker(ctx, n) for n in range(ctx.settings.trino.workers)]
