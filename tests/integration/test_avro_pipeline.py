"""Avro in the Confluent wire format, end to end: the source document's Schema Registry producer
(tests/integration/source_document/schema_registry_producer.py, byte for byte) writes `UserEvent`s
that the user_events_avro job decodes with the writer schema it fetches from the registry by id and
lands in Iceberg; every kind of record it cannot decode is quarantined with its reason, and the job
goes on. Expected rows come from decoding the records in plain Python (fastavro), not from the job.

The document's block does not run as written on any confluent-kafka release: it never imports
`datetime`, calls the serializer without the SerializationContext that names the subject (the client
raises ValueError), and exits without `flush()`, so the record may never leave. The test shows the
block, with only the connection settings changed, failing there, then runs it with those three
corrected.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import fastavro
from confluent_kafka import Producer

from kappa import schemas
from kappa.context import Context
from kappa.jobs import start_job
from kappa.kafka_acl import PRODUCER
from kappa.producer import Delivered, produce
from kappa.services.gateway import REGISTRY_USER
from kappa.topics import end_offsets
from lakehouse.scenarios.base import ScenarioOptions
from tests.integration.conftest import trino_rows
from tests.integration.streams import fresh_event_time, rows_when
from tests.integration.test_source_document import private_script, records_between

SNIPPET = Path(__file__).with_name("source_document") / "schema_registry_producer.py"
TOPIC = "user-events-avro"
TABLE = "user_events_avro_raw"


def connected(ctx: Context) -> str:
    """The document's block with what any client needs to connect: the registry's URL, credentials
    and CA, Kafka's address and credentials. Nothing else changed."""
    code = SNIPPET.read_text()
    registry = (f"{{'url': {ctx.settings.registry_url!r}, "
                f"'basic.auth.user.info': {REGISTRY_USER + ':' + ctx.secrets.registry_password!r}, "
                f"'ssl.ca.location': {str(ctx.settings.gateway_ca_file)!r}}}")
    kafka = repr(ctx.kafka(PRODUCER).config())
    for old, new in (("{\n    'url': 'http://localhost:8081'\n}", registry),
                     ("{\n    'bootstrap.servers': 'localhost:9092'\n}", kafka)):
        assert code.count(old) == 1, old
        code = code.replace(old, new)
    return code


def corrected(code: str) -> str:
    """The three corrections the block needs to run at all (see the module's docstring)."""
    call = "value=avro_serializer(evento, None)"
    assert code.count(call) == 1
    return ("from datetime import datetime\n"
            "from confluent_kafka.serialization import MessageField, SerializationContext\n"
            + code.replace(call, "value=avro_serializer(evento, SerializationContext('user-events-avro', "
                                 "MessageField.VALUE))")
            + "producer.flush()\n")


def run(code: str) -> subprocess.CompletedProcess[str]:
    script = private_script(code)
    try:
        return subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    finally:
        Path(script).unlink(missing_ok=True)


def test_the_documents_avro_producer_lands_in_iceberg(ctx: Context) -> None:
    start_job(ctx, "user_events_avro")
    as_written = run("from datetime import datetime\n" + connected(ctx))
    assert as_written.returncode != 0 and "SerializationContext is required" in as_written.stderr, as_written.stderr

    before = end_offsets(ctx.kafka(), TOPIC)
    registry = schemas.Registry(ctx.settings.registry_socket)
    done = run(corrected(connected(ctx)))
    assert done.returncode == 0, done.stderr
    # The producer registers its schema text as written: the repository's v1 in other whitespace, which
    # the registry keeps as a version of its own (see test_schema_registry), the same schema.
    subject_versions = [registry.version(f"{TOPIC}-value", v) for v in registry.versions(f"{TOPIC}-value")]
    v1 = json.loads(subject_versions[0]["schema"])
    assert all(json.loads(v["schema"]) == v1 for v in subject_versions)
    assert schemas.apply_declared(ctx.settings, registry, topics=[TOPIC])[0].registered == []
    sent = records_between(ctx, TOPIC, before, end_offsets(ctx.kafka(), TOPIC))
    assert len(sent) == 1
    partition, offset, value = sent[0]
    # plain Python: the wire format's header, then the body read with the schema the registry holds
    magic, schema_id = struct.unpack(">bI", value[:5])
    assert magic == 0
    assert schema_id in {v["id"] for v in subject_versions}
    schema = json.loads(registry.schema_by_id(schema_id)["schema"])
    event = fastavro.schemaless_reader(io.BytesIO(value[5:]), fastavro.parse_schema(schema))
    assert event["user_id"] == "user_456" and event["properties"]["category"] == "electronics"

    rows = rows_when(ctx, f"SELECT user_id, action, properties, event_ts_ms FROM {TABLE} "
                          f"WHERE kafka_partition = {partition} AND kafka_offset = {offset}",
                     lambda r: len(r) == 1, "the document's event in Iceberg", timeout_s=180)
    assert rows == [[event["user_id"], event["action"],
                     json.dumps(event["properties"], sort_keys=True, separators=(",", ":")), event["timestamp"]]]


