"""Statements through Trino: which failures a repeatable statement retries."""

from __future__ import annotations

from typing import Any

import pytest
from trino.exceptions import TrinoQueryError

from kappa import query
from kappa.errors import KappaError
from kappa.settings import KappaSettings


def failing(error_type: str, times: int) -> tuple[list[str], Any]:
    calls: list[str] = []

    def run(settings: KappaSettings, sql: str, params: Any = None, *, user: str = "admin") -> query.Result:
        calls.append(sql)
        if len(calls) <= times:
            cause = TrinoQueryError({"errorType": error_type, "errorName": "X", "message": "Unknown failure"})
            raise KappaError("Trino: X: Unknown failure") from cause
        return query.Result(["ok"], [[True]])

    return calls, run


def test_a_transient_failure_of_a_repeatable_statement_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    calls, run = failing("INTERNAL_ERROR", times=2)
    monkeypatch.setattr(query, "run", run)
    result = query.run_idempotent(None, "CREATE OR REPLACE VIEW v AS SELECT 1", first_wait_s=0)  # type: ignore[arg-type]
    assert result.rows == [[True]] and len(calls) == 3


def test_a_user_error_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    calls, run = failing("USER_ERROR", times=1)
    monkeypatch.setattr(query, "run", run)
    with pytest.raises(KappaError, match="Unknown failure"):
        query.run_idempotent(None, "CREATE OR REPLACE VIEW v AS SELECT 1", first_wait_s=0)  # type: ignore[arg-type]
    assert len(calls) == 1


def test_a_failure_that_persists_is_raised_after_the_last_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    calls, run = failing("EXTERNAL", times=10)
    monkeypatch.setattr(query, "run", run)
    with pytest.raises(KappaError):
        query.run_idempotent(None, "CREATE SCHEMA IF NOT EXISTS s", attempts=3, first_wait_s=0)  # type: ignore[arg-type]
    assert len(calls) == 3


@pytest.mark.parametrize("sql", [
    "SELECT count(*) FROM analytics.transactions_5m FOR VERSION AS OF 123",
    "select * from iceberg.analytics.transactions_5m for timestamp as of current_timestamp - interval '1' minute",
    'SELECT * FROM "iceberg"."analytics"."user_spend_5m" t FOR VERSION AS OF 1',
    "SELECT * FROM analytics.fraud_alerts AS a FOR TIMESTAMP AS OF TIMESTAMP '2026-11-26 00:00:00 UTC'",
])
def test_time_travel_on_a_view_is_refused_with_what_to_do(sql: str) -> None:
    with pytest.raises(KappaError, match=r"time travel on the view analytics\.\w+ is not supported.*SHOW CREATE VIEW"):
        query.refuse_view_time_travel(sql, "analytics")


@pytest.mark.parametrize("sql", [
    "SELECT count(*) FROM streaming.transactions_5m FOR VERSION AS OF 123",
    "SELECT count(*) FROM analytics.transactions_5m",
    "SELECT 'analytics.x FOR VERSION AS OF' FROM streaming.transactions_5m",
])
def test_time_travel_on_a_table_and_plain_view_reads_pass(sql: str) -> None:
    query.refuse_view_time_travel(sql, "analytics")
