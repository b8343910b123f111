"""Change data capture without services: the source DDL and its order, the connector config, the
workload's determinism and validity, the comparison's canonical forms, the declarations' checks,
the Kafka grants of the Connect worker, the upsert tables' Iceberg schema and the bench report."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kappa.bench.report import cdc_section
from kappa.cdc import compare, connect, source, workload
from kappa.context import Context
from kappa.kafka_acl import CONNECT, PRODUCER, grants
from kappa.settings import KappaSettings, load_settings
from lakehouse.cdc import cdc_pipeline, topic_name
from lakehouse.pipeline import SourceColumn, SourceTable
from lakehouse.registry import default_registry, validate
from lakehouse.tables import UPSERT_PROPERTIES, table_spec
from tests.unit.provisioned import fake_secrets
from tests.unit.test_kafka_acl import allowed

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def settings() -> KappaSettings:
    return load_settings(ROOT / "kappa.toml")


def test_captured_tables_come_after_the_tables_they_reference(settings: KappaSettings) -> None:
    order = [t.name for t in source.captured(settings)]
    assert set(order) == {"customers", "products", "orders"}
    assert order.index("orders") > order.index("customers") and order.index("orders") > order.index("products")
    tables = {t.name: t for t in source.captured(settings)}
    ddl = repr(source.create_sql(tables["orders"], tables))  # rendering needs a connection: its parts
    assert "SQL('REFERENCES ')" in ddl and "SQL(') ON DELETE CASCADE')" in ddl and "Identifier('customers')" in ddl
    assert "SQL('PRIMARY KEY (')" in ddl and "SQL('numeric(12,2)')" in ddl


def test_the_connector_config_names_the_password_file_never_the_password(settings: KappaSettings,
                                                                          tmp_path: Path) -> None:
    from kappa.artifacts.installs import Installs

    ctx = Context(settings, Installs(*(tmp_path / n for n in "abcdefghij")), fake_secrets())
    config = connect.connector_config(ctx)
    assert "cdc-capture-pw" not in str(config)
    assert config["database.password"].startswith("${file:") and config["database.password"].endswith(":password}")
    assert config["table.include.list"] == "public.customers,public.orders,public.products"
    assert config["exactly.once.support"] == "required" and config["publication.autocreate.mode"] == "disabled"
    assert config["topic.prefix"] == settings.cdc_database
    for p in settings.pipelines.live:
        if p.source is not None:
            assert p.topic.name == topic_name(p.source) == f"{config['topic.prefix']}.public.{p.source.name}"


class Recorder:
    """A cursor that records statements and answers the model's reads with an empty database."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        if not sql.startswith("SELECT"):
            self.statements.append((sql, params))

    def fetchall(self) -> list[Any]:
        return []


def run_recorded(seed: int, changes: int) -> tuple[list[tuple[str, tuple[Any, ...]]], workload.Counts]:
    cur = Recorder()
    work = workload.Workload(cur, workload.load_model(cur), seed, datetime(2026, 1, 1, tzinfo=UTC))
    for _ in range(changes):
        work.run_one()
    return cur.statements, work.counts


def test_the_workload_is_the_same_for_a_seed_and_only_changes_rows_that_exist() -> None:
    first, counts = run_recorded(7, 2000)
    again, _ = run_recorded(7, 2000)
    other, _ = run_recorded(8, 2000)
    assert first == again and first != other
    assert counts.statements == 2000 and counts.inserts and counts.updates and counts.deletes
    # replay the statements on a plain-Python model of the three tables: every update and delete hits a row
    rows: dict[str, set[int]] = {"customers": set(), "products": set(), "orders": set()}
    owner: dict[int, int] = {}
    for sql, params in first:
        table = sql.split("public.")[1].split(" ")[0]
        if sql.startswith("INSERT"):
            assert params[0] not in rows[table]
            rows[table].add(params[0])
            if table == "orders":
                assert params[1] in rows["customers"] and params[2] in rows["products"]
                owner[params[0]] = params[1]
        else:
            assert params[-1] in rows[table], sql
            if sql.startswith("DELETE"):
                rows[table].discard(params[-1])
                if table == "customers":
                    rows["orders"] -= {o for o, c in owner.items() if c == params[-1]}


