"""The schema registry (Apicurio Registry, run by `kappa up`): the repository's contracts registered as
subjects with the configured compatibility, the Confluent clients served through the gateway in the
ecosystem's wire format, incompatible versions refused, and everything durable across a restart."""

from __future__ import annotations

import json
import struct
import uuid

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from kappa import schemas
from kappa.context import Context
from kappa.runtime.stack import Stack
from kappa.services.gateway import REGISTRY_USER
from lakehouse.contracts import CONTRACTS_DIR

# The source document's `UserEvent` (section "Schema Registry"), as the repository keeps it.
USER_EVENT = (CONTRACTS_DIR / "user-events-avro.v1.avsc").read_text()


def client(ctx: Context) -> SchemaRegistryClient:
    """What any client needs to connect: the URL, the credentials and the gateway's CA."""
    return SchemaRegistryClient({"url": ctx.settings.registry_url,
                                 "basic.auth.user.info": f"{REGISTRY_USER}:{ctx.secrets.registry_password}",
                                 "ssl.ca.location": str(ctx.settings.gateway_ca_file)})


def test_each_declared_topics_contract_versions_are_registered_with_the_compatibility_level(ctx: Context) -> None:
    registry = schemas.Registry(ctx.settings.registry_socket)
    newest_ids = {}
    with_contracts = [name for name, t in ctx.settings.pipelines.topics.items() if t.contract_version is not None]
    assert "transactions" in with_contracts  # (a change-data-capture topic has no contract: Debezium's records)
    for topic in with_contracts:
        files = sorted(CONTRACTS_DIR.glob(f"{topic}.v*.*"), key=lambda p: int(p.name.split(".v")[1].split(".")[0]))
        assert files, topic
        name = f"{topic}-value"
        versions = registry.versions(name)
        # the repository's versions first, in order; a producer that auto-registers the same schema in
        # other whitespace (the source document's does, test_avro_pipeline) may have added one after them
        assert versions[:len(files)] == list(range(1, len(files) + 1))
        assert registry.compatibility(name) == ctx.settings.registry.compatibility == "BACKWARD"
        for version, path in enumerate(files, start=1):
            registered = registry.version(name, version)
            assert json.loads(registered["schema"]) == json.loads(path.read_text())
            assert registered.get("schemaType", "AVRO") == ("AVRO" if path.suffix == ".avsc" else "JSON")
        for version in versions[len(files):]:
            assert json.loads(registry.version(name, version)["schema"]) == json.loads(files[-1].read_text())
        newest_ids[topic] = registry.version(name, len(files))["id"]
    assert schemas.apply_declared(ctx.settings, registry) == [
        schemas.Applied(t, [], newest_ids[t]) for t in sorted(with_contracts)
    ]  # a second `kappa up` registers nothing


def test_confluents_avro_serializer_round_trips_through_the_gateway_in_the_wire_format(ctx: Context) -> None:
    topic = f"registry-{uuid.uuid4().hex[:8]}"
    sr = client(ctx)
    value = SerializationContext(topic, MessageField.VALUE)
    event = {"user_id": "user_456", "action": "view_product", "timestamp": 1_764_000_000_000,
             "properties": {"product_id": "prod_789", "category": "electronics", "price": "299.99"}}
    payload = AvroSerializer(sr, USER_EVENT)(event, value)
    assert payload is not None
    magic, schema_id = struct.unpack(">bI", payload[:5])
    registered = sr.get_latest_version(f"{topic}-value")
    assert magic == 0 and schema_id == registered.schema_id  # magic byte, then the registry's id
    # the registry serves the schema as registered, in the field order the record was written in
    assert json.loads(sr.get_schema(schema_id).schema_str) == json.loads(USER_EVENT)
    assert AvroDeserializer(sr)(payload, value) == event


def test_an_incompatible_version_is_refused_and_nothing_changes(ctx: Context) -> None:
    topic = f"registry-{uuid.uuid4().hex[:8]}"
    name = f"{topic}-value"
    sr = client(ctx)
    sr.register_schema(name, Schema(USER_EVENT, "AVRO"))
    sr.set_compatibility(name, "BACKWARD")
    record = json.loads(USER_EVENT)
    added = {**record, "fields": [*record["fields"], {"name": "session_id", "type": ["null", "string"],
                                                       "default": None}]}
    required_added = {**record, "fields": [*record["fields"], {"name": "session_id", "type": "string"}]}
    retyped = {**record, "fields": [{"name": "user_id", "type": "long"}, *record["fields"][1:]]}
    assert sr.test_compatibility(name, Schema(json.dumps(added), "AVRO"))  # an optional field with a default
    for refused in (required_added, retyped):
        assert not sr.test_compatibility(name, Schema(json.dumps(refused), "AVRO"))
        with pytest.raises(SchemaRegistryError) as err:
            sr.register_schema(name, Schema(json.dumps(refused), "AVRO"))
        assert err.value.http_status_code == 409
    assert sr.get_versions(name) == [1]


def test_subjects_and_ids_survive_a_registry_restart(ctx: Context) -> None:
    registry = schemas.Registry(ctx.settings.registry_socket)
    before = {n: registry.version(n)["id"] for n in registry.subjects()}
    stack = Stack(ctx)
    assert stack.table.stop("schema-registry")
    assert not registry.healthy()
    assert stack.up() == ["schema-registry"]
    assert {n: registry.version(n)["id"] for n in registry.subjects()} == before
