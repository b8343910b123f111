"""Kafka Connect in distributed mode, running the Debezium PostgreSQL connector (kappa/cdc/).

Its connector configs, source offsets and statuses live in Kafka (topics `kappa-connect-*`), so a
restarted worker resumes where it committed, and every captured change passes through Kafka. It
authenticates to Kafka as the principal `connect` (kafka_acl.py). Its REST API listens on loopback
and asks for a password (Kafka's BasicAuthSecurityRestExtension, user `connect`, the password in a
private file). Once healthy, the source database's tables are created or evolved and the connector
configured (both idempotent)."""

from __future__ import annotations

import os

from flink_jobs.spec import kafka_java_security
from kappa.artifacts.java import find_java
from kappa.artifacts.versions import DEBEZIUM_VERSION, KAFKA_JAVA_MIN, KAFKA_VERSION
from kappa.cdc import connect, source
from kappa.cdc.connect import SOURCE_SECRETS_FILE, USER, worker_dir
from kappa.context import Context
from kappa.kafka_acl import CONNECT, CONNECT_PREFIX
from kappa.runtime.private import write_private
from kappa.runtime.process import ProcessSpec
from kappa.services.kafka import LOG4J2

JAAS_APP = "KafkaConnect"  # the login context the basic-auth extension reads


def _escape(value: str) -> str:
    """A value in a Java properties file."""
    return value.replace("\\", "\\\\").replace("\n", "\\n")


class KafkaConnect:
    name = "kafka-connect"
    depends_on: tuple[str, ...] = ("infra",)
    version = f"Kafka Connect {KAFKA_VERSION}, Debezium {DEBEZIUM_VERSION}"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.dir = worker_dir(ctx.settings)

    def ports(self) -> list[int]:
        return [self.ctx.settings.cdc.connect_port]

    def url(self) -> str | None:
        return self.ctx.settings.connect_url

    def worker_properties(self) -> dict[str, str]:
        s = self.ctx.settings
        security = kafka_java_security(CONNECT, self.ctx.secrets.kafka_password(CONNECT))
        props = {
            "bootstrap.servers": s.kafka_bootstrap,
            "group.id": CONNECT_PREFIX,
            "config.storage.topic": f"{CONNECT_PREFIX}-configs",
            "offset.storage.topic": f"{CONNECT_PREFIX}-offsets",
            "status.storage.topic": f"{CONNECT_PREFIX}-status",
            "config.storage.replication.factor": "1",
            "offset.storage.replication.factor": "1",
            "offset.storage.partitions": str(s.kafka.topics[f"{CONNECT_PREFIX}-offsets"].partitions),
            "status.storage.partitions": str(s.kafka.topics[f"{CONNECT_PREFIX}-status"].partitions),
            "status.storage.replication.factor": "1",
            "key.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            # Source offsets (the LSN Debezium confirmed) are committed every second: after a crash the
            # connector re-reads at most that much, and the jobs' upserts make a re-read harmless.
            "offset.flush.interval.ms": "1000",
            # A worker that died comes back as a new group member; its connector and tasks wait this
            # long for the old member to return before they are assigned again (Kafka's default, 5 min,
            # suits a fleet of workers: a restarted single worker would capture nothing for 5 min).
            "scheduled.rebalance.max.delay.ms": "5000",
            "listeners": f"http://{s.host}:{s.cdc.connect_port}",
            "rest.advertised.host.name": s.host,
            "rest.advertised.port": str(s.cdc.connect_port),
            "rest.extension.classes":
                "org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension",
            "config.providers": "file",
            "config.providers.file.class": "org.apache.kafka.common.config.provider.FileConfigProvider",
            # Exactly-once source tasks (KIP-618): a task's records and its source offsets (the LSN) are
            # committed in one Kafka transaction, so a worker killed mid-batch re-sends nothing that
            # readers with isolation.level=read_committed (the CDC jobs) have seen.
            "exactly.once.source.support": "enabled",
            # The connectors' producers: every change acknowledged by the broker, in order, once.
            "producer.acks": "all",
            "producer.enable.idempotence": "true",
        }
        for key, value in security.items():
            for prefix in ("", "producer.", "consumer.", "admin."):
                props[prefix + key] = value
        return props

    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        write_private(self.dir / "worker.properties",
                 "".join(f"{k}={_escape(v)}\n" for k, v in self.worker_properties().items()))
        write_private(self.dir / "rest-users.properties", f"{USER}={_escape(self.ctx.secrets.connect_password)}\n")
        write_private(self.dir / "rest-jaas.conf",
                 f'{JAAS_APP} {{\n  org.apache.kafka.connect.rest.basic.auth.extension.PropertyFileLoginModule '
                 f'required\n  file="{self.dir / "rest-users.properties"}";\n}};\n')
        write_private(self.dir / SOURCE_SECRETS_FILE, f"password={_escape(self.ctx.secrets.cdc_capture_password)}\n")
        (self.dir / "log4j2.properties").write_text(LOG4J2)

    def spec(self) -> ProcessSpec:
        s = self.ctx.settings
        java = find_java("Kafka Connect", minimum=KAFKA_JAVA_MIN, explicit=s.java_home, prefer=17)
        heap = s.cdc.connect_heap_mb
        return ProcessSpec(
            name=self.name,
            argv=[str(java.java), f"-Xmx{heap}m", f"-Xms{heap // 2}m", "-XX:+UseG1GC", "-XX:+ExitOnOutOfMemoryError",
                  "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}",
                  f"-Djava.security.auth.login.config={self.dir / 'rest-jaas.conf'}",
                  "-cp", f"{self.ctx.installs.connect_classpath}/*",
                  "org.apache.kafka.connect.cli.ConnectDistributed", str(self.dir / "worker.properties")],
            log_path=self.ctx.log_path(self.name),
            ports=self.ports(),
            cwd=self.dir,
        )

    def healthy(self) -> bool:
        return connect.client(self.ctx).healthy()

    def after_start(self) -> None:
        source.apply(self.ctx)
        connect.apply(self.ctx)
