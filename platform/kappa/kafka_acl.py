"""Who may do what on Kafka: the principals, their SCRAM credentials and their ACLs.

Every client authenticates (SASL/SCRAM-SHA-512) and the broker's authorizer denies whatever no ACL
allows. Each principal gets only what its work needs:

- `admin`: a super user, for the operator's `kappa` commands that manage topics and offsets.
- `broker`: the broker's own principal (controller and inter-broker traffic); a super user that
  authenticates with PLAIN against the broker's private config, so it exists before any SCRAM
  credential does and `kappa up` can create the others through it.
- `producer`: writes the declared topics (`kappa produce`, `make demo`, an application's producers).
- `consumer`: reads the declared topics in any consumer group except the pipelines' own (`kappa.`).
- `job-<pipeline>`: one per pipeline: reads its topic in its own groups, writes the alerts topic.
- `dagster`: describes topics and groups and reads records for offset lookups (sensors, backfills).
- `terraform`: creates, alters and deletes topics.
- `connect`: the Kafka Connect worker (Debezium): its own config, offset and status topics and group,
  its transactional ids (exactly-once source tasks), and writes the captured tables' topics.

Passwords derive from the secrets file's `kafka_secret` (runtime/secrets.py), so a new pipeline's
principal needs no new entry. Credentials and ACLs are applied at every `kappa up`, idempotently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialUpsertion,
)

from kappa.context import Context
from kappa.errors import KappaError
from kappa.kafka_clients import KafkaAccess, admin
from kappa.settings import CONNECT_TOPIC_PREFIX as CONNECT_PREFIX
from kappa.settings import KappaSettings

ADMIN = "admin"
BROKER = "broker"
PRODUCER = "producer"
CONSUMER = "consumer"
DAGSTER = "dagster"
TERRAFORM = "terraform"
CONNECT = "connect"
SUPER_USERS = (BROKER, ADMIN)
PIPELINE_GROUP_PREFIX = "kappa."  # flink_jobs.spec.pipeline_name: every job version's consumer group
SCRAM_ITERATIONS = 8192
CLUSTER = "kafka-cluster"


def job_principal(pipeline: str) -> str:
    return f"job-{pipeline}"


def principals(settings: KappaSettings) -> list[str]:
    """Every SCRAM principal (the broker's is PLAIN, in its own config)."""
    return ([ADMIN, PRODUCER, CONSUMER, DAGSTER, TERRAFORM, CONNECT]
            + [job_principal(p.name) for p in settings.pipelines.live])


@dataclass(frozen=True)
class Grant:
    principal: str
    resource: str  # "topic", "group", "cluster" or "transactional_id"
    name: str
    operation: str  # an AclOperation name: "READ", "WRITE", ...
    prefixed: bool = False
    deny: bool = False


def _each(principal: str, resource: str, names: Iterable[str], operations: Iterable[str], *,
          prefixed: bool = False, deny: bool = False) -> list[Grant]:
    return [Grant(principal, resource, n, op, prefixed, deny) for n in names for op in operations]


def grants(settings: KappaSettings) -> list[Grant]:
    """The ACLs the settings call for (super users need none)."""
    topics = sorted(settings.data_topics)
    out = _each(PRODUCER, "topic", topics, ("WRITE", "DESCRIBE"))
    out += _each(CONSUMER, "topic", topics, ("READ", "DESCRIBE"))
    out += _each(CONSUMER, "group", ["*"], ("READ", "DESCRIBE"))
    # a consumer must not move a pipeline's committed offsets (lag and replay progress read them)
    out += _each(CONSUMER, "group", [PIPELINE_GROUP_PREFIX], ("READ",), prefixed=True, deny=True)
    out += _each(DAGSTER, "topic", topics, ("READ", "DESCRIBE"))
    out += _each(DAGSTER, "group", ["*"], ("DESCRIBE",))
    out += _each(TERRAFORM, "topic", ["*"], ("CREATE", "DELETE", "ALTER", "ALTER_CONFIGS", "DESCRIBE",
                                             "DESCRIBE_CONFIGS"))
    out += _each(TERRAFORM, "cluster", [CLUSTER], ("DESCRIBE", "DESCRIBE_CONFIGS"))
    captured = sorted(p.topic.name for p in settings.pipelines.captured)
    out += _each(CONNECT, "topic", captured, ("WRITE", "DESCRIBE"))
    out += _each(CONNECT, "topic", [CONNECT_PREFIX], ("READ", "WRITE", "DESCRIBE", "DESCRIBE_CONFIGS"), prefixed=True)
    out += _each(CONNECT, "group", [CONNECT_PREFIX], ("READ", "DESCRIBE"), prefixed=True)
    # exactly-once source tasks' transactional producers (`<group>-<connector>-<task>`) and the leader's,
    # which writes the config topic (`connect-cluster-<group>`)
    out += _each(CONNECT, "transactional_id", [CONNECT_PREFIX], ("WRITE", "DESCRIBE"), prefixed=True)
    out += _each(CONNECT, "transactional_id", [f"connect-cluster-{CONNECT_PREFIX}"], ("WRITE", "DESCRIBE"))
    out += _each(CONNECT, "cluster", [CLUSTER], ("DESCRIBE", "DESCRIBE_CONFIGS", "IDEMPOTENT_WRITE"))
    for p in settings.pipelines.live:
        who = job_principal(p.name)
        out += _each(who, "topic", sorted(t.name for t in p.topics), ("READ", "DESCRIBE"))
        out += _each(who, "topic", [settings.jobs.alerts_topic], ("WRITE", "DESCRIBE"))
        out += _each(who, "group", [f"{PIPELINE_GROUP_PREFIX}{p.name}."], ("READ", "DESCRIBE"), prefixed=True)
    return out


def _binding(g: Grant) -> AclBinding:
    return AclBinding(
        {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP, "cluster": ResourceType.BROKER,
         "transactional_id": ResourceType.TRANSACTIONAL_ID}[g.resource],
        g.name, ResourcePatternType.PREFIXED if g.prefixed else ResourcePatternType.LITERAL, f"User:{g.principal}",
        "*", AclOperation[g.operation], AclPermissionType.DENY if g.deny else AclPermissionType.ALLOW)


def broker_access(ctx: Context) -> KafkaAccess:
    """The broker's own principal: PLAIN, so it works before any SCRAM credential exists."""
    return KafkaAccess(ctx.settings.kafka_bootstrap, BROKER, ctx.secrets.kafka_password(BROKER), mechanism="PLAIN")


def apply(ctx: Context, timeout_s: float = 30) -> None:
    """Create or refresh every principal's SCRAM credential, add the missing ACLs and remove ACLs of
    pipelines the settings no longer have."""
    settings = ctx.settings
    client = admin(broker_access(ctx))
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    upserts: list[UserScramCredentialAlteration] = [
        UserScramCredentialUpsertion(name, info, ctx.secrets.kafka_password(name).encode())
        for name in principals(settings)]
    try:
        for future in client.alter_user_scram_credentials(upserts, request_timeout=timeout_s).values():
            future.result(timeout_s)
        wanted = {_binding(g) for g in grants(settings)}
        everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,  # type: ignore[arg-type]
                                      AclOperation.ANY, AclPermissionType.ANY)
        have = set(client.describe_acls(everything, request_timeout=timeout_s).result(timeout_s))
        missing = sorted(wanted - have, key=str)
        if missing:
            for future in client.create_acls(missing, request_timeout=timeout_s).values():
                future.result(timeout_s)
        stale = [b for b in have - wanted if b.principal.startswith("User:job-")]
        if stale:
            filters = [AclBindingFilter(b.restype, b.name, b.resource_pattern_type, b.principal, b.host,
                                        b.operation, b.permission_type) for b in stale]
            for future in client.delete_acls(filters, request_timeout=timeout_s).values():
                future.result(timeout_s)
    except Exception as exc:
        raise KappaError(f"could not apply Kafka's credentials and ACLs: {exc}") from exc
