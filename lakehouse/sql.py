"""Identifiers in Trino SQL: every table, schema and catalog name the platform puts into a query goes
through `quote`, which accepts only plain names (values never do: they are query parameters)."""

from __future__ import annotations

import re

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


class IdentifierError(ValueError):
    """A name that is not a plain SQL identifier."""


def check(name: str) -> str:
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise IdentifierError(f"not a plain SQL identifier: {name!r} (letters, digits and underscores)")
    return name


def quote(name: str) -> str:
    """A validated, double-quoted Trino identifier."""
    return f'"{check(name)}"'


def qualified(*parts: str) -> str:
    """`"catalog"."schema"."table"` (or any prefix of it), each part validated."""
    return ".".join(quote(p) for p in parts)


METADATA_TABLES = ("files", "snapshots", "manifests", "history", "partitions")


def metadata_table(*parts: str, kind: str) -> str:
    """One of Iceberg's metadata tables in Trino: `"schema"."table$files"` (a prefix, then the table)."""
    if kind not in METADATA_TABLES:
        raise IdentifierError(f"no Iceberg metadata table {kind!r}; known: {', '.join(METADATA_TABLES)}")
    *prefix, table = parts
    return ".".join([*(quote(p) for p in prefix), f'"{check(table)}${kind}"'])
