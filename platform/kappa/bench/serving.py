"""Serving: Trino's warm latency on an analytics view against DuckDB reading the same Iceberg
snapshot (duckdb and its iceberg extension from PyPI), the two engines' answers compared; and
Trino's latency on a table left with many small streaming commits against the same table after
compaction (`optimize`, as the maintenance job runs it)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kappa import query
from kappa.bench.bench_jobs import NAMESPACE, table_ref
from kappa.catalog import catalog
from kappa.context import Context
from kappa.errors import KappaError
from lakehouse.catalog import TRINO_CATALOG
from lakehouse.sql import metadata_table, qualified

Progress = Callable[[str], None]
VIEW = "nexmark_bids"
# Analyst queries over bids: {t} is the relation (a Trino view or DuckDB's iceberg_scan).
QUERIES = {
    "totals": "SELECT count(*), sum(price), min(ts), max(ts) FROM {t}",
    "top_auctions": "SELECT auction, count(*) AS bids, max(price) AS top FROM {t} "
                    "GROUP BY auction ORDER BY bids DESC, auction LIMIT 10",
    "per_channel_minute": "SELECT channel, date_trunc('minute', ts) AS minute, count(*) AS bids, "
                          "avg(price) AS avg_price FROM {t} GROUP BY 1, 2 ORDER BY 1, 2",
}


def duckdb_missing() -> str | None:
    """Why the serving comparison cannot run here (None when it can)."""
    try:
        import duckdb  # noqa: F401
        import duckdb_ext  # noqa: F401
    except ImportError:
        return "DuckDB is not installed (the `bench` extra: pip install -e '.[bench]'; make bench does)"
    return None


def duckdb_connection() -> Any:
    """DuckDB with the iceberg extension loaded from the duckdb-ext-iceberg wheel (no download); both
    come with the `bench` extra (`make bench` installs it)."""
    try:
        import duckdb
        import duckdb_ext
    except ImportError as exc:
        raise KappaError("the serving comparison needs DuckDB: pip install -e '.[bench]' (make bench does)") from exc

    version = duckdb.__version__
    folder = Path(next(iter(duckdb_ext.__path__))) / "extensions" / f"v{version}" / "linux_amd64"
    if not (folder / "iceberg.duckdb_extension").exists():
        raise KappaError(f"no DuckDB iceberg extension for duckdb {version} in {folder}; "
                         "install duckdb-ext-iceberg of the same version")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for ext in ("avro", "iceberg"):
        con.execute(f"LOAD '{folder / f'{ext}.duckdb_extension'}'")
    return con


def _timed(run: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median seconds of `repeats` warm runs (after one warm-up run) and the last result."""
    result = run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def _trino(ctx: Context, sql: str) -> Callable[[], Any]:
    return lambda: query.run(ctx.settings, sql).rows


def _duckdb(con: Any, sql: str) -> Callable[[], Any]:
    return lambda: con.execute(sql).fetchall()


def _normalise(rows: list[Any]) -> list[tuple[Any, ...]]:
    """Comparable rows: numbers rounded (DuckDB and Trino average differently in the last digits),
    timestamps without time zone."""
    out = []
    for row in rows:
        cells = []
        for v in row:
            if isinstance(v, float):
                v = round(v, 6)
            elif hasattr(v, "tzinfo") and getattr(v, "tzinfo", None) is not None:
                v = v.replace(tzinfo=None)
            elif hasattr(v, "as_integer_ratio") and not isinstance(v, int):  # Decimal
                v = round(float(v), 6)
            cells.append(v)
        out.append(tuple(cells))
    return out


