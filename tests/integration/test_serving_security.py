"""Trino over HTTPS with password authentication and file-based access control."""

from __future__ import annotations

import pytest

from kappa import query
from kappa.context import Context
from kappa.errors import KappaError
from kappa.serving import apply_views

pytestmark = pytest.mark.security


@pytest.fixture(scope="module", autouse=True)
def views(ctx: Context) -> None:
    apply_views(ctx)


def analyst(ctx: Context, sql: str) -> list:
    return query.run(ctx.settings, sql, user="analyst").rows


def test_wrong_password_is_rejected(ctx: Context) -> None:
    with pytest.raises(KappaError, match="refused the credentials"):
        query.run(ctx.settings, "SELECT 1", user="analyst", password="not-the-password")


def test_plain_http_is_not_accepted_for_queries(ctx: Context) -> None:
    import requests

    r = requests.post(f"http://{ctx.settings.host}:{ctx.settings.trino.port}/v1/statement", data="SELECT 1",
                      headers={"X-Trino-User": "admin"}, timeout=10)
    assert r.status_code in (401, 403)


def test_analyst_reads_the_analytics_views(ctx: Context) -> None:
    views = {r[0] for r in analyst(ctx, "SHOW TABLES FROM iceberg.analytics")}
    assert {"transactions_5m", "user_spend_5m", "sensor_stats_1m", "suspicious_patterns"} <= views
    assert analyst(ctx, "SELECT count(*) FROM iceberg.analytics.transactions_5m")[0][0] >= 0
    assert {r[0] for r in analyst(ctx, "SHOW SCHEMAS FROM iceberg")} <= {"analytics", "information_schema"}


@pytest.mark.parametrize("sql", [
    "SELECT count(*) FROM iceberg.streaming.transactions_5m",
    "DROP VIEW iceberg.analytics.transactions_5m",
    "INSERT INTO iceberg.streaming.transactions_raw (transaction_id) VALUES ('x')",
    "CREATE TABLE iceberg.analytics.mine (x int)",
    "DELETE FROM iceberg.streaming.quarantine",
])
def test_analyst_cannot_write_or_read_underlying_tables(ctx: Context, sql: str) -> None:
    with pytest.raises(KappaError, match="PERMISSION_DENIED|Access Denied"):
        analyst(ctx, sql)


def test_pipeline_writes_but_cannot_manage_schemas(ctx: Context) -> None:
    assert query.run(ctx.settings, "SELECT count(*) FROM iceberg.streaming.quarantine", user="pipeline").rows
    with pytest.raises(KappaError, match="Access Denied"):
        query.run(ctx.settings, "CREATE SCHEMA iceberg.made_by_pipeline", user="pipeline")


def test_analysts_see_only_their_own_queries(ctx: Context) -> None:
    marker = "kappa-query-isolation-marker"
    query.run(ctx.settings, f"SELECT '{marker}' AS m", user="pipeline")
    seen = "SELECT query FROM system.runtime.queries WHERE query LIKE '%kappa-query-isolation%'"
    others = [r[0] for r in analyst(ctx, seen) if "system.runtime.queries" not in r[0]]
    assert others == [], "an analyst read another user's SQL"
    own = [r[0] for r in query.run(ctx.settings, seen, user="admin").rows if "system.runtime.queries" not in r[0]]
    assert any(marker in q for q in own), "the admin sees every user's queries"
