"""The real services talk to each other: Kafka round trip, one Iceberg catalog for PyIceberg and Trino."""

from __future__ import annotations

import socket
import ssl
import subprocess
import uuid
from pathlib import Path

import pyarrow as pa
import pytest
import requests
from confluent_kafka import Consumer

from kappa import kafka_clients
from kappa.catalog import catalog
from kappa.context import Context
from kappa.flink_rest import FlinkRest
from kappa.producer import produce
from kappa.runtime.stack import Stack
from kappa.services.flink import FlinkJobManager, taskmanagers
from kappa.services.flink_tls import rest_tls_files
from kappa.settings import TopicSettings
from kappa.topics import ensure_topics
from lakehouse.scenarios.base import Event
from tests.integration.conftest import trino_rows
from tests.integration.faults import kill9, restarted


def test_every_service_is_healthy(ctx: Context) -> None:
    statuses = Stack(ctx).status()
    assert {s.name: s.state for s in statuses} == {
        "postgres": "healthy", "kafka": "healthy", "flink-jobmanager": "healthy",
        "trino": "healthy", "flink-taskmanager": "healthy", "flink-taskmanager-2": "healthy",
        "schema-registry": "healthy",
        "dagster-webserver": "healthy", "dagster-daemon": "healthy", "gateway": "healthy", "kafka-connect": "healthy",
        "supervisor": "healthy", "zookeeper": "healthy",
    }


def test_a_killed_service_is_restarted_by_the_supervisor_and_shown_crashed_without_it(ctx: Context) -> None:
    """kill -9 with nobody running `kappa up`: the supervisor restarts it. With the supervisor stopped,
    `kappa status` says the service crashed, and `kappa up` starts both again."""
    stack = Stack(ctx)
    first = kill9(ctx, "dagster-daemon")
    took = restarted(ctx, first)
    again = stack.table.get("dagster-daemon")
    assert again is not None and again.create_time > first.wall - 1
    print(f"\n[supervisor] dagster-daemon healthy again {took:.1f}s after kill -9")

    assert stack.table.stop("supervisor")
    kill9(ctx, "dagster-daemon")
    states = {s.name: s.state for s in stack.status()}
    assert states["dagster-daemon"] == "crashed" and states["supervisor"] == "stopped"
    assert stack.up() == ["dagster-daemon", "supervisor"]
    assert Stack(ctx).all_healthy()


def test_second_up_starts_nothing(ctx: Context) -> None:
    assert Stack(ctx).up() == []


def test_kafka_round_trip(ctx: Context) -> None:
    topic = f"roundtrip-{uuid.uuid4().hex[:8]}"
    admin = kafka_clients.admin(ctx.kafka())
    ensure_topics(admin, {topic: TopicSettings(partitions=3)})
    sent = [Event(f"k{i}", f"value-{i}".encode(), None) for i in range(300)]
    count, delivered = produce(ctx.kafka(), topic, sent, collect=True)
    assert count == 300 and len(delivered) == 300
    consumer = Consumer(ctx.kafka().config(**{"group.id": topic, "auto.offset.reset": "earliest"}))
    consumer.subscribe([topic])
    received = {}
    try:
        for _ in range(60):
            for msg in consumer.consume(500, timeout=1):
                assert msg.error() is None
                received[(msg.partition(), msg.offset())] = (msg.key().decode(), msg.value())
            if len(received) >= 300:
                break
    finally:
        consumer.close()
    assert received == {(d.partition, d.offset): (d.event.key, d.event.value) for d in delivered}
    # the same key always lands on the same partition
    partitions_per_key: dict[str, set[int]] = {}
    for d in delivered:
        partitions_per_key.setdefault(d.event.key, set()).add(d.partition)
    assert all(len(p) == 1 for p in partitions_per_key.values())


def test_topic_settings_are_applied(ctx: Context) -> None:
    admin = kafka_clients.admin(ctx.kafka())
    md = admin.list_topics(timeout=10)
    for name, spec in ctx.settings.kafka.topics.items():
        assert len(md.topics[name].partitions) == spec.partitions


def test_pyiceberg_table_is_visible_in_trino(ctx: Context) -> None:
    cat = catalog(ctx)
    namespace = f"it_{uuid.uuid4().hex[:8]}"
    cat.create_namespace(namespace)
    data = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": pa.array(["a", "b", None], pa.string())})
    table = cat.create_table(f"{namespace}.people", schema=data.schema)
    table.append(data)
    rows = trino_rows(ctx.settings, f"SELECT id, name FROM iceberg.{namespace}.people ORDER BY id")
    assert rows == [[1, "a"], [2, "b"], [3, None]]
    # and Trino's writes are visible to PyIceberg: one catalog for both
    trino_rows(ctx.settings, f"INSERT INTO iceberg.{namespace}.people VALUES (4, 'd')")
    assert sorted(cat.load_table(f"{namespace}.people").scan().to_arrow()["id"].to_pylist()) == [1, 2, 3, 4]