def test_both_sides_compare_in_one_form() -> None:
    naive = datetime(2026, 11, 27, 13, 0, 1, 500)
    aware = naive.replace(tzinfo=UTC).astimezone(timezone(timedelta(hours=2)))
    assert compare.canonical(naive) == compare.canonical(aware) == "2026-11-27T13:00:01.000500Z"
    assert compare.canonical(Decimal("12.50")) == compare.canonical(Decimal("12.5")) == "12.5"
    assert compare.canonical(Decimal("100.00")) == compare.canonical(Decimal("1E+2")) == "100"
    assert compare.checksum({(1,): ("a",), (2,): ("b",)}) == compare.checksum({(2,): ("b",), (1,): ("a",)})


def test_declarations_of_captured_tables_are_checked() -> None:
    table = SourceTable("shop", "public", "refunds", (SourceColumn("id", "bigint", "BIGINT", nullable=False),
                                                       SourceColumn("order_id", "bigint", "BIGINT",
                                                                    references="invoices")), ("id",))
    problems = validate((*default_registry().pipelines, cdc_pipeline("shop_refunds", table)))
    assert any("references invoices, which no pipeline captures" in p for p in problems)
    assert any("captured tables come from one database" in p for p in problems)
    keyless = dataclasses.replace(table, database="ecommerce", primary_key=("nope",), columns=table.columns[:1])
    problems = validate((*default_registry().pipelines, cdc_pipeline("shop_refunds", keyless)))
    assert any("the primary key must name its columns" in p for p in problems)


def test_the_connect_worker_writes_the_captured_topics_and_creates_none(settings: KappaSettings) -> None:
    gs = grants(settings)
    captured = [p.topic.name for p in settings.pipelines.live if p.source is not None]
    for topic in captured:
        assert allowed(gs, CONNECT, "topic", topic, "WRITE")
        assert allowed(gs, PRODUCER, "topic", topic, "WRITE")  # the declared topics' producer, as for all
    assert not [g for g in gs if g.principal == CONNECT and g.operation in ("CREATE", "DELETE", "ALTER_CONFIGS")]
    assert allowed(gs, CONNECT, "transactional_id", "kappa-connect-ecommerce-0", "WRITE")
    assert allowed(gs, CONNECT, "transactional_id", "connect-cluster-kappa-connect", "WRITE")
    assert not allowed(gs, CONNECT, "topic", "transactions", "WRITE")
    assert not allowed(gs, PRODUCER, "topic", "kappa-connect-offsets", "WRITE")  # the worker's own topics


def test_a_current_state_table_is_keyed_and_its_changes_are_logged(settings: KappaSettings) -> None:
    orders = settings.pipelines.get("ecommerce_orders")
    spec = table_spec(orders.table("current"))
    key = spec.schema.find_field("id")
    assert spec.schema.identifier_field_ids == [key.field_id] and key.required
    assert spec.day_partition_source is None and spec.properties == UPSERT_PROPERTIES
    changes = table_spec(orders.table("raw"))
    assert changes.schema.identifier_field_ids == [] and changes.day_partition_source == "event_time"
    assert orders.topic.retention_ms == -1  # the change topic is the history a replay rebuilds from


def test_the_bench_report_shows_the_cdc_figures() -> None:
    result = type("R", (), {"cdc": {
        "throughput": {"changes": 20936, "source_changes_per_s": 598, "load_s": 35.0, "visible_changes_per_s": 497,
                       "visible_s": 42.1},
        "bulk": {"rounds": 5, "changes": 67940, "visible_changes_per_s": 1216, "visible_s": 55.9},
        "latency": {"rate": 200, "seconds": 30, "p50_s": 7.52, "p95_s": 11.9, "samples": 3268,
                    "checkpoint_interval_s": 10},
        "compaction": {"table": "ecommerce_orders", "data_files_before": 9, "delete_files_before": 15,
                       "deleted_rows_before": 9247, "query_s_before": 0.269, "optimize_s": 1.7, "data_files_after": 1,
                       "delete_files_after": 0, "query_s_after": 0.174}}})()
    text = "\n".join(cdc_section(result))
    assert "| bulk updates (5 x every order), visible end to end | 67,940 | 1,216 | 55.9 |" in text
    assert "p50 7.52s, p95 11.9s" in text and "269 ms" in text and "174 ms" in text
    assert cdc_section(type("R", (), {"cdc": {}})()) == []
