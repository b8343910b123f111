"""Every pinned version of every component, in one place.

The Flink minor decides the connector jars: Iceberg publishes `iceberg-flink-runtime-2.1` up to 1.11.0
(no 2.2 runtime yet), and the Kafka connector 5.0.0 exists for Flink 2.1, so Flink 2.1 is the newest
Flink for which every jar resolves from Maven Central.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FLINK_VERSION = "2.1.3"
FLINK_SHADED_JACKSON_VERSION = "2.18.2-20.0"  # the Jackson inside flink-dist 2.1.3 (the contract format uses it)
ICEBERG_VERSION = "1.11.0"
KAFKA_VERSION = "4.1.1"
KAFKA_CONNECTOR_VERSION = "5.0.0-2.1"
KAFKA_CLIENTS_VERSION = "4.2.0"  # what the 5.0.0 connector declares
HADOOP_VERSION = "3.4.1"
POSTGRES_JDBC_VERSION = "42.7.8"
TRINO_VERSION = "476"  # newest trino-server tarball on Maven Central; needs Java >= 24
LOG4J_VERSION = "2.24.3"
DEBEZIUM_VERSION = "3.6.1.Final"  # the newest release Maven Central serves every module of
# The server of Flink's JobManager high availability; Flink 2.1 talks to it with its shaded 3.7 client.
ZOOKEEPER_VERSION = "3.8.4"

FLINK_JAVA_MAJORS = (17, 21)
KAFKA_JAVA_MIN = 17
TRINO_JAVA_MIN = 24

# The Flink environment: apache-flink caps pyarrow < 17 through apache-beam, so it lives apart from
# the platform environment (pyiceberg 0.12 needs pyarrow >= 18).
# pytest runs the jobs' local tests (tests/flink) inside this environment.
FLINK_PYTHON_REQUIREMENTS = (f"apache-flink=={FLINK_VERSION}", "pytest", "pytest-timeout")


@dataclass(frozen=True)
class Coordinate:
    group: str
    artifact: str
    version: str
    packaging: str = "jar"
    classifier: str = ""

    def __str__(self) -> str:
        parts = [self.group, self.artifact, self.version, self.packaging]
        if self.classifier:
            parts.append(self.classifier)
        return ":".join(parts)


@dataclass(frozen=True)
class Bundle:
    """A set of Maven artifacts copied into one cache folder."""

    name: str
    coordinates: tuple[Coordinate, ...]
    transitive: bool = False
    description: str = ""
    exclude: tuple[str, ...] = field(default=())


BUNDLES: dict[str, Bundle] = {
    b.name: b
    for b in (
        Bundle(
            "kafka",
            (
                Coordinate("org.apache.kafka", "kafka_2.13", KAFKA_VERSION),
                Coordinate("org.apache.kafka", "kafka-tools", KAFKA_VERSION),  # the perf tools (kappa bench)
                Coordinate("org.apache.logging.log4j", "log4j-slf4j-impl", LOG4J_VERSION),
            ),
            transitive=True,
            description=f"Kafka {KAFKA_VERSION} broker (KRaft) and its runtime classpath",
        ),
        Bundle(
            "kafka-connect",
            (
                Coordinate("org.apache.kafka", "connect-runtime", KAFKA_VERSION),
                Coordinate("org.apache.kafka", "connect-basic-auth-extension", KAFKA_VERSION),
                Coordinate("io.debezium", "debezium-connector-postgres", DEBEZIUM_VERSION),
                Coordinate("org.apache.logging.log4j", "log4j-slf4j2-impl", LOG4J_VERSION),
                # One Jackson and one SLF4J: Kafka's (databind 2.19.0) and Debezium's (SLF4J 2, which
                # Kafka's 1.7 callers work with); Maven's nearest-wins would otherwise mix them.
                Coordinate("org.slf4j", "slf4j-api", "2.0.16"),
                Coordinate("com.fasterxml.jackson.core", "jackson-core", "2.19.0"),
                Coordinate("com.fasterxml.jackson.datatype", "jackson-datatype-jsr310", "2.19.0"),
            ),
            transitive=True,
            description=f"Kafka Connect {KAFKA_VERSION} (distributed worker) with Debezium {DEBEZIUM_VERSION} "
                        "for PostgreSQL",
            # an optional offset store Debezium declares; it pulls in Chronicle, which Central lacks in part
            exclude=("io.debezium:debezium-storage-chronicle-queue",),
        ),
        Bundle(
            "zookeeper",
            (
                Coordinate("org.apache.zookeeper", "zookeeper", ZOOKEEPER_VERSION),
                # what the server loads though its pom leaves them to the distribution's lib/
                Coordinate("io.dropwizard.metrics", "metrics-core", "4.1.12.1"),
                Coordinate("org.xerial.snappy", "snappy-java", "1.1.10.5"),
            ),
            transitive=True,
            description=f"ZooKeeper {ZOOKEEPER_VERSION}: the JobManager's high availability",
        ),
        Bundle(
            "flink-connectors",
            (
                Coordinate("org.apache.flink", "flink-connector-kafka", KAFKA_CONNECTOR_VERSION),
                Coordinate("org.apache.kafka", "kafka-clients", KAFKA_CLIENTS_VERSION),
                Coordinate("com.github.luben", "zstd-jni", "1.5.6-10"),
                Coordinate("org.apache.iceberg", "iceberg-flink-runtime-2.1", ICEBERG_VERSION),
                # Iceberg's S3FileIO and the AWS SDK it needs: the cluster profile's object store
                Coordinate("org.apache.iceberg", "iceberg-aws-bundle", ICEBERG_VERSION),
                Coordinate("org.apache.hadoop", "hadoop-client-api", HADOOP_VERSION),
                Coordinate("org.apache.hadoop", "hadoop-client-runtime", HADOOP_VERSION),
                Coordinate("commons-logging", "commons-logging", "1.2"),
                Coordinate("org.postgresql", "postgresql", POSTGRES_JDBC_VERSION),
            ),
            description="Kafka connector, Iceberg runtime and S3 file IO, Hadoop client and JDBC driver for Flink",
        ),
        Bundle(
            "flink-sql-gateway",
            (Coordinate("org.apache.flink", "flink-sql-gateway", FLINK_VERSION),),
            description="Flink's SQL gateway (the wheel lacks it): `kappa sql --streaming` opens sessions on it",
        ),
        Bundle(
            "trino-server",
            (Coordinate("io.trino", "trino-server", TRINO_VERSION, packaging="tar.gz"),),
            description=f"Trino {TRINO_VERSION} server tarball",
        ),
        Bundle(
            "trino-cli",
            (Coordinate("io.trino", "trino-cli", TRINO_VERSION, classifier="executable"),),
            description=f"Trino {TRINO_VERSION} CLI",
        ),
    )
}

# Trino loads every plugin folder at start-up; on 2 cores each one costs seconds. Keep only these.
TRINO_PLUGINS = ("iceberg", "password-authenticators")
