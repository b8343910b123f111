"""Who may do what on Kafka: the grants the settings call for, and how clients carry credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from flink_jobs.spec import kafka_java_security, kafka_source
from flink_jobs.sql import kafka_options
from kappa.kafka_acl import (
    ADMIN,
    CONSUMER,
    DAGSTER,
    PRODUCER,
    SUPER_USERS,
    TERRAFORM,
    Grant,
    grants,
    job_principal,
    principals,
)
from kappa.kafka_clients import KafkaAccess
from kappa.runtime.secrets import load_or_create
from kappa.settings import KappaSettings


@pytest.fixture(scope="module")
def settings() -> KappaSettings:
    return KappaSettings(project_dir=Path("/tmp/kappa-acl-test"))


def allowed(gs: list[Grant], principal: str, resource: str, name: str, operation: str) -> bool:
    """Kafka's rule: a DENY that matches wins over any ALLOW; a literal '*' matches every name."""
    def matches(g: Grant) -> bool:
        return (g.principal == principal and g.resource == resource and g.operation == operation
                and (g.name == "*" or (name.startswith(g.name) if g.prefixed else name == g.name)))
    hits = [g for g in gs if matches(g)]
    return bool(hits) and not any(g.deny for g in hits)


def test_each_pipeline_reads_only_its_topics_in_its_own_groups(settings: KappaSettings) -> None:
    """Its topic and, for a SQL pipeline that joins topics, those it joins; nothing else."""
    gs = grants(settings)
    live = settings.pipelines.live
    assert len(live) >= 2
    assert any(p.joined for p in live)  # the shipped join example is among them
    for p in live:
        who = job_principal(p.name)
        mine = {t.name for t in p.topics}
        for topic in mine:
            assert allowed(gs, who, "topic", topic, "READ")
            assert not allowed(gs, who, "topic", topic, "WRITE")
            assert not allowed(gs, who, "topic", topic, "DELETE")
        assert allowed(gs, who, "group", f"kappa.{p.name}.v3", "READ")
        assert allowed(gs, who, "topic", settings.jobs.alerts_topic, "WRITE")
        for other in live:
            if other.topic.name not in mine:
                assert not allowed(gs, who, "topic", other.topic.name, "READ")
            if other.name != p.name:
                assert not allowed(gs, who, "group", f"kappa.{other.name}.v1", "READ")


def test_applications_produce_and_consume_but_never_touch_a_pipelines_offsets(settings: KappaSettings) -> None:
    gs = grants(settings)
    topic = settings.pipelines.live[0].topic.name
    assert allowed(gs, PRODUCER, "topic", topic, "WRITE")
    assert not allowed(gs, PRODUCER, "topic", topic, "READ")
    assert allowed(gs, CONSUMER, "topic", topic, "READ") and not allowed(gs, CONSUMER, "topic", topic, "WRITE")
    assert allowed(gs, CONSUMER, "group", "analytics-group", "READ")
    assert not allowed(gs, CONSUMER, "group", "kappa.transactions.v1", "READ")
    assert not allowed(gs, PRODUCER, "topic", "some-other-topic", "WRITE")


def test_only_terraform_manages_topics_and_no_one_but_the_super_users_alters_the_cluster(
        settings: KappaSettings) -> None:
    gs = grants(settings)
    for op in ("CREATE", "DELETE", "ALTER_CONFIGS"):
        assert [g.principal for g in gs if g.operation == op] == [TERRAFORM]
    assert not any(g.resource == "cluster" and g.operation in ("ALTER", "ALL", "CREATE") for g in gs)
    assert allowed(gs, DAGSTER, "group", "kappa.transactions.v1", "DESCRIBE")
    assert not allowed(gs, DAGSTER, "group", "kappa.transactions.v1", "READ")
    assert not set(SUPER_USERS) & {g.principal for g in gs}
    assert ADMIN in principals(settings) and "broker" not in principals(settings)


def test_passwords_are_derived_per_principal_stably_and_never_printed(tmp_path: Path) -> None:
    secrets = load_or_create(tmp_path)
    a, b = secrets.kafka_password("producer"), secrets.kafka_password("consumer")
    assert a != b and len(a) >= 40
    assert load_or_create(tmp_path).kafka_password("producer") == a
    assert load_or_create(tmp_path / "other").kafka_password("producer") != a
    access = KafkaAccess("127.0.0.1:9092", "producer", a)
    assert a not in repr(access)
    assert access.config()["sasl.password"] == a and access.config()["security.protocol"] == "SASL_PLAINTEXT"


def test_a_job_connects_as_its_principal_with_the_password_quoted() -> None:
    source = kafka_source({"bootstrap": "h:1", "topic": "t", "group_id": "kappa.t.v1", "username": "job-t",
                           "password": 'p"w\\x'})
    options = kafka_options_for(source)
    assert options["properties.security.protocol"] == "SASL_PLAINTEXT"
    assert options["properties.sasl.mechanism"] == "SCRAM-SHA-512"
    assert options["properties.sasl.jaas.config"] == (
        'org.apache.kafka.common.security.scram.ScramLoginModule required username="job-t" password="p\\"w\\\\x";')
    assert kafka_java_security("broker", "x", "PLAIN")["sasl.jaas.config"].startswith(
        "org.apache.kafka.common.security.plain.PlainLoginModule")


def test_a_spec_without_the_password_takes_it_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAPPA_KAFKA_PASSWORD", "from-a-secret")
    source = kafka_source({"bootstrap": "h:1", "topic": "t", "group_id": "g", "username": "job-t"})
    assert source.password == "from-a-secret"
    unauthenticated = kafka_source({"bootstrap": "h:1", "topic": "t", "group_id": "g"})
    assert "properties.security.protocol" not in kafka_options_for(unauthenticated)


def kafka_options_for(source) -> dict[str, str]:  # type: ignore[no-untyped-def]
    class Spec:
        kafka = source
        params = {"max_partition_fetch_kib": 1024}
    return kafka_options(Spec())  # type: ignore[arg-type]
