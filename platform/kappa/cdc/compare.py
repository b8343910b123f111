"""Does the current-state table equal its source table? Both sides are read in full and compared
row for row in Python: a key only in the source is missing, a key only in Iceberg is extra (a delete
not applied), a key on both sides with any other value is stale. Counts come with a checksum of each
side (SHA-256 over every row, in key order) and a few examples.

The source is read in one transaction; Iceberg through Trino (which applies the equality and
position deletes: PyIceberg reads no equality deletes). Between the two reads changes may land:
`compare_until_equal` retries while the difference shrinks or a deadline allows, which is the
consistent point on a quiet source."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from kappa import query
from kappa.cdc import source as source_db
from kappa.context import Context
from kappa.jobs import live_tables
from lakehouse.pipeline import Pipeline
from lakehouse.sql import qualified


def canonical(value: Any) -> Any:
    """One form for both sides: instants in UTC to the microsecond, decimals normalised."""
    if isinstance(value, datetime):
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value


def checksum(rows: dict[tuple[Any, ...], tuple[Any, ...]]) -> str:
    h = hashlib.sha256()
    for key in sorted(rows, key=repr):
        h.update(repr((key, rows[key])).encode())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Comparison:
    table: str
    source_rows: int
    lake_rows: int
    missing: int
    extra: int
    stale: int
    source_checksum: str
    lake_checksum: str
    examples: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return self.missing == self.extra == self.stale == 0 and self.source_checksum == self.lake_checksum

    def summary(self) -> str:
        state = "equal" if self.equal else "DIFFERENT"
        return (f"{self.table}: {state}: source {self.source_rows} rows, Iceberg {self.lake_rows} rows; missing "
                f"{self.missing}, extra {self.extra}, stale {self.stale}; checksums {self.source_checksum} / "
                f"{self.lake_checksum}")


def lake_rows(ctx: Context, pipeline: Pipeline, table: str | None = None) -> list[dict[str, Any]]:
    """The current-state table's rows as Trino reads them: the live version's table unless `table`."""
    assert pipeline.source is not None
    s = ctx.settings
    names = [c.name for c in pipeline.source.columns]
    name = table or live_tables(s, pipeline.name)["current"]
    result = query.run(s, f"SELECT {', '.join(names)} FROM {qualified(s.jobs.namespace, name)}")
    return [dict(zip(names, r, strict=True)) for r in result.rows]


def compare(ctx: Context, pipeline: Pipeline, table: str | None = None) -> Comparison:
    assert pipeline.source is not None
    src = pipeline.source
    key_of = lambda row: tuple(canonical(row[k]) for k in src.primary_key)  # noqa: E731
    value_of = lambda row: tuple(canonical(row[c.name]) for c in src.columns)  # noqa: E731
    source = {key_of(r): value_of(r) for r in source_db.rows(ctx, src)}
    lake_list = lake_rows(ctx, pipeline, table)
    lake = {key_of(r): value_of(r) for r in lake_list}
    missing = sorted(set(source) - set(lake), key=repr)
    extra = sorted(set(lake) - set(source), key=repr)
    duplicated = len(lake_list) - len(lake)
    stale = sorted((k for k in set(source) & set(lake) if source[k] != lake[k]), key=repr)
    examples = ([f"missing {k}" for k in missing[:3]] + [f"extra {k}" for k in extra[:3]]
                + [f"stale {k}: source {source[k]} / Iceberg {lake[k]}" for k in stale[:3]])
    if duplicated:
        examples.append(f"{duplicated} duplicated key(s) in Iceberg")
    name = table or live_tables(ctx.settings, pipeline.name)["current"]
    return Comparison(name, len(source), len(lake_list), len(missing), len(extra) + duplicated, len(stale),
                      checksum(source), checksum(lake), examples)


def compare_until_equal(ctx: Context, pipeline: Pipeline, timeout_s: float, table: str | None = None,
                        poll_s: float = 2.0) -> Comparison:
    """Compare until equal or `timeout_s` passed; the last comparison either way."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = compare(ctx, pipeline, table)
        if result.equal or time.monotonic() >= deadline:
            return result
        time.sleep(poll_s)
