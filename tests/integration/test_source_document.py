"""The source document's own Kafka examples (tests/integration/source_document/, byte for byte), run
against the stack with only what any client needs to connect changed: the bootstrap address, and
the credentials Kafka asks every client for (SASL/SCRAM, the producer or consumer principal), through
the client they name (kafka-python). They run from a private file: a password on a command line is
visible to every user. What they send must land in the raw tables, nothing quarantined or late, with the
values the contract's plain-Python statement gives (a derived event_id, ISO-8601 read as UTC).

These run first in the integration tier (tests/integration/conftest.py): the document's producers
stamp events with the wall clock, and the other tests push the jobs' watermarks hours ahead.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from kappa import kafka_clients
from kappa.context import Context
from kappa.jobs import start_job
from kappa.kafka_acl import CONSUMER, PRODUCER
from kappa.topics import end_offsets, group_lag
from lakehouse.contracts import contract, quarantine_reason, typed_values
from tests.integration.conftest import trino_rows, wait_for
from tests.integration.streams import rows_when, topic_of

SNIPPETS = Path(__file__).with_name("source_document")
DOCUMENT_ADDRESSES = ("localhost:9092", "localhost:19092")
# What the document leaves to the reader, defined before its block runs.
HANDLERS = """\
import json as _json
def procesar_compra(evento): print("procesar_compra", _json.dumps(evento), flush=True)
def actualizar_sesion(evento): print("actualizar_sesion", _json.dumps(evento), flush=True)
def almacenar_metricas(data): print("almacenar_metricas", _json.dumps(data), flush=True)
"""


ADDRESS = re.compile(r"bootstrap_servers=\['(" + "|".join(re.escape(a) for a in DOCUMENT_ADDRESSES) + r")'\]")


def snippet(name: str, ctx: Context) -> str:
    """The document's block with each client's bootstrap address replaced by the stack's and its
    credentials added (a KafkaProducer's the producer principal's, a KafkaConsumer's the consumer's),
    and nothing else."""
    code = (SNIPPETS / name).read_text()

    def connect(m: re.Match[str]) -> str:
        client = max(("KafkaProducer(", "KafkaConsumer("), key=lambda c: code.rfind(c, 0, m.start()))
        kafka = ctx.kafka(PRODUCER if client == "KafkaProducer(" else CONSUMER)
        return (f"bootstrap_servers=[{kafka.bootstrap!r}], security_protocol='SASL_PLAINTEXT', "
                f"sasl_mechanism={kafka.mechanism!r}, sasl_plain_username={kafka.username!r}, "
                f"sasl_plain_password={kafka.password!r}")

    changed, count = ADDRESS.subn(connect, code)
    assert count == code.count("bootstrap_servers="), f"{name}: a client at an address not in {DOCUMENT_ADDRESSES}"
    assert count, f"{name} names none of {DOCUMENT_ADDRESSES}"
    return changed


def private_script(code: str) -> str:
    """The code in a file only this user can read (mkstemp: mode 600)."""
    fd, path = tempfile.mkstemp(suffix=".py", prefix="kappa-snippet-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(code)
    return path


class Running:
    """A snippet in its own Python process; its output read line by line as it comes."""

    def __init__(self, code: str) -> None:
        env = {**os.environ, "PYTHONIOENCODING": "utf-8", "PYTHONUNBUFFERED": "1"}
        self.script = private_script(code)
        self.proc = subprocess.Popen([sys.executable, self.script], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, encoding="utf-8", env=env)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def _drain(self, wait_s: float) -> bool:
        """Take what has arrived (waiting up to `wait_s` for a line); False once the output ended."""
        try:
            line = self._queue.get(timeout=wait_s)
            while True:
                if line is None:
                    return False
                self.lines.append(line)
                line = self._queue.get_nowait()
        except queue.Empty:
            return True

    def wait_until(self, done: Callable[[list[str]], bool], what: str, timeout_s: float = 90) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while not done(self.lines):
            if time.monotonic() > deadline or not self._drain(1.0) and not done(self.lines):
                raise AssertionError(f"waiting for {what}; the snippet printed:\n" + "\n".join(self.lines[-30:]))
        return self.lines

    def interrupt(self, grace_s: float = 10) -> None:
        """Ctrl-C, as a user ends the document's endless loops, and again if it hangs on its way out
        (kafka-python's clients close at exit, and a consumer that never joined its group can wait
        there for its coordinator), then a kill; the output is read to its end."""
        for stop in (signal.SIGINT, signal.SIGINT, signal.SIGKILL):
            if self.proc.poll() is None:
                self.proc.send_signal(stop)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(grace_s)
        while self._drain(1.0):
            pass

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        Path(self.script).unlink(missing_ok=True)


@pytest.fixture
def running() -> Iterator[Callable[[str], Running]]:
    started: list[Running] = []

    def start(code: str) -> Running:
        started.append(Running(code))
        return started[-1]

    yield start
    for r in started:
        r.stop()


def wait_for_group(ctx: Context, group: str, topic: str) -> None:
    """A consumer group reading from the latest offsets has its positions once it has committed on
    every partition (kafka-python commits its positions every 5 s): only then is nothing missed."""
    wait_for(lambda: all(p.committed is not None and p.committed >= 0
                         for p in group_lag(ctx.kafka(), group, topic)),
             timeout_s=90, what=f"group {group} to take positions on {topic}", interval_s=1)


def records_between(ctx: Context, topic: str, before: dict[int, tuple[int, int]],
                    after: dict[int, tuple[int, int]]) -> list[tuple[int, int, bytes]]:
    """(partition, offset, value) of every record written to `topic` between the two end offsets."""
    wanted = {p: (before[p][1], after[p][1]) for p in after if after[p][1] > before[p][1]}
    consumer = Consumer(ctx.kafka(CONSUMER).config(**{"group.id": "test-source-document",
                                                      "enable.auto.commit": False}))
    consumer.assign([TopicPartition(topic, p, lo) for p, (lo, _hi) in wanted.items()])
    out: list[tuple[int, int, bytes]] = []
    deadline = time.monotonic() + 30
    try:
        while len(out) < sum(hi - lo for lo, hi in wanted.values()) and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None and message.offset() < wanted[message.partition()][1]:
                out.append((message.partition(), message.offset(), message.value()))
    finally:
        consumer.close()
    return sorted(out)


def landed(ctx: Context, table: str, topic: str, columns: list[str],
           sent: list[tuple[int, int, bytes]]) -> dict[tuple[int, int], tuple[Any, ...]]:
    """The raw table's rows for these records, once all are there; nothing of them quarantined or late."""
    where = " OR ".join(f"(kafka_partition = {p} AND kafka_offset = {o})" for p, o, _ in sent)
    rows = rows_when(ctx, f"SELECT kafka_partition, kafka_offset, {', '.join(columns)} FROM {table} WHERE {where}",
                     lambda r: len(r) >= len(sent), f"{len(sent)} records of {topic} in {table}", timeout_s=180)
    for other in ("quarantine", "late_events"):
        assert trino_rows(ctx.settings, f"SELECT count(*) FROM {other} WHERE kafka_topic = '{topic}' "
                                        f"AND ({where})") == [[0]], f"some of the records went to {other}"
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def test_the_user_events_producer_and_the_analytics_consumer(ctx: Context, running: Callable[[str], Running]) -> None:
    topic = topic_of(ctx, "user_activity")
    start_job(ctx, "user_activity")
    consumer = running(HANDLERS + snippet("analytics_consumer.py", ctx))
    wait_for_group(ctx, "analytics-group", topic)

    before = end_offsets(ctx.kafka(), topic)
    script = private_script(snippet("user_events_producer.py", ctx))
    try:
        produced = subprocess.run([sys.executable, script], capture_output=True, text=True, encoding="utf-8",
                                  timeout=120, env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    finally:
        os.unlink(script)
    assert produced.returncode == 0 and "✅ Evento enviado a Kafka" in produced.stdout, produced.stderr[-2000:]
    sent = records_between(ctx, topic, before, end_offsets(ctx.kafka(), topic))
    assert len(sent) == 1, sent
    partition, offset, value = sent[0]
    event = json.loads(value)
    assert "event_id" not in event and event["user_id"] == "user_123"

    # the document's consumer saw it, keyed by user, and dispatched the login
    consumer.wait_until(lambda lines: any(line.startswith("actualizar_sesion ") for line in lines),
                        "the analytics consumer to handle the login")
    assert "Usuario user_123 realizó: login" in consumer.lines
    handled = [json.loads(line.split(" ", 1)[1]) for line in consumer.lines if line.startswith("actualizar_sesion ")]
    assert handled == [event]

    schema = contract("user-events")
    assert quarantine_reason(value, schema, 65536) is None
    want = typed_values(event, schema, (topic, partition, offset))
    assert want["event_id"] == f"{topic}:{partition}:{offset}"
    columns = ["event_id", "user_id", "action", "event_ts_ms", "ip_address", "device"]
    rows = landed(ctx, "user_events_raw", topic, columns, sent)
    assert rows == {(partition, offset): (want["event_id"], "user_123", "login", want["timestamp"], "192.168.1.1",
                                          "mobile")}


def test_the_iot_producer_and_the_alerting_consumer(ctx: Context, running: Callable[[str], Running]) -> None:
    topic = topic_of(ctx, "iot_sensors")
    block = snippet("iot_sensors_redpanda.py", ctx)
    start_job(ctx, "iot_sensors")
    alerting = running(HANDLERS + block + "\nprocesar_alertas()\n")
    wait_for_group(ctx, "monitoring-group", topic)

    before = end_offsets(ctx.kafka(), topic)
    producer = running(block + "\ngenerar_datos_iot()\n")
    producer.wait_until(lambda lines: sum("Enviado: " in line for line in lines) >= 5, "five readings")
    wait_for(lambda: sum(hi for _, hi in end_offsets(ctx.kafka(), topic).values())
             >= sum(hi for _, hi in before.values()) + 5, timeout_s=30, what="five readings in Kafka", interval_s=0.5)
    producer.interrupt()
    printed = [ast.literal_eval(line.split("Enviado: ", 1)[1]) for line in producer.lines if "Enviado: " in line]
    sent = records_between(ctx, topic, before, end_offsets(ctx.kafka(), topic))
    readings = [json.loads(value) for _, _, value in sent]
    key = lambda r: (r["timestamp"], r["sensor_id"])  # noqa: E731
    # Every reading printed reached Kafka, once; the loop sends, then prints, so a Ctrl-C between the two
    # leaves at most one reading sent and not printed.
    unprinted = [r for r in readings if r not in printed]
    assert sorted((r for r in readings if r in printed), key=key) == sorted(printed, key=key)
    assert len(unprinted) <= 1 and len(printed) >= 5, (printed, readings)

    # the document's alerting consumer stored every reading and raised the alerts its rules ask for
    alerting.wait_until(lambda lines: sum(line.startswith("almacenar_metricas ") for line in lines) >= len(sent),
                        "the alerting consumer to store every reading")
    stored = [json.loads(line.split(" ", 1)[1]) for line in alerting.lines if line.startswith("almacenar_metricas ")]
    assert sorted(stored, key=key) == sorted(readings, key=key)
    hot = [f"🔥 ALERTA: Temperatura alta en {r['sensor_id']}: {r['temperature']:.1f}°C" for r in readings
           if r["temperature"] > 30]
    # in the order the consumer read them: by partition, not as sent (the producer has no key)
    assert sorted(line for line in alerting.lines if "Temperatura alta" in line) == sorted(hot)

    schema = contract("iot-sensors")
    assert all(quarantine_reason(value, schema, 65536) is None for _, _, value in sent)
    columns = ["sensor_id", "temperature", "humidity", "pressure", "location", "event_ts_ms"]
    want = {(p, o): tuple(typed_values(json.loads(v), schema)[c if c != "event_ts_ms" else "timestamp"]
                          for c in columns) for p, o, v in sent}
    assert landed(ctx, "iot_sensors_raw", topic, columns, sent) == want


def test_user_events_has_the_documents_partitions(ctx: Context) -> None:
    """`kafka-topics --create --topic user-events --partitions 6 --replication-factor 3`: six partitions,
    replicated as the settings say (one broker here, so 1; the cluster profile asks for 3)."""
    topic = topic_of(ctx, "user_activity")
    metadata = kafka_clients.admin(ctx.kafka()).list_topics(topic, timeout=10).topics[topic]
    assert len(metadata.partitions) == 6
    replicas = {len(p.replicas) for p in metadata.partitions.values()}
    assert replicas == {ctx.settings.kafka.topics[topic].replication_factor}
