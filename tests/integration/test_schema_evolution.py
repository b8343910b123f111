"""Live schema evolution of the Avro topic user-events-avro, through `kappa schema apply` as a user
runs it: a new contract version in a working copy of the contracts directory ($KAPPA_CONTRACTS_DIR),
applied while a producer writes at a steady rate.

Expected rows come from the produced records themselves (decoded in plain Python), never from the
job. These tests leave the topic at a version the repository does not have, so they run last
(conftest.py orders them).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import fastavro
import pytest
from confluent_kafka import Producer

from flink_jobs.spec import pipeline_name
from kappa import schemas
from kappa.catalog import catalog
from kappa.context import Context
from kappa.flink_rest import FlinkRest
from kappa.jobs import JobStore, start_job
from kappa.kafka_acl import PRODUCER
from lakehouse.contracts import CONTRACTS_DIR, CONTRACTS_DIR_ENV
from lakehouse.quality import expectations, validate
from orchestration.assets.lineage import topic_key
from orchestration.health.sensors import schema_observations
from orchestration.resources import Platform
from tests.integration.conftest import trino_rows
from tests.integration.streams import fresh_event_time, rows_when

TOPIC, JOB, TABLE = "user-events-avro", "user_events_avro", "user_events_avro_raw"
V1 = json.loads((CONTRACTS_DIR / f"{TOPIC}.v1.avsc").read_text())
SESSION = {"name": "session_id", "type": ["null", "string"], "default": None, "doc": "the client session"}
V2 = {**V1, "fields": [*V1["fields"], SESSION]}
RATE = 100  # events/s, steady, through the whole evolution


def contracts_with(tmp_path: Path, v2: dict[str, Any]) -> Path:
    """A working copy of the contracts directory with `v2` as the topic's version 2."""
    copy = tmp_path / "contracts"
    shutil.copytree(CONTRACTS_DIR, copy)
    (copy / f"{TOPIC}.v2.avsc").write_text(json.dumps(v2, indent=2))
    return copy


def kappa(ctx: Context, contracts: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kappa", "--config", str(ctx.settings.effective_settings_file),
                           *args], capture_output=True, text=True, timeout=900, check=False,
                          env={**os.environ, CONTRACTS_DIR_ENV: str(contracts)})


def table_columns(ctx: Context) -> list[str]:
    return [f.name for f in catalog(ctx).load_table((ctx.settings.jobs.namespace, TABLE)).schema().fields]


def running_job_id(ctx: Context) -> str:
    record = JobStore(ctx.settings.state).get(JOB)
    return str(FlinkRest(ctx).running_by_name(pipeline_name(JOB, record.version))[0]["jid"])


def state(ctx: Context) -> tuple[list[int], list[str], str]:
    registry = schemas.Registry(ctx.settings.registry_socket)
    return registry.versions(schemas.subject(TOPIC)), table_columns(ctx), running_job_id(ctx)


@pytest.mark.parametrize(("change", "refusal"), [
    ({**V1, "fields": [*V1["fields"], {"name": "channel", "type": "string"}]},
     r"user-events-avro\.v2\.avsc is not BACKWARD-compatible with subject user-events-avro-value's latest version "
     r"\(rule BACKWARD: readers of the new version must read data written with the latest one: add fields only "
     r"with a default"),
    ({**V1, "fields": [f for f in V1["fields"] if f["name"] != "properties"]},
     r"table user_events_avro_raw has column properties, which its declaration no longer has"),
], ids=["required field without a default", "a field removed"])
def test_an_incompatible_change_is_refused_in_one_line_with_nothing_changed(
        ctx: Context, tmp_path: Path, change: dict[str, Any], refusal: str) -> None:
    start_job(ctx, JOB)
    before = state(ctx)
    done = kappa(ctx, contracts_with(tmp_path, change), "schema", "apply", TOPIC)
    assert done.returncode != 0
    message = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(message) == 1 and "Traceback" not in done.stderr, done.stderr
    assert re.search(refusal, " ".join(message[0].split())), done.stderr
    assert "nothing was changed" in message[0] or "nothing was registered" in message[0]
    assert state(ctx) == before


def avro_record(schema: Any, schema_id: int, record: dict[str, Any]) -> bytes:
    body = io.BytesIO()
    fastavro.schemaless_writer(body, schema, record)
    return b"\x00" + struct.pack(">I", schema_id) + body.getvalue()


