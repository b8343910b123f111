"""Kafka in KRaft mode, from Maven Central's jars: one node or several, each a broker and a controller."""

from __future__ import annotations

import base64
import subprocess
import uuid
from dataclasses import replace

from confluent_kafka.admin import AdminClient

from flink_jobs.spec import KAFKA_SASL_MECHANISM
from kappa import kafka_acl, kafka_clients
from kappa.artifacts.java import find_java
from kappa.artifacts.versions import KAFKA_JAVA_MIN, KAFKA_VERSION
from kappa.context import Context
from kappa.errors import ServiceError
from kappa.kafka_acl import BROKER, SUPER_USERS
from kappa.runtime.process import ProcessSpec

BROKER_SESSION_TIMEOUT_MS = 3000
# A node's controlled shutdown waits for the controller quorum: the last of a cluster stopping waits for a
# majority that is gone (up to 5 minutes), so `kappa down` gives the nodes this long, then kills what is left.
QUORUM_STOP_TIMEOUT_S = 10

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


def render_server_properties(ctx: Context, log_dir: str, node: int = 0) -> str:
    """Node `node` (from 0) of `[kafka] brokers`. Both listeners authenticate: clients with SCRAM
    (credentials in the metadata log, created by kafka_acl.apply), the brokers' own principal with PLAIN
    against this file (mode 600), and the authorizer denies what no ACL allows. Internal topics take the
    settings' replication: with three nodes, one may die and nothing stops."""
    s = ctx.settings
    host = s.host
    port, controller_port = s.kafka.node_ports(node)
    voters = ",".join(f"{n + 1}@{host}:{s.kafka.node_ports(n)[1]}" for n in range(s.kafka.brokers))
    replicas, in_sync = str(s.kafka.replication_factor), str(s.kafka.min_insync_replicas)
    broker_password = ctx.secrets.kafka_password(BROKER)
    plain = (f'org.apache.kafka.common.security.plain.PlainLoginModule required username="{BROKER}" '
             f'password="{broker_password}" user_{BROKER}="{broker_password}";')
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node + 1),
        "controller.quorum.voters": voters,
        "listeners": f"BROKER://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"BROKER://{host}:{port}",
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
        "default.replication.factor": replicas,
        "min.insync.replicas": in_sync,
        "offsets.topic.replication.factor": replicas,
        "offsets.topic.num.partitions": "6",
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": in_sync,
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": in_sync,
        "group.initial.rebalance.delay.ms": "0",
        **_failover_properties(s.kafka.brokers),
        "auto.create.topics.enable": "false",
        # Kafka's default (1 MiB) is the payload ceiling; the jobs quarantine anything larger they see.
        "message.max.bytes": "1048588",
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


def _failover_properties(brokers: int) -> dict[str, str]:
    """With several nodes, a node that died is fenced (its partitions led elsewhere) after
    BROKER_SESSION_TIMEOUT_MS without a heartbeat: the stall a producer sees (Kafka's default 9 s would put
    it past the jobs' 5 s out-of-orderness). A lone node has nobody to fail over to: Kafka's defaults
    (9 s / 2 s): the heartbeat interval is also its RPC timeout to the controller, and at 0.5 s a restart
    on a loaded machine had its registration and heartbeats time out and be retried."""
    if brokers == 1:
        return {}
    return {"broker.session.timeout.ms": str(BROKER_SESSION_TIMEOUT_MS),
            "broker.heartbeat.interval.ms": str(BROKER_SESSION_TIMEOUT_MS // 6)}


class Kafka:
    """One node. The first is `kafka` (what other services wait for); with several, the others are
    `kafka-2`, `kafka-3`, ..."""

    version = KAFKA_VERSION
    depends_on: tuple[str, ...] = ()

    def __init__(self, ctx: Context, node: int = 0) -> None:
        self.ctx = ctx
        self.node = node
        self.name = "kafka" if node == 0 else f"kafka-{node + 1}"
        root = ctx.settings.state / "kafka"
        self.dir = root if node == 0 else root / f"node-{node + 1}"
        self.cluster_id_file = root / "cluster-id"

    def ports(self) -> list[int]:
        return list(self.ctx.settings.kafka.node_ports(self.node))

    def url(self) -> str | None:
        return self.ctx.settings.kafka_brokers[self.node]

    def _java(self):  # type: ignore[no-untyped-def]
        return find_java("Kafka", minimum=KAFKA_JAVA_MIN, explicit=self.ctx.settings.java_home, prefer=17)

    def _cluster_id(self) -> str:
        """Every node's storage is formatted with the same cluster id, made once."""
        if not self.cluster_id_file.exists():
            self.cluster_id_file.parent.mkdir(parents=True, exist_ok=True)
            # KRaft wants a base64url-encoded 16-byte cluster id; one in 64 begins
            # with "-", which argparse takes for an option unless joined with "=".
            self.cluster_id_file.write_text(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))
        return self.cluster_id_file.read_text().strip()

    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        data = self.dir / "data"
        (self.dir / "server.properties").write_text(render_server_properties(self.ctx, str(data), self.node))
        (self.dir / "log4j2.properties").write_text(LOG4J2)
        if (data / "meta.properties").exists():
            return
        log = self.ctx.log_path(self.name)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as fh:
            code = subprocess.run(
                [str(self._java().java), "-cp", f"{self.ctx.installs.kafka_classpath}/*",
                 f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}",
                 "kafka.tools.StorageTool", "format", f"--cluster-id={self._cluster_id()}",
                 "-c", str(self.dir / "server.properties")],
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
        """An admin client of this node alone (the broker's principal)."""
        access = kafka_acl.broker_access(self.ctx)
        return kafka_clients.admin(replace(access, bootstrap=self.url() or access.bootstrap))

    def healthy(self) -> bool:
        """This node answers as a broker of a cluster with a controller quorum (its metadata lists it)."""
        md = self.admin().list_topics(timeout=3)
        return self.node + 1 in md.brokers

    def after_start(self) -> None:
        """Every principal's credential and ACLs (the topics are Terraform's, applied by the stack):
        cluster metadata, so once, by the first node."""
        if self.node == 0:
            kafka_acl.apply(self.ctx)


def kafka_nodes(ctx: Context) -> list[Kafka]:
    return [Kafka(ctx, n) for n in range(ctx.settings.kafka.brokers)]