def trino_vs_duckdb(ctx: Context, table: str, progress: Progress, repeats: int = 5) -> dict[str, Any]:
    """`table` is a bench table (q0's output): analysts read it through the view analytics.nexmark_bids."""
    views_ns = ctx.settings.jobs.views_namespace
    view = qualified(TRINO_CATALOG, views_ns, VIEW)
    query.run(ctx.settings, f"CREATE SCHEMA IF NOT EXISTS {qualified(TRINO_CATALOG, views_ns)}")
    query.run(ctx.settings, f"CREATE OR REPLACE VIEW {view} AS "
                            f"SELECT auction, bidder, price, channel, ts FROM {table_ref(table)}")
    iceberg_table = catalog(ctx).load_table((NAMESPACE, table))
    snapshot = iceberg_table.current_snapshot()
    if snapshot is None:
        raise KappaError(f"{table} has no snapshot to serve")
    con = duckdb_connection()
    scan = f"iceberg_scan('{iceberg_table.metadata_location}')"
    out: dict[str, Any] = {"snapshot_id": snapshot.snapshot_id, "rows": None, "queries": {}}
    for label, sql in QUERIES.items():
        t_s, t_rows = _timed(_trino(ctx, sql.format(t=view)), repeats)
        # Trino's answer at exactly DuckDB's snapshot, to compare the engines' results
        pinned_relation = f"{table_ref(table)} FOR VERSION AS OF {int(snapshot.snapshot_id)}"
        pinned = query.run(ctx.settings, sql.format(t=pinned_relation)).rows
        d_s, d_rows = _timed(_duckdb(con, sql.format(t=scan)), repeats)
        equal = _normalise(pinned) == _normalise(d_rows)
        out["queries"][label] = {"trino_s": round(t_s, 4), "duckdb_s": round(d_s, 4),
                                 "duckdb_vs_trino": round(t_s / d_s, 2) if d_s else None, "results_equal": equal}
        progress(f"  {label}: Trino {t_s * 1000:.0f} ms, DuckDB {d_s * 1000:.0f} ms"
                 f"{'' if equal else ' (RESULTS DIFFER)'}")
        if label == "totals":
            out["rows"] = t_rows[0][0]
    return out


def _metadata_rows(ctx: Context, table: str, kind: str) -> int:
    """Rows of one of Iceberg's metadata tables in Trino ($files, $snapshots)."""
    assert kind in ("files", "snapshots")
    relation = metadata_table(TRINO_CATALOG, NAMESPACE, table, kind=kind)
    return int(query.run(ctx.settings, f"SELECT count(*) FROM {relation}").rows[0][0])


def compaction(ctx: Context, table: str, progress: Progress, repeats: int = 5) -> dict[str, Any]:
    """Trino latency on a table written by many small checkpoint commits, then after `optimize`."""
    def trino(sql: str) -> Callable[[], Any]:
        return lambda: query.run(ctx.settings, sql.format(t=table_ref(table))).rows

    def latency() -> dict[str, float]:
        return {label: round(_timed(trino(sql), repeats)[0], 4) for label, sql in QUERIES.items()}

    snapshots = _metadata_rows(ctx, table, "snapshots")
    before_files, before = _metadata_rows(ctx, table, "files"), latency()
    started = time.perf_counter()
    query.run(ctx.settings, f"ALTER TABLE {table_ref(table)} EXECUTE optimize(file_size_threshold => "
                            f"'{int(ctx.settings.operations.compact_file_size_mb)}MB')")
    optimize_s = time.perf_counter() - started
    after_files, after = _metadata_rows(ctx, table, "files"), latency()
    progress(f"  {table}: {snapshots} commits, {before_files} files -> {after_files} after optimize "
             f"({optimize_s:.1f}s); " + ", ".join(f"{k} {before[k] * 1000:.0f} -> {after[k] * 1000:.0f} ms"
                                                   for k in QUERIES))
    return {"table": table, "commits": snapshots, "files_before": before_files, "files_after": after_files,
            "optimize_s": round(optimize_s, 2), "trino_s_before": before, "trino_s_after": after,
            "speedup": {k: round(before[k] / after[k], 2) for k in QUERIES if after[k]}}
