"""The schema registry: Apicurio Registry (built by kappa/artifacts/schema_registry.py), serving the
Confluent Schema Registry API, its storage in the platform's PostgreSQL (a database and role of its
own, provisioned by Terraform), so subjects and ids survive restarts.

It listens on a Unix socket in the private state directory only: the gateway serves its API on
`[registry] port` over HTTPS with a password, and the platform's own clients use the socket. Once
healthy, the repository's contracts are registered (kappa/schemas.py)."""

from __future__ import annotations

from kappa import schemas
from kappa.artifacts.java import find_java
from kappa.artifacts.schema_registry import JAVA_MAJORS
from kappa.artifacts.schema_registry import version as registry_version
from kappa.context import Context
from kappa.provisioned import outputs as provisioned_outputs
from kappa.runtime.process import ProcessSpec

PASSWORD_ENV = "REGISTRY_DATASOURCE_PASSWORD"  # Apicurio's own variables: read from its environment only
URL_ENV = "REGISTRY_DATASOURCE_URL"
USER_ENV = "REGISTRY_DATASOURCE_USERNAME"


class SchemaRegistry:
    name = "schema-registry"
    depends_on: tuple[str, ...] = ("infra",)

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.dir = ctx.settings.state / "schema-registry"

    @property
    def version(self) -> str:
        return f"Apicurio Registry {registry_version()}"

    def ports(self) -> list[int]:
        return []  # a socket in the state directory; the gateway serves the API on registry.port

    def url(self) -> str | None:
        return self.ctx.settings.registry_url

    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        # A socket left by a process that died holds the path: Vert.x would fail to bind it.
        self.ctx.settings.registry_socket.unlink(missing_ok=True)

    def spec(self) -> ProcessSpec:
        s = self.ctx.settings
        java = find_java("the schema registry", minimum=JAVA_MAJORS[0], maximum=JAVA_MAJORS[1],
                         explicit=s.java_home)
        system = {
            "quarkus.http.host-enabled": "false",  # no TCP port at all
            "quarkus.http.domain-socket-enabled": "true",
            "quarkus.http.domain-socket": str(s.registry_socket),
            "quarkus.vertx.prefer-native-transport": "true",  # Vert.x serves sockets on epoll only
            # Not `registry.ccompat.use-canonical-hash`: in 2.4 it stores the canonical form of a new Avro
            # schema, whose fields are sorted by name, so the id then names a schema in another field order
            # than the producer's: its records would be read with the wrong field order.
            "quarkus.http.cors": "false",  # the gateway checks Origin; Apicurio's CORS refused its own URL
            # Narayana (transactions) takes a unique process id from a UUID, not from a TCP port it binds
            "CoreEnvironmentBean.processImplementationClassName": "com.arjuna.ats.internal.arjuna.utils.UuidProcessId",
            # The application sets these for its `prod` profile, which only a profile-qualified
            # property overrides: 20 to 100 connections would take most of PostgreSQL's.
            "%prod.quarkus.datasource.jdbc.min-size": "1",
            "%prod.quarkus.datasource.jdbc.initial-size": "1",
            "%prod.quarkus.datasource.jdbc.max-size": "8",
        }
        argv = [str(java.java), f"-Xmx{s.registry.heap_mb}m", "-XX:+ExitOnOutOfMemoryError",
                "-Dfile.encoding=UTF-8", *(f"-D{k}={v}" for k, v in system.items()),
                "-jar", str(self.ctx.installs.schema_registry_jar)]
        return ProcessSpec(name=self.name, argv=argv, log_path=self.ctx.log_path(self.name), ports=self.ports(),
                           env=self.env(), cwd=self.dir)

    def env(self) -> dict[str, str]:
        s = self.ctx.settings
        provisioned = provisioned_outputs(s)
        return {URL_ENV: f"jdbc:postgresql://{s.host}:{s.postgres.port}/{provisioned.registry_database}",
                USER_ENV: provisioned.registry_role, PASSWORD_ENV: self.ctx.secrets.registry_storage_password}

    def healthy(self) -> bool:
        return schemas.Registry(self.ctx.settings.registry_socket, timeout_s=3).healthy()

    def after_start(self) -> None:
        schemas.apply_declared(self.ctx.settings)
