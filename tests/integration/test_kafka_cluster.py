"""The cluster profile's Kafka, for real: three KRaft nodes (each a broker and a controller) with the
profile's replication, and a node killed with -9 while a producer writes with acks=all.

Its own three processes on free ports beside the session's stack (only Kafka: the whole cluster
profile's stack is `make chaos`'s); what it checks comes from the records read back, compared with
what was sent."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator

import psutil
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import ConfigResource

from kappa import kafka_clients
from kappa.artifacts import installs
from kappa.context import Context, build_context
from kappa.kafka_acl import CONSUMER, PRODUCER
from kappa.runtime.process import ProcessTable
from kappa.services.kafka import QUORUM_STOP_TIMEOUT_S, Kafka, kafka_nodes
from kappa.settings import KappaSettings, load_settings
from kappa.topics import ensure_topics
from tests.integration.conftest import ROOT, free_node_ports, wait_for
from tests.integration.faults import ARTIFACTS

pytestmark = pytest.mark.integration

TOPIC = "transactions"
EVENTS = 30_000
RATE = 3_000  # events/s: the kill lands mid-stream


@pytest.fixture(scope="module")
def cluster(settings: KappaSettings) -> Iterator[tuple[Context, list[Kafka], ProcessTable]]:
    state = settings.cache / "test-stacks" / f"kafka-cluster-{uuid.uuid4().hex[:8]}"
    step = 100
    s = load_settings(ROOT / "kappa.toml", profile="cluster", state_dir=str(state),
                      kafka={"port": free_node_ports("127.0.0.1", 3, step),
                             "controller_port": free_node_ports("127.0.0.1", 3, step),
                             "node_port_step": step})
    installs.setup(s.cache, lambda _m: None)
    ctx = build_context(s)
    nodes = kafka_nodes(ctx)
    table = ProcessTable(s.run_dir)
    try:
        running = []
        for node in nodes:
            node.prepare()
            running.append(table.start(node.spec(), s.host))
        for node, proc in zip(nodes, running, strict=True):
            table.wait_healthy(proc, node.healthy, s.startup_timeout_s)
        nodes[0].after_start()
        ensure_topics(nodes[0].admin(), {TOPIC: s.kafka.topics[TOPIC]})
        yield ctx, nodes, table
    finally:
        kafka_clients.release(s.kafka_bootstrap)
        table.stop_together([node.name for node in nodes], QUORUM_STOP_TIMEOUT_S)


def partitions(ctx: Context, nodes: list[Kafka]) -> dict[int, tuple[int, list[int], list[int]]]:
    """Partition -> (preferred leader, replicas, in-sync replicas), from a live node."""
    for node in nodes:
        try:
            md = node.admin().list_topics(TOPIC, timeout=5).topics[TOPIC]
            return {p.id: (p.replicas[0], sorted(p.replicas), sorted(p.isrs)) for p in md.partitions.values()}
        except KafkaException:
            continue
    raise AssertionError("no Kafka node answered")


def whole_cluster(ctx: Context, nodes: list[Kafka], table: ProcessTable) -> None:
    """Every node running (one a failed test left dead restarted) and every replica in sync."""
    for node in nodes:
        if table.get(node.name) is None:
            restart(ctx, node, table)
    all_in_sync(ctx, nodes)


def all_in_sync(ctx: Context, nodes: list[Kafka]) -> None:
    """Every partition of the topic known (a new topic's metadata reaches the nodes a moment after its
    creation) and its three replicas in sync."""
    wanted = ctx.settings.kafka.topics[TOPIC].partitions

    def in_sync() -> bool:
        layout = partitions(ctx, nodes)
        return len(layout) == wanted and all(isr == [1, 2, 3] for _, _, isr in layout.values())

    wait_for(in_sync, timeout_s=120, what="every partition's three replicas in sync")


def restart(ctx: Context, node: Kafka, table: ProcessTable) -> None:
    node.prepare()
    table.wait_healthy(table.start(node.spec(), ctx.settings.host), node.healthy, ctx.settings.startup_timeout_s)


def kill9(node: Kafka, table: ProcessTable) -> None:
    running = table.get(node.name)
    assert running is not None, f"{node.name} is running"
    psutil.Process(running.pid).kill()


def test_topics_are_replicated_on_all_three_nodes(cluster: tuple[Context, list[Kafka], ProcessTable]) -> None:
    ctx, nodes, table = cluster
    whole_cluster(ctx, nodes, table)
    spec = ctx.settings.kafka.topics[TOPIC]
    layout = partitions(ctx, nodes)
    assert len(layout) == spec.partitions
    assert {tuple(replicas) for _, replicas, _ in layout.values()} == {(1, 2, 3)}
    # each partition's first replica is its preferred leader: placed over all three nodes (who leads at a
    # given moment moves with the nodes' health, which a loaded machine can disturb for a moment)
    assert {first for first, _, _ in layout.values()} == {1, 2, 3}, "preferred leaders spread over the nodes"
    resource = ConfigResource(ConfigResource.Type.TOPIC, TOPIC)
    configs = nodes[0].admin().describe_configs([resource])[resource].result(10)
    assert configs["min.insync.replicas"].value == str(spec.min_insync_replicas) == "2"


def test_a_node_killed_mid_stream_loses_duplicates_and_stops_nothing(
        cluster: tuple[Context, list[Kafka], ProcessTable]) -> None:
    ctx, nodes, table = cluster
    whole_cluster(ctx, nodes, table)
    victim = nodes[1]
    run_id = uuid.uuid4().hex[:8]
    producer = kafka_clients.producer(ctx.kafka(PRODUCER))
    failures: list[str] = []
    acked: list[float] = []  # when each delivery was acknowledged

    def delivered(err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))
        else:
            acked.append(time.monotonic())

    killed_at: list[float] = []

    def kill_midway() -> None:
        wait_for(lambda: len(acked) >= EVENTS // 3, timeout_s=120, what="a third of the events acknowledged",
                 interval_s=0.05)
        kill9(victim, table)
        killed_at.append(time.monotonic())

    killer = threading.Thread(target=kill_midway, daemon=True)
    killer.start()
    started = time.monotonic()
    for i in range(EVENTS):
        producer.produce(TOPIC, key=str(i % 97), value=f"{run_id}:{i}", on_delivery=delivered)
        producer.poll(0)
        time.sleep(max(0.0, started + i / RATE - time.monotonic()))
    assert producer.flush(120) == 0, "every event delivered or failed within the producer's timeout"
    killer.join(5)
    assert killed_at, "the node was killed during production"
    assert failures == [], "acks=all with one node of three dead: no write failed"
    # no outage: every write acknowledged (above); how long acknowledgements paused while the dead
    # node's partitions moved is measured and recorded, not asserted (it is the machine's load as much as
    # Kafka's: 2.6 s alone, more beside the session stack's jobs)
    gaps = [b - a for a, b in zip(acked, acked[1:], strict=False) if a >= killed_at[0] - 1]
    print(f"\nkafka node kill: longest pause between acknowledgements after the kill {max(gaps):.2f} s")
    ARTIFACTS.mkdir(exist_ok=True)
    with (ARTIFACTS / "faults.jsonl").open("a") as fh:
        fh.write(json.dumps({"case": "kafka cluster: kill -9 one node of three under acks=all", "events": EVENTS,
                             "at": time.strftime("%Y-%m-%dT%H:%M:%SZ"), "failed_writes": len(failures),
                             "longest_ack_pause_s": round(max(gaps), 2)}) + "\n")

    # every event read back exactly once (idempotent producer, replicated log)
    seen = read_back(ctx, nodes, run_id)
    expected = {f"{run_id}:{i}" for i in range(EVENTS)}
    duplicates = sum(n - 1 for n in seen.values() if n > 1)
    assert set(seen) == expected and duplicates == 0, (len(expected - set(seen)), duplicates)

    # the node comes back and catches up: every replica in sync again
    restart(ctx, victim, table)
    all_in_sync(ctx, nodes)


def test_with_two_nodes_dead_acks_all_refuses_rather_than_keep_one_copy(
        cluster: tuple[Context, list[Kafka], ProcessTable]) -> None:
    ctx, nodes, table = cluster
    whole_cluster(ctx, nodes, table)
    for node in nodes[1:]:
        kill9(node, table)
    try:
        outcomes: list[KafkaError | None] = []
        # not idempotent: an idempotent producer would not even get its id (the transaction state log has
        # min.insync.replicas 2 too); this one reaches the partitions' leaders and is refused there
        strict = Producer(ctx.kafka(PRODUCER).config(**{
            "enable.idempotence": False, "acks": "all", "message.timeout.ms": 15_000}))
        for i in range(10):
            strict.produce(TOPIC, key=str(i), value=b"x", on_delivery=lambda err, _m: outcomes.append(err))
        strict.flush(60)
        assert len(outcomes) == 10 and all(err is not None for err in outcomes), outcomes
        print(f"\nwith one node of three, acks=all: {sorted({str(err) for err in outcomes})}")
    finally:
        for node in nodes[1:]:
            restart(ctx, node, table)
    all_in_sync(ctx, nodes)


def read_back(ctx: Context, nodes: list[Kafka], run_id: str) -> dict[str, int]:
    """Every record of the run, read from each partition's start to its high watermark (assigned, no
    consumer group: nothing waits for a coordinator that may be moving off the dead node)."""
    consumer = Consumer(ctx.kafka(CONSUMER).config(**{
        "group.id": f"cluster-test-{run_id}", "enable.auto.commit": False, "auto.offset.reset": "earliest"}))
    seen: dict[str, int] = {}
    try:
        ends = {p: consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=30)[1]
                for p in partitions(ctx, nodes)}
        consumer.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in ends])
        positions = dict.fromkeys(ends, 0)
        deadline = time.monotonic() + 180
        while any(positions[p] < ends[p] for p in ends) and time.monotonic() < deadline:
            for msg in consumer.consume(5000, timeout=1):
                if msg.error() is not None:
                    continue
                positions[msg.partition()] = msg.offset() + 1
                value = msg.value().decode()
                if value.startswith(run_id):
                    seen[value] = seen.get(value, 0) + 1
        behind = {p: ends[p] - positions[p] for p in ends if positions[p] < ends[p]}
        assert not behind, f"partitions not read to their end within 180 s: {behind}"
    finally:
        consumer.close()
    return seen
