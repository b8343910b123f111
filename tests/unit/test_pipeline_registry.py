"""One pipeline, one place: the registry reads every declaration and refuses ones that disagree, and a
fourth pipeline (tests/fourth_pipeline: a declaration and an SQL module, nothing else) gets its
settings, tables, spec, views, replay gate, quality suite, backfill job and Dagster lineage."""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from flink_jobs.spec import JobSpec
from kappa import query
from kappa.artifacts.installs import Installs
from kappa.context import Context
from kappa.jobs import get_definition, job_definitions, render_spec
from kappa.replay_gate import run_gate
from kappa.settings import ConfigError, load_settings
from lakehouse.pipeline import Between, Checks, Daily, Gate, NotNull, Param, Topic
from lakehouse.quality import validate
from lakehouse.registry import Registry, RegistryError, default_registry
from lakehouse.scenarios import ScenarioOptions
from lakehouse.tables import version_specs
from lakehouse.views import pipeline_views
from orchestration.definitions import build
from orchestration.resources import Platform
from tests.fourth_pipeline.declaration import PIPELINE as PRODUCT_ACTIVITY
from tests.unit.provisioned import fake_secrets, write_outputs

REGISTRY = default_registry()


def test_every_module_in_lakehouse_pipelines_is_a_pipeline() -> None:
    captured = {"ecommerce_customers", "ecommerce_products", "ecommerce_orders"}
    in_sql = {"suspicious_sql", "purchases_after_login"}  # lakehouse/pipelines/<name>.toml and .sql
    assert set(REGISTRY.names) == {"transactions", "user_activity", "iot_sensors", "user_events_avro", "nexmark",
                                   *captured, *in_sql}
    assert {p.name for p in REGISTRY.live} == {"transactions", "user_activity", "iot_sensors", "user_events_avro",
                                               *captured, *in_sql}
    assert {p.name for p in REGISTRY.live if p.sql is not None} == in_sql and not REGISTRY.left_out
    assert {p.name for p in REGISTRY.live if p.source is not None} == captured
    assert set(REGISTRY.scenarios) == {"transactions", "user-events", "iot-sensors", "user-events-avro"}
    pipeline, table = REGISTRY.owner("fraud_alerts")
    assert (pipeline.name, table.role) == ("user_activity", "fraud")


def _transactions(**changes: Any) -> Any:
    return dataclasses.replace(REGISTRY.get("transactions"), **changes)


def _table(role: str, **changes: Any) -> Any:
    base = REGISTRY.get("transactions")
    return tuple(dataclasses.replace(t, **changes) if t.role == role else t for t in base.tables)


