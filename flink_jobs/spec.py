"""The job spec: everything a job needs, rendered by the platform from the settings object."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


def ident(name: str) -> str:
    """A validated, back-quoted SQL identifier (names come from settings, never from events)."""
    if not _IDENT.match(name):
        raise ValueError(f"not a valid identifier: {name!r}")
    return f"`{name}`"


def literal(value: str) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def pipeline_name(job: str, version: int) -> str:
    """A job version's name on the Flink cluster, and its Kafka consumer group."""
    return f"kappa.{job}.v{version}"


# Kafka authenticates every client: SASL/SCRAM over the loopback listener (platform/kappa/kafka_acl.py).
KAFKA_SECURITY_PROTOCOL = "SASL_PLAINTEXT"
KAFKA_SASL_MECHANISM = "SCRAM-SHA-512"
_LOGIN_MODULES = {"SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
                  "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule"}


def kafka_java_security(username: str, password: str, mechanism: str = KAFKA_SASL_MECHANISM) -> dict[str, str]:
    """A Java Kafka client's security settings (Flink's connector takes each with a `properties.` prefix)."""
    quoted = [v.replace("\\", "\\\\").replace('"', '\\"') for v in (username, password)]
    jaas = f'{_LOGIN_MODULES[mechanism]} required username="{quoted[0]}" password="{quoted[1]}";'
    return {"security.protocol": KAFKA_SECURITY_PROTOCOL, "sasl.mechanism": mechanism, "sasl.jaas.config": jaas}


@dataclass(frozen=True)
class KafkaSource:
    bootstrap: str
    topic: str
    group_id: str
    username: str = ""  # empty: an unauthenticated cluster
    password: str = field(default="", repr=False)
    startup_mode: str = "earliest-offset"
    specific_offsets: str = ""
    startup_timestamp_ms: int | None = None
    bounded_mode: str = ""
    bounded_specific_offsets: str = ""


# PostgreSQL's SQL states of a restarting server ("terminating connection due to administrator command",
# a crash shutdown, "the database system is starting up"). Iceberg's JDBC catalog retries a statement on a
# fresh connection for the connection-failure states (08xxx) and for these; Flink's and Trino's catalogs
# take them as `retryable_status_codes`, so a catalog database restart does not fail a commit or a view swap.
CATALOG_RETRYABLE_SQL_STATES = "57P01,57P02,57P03"


@dataclass(frozen=True)
class CatalogSpec:
    name: str
    jdbc_url: str
    user: str
    password: str
    warehouse: str
    io: dict[str, str] = field(default_factory=dict)  # the FileIO's: an object store's endpoint and key


def catalog_spec(data: dict[str, Any]) -> CatalogSpec:
    """A spec without the catalog password (Kubernetes: the spec is a ConfigMap) takes it from the
    KAPPA_CATALOG_PASSWORD environment variable (there: a Secret)."""
    values = {**data, "password": data.get("password") or os.environ.get(CATALOG_PASSWORD_ENV, "")}
    return CatalogSpec(**values)


CATALOG_PASSWORD_ENV = "KAPPA_CATALOG_PASSWORD"
KAFKA_PASSWORD_ENV = "KAPPA_KAFKA_PASSWORD"


def kafka_source(data: dict[str, Any]) -> KafkaSource:
    """As the catalog's: a spec without the Kafka password takes it from KAPPA_KAFKA_PASSWORD."""
    return KafkaSource(**{**data, "password": data.get("password") or os.environ.get(KAFKA_PASSWORD_ENV, "")})


@dataclass(frozen=True)
class JobSpec:
    job: str
    version: int
    kafka: KafkaSource
    catalog: CatalogSpec
    namespace: str
    tables: dict[str, str]
    contract: dict[str, Any]
    checkpoint_interval_s: int  # rendered from the settings, never defaulted here
    parallelism: int
    params: dict[str, Any] = field(default_factory=dict)
    alerts_topic: str = ""
    source: str = "kafka"  # or "file": a CSV of payloads and Kafka metadata, for local tests
    source_path: str = ""
    registry_socket: str = ""  # the schema registry's socket: writer schemas of a confluent-avro topic
    # A pipeline written in SQL: {"stream": name, "views": [[name, query]], "outputs": [[view, [[column, type]]]]}
    sql: dict[str, Any] = field(default_factory=dict)

    @property
    def pipeline_name(self) -> str:
        return pipeline_name(self.job, self.version)

    def table(self, role: str) -> str:
        """Fully qualified, quoted name of the table playing `role` (e.g. 'windows')."""
        return ".".join(ident(p) for p in (self.catalog.name, self.namespace, self.tables[role]))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        return cls(
            job=data["job"], version=int(data["version"]),
            kafka=kafka_source(data["kafka"]), catalog=catalog_spec(data["catalog"]),
            namespace=data["namespace"], tables=dict(data["tables"]), contract=dict(data["contract"]),
            params=dict(data.get("params", {})),
            checkpoint_interval_s=int(data["checkpoint_interval_s"]), parallelism=int(data["parallelism"]),
            alerts_topic=str(data.get("alerts_topic", "")),
            source=str(data.get("source", "kafka")), source_path=str(data.get("source_path", "")),
            registry_socket=str(data.get("registry_socket", "")), sql=dict(data.get("sql", {})),
        )

    @classmethod
    def load(cls, path: str | Path) -> JobSpec:
        return cls.from_dict(json.loads(Path(path).read_text()))
