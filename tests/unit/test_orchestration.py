"""The Dagster definitions load without services, and their shape is pinned by a reviewed snapshot:
a dropped check, schedule or sensor or a renamed asset shows up as a failing diff."""

from __future__ import annotations

import json
from pathlib import Path

from kappa.settings import load_settings
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


def test_every_published_table_has_a_quality_suite() -> None:
    checks = json.loads(SNAPSHOT.read_text())["checks"]
    for pipeline in default_registry().live:
        for table in pipeline.published:
            assert f"streaming/{table.name}:quality_suite" in checks
