"""Kafka in KRaft mode (combined broker and controller), from Maven Central's jars."""

from __future__ import annotations

import base64
import subprocess
import uuid

from confluent_kafka.admin import AdminClient

from flink_jobs.spec import KAFKA_SASL_MECHANISM
from kappa import kafka_acl, kafka_clients
from kappa.artifacts.java import find_java
from kappa.artifacts.versions import KAFKA_JAVA_MIN, KAFKA_VERSION
from kappa.context import Context
from kappa.errors import ServiceError
from kappa.kafka_acl import BROKER, SUPER_USERS
from kappa.runtime.process import ProcessSpec

LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.controller.name = org.apache.kafka.controller
logger.controller.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
"""


def render_server_properties(ctx: Context, log_dir: str) -> str:
    """Both listeners authenticate: clients with SCRAM (credentials in the metadata log, created by
    kafka_acl.apply), the broker's own principal with PLAIN against this file (mode 600), and the
    authorizer denies what no ACL allows."""
    s = ctx.settings
    host = s.host
    broker_password = ctx.secrets.kafka_password(BROKER)
    plain = (f'org.apache.kafka.common.security.plain.PlainLoginModule required username="{BROKER}" '
             f'password="{broker_password}" user_{BROKER}="{broker_password}";')
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{host}:{s.kafka.controller_port}",
        "listeners": f"BROKER://{host}:{s.kafka.port},CONTROLLER://{host}:{s.kafka.controller_port}",
        "advertised.listeners": f"BROKER://{host}:{s.kafka.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "BROKER",
        "listener.security.protocol.map": "BROKER:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "listener.name.broker.sasl.enabled.mechanisms": f"{KAFKA_SASL_MECHANISM},PLAIN",
        "listener.name.broker.plain.sasl.jaas.config": plain,
        f"listener.name.broker.{KAFKA_SASL_MECHANISM.lower()}.sasl.jaas.config":
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": plain,
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": ";".join(f"User:{u}" for u in SUPER_USERS),
        "allow.everyone.if.no.acl.found": "false",
        "log.dirs": log_dir,
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "6",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false",
        # Kafka's default (1 MiB) is the payload ceiling; the jobs quarantine anything larger they see.
        "message.max.bytes": "1048588",
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


class Kafka:
    name = "kafka"
    version = KAFKA_VERSION
    depends_on: tuple[str, ...] = ()

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.dir = ctx.settings.state / "kafka"

    def ports(self) -> list[int]:
        return [self.ctx.settings.kafka.port, self.ctx.settings.kafka.controller_port]

    def url(self) -> str | None:
        return self.ctx.settings.kafka_bootstrap

    def _java(self):  # type: ignore[no-untyped-def]
        return find_java("Kafka", minimum=KAFKA_JAVA_MIN, explicit=self.ctx.settings.java_home, prefer=17)

    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        data = self.dir / "data"
        (self.dir / "server.properties").write_text(render_server_properties(self.ctx, str(data)))
        (self.dir / "log4j2.properties").write_text(LOG4J2)
        if (data / "meta.properties").exists():
            return
        # KRaft wants a base64url-encoded 16-byte cluster id; one in 64 begins
        # with "-", which argparse takes for an option unless joined with "=".
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        log = self.ctx.log_path(self.name)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as fh:
            code = subprocess.run(
                [str(self._java().java), "-cp", f"{self.ctx.installs.kafka_classpath}/*",
                 f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}",
                 "kafka.tools.StorageTool", "format", f"--cluster-id={cid}", "-c", str(self.dir / "server.properties")],
                stdout=fh, stderr=subprocess.STDOUT, check=False,
            ).returncode
        if code != 0:
            raise ServiceError(self.name, "formatting the KRaft storage failed", log)

    def spec(self) -> ProcessSpec:
        heap = self.ctx.settings.kafka.heap_mb
        return ProcessSpec(
            name=self.name,
            argv=[
                str(self._java().java), f"-Xmx{heap}m", f"-Xms{heap}m", "-XX:+UseG1GC",
                "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}",
                "-cp", f"{self.ctx.installs.kafka_classpath}/*",
                "kafka.Kafka", str(self.dir / "server.properties"),
            ],
            log_path=self.ctx.log_path(self.name),
            ports=self.ports(),
        )

    def admin(self) -> AdminClient:
        return kafka_clients.admin(kafka_acl.broker_access(self.ctx))

    def healthy(self) -> bool:
        md = self.admin().list_topics(timeout=3)
        return len(md.brokers) >= 1

    def after_start(self) -> None:
        """Every principal's credential and ACLs (the topics are Terraform's, applied by the stack)."""
        kafka_acl.apply(self.ctx)
