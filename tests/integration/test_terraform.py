"""The local resources are Terraform's: `kappa up` applied infra/envs/local; Kafka's admin API and
PostgreSQL show what the settings declare; a second plan is empty; a retention changed in one place
(the settings) is applied by the next apply."""

from __future__ import annotations

import re

from confluent_kafka.admin import ConfigResource

from kappa import infra, kafka_clients
from kappa.context import Context
from kappa.provisioned import outputs as provisioned_outputs
from kappa.services.postgres import Postgres
from kappa.settings import TopicSettings
from kappa.topics import ensure_topics


def _topic_state(ctx: Context, name: str) -> tuple[int, int, dict[str, str]]:
    admin = kafka_clients.admin(ctx.kafka())
    topic = admin.list_topics(name, timeout=10).topics[name]
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    configs = admin.describe_configs([resource])[resource].result(30)
    replication = len(next(iter(topic.partitions.values())).replicas)
    return len(topic.partitions), replication, {k: c.value for k, c in configs.items()}


def test_topics_databases_and_role_exist_as_declared(ctx: Context) -> None:
    for name, spec in ctx.settings.kafka.topics.items():
        partitions, replication, configs = _topic_state(ctx, name)
        assert (partitions, replication) == (spec.partitions, spec.replication_factor), name
        assert configs["retention.ms"] == str(spec.retention_ms) and configs["cleanup.policy"] == spec.cleanup_policy
    conn = Postgres(ctx).connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT datname, pg_get_userbyid(datdba) FROM pg_database")
            owners = dict(cur.fetchall())
    finally:
        conn.close()
    s = ctx.settings
    assert owners[s.postgres.database] == s.postgres.user
    assert owners[s.postgres.dagster_database] == s.postgres.dagster_user  # a role of its own
    assert ctx.settings.warehouse.is_dir()
    provisioned = provisioned_outputs(ctx.settings)
    assert provisioned.catalog_jdbc_url == s.jdbc_url and provisioned.warehouse == s.warehouse
    assert set(provisioned.topics) == set(s.kafka.topics)


def test_second_plan_is_empty(ctx: Context) -> None:
    changes, text = infra.Terraform(ctx).plan()
    assert not changes, text


def test_the_state_holds_no_password(ctx: Context) -> None:
    state = infra.Terraform(ctx).state_file.read_text()
    assert ctx.secrets.catalog_password not in state
    assert ctx.secrets.dagster_storage_password not in state
    assert ctx.secrets.postgres_superuser_password not in state


def test_a_retention_changed_in_the_settings_is_applied(ctx: Context) -> None:
    s = ctx.settings
    old = s.kafka.topics["alerts"]
    new_topics = {**s.kafka.topics, "alerts": TopicSettings(**{**old.model_dump(), "retention_ms": 3_600_000})}
    changed = Context(s.model_copy(update={"kafka": s.kafka.model_copy(update={"topics": new_topics})}),
                      ctx.installs, ctx.secrets)
    try:
        planned, text = infra.Terraform(changed).plan()
        assert planned and "retention.ms" in text and "1 to change" in text, text
        infra.Terraform(changed).apply()
        assert _topic_state(ctx, "alerts")[2]["retention.ms"] == "3600000"
    finally:
        infra.Terraform(ctx).apply()
    assert _topic_state(ctx, "alerts")[2]["retention.ms"] == str(old.retention_ms)
    assert not infra.Terraform(ctx).plan()[0]


def test_destroy_would_delete_only_what_terraform_created(ctx: Context) -> None:
    ensure_topics(kafka_clients.admin(ctx.kafka()), {"not-terraforms": TopicSettings(partitions=1)})
    _, text = infra.Terraform(ctx).plan(destroy=True)
    doomed = set(re.findall(r"# (\S+) will be destroyed", text))
    s = ctx.settings
    assert doomed == {
        *(f'module.topics.kafka_topic.this["{t}"]' for t in s.kafka.topics),
        "module.catalog.postgresql_role.owner", "module.catalog.postgresql_database.this",
        "module.dagster_storage.postgresql_role.owner", "module.dagster_storage.postgresql_database.this",
        "module.registry_storage.postgresql_role.owner", "module.registry_storage.postgresql_database.this",
        "module.cdc_source.postgresql_role.owner", "module.cdc_source.postgresql_database.this",
        "postgresql_role.cdc_capture",
        "module.warehouse[0].terraform_data.warehouse",
    }, text
