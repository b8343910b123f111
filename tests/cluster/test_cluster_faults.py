"""The cluster profile absorbs its faults, on a whole stack of it (tests/cluster/conftest.py): one of
three Kafka nodes killed while events flow through the job, a TaskManager killed under the job at
parallelism 2, the object store down for two checkpoint intervals while the job commits, and a Trino
worker killed during an analyst's query. The stream cases end with the fault suite's reconciliation
(tests/integration/faults.py): every produced event landed, quarantined or late exactly once, and the
windows equal to a plain-Python computation over the events sent; their recovery times go to
`.pytest-artifacts/faults.jsonl`, measured, not asserted."""

from __future__ import annotations

import threading
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest

from kappa import query
from kappa.errors import KappaError
from kappa.flink_rest import FlinkRest
from kappa.jobs import live_tables, start_job
from kappa.producer import produce
from kappa.runtime.stack import Stack
from kappa.services.flink import taskmanagers
from lakehouse.registry import generate
from lakehouse.scenarios import ScenarioOptions
from tests.integration.conftest import wait_for
from tests.integration.faults import (
    Run,
    _job,
    bring_back,
    case_with_fault,
    kill9,
    lag_level,
    recovered,
    restarted,
)
from tests.integration.streams import fresh_event_time, rows_when, topic_of


def test_the_job_runs_in_both_taskmanagers_at_parallelism_2(ctx: Any) -> None:
    start_job(ctx, "transactions")
    job = wait_for(lambda: _job(ctx), timeout_s=300, what="the transactions job running")
    rest = FlinkRest(ctx)
    vertices = rest.get(f"/jobs/{job['jid']}")["vertices"]
    # the sources, parsing and windows at 2 (Iceberg's committer is always a single task)
    assert max(v["parallelism"] for v in vertices) == ctx.settings.flink.parallelism == 2
    used = {tm["taskmanager-id"] for v in vertices
            for tm in rest.get(f"/jobs/{job['jid']}/vertices/{v['id']}/taskmanagers")["taskmanagers"]}
    assert used == {tm.resource_id() for tm in taskmanagers(ctx)}


def _killed(ctx: Any, service: str, case: str, label: str) -> None:
    def fault(run: Run) -> None:
        before = lag_level(ctx)
        run.recoveries.append(recovered(ctx, kill9(ctx, service), before))

    case_with_fault(ctx, label, case, fault)


@pytest.mark.timeout(1500)
def test_a_kafka_node_killed_mid_stream_stops_nothing(ctx: Any) -> None:
    """Its partitions lead elsewhere within the session timeout; acks=all writes go on to the other two."""
    _killed(ctx, "kafka-2", "cluster: kill -9 one Kafka node of three during production", "ckafk")


@pytest.mark.timeout(1500)
def test_a_taskmanager_killed_under_the_job_at_parallelism_2(ctx: Any) -> None:
    """Half of every task dies: the job restarts from its checkpoint in the other TaskManager's slots."""
    _killed(ctx, "flink-taskmanager", "cluster: kill -9 a TaskManager (job at parallelism 2)", "ctask")


@pytest.mark.timeout(1500)
def test_the_object_store_down_for_two_checkpoint_intervals(ctx: Any) -> None:
    """kill -9 with the supervisor stopped (it would restart the store within a second): the commits
    of two checkpoints find no warehouse; `kappa up` brings both back and the job catches up."""
    interval = ctx.settings.flink.checkpoint_interval_s
    stack = Stack(ctx)

    def fault(run: Run) -> None:
        before = lag_level(ctx)
        assert stack.table.stop("supervisor")
        killed = kill9(ctx, "objectstore")
        time.sleep(2 * interval)
        assert stack.table.get("objectstore") is None
        bring_back(ctx)
        run.recoveries.append(recovered(ctx, killed, before))

    case_with_fault(ctx, "cobj", "cluster: object store down for two checkpoint intervals", fault)


@pytest.mark.timeout(900)
def test_a_trino_worker_killed_during_a_query_fails_it_cleanly_and_the_next_succeeds(ctx: Any) -> None:
    start_job(ctx, "transactions")
    raw = live_tables(ctx.settings, "transactions")["raw"]
    prefix = f"ctrino{uuid.uuid4().hex[:6]}-"
    opts = ScenarioOptions(count=3000, seed=7, start_ms=fresh_event_time(ctx, raw), event_interval_ms=50, keys=30,
                           key_prefix=prefix, malformed_share=0.0)
    events = list(generate("transactions", opts))
    produce(ctx.kafka(), topic_of(ctx, "transactions"), events)
    amounts = [Decimal(str(e.record["amount"])) for e in events if e.record]
    table = f"{ctx.settings.jobs.namespace}.{raw}"
    rows_when(ctx, f"SELECT count(*) FROM {table} WHERE user_id LIKE '{prefix}%'",
              lambda r: r[0][0] == len(amounts), f"{len(amounts)} events landed")
    # Long enough to be running when the worker dies: every row repeated 200 x 1,000 times (Trino's
    # sequence() makes at most 10,000 entries)
    repeat = 200 * 1000
    sql = (f"SELECT count(*), sum(amount) FROM {table} CROSS JOIN UNNEST(sequence(1, 200)) AS a(x) "
           f"CROSS JOIN UNNEST(sequence(1, 1000)) AS b(y) WHERE user_id LIKE '{prefix}%'")
    expected = [len(amounts) * repeat, sum(amounts) * repeat]
    control = time.monotonic()
    assert [list(r) for r in query.run(ctx.settings, sql).rows] == [expected]  # the query itself is right
    print(f"\n[cluster] the analyst query takes {time.monotonic() - control:.1f}s with both nodes")
    outcome: dict[str, Any] = {}

    def analyst() -> None:
        try:
            outcome["rows"] = query.run(ctx.settings, sql).rows
        except KappaError as exc:  # a clean failure: the platform's error with Trino's reason
            outcome["error"] = str(exc)

    thread = threading.Thread(target=analyst)
    thread.start()
    time.sleep(2)
    killed = kill9(ctx, "trino-worker")
    thread.join(timeout=600)
    assert not thread.is_alive(), "the query neither failed nor finished"
    if "rows" in outcome:  # finished on the nodes left: then it must be right
        assert [list(r) for r in outcome["rows"]] == [expected]
    else:  # failed for the node it lost, with Trino's reason (not, say, a mistake in the query)
        assert any(kind in outcome["error"] for kind in ("REMOTE_", "PAGE_TRANSPORT", "TOO_MANY_REQUESTS_FAILED",
                                                         "GENERIC_INTERNAL_ERROR")), outcome["error"]
    took = restarted(ctx, killed)
    assert [list(r) for r in query.run(ctx.settings, sql).rows] == [expected]
    how = f"failed: {outcome['error'][:200]}" if "error" in outcome else "finished, exact"
    print(f"\n[cluster] Trino worker killed mid-query: {how}; worker back after {took:.1f}s; the next query exact")
