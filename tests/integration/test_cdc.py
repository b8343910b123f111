"""Change data capture end to end, on the real stack: PostgreSQL (logical decoding) -> Debezium in
Kafka Connect -> Kafka -> the Flink jobs -> Iceberg upsert tables -> Trino.

Expected values come from the source itself: after a random workload of inserts, updates and deletes
the Iceberg table must equal the source table row for row (both read in full and compared in plain
Python), and the change log must hold exactly the changes the workload reports having made."""

from __future__ import annotations

import time

import pytest

from kappa.cdc import compare, connect, source, workload
from kappa.context import Context
from kappa.kafka_acl import PRODUCER
from kappa.producer import produce
from lakehouse.pipeline import Pipeline
from lakehouse.scenarios.base import Event
from tests.integration.conftest import trino_rows, wait_for
from tests.integration.streams import rows_when

pytestmark = pytest.mark.integration
CAPTURED = ("ecommerce_customers", "ecommerce_products", "ecommerce_orders")


def pipelines(ctx: Context) -> list[Pipeline]:
    return [ctx.settings.pipelines.get(n) for n in CAPTURED]


def connector_running(ctx: Context) -> None:
    api = connect.client(ctx)
    wait_for(lambda: connect.running(api.status(ctx.settings.cdc.connector)), timeout_s=120,
             what="the Debezium connector to run")


def changes_since(ctx: Context, pipeline: Pipeline, since_ms: int) -> dict[str, int]:
    table = pipeline.table("raw").name
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
    before = {r[0]: r[1] for r in trino_rows(ctx.settings, "SELECT id, status FROM streaming.ecommerce_orders")}
    snapshot = trino_rows(ctx.settings, 'SELECT snapshot_id FROM streaming."ecommerce_orders$snapshots" '
                                        "ORDER BY committed_at DESC LIMIT 1")[0][0]
    with source.owner_connection(ctx) as conn, conn.cursor() as cur:
        cur.execute("UPDATE public.orders SET status = 'cancelled', updated_at = now() WHERE id = ANY(%s)",
                    (sorted(before)[:5],))
        conn.commit()
    assert compare.compare_until_equal(ctx, orders, timeout_s=180).equal
    now = {r[0]: r[1] for r in trino_rows(ctx.settings, "SELECT id, status FROM streaming.ecommerce_orders")}
    assert all(now[i] == "cancelled" for i in sorted(before)[:5])
    then = {r[0]: r[1] for r in trino_rows(
        ctx.settings, f"SELECT id, status FROM streaming.ecommerce_orders FOR VERSION AS OF {int(snapshot)}")}
    assert then == before


def test_a_record_that_is_no_change_event_is_quarantined_and_the_stream_goes_on(ctx: Context) -> None:
    connector_running(ctx)
    products = ctx.settings.pipelines.get("ecommerce_products")
    bad = [Event("x", b"not json at all", None), Event("y", b'{"op": "z", "after": {"id": 1}}', None),
           Event("z", b'{"op": "u", "after": {"name": "no key"}, "source": {"ts_ms": 1}}', None)]
    produce(ctx.kafka(PRODUCER), products.topic.name, bad, prime=False)
    rows = rows_when(ctx, "SELECT reason FROM streaming.quarantine WHERE job = 'ecommerce_products' "
                          "AND payload IN ('not json at all', '{\"op\": \"z\", \"after\": {\"id\": 1}}', "
                          "'{\"op\": \"u\", \"after\": {\"name\": \"no key\"}, \"source\": {\"ts_ms\": 1}}')",
                     lambda rows: len(rows) == 3, "the three records in quarantine", timeout_s=120)
    reasons = sorted(r[0] for r in rows)
    assert reasons == ["no primary key in the change (id)", "not a Debezium change event (no JSON object with an op)",
                       "unknown op z"]
    with source.owner_connection(ctx) as conn:
        workload.run(conn, changes=100, seed=13, batch=50)
    result = compare.compare_until_equal(ctx, products, timeout_s=180)
    assert result.equal, result.summary()
