"""The Dagster definitions load without services, and their shape is pinned by a reviewed snapshot:
a dropped check, schedule or sensor or a renamed asset shows up as a failing diff."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from kappa.jobs.status import JobStatus, Routing, problems
from kappa.settings import OperationsSettings, load_settings
from lakehouse.registry import default_registry
from orchestration.definitions import build
from orchestration.resources import Platform

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = Path(__file__).with_name("snapshots") / "dagster_definitions.json"


def shape() -> dict:
    defs = build(Platform(load_settings(ROOT / "kappa.toml")))
    graph = defs.resolve_asset_graph()
    return {
        "assets": sorted(k.to_user_string() for k in graph.get_all_asset_keys()),
        "checks": sorted(f"{c.asset_key.to_user_string()}:{c.name}" for c in graph.asset_check_keys),
        "jobs": sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")),
        "schedules": sorted(s.name for s in defs.schedules),
        "sensors": sorted(s.name for s in defs.sensors),
    }


def test_definitions_match_the_reviewed_snapshot() -> None:
    assert shape() == json.loads(SNAPSHOT.read_text())


def test_lineage_runs_from_topics_through_tables_to_views() -> None:
    defs = build(Platform(load_settings(ROOT / "kappa.toml")))
    graph = defs.resolve_asset_graph()
    deps = {k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys}
            for k in graph.get_all_asset_keys()}
    assert deps["streaming/transactions_5m"] == {"kafka/transactions"}
    assert deps["analytics/transactions_5m"] == {"streaming/transactions_5m"}
    assert deps["streaming/suspicious_patterns"] == {"kafka/user_events"}
    assert deps["analytics/daily_sensor_health"] == {"analytics/sensor_stats_1m", "analytics/sensor_alerts"}
    # a SQL pipeline joining two topics: each raw table from its topic, the joined view from both
    assert deps["streaming/purchases_after_login_raw_user_events"] == {"kafka/user_events"}
    assert deps["streaming/purchases_after_login_raw"] == {"kafka/transactions"}
    assert deps["streaming/purchases_after_login"] == {"kafka/transactions", "kafka/user_events"}


def test_every_published_table_has_a_quality_suite() -> None:
    checks = json.loads(SNAPSHOT.read_text())["checks"]
    for pipeline in default_registry().live:
        for table in pipeline.published:
            assert f"streaming/{table.name}:quality_suite" in checks


def test_health_fails_with_the_numbers_on_a_watermark_ahead_or_many_late_or_quarantined() -> None:
    ops = OperationsSettings()
    now_ms = int(time.time() * 1000)
    healthy = JobStatus("transactions", 1, "RUNNING", "j", 600.0, 5.0, 10, 0, 0, "running", now_ms - 10_000,
                        Routing(15, 1000, 10, 10))
    assert problems([healthy], ops) == []
    ahead = dataclasses.replace(healthy, watermark_ms=now_ms + 89 * 60_000)
    assert problems([ahead], ops) == [
        "transactions: watermark 89 min ahead of the clock (limit 10 min): events stamped in the future moved it, "
        "and events on time now go to late_events"]
    poisoned = dataclasses.replace(healthy, routing=Routing(15, 0, 3, 200))
    assert problems([poisoned], ops) == [
        "transactions: 200 of 203 events in the last 15 min went late (99%, limit 5%)"]
    quarantined = dataclasses.replace(healthy, routing=Routing(15, 100, 30, 0))
    assert problems([quarantined], ops) == [
        "transactions: 30 of 130 events in the last 15 min were quarantined (23%, limit 5%)"]
    few = dataclasses.replace(healthy, routing=Routing(15, 5, 5, 5))  # too few events to judge a share
    assert problems([few], ops) == []