BROKEN = {
    "a table name taken twice": (lambda: _transactions(tables=_table("windows", name="fraud_alerts")),
                                 "table fraud_alerts is already written by"),
    "a gate measure that is not a column": (
        lambda: _transactions(tables=_table("windows", gate=Gate("window_end", ("no_such_column",)))),
        "the gate compares 'no_such_column'"),
    "a gate naming an unknown setting": (
        lambda: _transactions(tables=_table("windows", gate=Gate("window_end", ("total_amount",), ("nope_min",)))),
        "setting 'nope_min'"),
    "a published table without checks": (lambda: _transactions(tables=_table("suspicious", checks=None)),
                                         "needs its gate measures and its quality checks"),
    "a check on an unknown column": (
        lambda: _transactions(tables=_table("windows", checks=Checks(("user_id",), (NotNull(("nope",)),)))),
        "name 'nope'"),
    "a check bound naming an unknown setting": (
        lambda: _transactions(tables=_table("windows", checks=Checks(("user_id",), (
            Between("total_amount", Param("nope")),)))), "setting 'nope'"),
    "a topic declared twice differently": (lambda: _transactions(topic=Topic("user-events", partitions=2)),
                                           "declared differently"),
    "a topic without a contract": (lambda: _transactions(topic=Topic("orders", partitions=2)),
                                   "no contract for topic 'orders'"),
    "no raw table": (lambda: _transactions(tables=REGISTRY.get("transactions").tables[1:]), "role 'raw'"),
    "an SQL module that does not exist": (lambda: _transactions(module="flink_jobs.nope"), "not found"),
    "a daily rollup over an unpublished role": (
        lambda: _transactions(daily=(Daily("d", (("x", "BIGINT"),), "SELECT 1 FROM {views}.t, bounds", ("late",),
                                           "d"),)), "not a published table"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_declarations_that_disagree_are_refused_naming_the_problem(case: str) -> None:
    make, needle = BROKEN[case]
    others = tuple(p for p in REGISTRY.pipelines if p.name != "transactions")
    with pytest.raises(RegistryError, match="pipeline transactions") as err:
        Registry((*others, make()))
    assert needle in str(err.value)


def test_pipeline_settings_are_validated_at_load(tmp_path: Path) -> None:
    cfg = tmp_path / "kappa.toml"
    cfg.write_text("[jobs.transactions]\nwindow_size_min = 0\n")
    with pytest.raises(ConfigError, match="transactions.window_size_min"):
        load_settings(cfg)
    cfg.write_text("[jobs.no_such_pipeline]\nx = 1\n")
    with pytest.raises(ConfigError, match="no pipeline named no_such_pipeline"):
        load_settings(cfg)
    cfg.write_text("[jobs.transactions]\nwindow_size = 5\n")
    with pytest.raises(ConfigError, match="transactions.window_size"):
        load_settings(cfg)


def test_topics_come_from_the_declarations_and_the_file_overrides_them_field_by_field(tmp_path: Path) -> None:
    cfg = tmp_path / "kappa.toml"
    cfg.write_text("[kafka.topics.iot-sensors]\nretention_ms = 1000\n")
    topics = load_settings(cfg).kafka.topics
    assert topics["iot-sensors"].partitions == 3 and topics["iot-sensors"].retention_ms == 1000
    assert topics["transactions"].partitions == 6 and topics["user-events"].partitions == 6
    assert "alerts" in topics and "nexmark" not in topics


def test_the_effective_settings_round_trip_for_processes_the_platform_starts(tmp_path: Path) -> None:
    cfg = tmp_path / "kappa.toml"
    cfg.write_text("[jobs.iot_sensors]\ntemperature_above = 31.5\n")
    settings = load_settings(cfg)
    effective = tmp_path / "settings.effective.json"
    effective.write_text(settings.model_dump_json())
    again = load_settings(effective)
    assert again.jobs.pipeline("iot_sensors") == settings.jobs.pipeline("iot_sensors")
    assert again.jobs.pipeline("iot_sensors").params()["temperature_above"] == 31.5


# --- a fourth pipeline: one declaration and one SQL module ----------------------------------------

@pytest.fixture
def fourth(tmp_path: Path) -> Context:
    cfg = tmp_path / "kappa.toml"
    cfg.write_text("[jobs.product_activity]\nwindow_min = 15\n")
    settings = load_settings(cfg, registry=REGISTRY.extended(PRODUCT_ACTIVITY))
    installs = Installs(*(tmp_path / n for n in "abcdefghij"))
    ctx = Context(settings, installs,
                  fake_secrets())
    write_outputs(ctx)
    return ctx


def test_a_fourth_pipeline_gets_its_settings_job_tables_and_spec(fourth: Context) -> None:
    s = fourth.settings
    assert s.jobs.pipeline("product_activity").params()["window_min"] == 15
    assert "product_activity" in job_definitions(s)
    job = get_definition(s, "product_activity")
    assert job.topic == "user-events" and job.module == "tests.fourth_pipeline.job"
    spec = render_spec(fourth, job, 2)
    assert spec["tables"]["activity"] == "product_activity_10m__v2"
    assert spec["tables"]["quarantine"] == "quarantine__product_activity_v2"
    assert spec["kafka"]["group_id"] == "kappa.product_activity.v2" and spec["params"]["window_min"] == 15
    assert spec["contract"]["x-topic"] == "user-events"
    schema = version_specs(PRODUCT_ACTIVITY, 1)["activity"].schema
    assert [f.name for f in schema.fields] == ["window_start", "window_end", "product_id", "product_views", "carts",
                                                "purchases", "revenue"]
    assert [v.name for v in pipeline_views(PRODUCT_ACTIVITY, 3)] == ["product_events_raw", "product_activity_10m"]


def test_a_fourth_pipeline_appears_in_dagster_with_lineage_checks_and_backfills(fourth: Context) -> None:
    defs = build(Platform(fourth.settings))
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"streaming/product_activity_10m", "analytics/product_activity_10m", "streaming/product_events_raw"} <= keys
    parents = {p.to_user_string() for p in graph.get(graph_key(graph, "streaming/product_activity_10m")).parent_keys}
    assert parents == {"kafka/user_events"}
    checks = {f"{c.asset_key.to_user_string()}:{c.name}" for c in graph.asset_check_keys}
    assert {"streaming/product_activity_10m:quality_suite", "streaming/product_events_raw:quality_suite",
            "streaming/product_events_raw:every_event_accounted_for"} <= checks
    assert "backfill_product_activity" in {j.name for j in defs.resolve_all_job_defs()}


def graph_key(graph: Any, text: str) -> Any:
    return next(k for k in graph.get_all_asset_keys() if k.to_user_string() == text)


def test_a_fourth_pipeline_is_gated_on_its_declared_measures(fourth: Context,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The gate's SQL for the new pipeline (Trino replaced by a recorder: the integration tier runs
    the gate for real on the transactions pipeline)."""
    asked: list[tuple[str, list[Any]]] = []

    def fake_run(settings: Any, sql: str, params: list[Any] | None = None, **_kw: Any) -> query.Result:
        asked.append((sql, params or []))
        if "count(DISTINCT o)" in sql:
            return query.Result(["p", "n", "d"], [[0, 10, 10]])
        if "NOT EXISTS" in sql:  # late in one version only
            return query.Result(["side", "b", "n", "ahead"], [])
        if "SELECT min(" in sql:  # the replayed events' span: bucket 5 of 10 minutes
            return query.Result(["lo", "hi"], [[3_000_000, 3_500_000]])
        if "count_if(inside)" in sql:
            return query.Result(["b", "in", "out"], [[5, 10, 0]])
        sums = [Decimal("1.50")] * sql.count("sum(")  # a table's row count and measure sums in bucket 5
        return query.Result(["b", "n"] + ["s"] * len(sums), [[5, 5, *sums]])

    monkeypatch.setattr(query, "run", fake_run)
    live, new = PRODUCT_ACTIVITY.table_names(1), PRODUCT_ACTIVITY.table_names(2)
    result = run_gate(fourth, PRODUCT_ACTIVITY, live, new, {"window_min": 10}, {"window_min": 10},
                      10 * 3_600_000, {0: (0, 10)}, "user-events")
    assert result.passed, result.failures
    compared = [sql for sql, _ in asked if '"product_activity_10m' in sql]
    measures = 'sum("product_views"), sum("purchases"), sum("revenue")'
    assert any(measures in sql and '"window_end"' in sql for sql in compared)
    assert any(line.startswith("ok       product_activity_10m__v2 vs product_activity_10m") for line in result.lines)
    assert all("user-events" not in sql for sql, _ in asked), "values travel as parameters"


def test_a_fourth_pipeline_has_its_quality_suite() -> None:
    opts = ScenarioOptions(count=2000, seed=3, start_ms=1_800_000_000_000, event_interval_ms=900, keys=50,
                           key_prefix="u-")
    windows: dict[tuple[int, str], list[Any]] = defaultdict(lambda: [0, 0, 0, Decimal("0")])
    for event in REGISTRY.scenarios["user-events"][0].generate(opts):
        r = event.record
        product = (r or {}).get("properties", {}).get("product_id")
        if r is None or product is None:
            continue
        row = windows[(r["timestamp"] - r["timestamp"] % 600_000, product)]
        row[("view_product", "add_to_cart", "purchase").index(r["action"])] += 1
        row[3] += Decimal(str(r.get("amount", 0)))
    df = pd.DataFrame([{"window_start": pd.Timestamp(w, unit="ms", tz="UTC"),
                        "window_end": pd.Timestamp(w + 600_000, unit="ms", tz="UTC"), "product_id": p,
                        "product_views": v[0], "carts": v[1], "purchases": v[2], "revenue": v[3]}
                       for (w, p), v in windows.items()])
    table = PRODUCT_ACTIVITY.table("activity")
    assert validate(df, PRODUCT_ACTIVITY, table, {"window_min": 10}).success
    broken = validate(df, PRODUCT_ACTIVITY, table, {"window_min": 15})
    assert not broken.success and broken.failures[0]["column"] == "window_length_s"


def test_the_spec_a_fourth_pipeline_renders_is_what_its_sql_module_reads(fourth: Context) -> None:
    spec = JobSpec.from_dict(json.loads(json.dumps(render_spec(fourth, get_definition(fourth.settings,
                                                                                      "product_activity"), 1))))
    assert spec.table("activity") == "`kappa`.`streaming`.`product_activity_10m`"
