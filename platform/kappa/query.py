"""SQL through Trino, for the CLI, the demo and the tests."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import requests
import trino
from trino.auth import BasicAuthentication
from trino.exceptions import TrinoAuthError, TrinoQueryError, TrinoUserError

from kappa.errors import KappaError
from kappa.runtime.secrets import load_or_create
from kappa.settings import KappaSettings
from lakehouse.catalog import TRINO_CATALOG


@dataclass(frozen=True)
class Result:
    columns: list[str]
    rows: list[list[Any]]


DEFAULT_USER = "admin"  # the operator; analysts use --user analyst


def connect(settings: KappaSettings, user: str = DEFAULT_USER, schema: str | None = None,
            password: str | None = None) -> trino.dbapi.Connection:
    """An HTTPS connection authenticated as one of the platform's Trino users."""
    if password is None:
        password = load_or_create(settings.state).trino_password(user)
    session = requests.Session()
    session.verify = str(settings.trino_ca_file)
    # REQUESTS_CA_BUNDLE in the environment would otherwise replace our CA (a requests quirk).
    session.trust_env = False
    return trino.dbapi.connect(
        host=settings.host, port=settings.trino.https_port, user=user, catalog=TRINO_CATALOG,
        schema=schema or settings.jobs.namespace, http_scheme="https", request_timeout=120,
        auth=BasicAuthentication(user, password), http_session=session,
    )


def statement(sql: str) -> str:
    """One statement as Trino takes it: without the trailing semicolons a SQL file or shell ends it with."""
    return re.sub(r"[\s;]+$", "", sql.strip())


def refuse_view_time_travel(sql: str, views_namespace: str) -> None:
    """Trino ignores `FOR VERSION|TIMESTAMP AS OF` on a view and answers with current data; a user
    asking for the past must not get the present without a word."""
    name = r'(?:"[^"]+"|\w+)'
    code = re.sub(r"'(?:[^']|'')*'", "''", sql)  # not inside a string literal
    found = re.search(rf'(?:{name}\s*\.\s*)?"?{re.escape(views_namespace)}"?\s*\.\s*({name})\s+'
                      r"(?:(?:AS\s+)?(?!FOR\b)\w+\s+)?FOR\s+(?:VERSION|TIMESTAMP)\s+AS\s+OF\b", code, re.IGNORECASE)
    if found:
        view = found.group(1).strip('"')
        raise KappaError(f"time travel on the view {views_namespace}.{view} is not supported: Trino would ignore "
                         f"it and return current data. Query the table it shows (`SHOW CREATE VIEW "
                         f"{views_namespace}.{view}` names it) FOR VERSION or TIMESTAMP AS OF, as user pipeline "
                         "or admin")


def run(settings: KappaSettings, sql: str, params: list[Any] | None = None, *, user: str = DEFAULT_USER,
        password: str | None = None) -> Result:
    sql = statement(sql)
    refuse_view_time_travel(sql, settings.jobs.views_namespace)
    try:
        conn = connect(settings, user, password=password)
        try:
            cur = conn.cursor()
            cur.execute(sql, params)
            rows = cur.fetchall()
            columns = [d[0] for d in cur.description or []]
        finally:
            conn.close()
        return Result(columns, [list(r) for r in rows])
    except TrinoQueryError as exc:
        raise KappaError(f"Trino: {exc.error_name}: {_one_line(exc.message)}") from exc
    except TrinoUserError as exc:
        raise KappaError(f"Trino: {_one_line(str(exc))}") from exc
    except TrinoAuthError as exc:
        raise KappaError(f"Trino refused the credentials of user {user!r}") from exc
    except (requests.exceptions.ConnectionError, trino.exceptions.TrinoConnectionError) as exc:
        if "SSL" in str(exc):
            raise KappaError(f"TLS to Trino failed ({settings.trino_ca_file} is the CA to trust)") from exc
        raise KappaError(f"Trino does not answer at {settings.trino_url}; is the stack up (`kappa up`)?") from exc
    except trino.exceptions.HttpError as exc:
        if "401" in str(exc):
            raise KappaError(f"Trino refused the credentials of user {user!r}") from exc
        raise KappaError(f"Trino: {_one_line(str(exc))}") from exc


# Trino's error types for a failure outside the statement: the connector's catalog, a worker, the
# network. A user error (a bad name, no permission) is never retried.
TRANSIENT_ERROR_TYPES = frozenset({"INTERNAL_ERROR", "EXTERNAL"})


def run_idempotent(settings: KappaSettings, sql: str, *, attempts: int = 4, first_wait_s: float = 0.5,
                   user: str = DEFAULT_USER) -> Result:
    """`run` for a statement that may safely run twice (`CREATE OR REPLACE VIEW`, `CREATE SCHEMA IF
    NOT EXISTS`): a transient failure (the catalog database restarting, say) is retried with a
    doubling wait; the last failure is raised."""
    for attempt in range(1, attempts):
        try:
            return run(settings, sql, user=user)
        except KappaError as exc:
            cause = exc.__cause__
            if not (isinstance(cause, TrinoQueryError) and cause.error_type in TRANSIENT_ERROR_TYPES):
                raise
            time.sleep(first_wait_s * 2 ** (attempt - 1))
    return run(settings, sql, user=user)  # the last attempt: its failure is the caller's


COMMIT_CONFLICT = ("conflict", "Commit", "ICEBERG_COMMIT_ERROR")


def run_retrying_conflicts(settings: KappaSettings, sql: str, *, attempts: int = 5,
                           user: str = DEFAULT_USER) -> Result:
    """`run` for table maintenance (`optimize`, `expire_snapshots`): a commit that collides with a
    streaming commit is retried (it rebases on the new snapshot); the stream never waits for it."""
    for attempt in range(1, attempts):
        try:
            return run(settings, sql, user=user)
        except KappaError as exc:
            if not any(w in str(exc) for w in COMMIT_CONFLICT):
                raise
            time.sleep(attempt)
    return run(settings, sql, user=user)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def plain(value: Any) -> Any:
    """JSON/CSV-friendly values: decimals as exact strings, times in ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def display(value: Any) -> str:
    """How a value reads in a table."""
    if value is None:
        return "NULL"
    if isinstance(value, datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S")
        return text + (" UTC" if value.utcoffset() is not None and not value.utcoffset() else "")
    return str(plain(value))


def to_csv(result: Result) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow([plain(v) for v in row])
    return buf.getvalue()


def to_json(result: Result) -> str:
    return json.dumps([dict(zip(result.columns, map(plain, row), strict=True)) for row in result.rows], indent=1)
