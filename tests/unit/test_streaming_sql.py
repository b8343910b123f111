"""`kappa sql --streaming` without a gateway: what a session declares (each contracted topic's view,
read as the `consumer` principal in the session's own group), which statements it refuses, and the
one line kept of Flink's errors. The integration tier runs sessions on the real gateway
(tests/integration/test_streaming_sql.py)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from kappa.artifacts.installs import Installs
from kappa.cli import streaming_sql_cmds
from kappa.context import Context
from kappa.errors import KappaError
from kappa.kafka_acl import CONSUMER
from kappa.settings import load_settings
from kappa.streaming_sql import Result, flink_message, readable, session_statements
from tests.unit.provisioned import fake_secrets, write_outputs

pytestmark = pytest.mark.unit


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    c = Context(load_settings(None, state_dir=tmp_path), Installs(*(tmp_path / n for n in "abcdefghij")),
                fake_secrets())
    write_outputs(c)
    return c


def test_a_session_offers_each_contracted_topic_by_its_stream_name_read_as_the_consumer(ctx: Context) -> None:
    sql, names = session_statements(ctx, "latest", "kappa-sql-abc")
    contracted = {p.topic.name.replace("-", "_") for p in ctx.settings.pipelines.live
                  if p.source is None and p.topic.contract_version is not None}
    assert sorted(names) == sorted(contracted) and len(names) == len(set(names))
    assert sql[0].startswith("CREATE CATALOG IF NOT EXISTS `kappa`")
    assert sum(s.count("CREATE TEMPORARY TABLE") for s in sql) == len(names)
    for name in names:
        assert any(s.startswith(f"CREATE TEMPORARY VIEW `{name}` AS") for s in sql), name
    sources = [s for s in sql if "CREATE TEMPORARY TABLE" in s]
    password = ctx.secrets.kafka_password(CONSUMER)
    assert all(f'username="{CONSUMER}"' in s for s in sources)
    assert all(password in s and "'properties.group.id' = 'kappa-sql-abc'" in s
               and "'scan.startup.mode' = 'latest-offset'" in s for s in sources)
    assert not any("job-" in s for s in sources)  # no pipeline's principal


def test_an_unknown_start_is_refused() -> None:
    with pytest.raises(KappaError, match="--from must be one of earliest, latest, not 'middle'"):
        session_statements(None, "middle", "g")  # type: ignore[arg-type]


@pytest.mark.parametrize("statement", [
    "SELECT * FROM transactions", "  with t AS (SELECT 1) SELECT * FROM t", "SHOW TABLES", "DESCRIBE transactions",
    "EXPLAIN SELECT 1", "SET 'parallelism.default' = '2'", "CREATE TEMPORARY VIEW v AS SELECT 1",
    "DROP TEMPORARY VIEW v", "VALUES (1)",
])
def test_reading_and_shaping_the_session_are_allowed(statement: str) -> None:
    readable(statement)


@pytest.mark.parametrize("statement", [
    "INSERT INTO kappa.streaming.transactions_raw SELECT * FROM t", "DROP TABLE kappa.streaming.transactions_raw",
    "CREATE TABLE t (a INT)", "EXECUTE STATEMENT SET BEGIN END", "ALTER TABLE t RENAME TO u",
    "CREATE VIEW kappa.streaming.v AS SELECT 1", "SELECTED", "DELETE FROM t",
])
def test_a_statement_that_writes_is_refused_naming_it(statement: str) -> None:
    with pytest.raises(KappaError, match="a streaming SQL session only reads: .* is not allowed"):
        readable(statement)


def test_flinks_error_keeps_its_innermost_cause_without_the_stack() -> None:
    body = ('{"errors":["Internal server error.","<Exception on server side:\\norg.apache.flink.table.gateway.api.'
            'utils.SqlGatewayException: Failed to fetchResults.\\n\\tat org.apache...\\nCaused by: org.apache.flink.'
            'table.api.ValidationException: SQL validation failed. From line 1, column 8 to line 1, column 9: '
            'Column \'no\' not found in any table\\n\\tat org...\\nEnd of exception on server side>"]}')
    assert flink_message(body.replace("\\n", "\n").replace("\\t", "\t")) == (
        "SQL validation failed. From line 1, column 8 to line 1, column 9: Column 'no' not found in any table")
    assert flink_message("") == "no message"


class FakeSession:
    """Stands in for a gateway session: each query yields one row naming it."""

    streams = ["transactions"]

    def __init__(self, _ctx: Context, *, start: str) -> None:
        self.start, self.ran, self.closed = start, [], False
        SESSIONS.append(self)

    def run(self, statement: str, *, limit: int, timeout_s: float, on_row: Any) -> Result:
        readable(statement)
        self.ran.append(statement)
        result = Result(["q"], ["+I"], [[statement]], job_id="j1", stopped="limit" if limit == 1 else "")
        on_row(result, 0)
        return result

    def close(self) -> None:
        self.closed = True


SESSIONS: list[FakeSession] = []


def test_statements_from_stdin_run_one_by_one_and_the_session_closes(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    monkeypatch.setattr(streaming_sql_cmds, "Session", FakeSession)
    monkeypatch.setattr(streaming_sql_cmds, "start_gateway", lambda _ctx, _progress: None)
    monkeypatch.setattr(streaming_sql_cmds, "build_context", lambda _settings: None)
    settings = load_settings(None, state_dir=tmp_path)
    SESSIONS.clear()
    monkeypatch.setattr("sys.stdin", io.StringIO("SELECT 1\n  FROM t;\nSHOW TABLES;\nSELECT 'a;b'"))
    streaming_sql_cmds.streaming(settings, None, 1, "earliest", 5.0)
    session = SESSIONS[0]
    assert session.ran == ["SELECT 1\n  FROM t", "SHOW TABLES", "SELECT 'a;b'"] and session.closed
    assert session.start == "earliest"

    monkeypatch.setattr("sys.stdin", io.StringIO("SELECT 1; DROP TABLE kappa.streaming.transactions_raw;"))
    with pytest.raises(KappaError, match="only reads"):
        streaming_sql_cmds.streaming(settings, None, 1, "latest", 5.0)
    assert SESSIONS[1].ran == ["SELECT 1"] and SESSIONS[1].closed  # closed after a refusal too
