"""The captured tables in the source database, created from the CDC pipelines' declarations.

`kappa up` applies them (as the database's owner role, which Terraform made): each table with its
primary key and foreign keys, a column the declaration gained added in place, SELECT for the
replication role Debezium reads as (its initial snapshot), and the publication naming exactly the
captured tables (pgoutput streams what the publication lists). Idempotent."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2
from psycopg2 import sql

from kappa.context import Context
from kappa.errors import KappaError
from kappa.settings import KappaSettings
from lakehouse.pipeline import SourceTable


def captured(settings: KappaSettings) -> list[SourceTable]:
    """The captured tables, each after the tables its foreign keys reference."""
    tables = {p.source.name: p.source for p in settings.pipelines.live if p.source is not None}
    ordered: list[SourceTable] = []

    def visit(t: SourceTable, path: tuple[str, ...]) -> None:
        if t in ordered:
            return
        if t.name in path:
            raise KappaError(f"captured tables reference each other in a cycle: {' -> '.join((*path, t.name))}")
        for c in t.columns:
            if c.references is not None:
                visit(tables[c.references], (*path, t.name))
        ordered.append(t)

    for t in tables.values():
        visit(t, ())
    return ordered


def table_ref(t: SourceTable) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(t.schema), sql.Identifier(t.name))


def column_sql(c: Any, tables: dict[str, SourceTable]) -> sql.Composed:
    """A column's definition; a reference to customers deletes the rows with their customer."""
    parts = [sql.Identifier(c.name), sql.SQL(c.pg_type)]  # types come from the declarations, never from input
    if not c.nullable:
        parts.append(sql.SQL("NOT NULL"))
    if c.references is not None:
        target = tables[c.references]
        parts.append(sql.SQL("REFERENCES {} ({}) ON DELETE CASCADE").format(
            table_ref(target), sql.SQL(", ").join(map(sql.Identifier, target.primary_key))))
    return sql.SQL(" ").join(parts)


def create_sql(t: SourceTable, tables: dict[str, SourceTable]) -> sql.Composed:
    columns = [column_sql(c, tables) for c in t.columns]
    columns.append(sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, t.primary_key))))
    return sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(table_ref(t), sql.SQL(", ").join(columns))


@contextmanager
def owner_connection(ctx: Context) -> Iterator[Any]:
    """A connection to the source database as its owner (the application's role)."""
    s = ctx.settings
    try:
        conn = psycopg2.connect(host=s.host, port=s.postgres.port, dbname=s.cdc_database, user=s.cdc.owner,
                                password=ctx.secrets.cdc_owner_password, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        raise KappaError(f"cannot connect to the source database {s.cdc_database} as {s.cdc.owner}: "
                         f"{' '.join(str(exc).split())}") from exc
    try:
        yield conn
    finally:
        conn.close()


def apply(ctx: Context) -> list[str]:
    """Create the captured tables, add declared columns they lack, grant and publish them; returns
    what changed (`<table>` created, `<table>.<column>` added)."""
    s = ctx.settings
    tables = captured(s)
    if not tables:
        return []
    by_name = {t.name: t for t in tables}
    changed: list[str] = []
    with owner_connection(ctx) as conn, conn.cursor() as cur:
        for t in tables:
            cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                        "AND table_name = %s", (t.schema, t.name))
            have = {r[0] for r in cur.fetchall()}
            if not have:
                cur.execute(create_sql(t, by_name))
                changed.append(f"{t.schema}.{t.name}")
            for c in t.columns:
                if have and c.name not in have:
                    # a new column is nullable in the source: rows before it have none
                    cur.execute(sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                        table_ref(t), sql.Identifier(c.name), sql.SQL(c.pg_type)))
                    changed.append(f"{t.schema}.{t.name}.{c.name}")
            cur.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(table_ref(t), sql.Identifier(s.cdc.capture_user)))
        refs = sql.SQL(", ").join(table_ref(t) for t in tables)
        cur.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (s.cdc.publication,))
        if cur.fetchone() is None:
            cur.execute(sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(sql.Identifier(s.cdc.publication), refs))
        else:
            cur.execute(sql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(sql.Identifier(s.cdc.publication), refs))
        conn.commit()
    return changed


def rows(ctx: Context, t: SourceTable) -> list[dict[str, Any]]:
    """Every row of a captured table, by key (a consistent read in one transaction)."""
    with owner_connection(ctx) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
            sql.SQL(", ").join(sql.Identifier(c.name) for c in t.columns), table_ref(t),
            sql.SQL(", ").join(map(sql.Identifier, t.primary_key))))
        names = [c.name for c in t.columns]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def undeclared_columns(ctx: Context) -> dict[str, list[str]]:
    """Columns the source tables have and their declarations lack (an application's own migration):
    their values travel in the change log's row images, but no current-state table has them."""
    tables = captured(ctx.settings)
    out: dict[str, list[str]] = {}
    with owner_connection(ctx) as conn, conn.cursor() as cur:
        for t in tables:
            cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                        "AND table_name = %s ORDER BY ordinal_position", (t.schema, t.name))
            declared = {c.name for c in t.columns}
            extra = [r[0] for r in cur.fetchall() if r[0] not in declared]
            if extra:
                out[f"{t.schema}.{t.name}"] = extra
    return out
