"""Compaction of the upsert tables: merge-on-read deletes pile up with every checkpoint's changes
(each one an equality or position delete file the readers must apply), and queries slow down with
them (apache/iceberg#9363). Trino's `optimize` rewrites the data files with their deletes applied and
drops the delete files; it runs once a table holds `[operations] upsert_compact_delete_files`, from
Dagster's schedule or `kappa cdc compact`. A commit that collides with the stream's is retried; the
stream never fails for it (Iceberg refuses a rewrite that new deletes would invalidate)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from kappa import query
from kappa.context import Context
from kappa.jobs import live_tables
from lakehouse.sql import metadata_table, qualified


@dataclass(frozen=True)
class Files:
    data: int
    deletes: int  # position and equality delete files
    deleted_rows: int  # rows those files delete (or re-state)


@dataclass(frozen=True)
class Compaction:
    table: str
    before: Files
    after: Files | None  # None: under the threshold, left alone
    seconds: float = 0.0

    def summary(self) -> str:
        if self.after is None:
            return f"{self.table}: {self.before.deletes} delete files, under the threshold: left alone"
        return (f"{self.table}: {self.before.data} data + {self.before.deletes} delete files -> {self.after.data} + "
                f"{self.after.deletes} in {self.seconds:.1f}s")


def files(ctx: Context, table: str) -> Files:
    ns = ctx.settings.jobs.namespace
    rows = query.run(ctx.settings, f"SELECT content, count(*), coalesce(sum(record_count), 0) "
                                   f"FROM {metadata_table(ns, table, kind='files')} GROUP BY content").rows
    by_content = {int(r[0]): (int(r[1]), int(r[2])) for r in rows}
    deletes = [v for k, v in by_content.items() if k != 0]
    return Files(by_content.get(0, (0, 0))[0], sum(n for n, _ in deletes), sum(r for _, r in deletes))


def upsert_tables(ctx: Context) -> list[str]:
    """The live version's current-state table of every CDC pipeline."""
    return [live_tables(ctx.settings, p.name)["current"] for p in ctx.settings.pipelines.captured]


def compact(ctx: Context, table: str, *, force: bool = False) -> Compaction:
    before = files(ctx, table)
    if not force and before.deletes < ctx.settings.operations.upsert_compact_delete_files:
        return Compaction(table, before, None)
    started = time.perf_counter()
    query.run_retrying_conflicts(ctx.settings, f"ALTER TABLE {qualified(ctx.settings.jobs.namespace, table)} "
                                               "EXECUTE optimize", user="admin")
    return Compaction(table, before, files(ctx, table), time.perf_counter() - started)