def test_every_undecodable_record_is_quarantined_with_its_reason(ctx: Context) -> None:
    start_job(ctx, "user_events_avro")
    registry = schemas.Registry(ctx.settings.registry_socket)
    avro_id = registry.version(f"{TOPIC}-value")["id"]
    json_id = registry.version("transactions-value")["id"]
    schema = fastavro.parse_schema(json.loads(registry.schema_by_id(avro_id)["schema"]))
    body = io.BytesIO()
    now_ms = fresh_event_time(ctx, TABLE, align_ms=60_000)  # after anything the job has seen: on time
    fastavro.schemaless_writer(body, schema, {"user_id": "u1", "action": "login", "timestamp": now_ms,
                                              "properties": {"k": "v"}})
    good = b"\x00" + struct.pack(">I", avro_id) + body.getvalue()
    cases = {  # the record -> the start of the reason it must be quarantined with
        b"\x01" + good[1:]: "not in the registry's wire format (magic byte 1, not 0)",
        b"\x00\x00": "not in the registry's wire format (truncated before the schema id)",
        b"\x00" + struct.pack(">I", 987_654) + body.getvalue(): "unknown schema id 987654",
        b"\x00" + struct.pack(">I", json_id) + b"{}": f"schema id {json_id} is JSON, not Avro",
        good[:-3]: f"truncated Avro payload (schema id {avro_id})",
        good + b"\x02\x04": f"bytes left over after the Avro record (schema id {avro_id})",
        b'{"user_id": "u1"}': "not in the registry's wire format (magic byte 123, not 0)",
        b"": "empty payload",
    }
    producer = Producer(ctx.kafka(PRODUCER).config())
    before = end_offsets(ctx.kafka(), TOPIC)
    for payload in [*cases, good]:
        producer.produce(TOPIC, value=payload, partition=0)
    assert producer.flush(30) == 0
    sent = records_between(ctx, TOPIC, before, end_offsets(ctx.kafka(), TOPIC))
    offsets = {value: offset for _p, offset, value in sent}
    where = " OR ".join(f"kafka_offset = {offsets[v]}" for v in cases)
    quarantined = rows_when(
        ctx, f"SELECT kafka_offset, reason FROM quarantine WHERE kafka_topic = '{TOPIC}' AND kafka_partition = 0 "
             f"AND ({where})", lambda r: len(r) == len(cases), f"{len(cases)} quarantined records", timeout_s=180)
    assert {offset: reason for offset, reason in quarantined} == {offsets[v]: r for v, r in cases.items()}
    # the job went on: the good record after them all landed
    assert rows_when(ctx, f"SELECT user_id FROM {TABLE} WHERE kafka_partition = 0 AND kafka_offset = {offsets[good]}",
                     lambda r: len(r) == 1, "the good record after them", timeout_s=120) == [["u1"]]
    assert trino_rows(ctx.settings, f"SELECT count(*) FROM late_events WHERE kafka_topic = '{TOPIC}' "
                                    f"AND kafka_partition = 0 AND ({where})") == [[0]]


def test_a_produced_avro_stream_is_reconciled_record_by_record(ctx: Context) -> None:
    """`kappa produce`'s path for an Avro topic: every record in the wire format, each one landed with
    its generated values, or (the 2% a JSON producer wrote) quarantined; none missing, none twice."""
    start_job(ctx, "user_events_avro")
    scenario, topic = ctx.settings.pipelines.scenarios["user-events-avro"]
    start = fresh_event_time(ctx, TABLE, align_ms=60_000)  # after anything the job has seen: on time
    opts = ScenarioOptions(count=400, seed=7, start_ms=start, event_interval_ms=100, keys=50,
                           key_prefix=scenario.key_prefix, malformed_share=0.02)
    events = schemas.in_wire_format(ctx.settings, topic.name, scenario.generate(opts))
    count, delivered = produce(ctx.kafka(PRODUCER), topic.name, events, collect=True)
    assert count == 400 == len(delivered)
    good = {(d.partition, d.offset): d.event.record for d in delivered if d.event.record is not None}
    bad = {(d.partition, d.offset) for d in delivered if d.event.record is None}
    assert good and bad and all(d.event.value[:1] == b"\x00" for d in delivered if d.event.record is not None)
    offsets = delivered_keys(delivered)
    where = " OR ".join(f"(kafka_partition = {p} AND kafka_offset BETWEEN {min(o for q, o in offsets if q == p)} "
                        f"AND {max(o for q, o in offsets if q == p)})" for p in {p for p, _ in offsets})
    rows = rows_when(ctx, f"SELECT kafka_partition, kafka_offset, user_id, action, properties, event_ts_ms "
                          f"FROM {TABLE} WHERE {where}", lambda r: len(r) >= len(good), f"{len(good)} landed records",
                     timeout_s=240)
    landed = {(r[0], r[1]): r[2:] for r in rows}
    assert len(rows) == len(landed)  # none twice
    assert landed == {k: [e["user_id"], e["action"], json.dumps(e["properties"], sort_keys=True, separators=(",", ":")),
                          e["timestamp"]] for k, e in good.items()}
    quarantined = trino_rows(ctx.settings, f"SELECT kafka_partition, kafka_offset, reason FROM quarantine "
                                           f"WHERE kafka_topic = '{TOPIC}' AND ({where})")
    assert {(p, o) for p, o, _ in quarantined} == bad
    assert {r for _p, _o, r in quarantined} == {"not in the registry's wire format (magic byte 123, not 0)"}
    assert trino_rows(ctx.settings, f"SELECT count(*) FROM late_events WHERE kafka_topic = '{TOPIC}' "
                                    f"AND ({where})") == [[0]]


def delivered_keys(delivered: list[Delivered]) -> set[tuple[int, int]]:
    return {(d.partition, d.offset) for d in delivered}
