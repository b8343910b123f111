"""SQL through Trino, for the CLI, the demo and the tests."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import trino
from trino.exceptions import TrinoQueryError

from kappa.errors import KappaError
from kappa.services.trino import ICEBERG_CATALOG
from kappa.settings import KappaSettings


@dataclass(frozen=True)
class Result:
    columns: list[str]
    rows: list[list[Any]]


def connect(settings: KappaSettings, user: str = "kappa", schema: str | None = None) -> trino.dbapi.Connection:
    return trino.dbapi.connect(
        host=settings.host, port=settings.trino.port, user=user, catalog=ICEBERG_CATALOG,
        schema=schema or settings.jobs.namespace, http_scheme="http", request_timeout=120,
    )


def run(settings: KappaSettings, sql: str, params: list[Any] | None = None) -> Result:
    try:
        conn = connect(settings)
        cur = conn.cursor()
        cur.execute(sql, params)
        rows = cur.fetchall()
        columns = [d[0] for d in cur.description or []]
        conn.close()
        return Result(columns, [list(r) for r in rows])
    except TrinoQueryError as exc:
        raise KappaError(f"Trino: {exc.error_name}: {exc.message}") from exc
    except Exception as exc:
        if "Connection refused" in str(exc) or "Max retries" in str(exc):
            raise KappaError(f"Trino does not answer at {settings.trino_url}; is the stack up (`kappa up`)?") from exc
        raise


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
