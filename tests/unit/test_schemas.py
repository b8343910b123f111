"""Contracts as code for the schema registry: which files are a topic's versions, and the order and
checks with which `kappa up` registers them (a stand-in registry here; tests/integration/
test_schema_registry.py runs the real one)."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path
from typing import Any

import fastavro
import pytest

from kappa import schemas
from kappa.errors import KappaError
from kappa.settings import load_settings
from lakehouse.contracts import CONTRACTS_DIR_ENV, avro_contract, contract, latest_version, schema_problems
from lakehouse.scenarios.base import Event
from orchestration.assets.lineage import topic_metadata

pytestmark = pytest.mark.unit

V1 = {"type": "record", "name": "Reading", "fields": [{"name": "id", "type": "string"}]}
V2 = {**V1, "fields": [*V1["fields"], {"name": "unit", "type": ["null", "string"], "default": None}]}


def write(directory: Path, name: str, doc: dict[str, Any]) -> None:
    (directory / name).write_text(json.dumps(doc, indent=2))


def test_a_topics_versions_are_its_files_in_order_and_must_have_no_gap(tmp_path: Path) -> None:
    write(tmp_path, "readings.v2.avsc", V2)
    write(tmp_path, "readings.v1.avsc", V1)
    write(tmp_path, "other.v1.schema.json", {"type": "object"})
    found = schemas.schema_files("readings", tmp_path)
    assert [(f.version, f.schema_type) for f in found] == [(1, "AVRO"), (2, "AVRO")]
    assert json.loads(found[0].text) == V1 and "\n" not in found[0].text  # compact: whitespace is no new version
    write(tmp_path, "readings.v4.avsc", V2)
    with pytest.raises(KappaError, match=r"\[1, 2, 4\]"):
        schemas.schema_files("readings", tmp_path)
    write(tmp_path, "other.v2.avsc", V1)
    with pytest.raises(KappaError, match="more than one format"):
        schemas.schema_files("other", tmp_path)


class FakeRegistry:
    """Subjects in memory; `refuse` names the schemas the compatibility check rejects."""

    def __init__(self, refuse: tuple[str, ...] = ()) -> None:
        self.subjects: dict[str, list[str]] = {}
        self.levels: dict[str, str] = {}
        self.refuse = refuse
        self.ids: dict[str, int] = {}

    def compatibility(self, name: str) -> str | None:
        return self.levels.get(name)

    def set_compatibility(self, name: str, level: str) -> None:
        self.levels[name] = level

    def versions(self, name: str) -> list[int]:
        return list(range(1, len(self.subjects.get(name, [])) + 1))

    def lookup(self, name: str, schema: str, schema_type: str) -> dict[str, Any] | None:
        return {"id": self.ids[schema]} if schema in self.subjects.get(name, []) else None

    def compatible(self, name: str, schema: str, schema_type: str) -> bool:
        return schema not in self.refuse

    def register(self, name: str, schema: str, schema_type: str) -> int:
        self.subjects.setdefault(name, []).append(schema)
        self.ids.setdefault(schema, len(self.ids) + 1)
        return self.ids[schema]


def test_versions_register_in_order_once_and_a_refused_one_stops_with_its_rule() -> None:
    settings = load_settings(None)
    registry = FakeRegistry()
    applied = schemas.apply_declared(settings, registry)  # type: ignore[arg-type]
    # a captured table's topic carries Debezium's change events: no contract of ours to register
    topics = sorted(t for t, topic in settings.pipelines.topics.items() if topic.contract_version is not None)
    assert [a.topic for a in applied] == topics and all(a.registered == [1] for a in applied)
    assert registry.levels == {schemas.subject(t): "BACKWARD" for t in topics}
    again = schemas.apply_declared(settings, registry)  # type: ignore[arg-type]
    assert [a.registered for a in again] == [[] for _ in topics]
    assert [a.latest_id for a in again] == [a.latest_id for a in applied]


def test_a_refused_version_is_named_with_the_rule_and_a_dry_run_changes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(None)
    topic = sorted(t for t, tp in settings.pipelines.topics.items() if tp.contract_version is not None)[0]
    write(tmp_path, f"{topic}.v1.avsc", V1)
    write(tmp_path, f"{topic}.v2.avsc", V2)
    monkeypatch.setenv(CONTRACTS_DIR_ENV, str(tmp_path))
    v2 = schemas.schema_files(topic)[1].text
    registry = FakeRegistry()
    registry.register(schemas.subject(topic), schemas.schema_files(topic)[0].text, "AVRO")
    assert schemas.apply_declared(settings, registry, topics=[topic], dry_run=True)[0].registered == [2]  # type: ignore[arg-type]
    assert registry.versions(schemas.subject(topic)) == [1] and registry.levels == {}
    registry.refuse = (v2,)
    with pytest.raises(KappaError, match=rf"{topic}.v2.avsc is not BACKWARD-compatible .*rule BACKWARD: readers"):
        schemas.apply_declared(settings, registry, topics=[topic])  # type: ignore[arg-type]
    assert registry.versions(schemas.subject(topic)) == [1]


def test_the_dagster_topic_asset_carries_the_schema_history_and_columns() -> None:
    settings = load_settings(None)
    meta = topic_metadata(settings, "transactions")
    assert meta["schema_subject"] == "transactions-value" and meta["schema_compatibility"] == "BACKWARD"
    contract = json.loads(Path("lakehouse/contracts/transactions.v1.schema.json").read_text())
    assert [c.name for c in meta["dagster/column_schema"].columns] == list(contract["properties"])  # type: ignore[attr-defined]
    assert meta["schema_versions"].data == [  # type: ignore[attr-defined]
        {"version": 1, "format": "JSON", "file": "lakehouse/contracts/transactions.v1.schema.json"}]
    assert topic_metadata(settings, "alerts") == {}


def test_an_avro_schema_stands_for_a_contract_the_jobs_rules_read() -> None:
    doc = {"type": "record", "name": "E", "fields": [
        {"name": "id", "type": "string"}, {"name": "n", "type": "int"}, {"name": "x", "type": "double"},
        {"name": "kind", "type": {"type": "enum", "name": "K", "symbols": ["a", "b"]}},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "tags", "type": {"type": "map", "values": "string"}}, {"name": "timestamp", "type": "long"}]}
    c = avro_contract(doc, "t")
    assert c["x-wire"] == "confluent-avro" and c["required"] == ["id", "n", "x", "kind", "tags", "timestamp"]
    assert {n: p["x-sql-type"] for n, p in c["properties"].items()} == {
        "id": "STRING", "n": "BIGINT", "x": "DOUBLE", "kind": "STRING", "note": "STRING", "tags": "JSON",
        "timestamp": "BIGINT"}
    assert c["properties"]["kind"]["enum"] == ["a", "b"]
    assert c["properties"]["timestamp"]["x-time-formats"] == ["epoch-ms"] and not schema_problems(c)
    for bad, message in ((dict(doc, type="enum"), "record schema"),
                         (dict(doc, fields=doc["fields"][:-1]), "no timestamp field"),
                         (dict(doc, fields=[{"name": "timestamp", "type": "string"}]), "is a long"),
                         (dict(doc, fields=[{"name": "u", "type": ["int", "string"]}]), "union")):
        with pytest.raises(ValueError, match=message):
            avro_contract(bad, "t")


def test_scenario_records_go_out_in_the_wire_format_with_the_registered_id(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "readings.v1.avsc", {**V1, "fields": [*V1["fields"], {"name": "timestamp", "type": "long"}]})
    monkeypatch.setenv(CONTRACTS_DIR_ENV, str(tmp_path))
    registry = FakeRegistry()
    registry.register("other-value", "{}", "JSON")  # ids are global: this one's is 1
    schema_id = registry.register("readings-value", schemas.schema_files("readings")[0].text, "AVRO")
    records = [{"id": f"r{i}", "timestamp": 1_764_000_000_000 + i} for i in range(3)]
    events = [Event("k", b"{}", r) for r in records] + [Event("k", b"{not json", None, "invalid_json")]
    out = list(schemas.in_wire_format(load_settings(None), "readings", events, registry=registry))  # type: ignore[arg-type]
    assert out[-1].value == b"{not json"  # a malformed record goes as generated
    for event, record in zip(out, records, strict=False):
        assert event.value[:5] == b"\x00" + struct.pack(">I", schema_id) and schema_id == 2
        schema = fastavro.parse_schema(json.loads(schemas.schema_files("readings")[0].text))
        assert fastavro.schemaless_reader(io.BytesIO(event.value[5:]), schema) == record
    assert list(schemas.in_wire_format(load_settings(None), "readings", events, "json")) == events
    with pytest.raises(KappaError, match="not registered"):
        schemas.in_wire_format(load_settings(None), "readings", events, registry=FakeRegistry())  # type: ignore[arg-type]


def test_a_diff_names_each_added_removed_and_changed_field() -> None:
    old = schemas.describe_fields("AVRO", {**V1, "fields": [*V1["fields"], {"name": "gone", "type": "long"}]})
    new = schemas.describe_fields("AVRO", {**V2, "fields": [{"name": "id", "type": "long"}, *V2["fields"][1:]]})
    assert schemas.diff_fields(old, new) == ["~ id: string -> long", '+ unit: ["null","string"], default null',
                                             "- gone: long"]
    assert schemas.diff_fields(new, new) == []
    doc = {"required": ["a"], "properties": {"a": {"x-sql-type": "BIGINT"}, "b": {"type": "string"}}}
    assert schemas.describe_fields("JSON", doc) == {"a": "BIGINT, required", "b": "string"}


def test_a_topics_contract_is_its_newest_version_unless_a_version_is_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    timestamp = {"name": "timestamp", "type": "long"}
    write(tmp_path, "readings.v1.avsc", {**V1, "fields": [*V1["fields"], timestamp]})
    write(tmp_path, "readings.v2.avsc", {**V2, "fields": [*V2["fields"], timestamp]})
    monkeypatch.setenv(CONTRACTS_DIR_ENV, str(tmp_path))
    assert latest_version("readings") == 2
    assert list(contract("readings")["properties"]) == [f["name"] for f in [*V2["fields"], timestamp]]
    assert list(contract("readings", 1)["properties"]) == [f["name"] for f in [*V1["fields"], timestamp]]
    with pytest.raises(KeyError, match="no contract for topic 'readings' v3; known: readings"):
        contract("readings", 3)
