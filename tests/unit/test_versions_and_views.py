"""Table versions for replays, the analytics views, and Trino's generated security files."""

from __future__ import annotations

from pathlib import Path

import bcrypt

from kappa.runtime.secrets import Secrets
from kappa.services.trino_security import access_rules, password_file, write_certificate
from lakehouse.registry import default_registry
from lakehouse.tables import version_specs
from lakehouse.views import pipeline_views

REGISTRY = default_registry()


def test_version_one_writes_the_base_tables_and_replays_write_their_own() -> None:
    transactions = REGISTRY.get("transactions")
    v1, v4 = version_specs(transactions, 1), version_specs(transactions, 4)
    assert v1["windows"].name == "transactions_5m" and v4["windows"].name == "transactions_5m__v4"
    assert v4["quarantine"].name == "quarantine__transactions_v4"
    assert v4["windows"].schema == v1["windows"].schema
    v1_names = {s.name for p in REGISTRY.live for s in version_specs(p, 1).values()}
    v2_names = [s.name for p in REGISTRY.live for s in version_specs(p, 2).values()]
    assert len(v2_names) == len(set(v2_names)), "no two jobs' replays share a table"
    assert not v1_names & set(v2_names)


def test_views_keep_their_name_and_follow_the_live_version() -> None:
    views = {v.name: v.source_table for v in pipeline_views(REGISTRY.get("user_activity"), 3)}
    assert views["user_spend_5m"] == "user_spend_5m__v3"
    assert set(views) == {"user_events_raw", "user_spend_5m", "fraud_alerts", "suspicious_patterns", "user_sessions"}
    sql = pipeline_views(REGISTRY.get("transactions"), 1)[1].create_sql("iceberg", "analytics", "streaming")
    assert sql.startswith('CREATE OR REPLACE VIEW "iceberg"."analytics"."transactions_5m" SECURITY DEFINER')


def test_password_file_holds_bcrypt_hashes_trino_accepts() -> None:
    secrets = Secrets("pg", "cat", "admin-pw", "pipe-pw", "analyst-pw", "shared", "dagster-pw", "kafka-secret",
                      "ui-pw", "ks-pw", "registry-pw", "registry-db-pw", "cdc-owner-pw", "cdc-capture-pw", "connect-pw",
                      "zk-pw", "s3-key", "s3-secret")
    lines = dict(line.split(":", 1) for line in password_file(secrets).splitlines())
    assert set(lines) == {"admin", "pipeline", "analyst"}
    for user, hashed in lines.items():
        assert hashed.startswith("$2y$10$")
        assert bcrypt.checkpw(secrets.trino_password(user).encode(), ("$2b$" + hashed[4:]).encode())
    assert "analyst-pw" not in password_file(secrets)


def test_analyst_rules_reach_only_the_views() -> None:
    rules = access_rules("analytics")
    analyst_tables = [r for r in rules["tables"] if r["user"] == "analyst"]
    assert {"catalog": "iceberg", "schema": "analytics", "privileges": ["SELECT"], "user": "analyst"} in analyst_tables
    assert all("INSERT" not in r["privileges"] for r in analyst_tables)


def test_certificate_covers_the_address_and_is_reused(tmp_path: Path) -> None:
    server, ca = write_certificate(tmp_path, "127.0.0.1")
    assert b"PRIVATE KEY" in server.read_bytes() and b"PRIVATE KEY" not in ca.read_bytes()
    assert server.stat().st_mode & 0o777 == 0o600
    first = ca.read_bytes()
    write_certificate(tmp_path, "127.0.0.1")
    assert ca.read_bytes() == first