@pytest.mark.timeout(1500)
def test_a_new_field_is_applied_while_a_producer_writes_and_every_event_lands_with_its_columns(
        ctx: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    start_job(ctx, JOB)
    contracts = contracts_with(tmp_path, V2)
    registry = schemas.Registry(ctx.settings.registry_socket)
    v1_id = int(registry.lookup(schemas.subject(TOPIC), json.dumps(V1, separators=(",", ":")), "AVRO")["id"])
    job_before = running_job_id(ctx)
    start = fresh_event_time(ctx, TABLE, align_ms=60_000)
    produced: list[tuple[int, int, dict[str, Any], int]] = []  # partition, offset, record, schema id
    switch: dict[str, Any] = {}
    stop = threading.Event()
    failures: list[BaseException] = []

    def producer() -> None:
        """One event every 1/RATE s, in v1 until the apply is done, then in v2 with a session id."""
        try:
            client = Producer(ctx.kafka(PRODUCER).config())
            schemas_by_id = {v1_id: fastavro.parse_schema(V1)}
            i, after_switch = 0, 0
            began = time.monotonic()
            while after_switch < 300 and not stop.is_set():
                record: dict[str, Any] = {"user_id": f"evo_{i % 40}", "action": ["login", "view", "buy"][i % 3],
                                          "timestamp": start + i * 10, "properties": {"n": str(i)}}
                schema_id = switch.get("id", v1_id)
                if schema_id != v1_id:
                    schemas_by_id.setdefault(schema_id, fastavro.parse_schema(V2))
                    record["session_id"] = None if i % 5 == 0 else f"s{i % 7}"
                    after_switch += 1

                def delivered(err: Any, msg: Any, record: dict[str, Any] = record, schema_id: int = schema_id) -> None:
                    if err is not None:
                        failures.append(RuntimeError(str(err)))
                    else:
                        produced.append((msg.partition(), msg.offset(), record, schema_id))

                client.produce(TOPIC, value=avro_record(schemas_by_id[schema_id], schema_id, record),
                               key=record["user_id"].encode(), on_delivery=delivered)
                client.poll(0)
                i += 1
                time.sleep(max(0.0, began + i / RATE - time.monotonic()))
            assert client.flush(60) == 0
        except BaseException as exc:  # reported by the test
            failures.append(exc)

    thread = threading.Thread(target=producer, name="evolution-producer")
    thread.start()
    try:
        time.sleep(5)
        before = state(ctx)
        dry = kappa(ctx, contracts, "schema", "apply", TOPIC, "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "add column session_id string (after properties" in " ".join(dry.stdout.split()), dry.stdout
        assert state(ctx) == before  # a dry run changes nothing
        applied = kappa(ctx, contracts, "schema", "apply", TOPIC)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        found = registry.lookup(schemas.subject(TOPIC), json.dumps(V2, separators=(",", ":")), "AVRO")
        assert found is not None, applied.stdout
        switch["id"] = int(found["id"])  # producers move to the new version once it is registered
    finally:
        thread.join(timeout=600)
        stop.set()
    assert not failures, failures
    # one more event per partition, minutes later, so that the watermark closes every minute above
    closer = Producer(ctx.kafka(PRODUCER).config())
    last = max(r["timestamp"] for _p, _o, r, _id in produced)
    for partition in range(3):
        record = {"user_id": "evo_closer", "action": "view", "timestamp": last + 180_000, "properties": {},
                  "session_id": f"closer{partition}"}

        def closed(err: Any, msg: Any, record: dict[str, Any] = record) -> None:
            assert err is None, err
            produced.append((msg.partition(), msg.offset(), record, switch["id"]))

        closer.produce(TOPIC, value=avro_record(fastavro.parse_schema(V2), switch["id"], record),
                       partition=partition, on_delivery=closed)
    assert closer.flush(30) == 0
    assert running_job_id(ctx) != job_before  # restarted from a savepoint
    columns = table_columns(ctx)
    assert columns[columns.index("properties") + 1] == "session_id"  # where a new table would have it
    versions = Counter(schema_id for *_rest, schema_id in produced)
    assert versions[switch["id"]] == 303 and versions[v1_id] >= 5 * RATE  # both versions flowed

    # produced = landed + quarantined + late, each event once, with the columns of its version
    where = " OR ".join(f"(kafka_partition = {p} AND kafka_offset BETWEEN {min(o for q, o, *_ in produced if q == p)} "
                        f"AND {max(o for q, o, *_ in produced if q == p)})" for p in {p for p, *_ in produced})
    rows = rows_when(ctx, f"SELECT kafka_partition, kafka_offset, user_id, action, properties, session_id, event_ts_ms "
                          f"FROM {TABLE} WHERE {where}", lambda r: len(r) >= len(produced),
                     f"{len(produced)} landed events", timeout_s=300)
    assert len(rows) == len({(r[0], r[1]) for r in rows})  # none twice
    landed = {(r[0], r[1]): r[2:] for r in rows}
    expected = {(p, o): [r["user_id"], r["action"], json.dumps(r["properties"], sort_keys=True, separators=(",", ":")),
                         r.get("session_id"), r["timestamp"]] for p, o, r, _id in produced}
    routed = f"WHERE kafka_topic = '{TOPIC}' AND ({where})"
    quarantined = trino_rows(ctx.settings, f"SELECT count(*) FROM quarantine {routed}")
    late = trino_rows(ctx.settings, f"SELECT count(*) FROM late_events {routed}")
    assert (len(produced), quarantined, late) == (len(landed), [[0]], [[0]])
    assert landed == expected
    assert sum(1 for v in landed.values() if v[3] is not None) > 0
    # the analytics view exposes the new column
    view = trino_rows(ctx.settings, f"SELECT count(session_id) FROM analytics.{TABLE} WHERE {where}")
    assert view == [[sum(1 for v in expected.values() if v[3] is not None)]]

    # the quality suite follows the new column; Dagster observes the registry's versions with their ids
    monkeypatch.setenv(CONTRACTS_DIR_ENV, str(contracts))
    pipeline = ctx.settings.pipelines.get(JOB)
    suite = [e.column for e in expectations(pipeline, pipeline.tables[0], {})
             if type(e).__name__ == "ExpectColumnToExist"]
    assert "session_id" in suite
    rows_now = catalog(ctx).load_table((ctx.settings.jobs.namespace, TABLE)).scan().to_pandas()
    assert validate(rows_now, pipeline, pipeline.tables[0], {}).success
    observed = {o.asset_key: o.metadata for o in schema_observations(Platform(ctx.settings))}
    history = observed[topic_key(TOPIC)]["registry_versions"].value
    assert history[-1]["id"] == switch["id"] == observed[topic_key(TOPIC)]["registry_latest_id"].value
    assert v1_id in {v["id"] for v in history}

    # a replay from the earliest offset reads both versions into a new table version equal to the live one
    replayed = kappa(ctx, contracts, "replay", JOB, "--from", "earliest", "--to", "latest", "--yes")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "FAILED" not in replayed.stdout, replayed.stdout
    version = JobStore(ctx.settings.state).get(JOB).max_version  # a bounded replay's tables; the views stay live
    assert f"target tables: {TABLE}__v{version}" in replayed.stdout, replayed.stdout
    replay_rows = trino_rows(ctx.settings, f"SELECT kafka_partition, kafka_offset, user_id, action, properties, "
                                           f"session_id, event_ts_ms FROM {TABLE}__v{version} WHERE {where}")
    assert {(r[0], r[1]): r[2:] for r in replay_rows} == expected
    live_all = trino_rows(ctx.settings, f"SELECT count(*), count(session_id) FROM {TABLE}")
    replay_all = trino_rows(ctx.settings, f"SELECT count(*), count(session_id) FROM {TABLE}__v{version}")
    assert replay_all == live_all
    assert trino_rows(ctx.settings, f"SELECT count(*), count(session_id) FROM analytics.{TABLE}") == live_all


def test_a_json_contract_evolves_unchecked_where_the_registry_cannot_check_it(ctx: Context, tmp_path: Path) -> None:
    """The registry checks JSON Schema drafts 4 to 7 only (the contracts are 2020-12): under BACKWARD a
    JSON version is refused saying so; with compatibility NONE it is applied like an Avro one, and the
    new field lands, is NULL where absent, and is judged by its enum."""
    start_job(ctx, "transactions")
    contracts = tmp_path / "contracts"
    shutil.copytree(CONTRACTS_DIR, contracts)
    doc = json.loads((CONTRACTS_DIR / "transactions.v1.schema.json").read_text())
    doc["properties"]["channel"] = {"type": "string", "enum": ["web", "app"], "x-sql-type": "STRING"}
    (contracts / "transactions.v2.schema.json").write_text(json.dumps(doc))
    refused = kappa(ctx, contracts, "schema", "apply", "transactions")
    assert refused.returncode == 1 and "the registry checks JSON Schema drafts 4 to 7 only" in refused.stderr
    assert '[registry] compatibility = "NONE"' in refused.stderr, refused.stderr
    unchecked = subprocess.run(
        [sys.executable, "-m", "kappa", "--config", str(ctx.settings.effective_settings_file), "schema", "apply",
         "transactions"], capture_output=True, text=True, timeout=900, check=False,
        env={**os.environ, CONTRACTS_DIR_ENV: str(contracts), "KAPPA__REGISTRY__COMPATIBILITY": "NONE"})
    assert unchecked.returncode == 0, unchecked.stdout + unchecked.stderr
    assert "add column channel string (after merchant" in " ".join(unchecked.stdout.split()), unchecked.stdout

    start = fresh_event_time(ctx, "transactions_raw")
    records = [{"transaction_id": f"chan-{start}-{i}", "user_id": "chan", "amount": 1.5, "merchant": "m",
                "timestamp": start + i, **({"channel": c} if c else {})} for i, c in enumerate(["web", None, "fax"])]
    client = Producer(ctx.kafka(PRODUCER).config())
    for r in records:
        client.produce("transactions", value=json.dumps(r).encode(), key=b"chan")
    assert client.flush(30) == 0
    ids = ", ".join(f"'{r['transaction_id']}'" for r in records)
    landed = rows_when(ctx, f"SELECT transaction_id, channel FROM analytics.transactions_raw "
                            f"WHERE transaction_id IN ({ids})", lambda r: len(r) == 2, "the two valid events",
                       timeout_s=180)
    assert sorted(landed) == [[records[0]["transaction_id"], "web"], [records[1]["transaction_id"], None]]
    reasons = rows_when(ctx, f"SELECT reason FROM quarantine WHERE kafka_topic = 'transactions' "
                             f"AND payload LIKE '%{records[2]['transaction_id']}%'", lambda r: len(r) == 1,
                        "the event with an unknown channel", timeout_s=120)
    assert reasons == [["invalid channel"]]
