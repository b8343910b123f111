"""ZooKeeper (the Apache server from Maven Central), holding the Flink JobManager's high-availability
state: who leads, the submitted jobs and their latest checkpoints (the files themselves stay in
`flink/ha` of the state directory). A JobManager that dies is restarted by the supervisor and takes
the jobs back from here, restoring each from its latest checkpoint, with nobody resubmitting them.

It listens on loopback only, and every session must log in (SASL DIGEST-MD5, user `flink`, the
password in a private JAAS file of each side); Flink creates its nodes readable by their creator only.
Its AdminServer (an HTTP port) is off; the `ruok` probe answers the health check."""

from __future__ import annotations

import socket

from kappa.artifacts.java import find_java
from kappa.artifacts.versions import KAFKA_JAVA_MIN, ZOOKEEPER_VERSION
from kappa.context import Context
from kappa.runtime.private import write_private
from kappa.runtime.process import ProcessSpec

USER = "flink"
# the Flink client's JAAS login module: its ZooKeeper client is shaded inside flink-dist
FLINK_LOGIN_MODULE = "org.apache.flink.shaded.zookeeper3.org.apache.zookeeper.server.auth.DigestLoginModule"
LOGBACK = """<configuration>
  <appender name="OUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%d{ISO8601} %-5level %logger{36} - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="OUT"/></root>
</configuration>
"""


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def client_jaas(password: str) -> str:
    """The `Client` login context Flink's ZooKeeper client reads."""
    return (f"Client {{\n  {FLINK_LOGIN_MODULE} required\n"
            f"  username={_quoted(USER)}\n  password={_quoted(password)};\n}};\n")


class ZooKeeper:
    name = "zookeeper"
    depends_on: tuple[str, ...] = ()
    version = f"ZooKeeper {ZOOKEEPER_VERSION}"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.dir = ctx.settings.state / "zookeeper"

    def ports(self) -> list[int]:
        return [self.ctx.settings.flink.zookeeper_port]

    def url(self) -> str | None:
        return None

    def config(self) -> dict[str, str | int]:
        s = self.ctx.settings
        return {
            "tickTime": 500,
            "dataDir": str(self.dir / "data"),
            "clientPort": s.flink.zookeeper_port,
            "clientPortAddress": s.host,
            "admin.enableServer": "false",
            "4lw.commands.whitelist": "ruok",
            "maxClientCnxns": 200,
            # Flink asks for its session timeout (`[flink] ha_session_timeout_s`); the server grants it
            # within these bounds (the maximum defaults to 20 ticks: 10 s)
            "minSessionTimeout": 1000,
            "maxSessionTimeout": max(60_000, 1000 * s.flink.ha_session_timeout_s),
            "authProvider.sasl": "org.apache.zookeeper.server.auth.SASLAuthenticationProvider",
            "sessionRequireClientSASLAuth": "true",
            "autopurge.purgeInterval": 1,
        }

    def prepare(self) -> None:
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        (self.dir / "zoo.cfg").write_text("".join(f"{k}={v}\n" for k, v in self.config().items()))
        (self.dir / "logback.xml").write_text(LOGBACK)
        password = self.ctx.secrets.zookeeper_password
        write_private(self.dir / "jaas.conf", "Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule "
                      f"required\n  user_{USER}={_quoted(password)};\n}};\n")

    def spec(self) -> ProcessSpec:
        s = self.ctx.settings
        java = find_java("ZooKeeper", minimum=KAFKA_JAVA_MIN, explicit=s.java_home, prefer=17)
        return ProcessSpec(
            name=self.name,
            argv=[str(java.java), "-Xmx128m", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
                  "-Djava.net.preferIPv4Stack=true",  # listen on 127.0.0.1, not its IPv6-mapped form
                  f"-Dlogback.configurationFile={self.dir / 'logback.xml'}",
                  f"-Djava.security.auth.login.config={self.dir / 'jaas.conf'}",
                  "-cp", f"{self.ctx.installs.zookeeper_classpath}/*",
                  "org.apache.zookeeper.server.ZooKeeperServerMain", str(self.dir / "zoo.cfg")],
            log_path=self.ctx.log_path(self.name), ports=self.ports(), cwd=self.dir,
        )

    def healthy(self) -> bool:
        s = self.ctx.settings
        with socket.create_connection((s.host, s.flink.zookeeper_port), timeout=2) as conn:
            conn.sendall(b"ruok")
            return conn.recv(16) == b"imok"

    def after_start(self) -> None:
        return None