@pytest.mark.security
def test_flink_rest_takes_no_jars_and_no_cross_origin_reads(ctx: Context) -> None:
    rest = FlinkRest(ctx)
    assert rest.session.get(f"{rest.url}/jars", timeout=10).status_code == 404, "the jar upload handlers are on"
    answer = rest.session.get(f"{rest.url}/overview", headers={"Origin": "http://evil.example"}, timeout=10)
    assert answer.status_code == 200
    assert answer.headers.get("Access-Control-Allow-Origin") == ctx.settings.flink_ui_url, answer.headers


@pytest.mark.security
def test_flink_rest_answers_only_a_client_with_the_platforms_certificate(ctx: Context) -> None:
    """Mutual TLS: without the client certificate the handshake fails, whatever the client trusts."""
    _, ca = rest_tls_files(ctx)
    for verify in (str(ca), False):
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{ctx.settings.flink_rest_url}/overview", verify=verify, timeout=10)
    with pytest.raises(requests.exceptions.ConnectionError):  # nor plain HTTP
        requests.get(f"http://{ctx.settings.host}:{ctx.settings.flink.rest_port}/overview", timeout=10)
    assert FlinkRest(ctx).get("/overview")["taskmanagers"] >= 1


@pytest.mark.security
def test_flinks_rpc_port_answers_only_a_peer_with_the_platforms_certificate(ctx: Context) -> None:
    """Internal TLS: a local user cannot talk to the JobManager's RPC (which deploys and cancels tasks)."""
    _, ca = rest_tls_files(ctx)
    tls = ssl.create_default_context(cafile=str(ca))
    tls.check_hostname = False
    with (socket.create_connection((ctx.settings.host, ctx.settings.flink.rpc_port), timeout=10) as raw,
          pytest.raises((ssl.SSLError, ConnectionResetError)), tls.wrap_socket(raw) as conn):
        conn.sendall(b"\0" * 16)
        assert conn.recv(1) == b"", "the RPC port talked to a client without a certificate"


def test_flink_processes_run_the_command_flinks_own_scripts_would(ctx: Context, tmp_path: Path) -> None:
    """The JobManager and TaskManagers are launched without Flink's scripts (flink_launch.py, to spare
    their two JVMs at every start). Flink's own `jobmanager.sh` / `taskmanager.sh start-foreground`,
    given the same configuration and environment, exec the same command: their `java` is swapped for
    one that records its arguments (and runs the real one for the scripts' helper JVMs)."""
    real = FlinkJobManager(ctx)._java()
    jdk = tmp_path / "jdk"
    (jdk / "bin").mkdir(parents=True)
    record = tmp_path / "argv"
    fake = jdk / "bin" / "java"
    fake.write_text(f'#!/bin/sh\ncase "$*" in *BashJavaUtils*) exec "{real.java}" "$@";; esac\n'
                    f'for a in "$0" "$@"; do printf "%s\\n" "$a"; done > "{record}"\n')
    fake.chmod(0o700)

    def comparable(argv: list[str]) -> tuple[list[str], list[str], str, list[str]]:
        """JVM options in order, class path entries, main class, program arguments (`-D k=v` as one,
        `--configDir d` as one, in any order)."""
        cp = argv.index("-classpath")
        options = [a for a in argv[1:cp] if not a.startswith("-Dlog.file=")]  # each names its log its way
        rest, program = argv[cp + 3:], []
        while rest:
            n = 2 if rest[0] in ("-D", "--configDir") else 1
            program.append(" ".join(rest[:n]))
            rest = rest[n:]
        return options, [e for e in argv[cp + 1].split(":") if e], argv[cp + 2], sorted(program)

    for svc, script in ((FlinkJobManager(ctx), "jobmanager.sh"), (taskmanagers(ctx)[0], "taskmanager.sh")):
        env = {**svc.env(), "JAVA_HOME": str(jdk), "PATH": f"{jdk / 'bin'}:/usr/bin:/bin",
               "FLINK_PID_DIR": str(tmp_path)}
        record.unlink(missing_ok=True)
        subprocess.run([str(ctx.installs.flink_home / "bin" / script), "start-foreground", *svc.args()],
                       env=env, cwd=tmp_path, check=True, timeout=300, capture_output=True)
        theirs = record.read_text().splitlines()
        ours = [str(a) for a in svc.spec().argv]
        assert comparable(ours) == comparable(theirs), f"{svc.name}:\nours   {ours}\ntheirs {theirs}"
        assert any(a.startswith("-Xmx") for a in ours), ours
