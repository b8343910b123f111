"""Change data capture end to end, on the real stack: PostgreSQL (logical decoding) -> Debezium in
Kafka Connect -> Kafka -> the Flink jobs -> Iceberg upsert tables -> Trino.

Expected values come from the source itself: after a random workload of inserts, updates and deletes
the Iceberg table must equal the source table row for row (both read in full and compared in plain
Python), and the change log must hold exactly the changes the workload reports having made."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from kappa import query, replay
from kappa.cdc import compare, connect, maintenance, source, workload
from kappa.context import Context
from kappa.errors import KappaError
from kappa.jobs import live_tables, start_job, stop_job
from kappa.kafka_acl import PRODUCER
from kappa.producer import produce
from lakehouse.pipeline import Pipeline
from lakehouse.scenarios.base import Event
from orchestration.checks.asset_checks import SOURCE_EQUALITY, source_equality_checks
from orchestration.resources import Platform
from tests.integration.conftest import trino_rows, wait_for
from tests.integration.streams import rows_when

pytestmark = pytest.mark.integration
CAPTURED = ("ecommerce_customers", "ecommerce_products", "ecommerce_orders")


def pipelines(ctx: Context) -> list[Pipeline]:
    return [ctx.settings.pipelines.get(n) for n in CAPTURED]


@pytest.fixture(scope="module", autouse=True)
def cdc_jobs_stopped_afterwards(ctx: Context, request: pytest.FixtureRequest) -> Iterator[None]:
    """The CDC jobs run only while the CDC modules' tests do: left running, three more jobs would share
    the test stack's 2 cores with every later test and restart with every later fault case. The
    fault cases, when they run too, reuse the jobs this module started (each start takes a minute)."""
    yield
    faults_follow = request.module.__name__.rsplit(".", 1)[-1] == "test_cdc" and any(
        Path(str(item.fspath)).name == "test_cdc_faults.py" for item in request.session.items)
    if not faults_follow:
        stop_cdc_jobs(ctx)


def stop_cdc_jobs(ctx: Context) -> None:
    for name in CAPTURED:
        with contextlib.suppress(KappaError, requests.RequestException):
            stop_job(ctx, name, savepoint=False)


def connector_running(ctx: Context) -> None:
    """The three CDC jobs started (a test stack starts no job by itself) and the connector running."""
    for name in CAPTURED:
        start_job(ctx, name)
    api = connect.client(ctx)
    wait_for(lambda: connect.running(api.status(ctx.settings.cdc.connector)), timeout_s=120,
             what="the Debezium connector to run")


def changes_since(ctx: Context, pipeline: Pipeline, since_ms: int) -> dict[str, int]:
    table = live_tables(ctx.settings, pipeline.name)["raw"]
    rows = trino_rows(ctx.settings, f"SELECT op, count(*) FROM streaming.{table} "  # noqa: S608 - declared names
                                    f"WHERE event_ts_ms >= {int(since_ms)} GROUP BY op")
    return {op: n for op, n in rows}


def test_a_random_workload_lands_row_for_row_and_every_change_once(ctx: Context) -> None:
    connector_running(ctx)
    since_ms = int(time.time() * 1000) - 1000  # commit times are the source's clock, this machine's
    with source.owner_connection(ctx) as conn:
        counts = workload.run(conn, changes=3000, seed=11, batch=50)
    assert counts.inserts and counts.updates and counts.deletes  # a workload of all three kinds
    for p in pipelines(ctx):
        result = compare.compare_until_equal(ctx, p, timeout_s=180)
        assert result.equal, f"{result.summary()}; {result.examples}"
        assert result.source_rows > 0
    # Every change once in the change log: what the workload made, by table and kind (a customer's
    # deletion also deletes its orders: those deletes are changes of orders).
    expected = {
        "customers": {"c": counts.by_kind("inserts", "customers"), "u": counts.by_kind("updates", "customers"),
                      "d": counts.by_kind("deletes", "customers")},
        "products": {"c": counts.by_kind("inserts", "products"), "u": counts.by_kind("updates", "products")},
        "orders": {"c": counts.by_kind("inserts", "orders"), "u": counts.by_kind("updates", "orders"),
                   "d": counts.by_kind("deletes", "orders") + counts.cascaded},
    }
    for p in pipelines(ctx):
        assert p.source is not None
        want = {op: n for op, n in expected[p.source.name].items() if n}
        got = wait_for(lambda p=p, want=want: (lambda c: c if c == want else None)(changes_since(ctx, p, since_ms))
                       or None, timeout_s=120, what=f"{p.name}'s change log to hold {want}")
        assert got == want


def test_time_travel_shows_the_state_before_a_change(ctx: Context) -> None:
    connector_running(ctx)
    orders = ctx.settings.pipelines.get("ecommerce_orders")
    with source.owner_connection(ctx) as conn:
        workload.run(conn, changes=200, seed=12, batch=50)
    assert compare.compare_until_equal(ctx, orders, timeout_s=180).equal
    table = live_tables(ctx.settings, orders.name)["current"]
    before = {r[0]: r[1] for r in trino_rows(ctx.settings, f"SELECT id, status FROM streaming.{table}")}
    snapshot = trino_rows(ctx.settings, f'SELECT snapshot_id FROM streaming."{table}$snapshots" '
                                        "ORDER BY committed_at DESC LIMIT 1")[0][0]
    with source.owner_connection(ctx) as conn, conn.cursor() as cur:
        cur.execute("UPDATE public.orders SET status = 'cancelled', updated_at = now() WHERE id = ANY(%s)",
                    (sorted(before)[:5],))
        conn.commit()
    assert compare.compare_until_equal(ctx, orders, timeout_s=180).equal
    now = {r[0]: r[1] for r in trino_rows(ctx.settings, f"SELECT id, status FROM streaming.{table}")}
    assert all(now[i] == "cancelled" for i in sorted(before)[:5])
    then = {r[0]: r[1] for r in trino_rows(
        ctx.settings, f"SELECT id, status FROM streaming.{table} FOR VERSION AS OF {int(snapshot)}")}
    assert then == before


def test_a_record_that_is_no_change_event_is_quarantined_and_the_stream_goes_on(ctx: Context) -> None:
    connector_running(ctx)
    products = ctx.settings.pipelines.get("ecommerce_products")
    nonce = uuid.uuid4().hex[:8]  # this run's records, on a reused stack too
    payloads = [f"not json at all {nonce}", f'{{"op": "z", "after": {{"id": 1}}, "n": "{nonce}"}}',
                f'{{"op": "u", "after": {{"name": "no key"}}, "source": {{"ts_ms": 1}}, "n": "{nonce}"}}']
    produce(ctx.kafka(PRODUCER), products.topic.name, [Event(None, p.encode(), None) for p in payloads], prime=False)
    rows = rows_when(ctx, "SELECT reason FROM streaming.quarantine WHERE job = 'ecommerce_products' "
                          f"AND strpos(payload, '{nonce}') > 0",
                     lambda rows: len(rows) == 3, "the three records in quarantine", timeout_s=120)
    reasons = sorted(r[0] for r in rows)
    assert reasons == ["no primary key in the change (id)", "not a Debezium change event (no JSON object with an op)",
                       "unknown op z"]
    with source.owner_connection(ctx) as conn:
        workload.run(conn, changes=100, seed=13, batch=50)
    result = compare.compare_until_equal(ctx, products, timeout_s=180)
    assert result.equal, result.summary()


def test_a_replay_from_the_first_change_rebuilds_the_same_state_and_passes_the_gate(ctx: Context) -> None:
    """Kappa: the change topic is the history. A new job version reading it from offset 0 into new
    tables ends with the source's current state, and the replay gate (row counts and sums against the
    live version, every record accounted for, transaction markers aside) lets it cut over."""
    connector_running(ctx)
    customers = ctx.settings.pipelines.get("ecommerce_customers")
    with source.owner_connection(ctx) as conn:
        workload.run(conn, changes=300, seed=14, batch=50)
    assert compare.compare_until_equal(ctx, customers, timeout_s=180).equal
    plan = replay.plan(ctx, customers.name, "earliest")
    run = replay.start(ctx, plan)
    progress = replay.follow(ctx, run, lambda _p: None, timeout_s=600)
    # No acceptance: for a mirrored table the source comparison replaces the closed-window coverage.
    result = replay.gate(ctx, run, progress)
    assert result.passed and not result.accepted_coverage, (result.failures, result.lines)
    assert any("transaction markers aside" in line for line in result.lines), result.lines
    assert any("equal: source" in line for line in result.lines), result.lines
    rebuilt = compare.compare_until_equal(ctx, customers, timeout_s=120, table=plan.tables["current"])
    assert rebuilt.equal, f"{rebuilt.summary()}; {rebuilt.examples}"
    replay.cutover(ctx, customers.name, plan.to_version, run.job_id)
    served = {r[0] for r in trino_rows(ctx.settings, "SELECT id FROM analytics.ecommerce_customers")}
    assert served == {r["id"] for r in source.rows(ctx, customers.source)}  # type: ignore[arg-type]


def test_compaction_during_changes_applies_the_deletes_and_loses_nothing(ctx: Context) -> None:
    """`optimize` while changes stream in: its commits may collide with the stream's (retried), the
    stream never fails, and the table stays equal to the source; quiet, it leaves no delete file."""
    connector_running(ctx)
    orders = ctx.settings.pipelines.get("ecommerce_orders")
    table = live_tables(ctx.settings, orders.name)["current"]
    load = threading.Thread(target=lambda: _load(ctx, 1500, seed=15))
    load.start()
    compactions = []
    while load.is_alive():
        compactions.append(maintenance.compact(ctx, table, force=True))
    load.join()
    assert compactions and all(c.after is not None for c in compactions)
    result = compare.compare_until_equal(ctx, orders, timeout_s=180)
    assert result.equal, f"{result.summary()}; {result.examples}"
    # More changes with no compaction running (the last one may have finished after the stream caught
    # up): their upserts leave delete files, which the quiet compaction below must apply.
    _load(ctx, 200, seed=16)
    assert compare.compare_until_equal(ctx, orders, timeout_s=180).equal
    before = maintenance.files(ctx, table)
    assert before.deletes > 0  # the workload's updates and deletes left delete files
    quiet = maintenance.compact(ctx, table, force=True)
    assert quiet.after is not None and quiet.after.deletes == 0, quiet.summary()
    assert compare.compare(ctx, orders).equal


def _load(ctx: Context, changes: int, seed: int) -> None:
    with source.owner_connection(ctx) as conn:
        workload.run(conn, changes=changes, seed=seed, batch=50, rate=300)


def test_dagsters_check_finds_a_row_the_table_lost(ctx: Context) -> None:
    """The asset check compares every row; a row removed from the Iceberg table behind the stream's
    back fails it with the key, and the next change of that row repairs the table."""
    connector_running(ctx)
    products = ctx.settings.pipelines.get("ecommerce_products")
    checks = {c.check_key.asset_key.path[-1]: c for c in source_equality_checks(Platform(ctx.settings))
              for c in [c] if c.check_key.name == SOURCE_EQUALITY}
    check = checks[products.table("current").name]
    with source.owner_connection(ctx) as conn:
        workload.run(conn, changes=100, seed=16, batch=50)
    assert compare.compare_until_equal(ctx, products, timeout_s=180).equal
    assert check().passed  # type: ignore[operator]
    table = live_tables(ctx.settings, products.name)["current"]
    victim = min(r["id"] for r in source.rows(ctx, products.source))  # type: ignore[arg-type]
    query.run(ctx.settings, f"DELETE FROM streaming.{table} WHERE id = {int(victim)}")  # noqa: S608
    failed = check()  # type: ignore[operator]
    assert not failed.passed and failed.metadata["missing"].value == 1, failed.description
    with source.owner_connection(ctx) as conn, conn.cursor() as cur:
        cur.execute("UPDATE public.products SET updated_at = now() WHERE id = %s", (victim,))
        conn.commit()
    assert compare.compare_until_equal(ctx, products, timeout_s=180).equal
