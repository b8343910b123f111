"""Change data capture in `kappa bench`: what users of the ecommerce pipelines get, against the live
stack (its Debezium connector and its three CDC jobs).

- throughput: a burst of changes committed as fast as the workload generator goes, and the rate at
  which they become visible end to end (every change of the burst in the change logs); then bulk
  updates (every order, five times over), which outrun the pipeline: its own rate;
- latency: a paced workload, and from each change's source commit to the poll of Trino that first
  shows it in the orders' current-state table (p50/p95, one poll a second);
- compaction: a Trino query on the orders' upsert table with the delete files the workload left, then
  after `optimize` (the maintenance the platform schedules), median of five each.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from kappa import query
from kappa.cdc import maintenance, source, workload
from kappa.context import Context
from kappa.errors import KappaError
from kappa.jobs import live_tables
from lakehouse.sql import qualified

Progress = Callable[[str], None]
QUERY = "SELECT status, count(*), sum(total), max(updated_at) FROM {table} GROUP BY status"


def _captured(ctx: Context) -> list[str]:
    names = [p.name for p in ctx.settings.pipelines.captured]
    if not names:
        raise KappaError("no change-data-capture pipeline is declared")
    return names


def _visible_changes(ctx: Context, since_ms: int) -> int:
    ns = ctx.settings.jobs.namespace
    parts = " UNION ALL ".join(
        f"SELECT count(*) AS n FROM {qualified(ns, live_tables(ctx.settings, name)['raw'])} "
        f"WHERE op <> 'r' AND event_ts_ms >= {int(since_ms)}" for name in _captured(ctx))
    return int(query.run(ctx.settings, f"SELECT sum(n) FROM ({parts})").rows[0][0] or 0)


def _wait_visible(ctx: Context, since_ms: int, expected: int, timeout_s: float) -> None:
    """Until the change logs hold `expected` changes committed since `since_ms` (polled each second)."""
    deadline = time.monotonic() + timeout_s
    seen = 0
    while seen < expected:
        if time.monotonic() > deadline:
            raise KappaError(f"only {seen} of {expected} changes visible after {timeout_s:.0f}s")
        time.sleep(1)
        seen = _visible_changes(ctx, since_ms)


def throughput(ctx: Context, changes: int, seed: int, progress: Progress, timeout_s: float = 900) -> dict[str, Any]:
    since_ms = int(time.time() * 1000) - 1000
    started = time.monotonic()
    with source.owner_connection(ctx) as conn:
        counts = workload.run(conn, changes=changes, seed=seed, batch=500)
    loaded_s = time.monotonic() - started
    expected = counts.statements + counts.cascaded  # a customer's delete also deletes its orders
    _wait_visible(ctx, since_ms, expected, timeout_s)
    visible_s = time.monotonic() - started
    out = {"changes": expected, "statements": counts.statements, "source_changes_per_s": round(expected / loaded_s),
           "visible_changes_per_s": round(expected / visible_s), "load_s": round(loaded_s, 1),
           "visible_s": round(visible_s, 1), "behind_source_s": round(visible_s - loaded_s, 1)}
    progress(f"  cdc: {expected:,} changes committed at {out['source_changes_per_s']:,}/s, all visible after "
             f"{visible_s:.1f}s ({out['visible_changes_per_s']:,}/s end to end)")
    return out


def bulk(ctx: Context, rounds: int, progress: Progress, timeout_s: float = 900) -> dict[str, Any]:
    """Bulk updates: every order touched by one statement, `rounds` times, so the source outruns the
    pipeline and the rate measured is Debezium's, Kafka's and the job's, not the generator's."""
    since_ms = int(time.time() * 1000) - 1000
    started = time.monotonic()
    changes = 0
    with source.owner_connection(ctx) as conn, conn.cursor() as cur:
        for _ in range(rounds):
            cur.execute("UPDATE public.orders SET updated_at = updated_at + interval '1 millisecond'")
            changes += cur.rowcount
            conn.commit()
    loaded_s = time.monotonic() - started
    _wait_visible(ctx, since_ms, changes, timeout_s)
    visible_s = time.monotonic() - started
    out = {"changes": changes, "rounds": rounds, "load_s": round(loaded_s, 1), "visible_s": round(visible_s, 1),
           "visible_changes_per_s": round(changes / visible_s)}
    progress(f"  cdc: bulk updates, {changes:,} changes committed in {loaded_s:.1f}s, all visible after "
             f"{visible_s:.1f}s ({out['visible_changes_per_s']:,}/s end to end)")
    return out


def latency(ctx: Context, rate: float, seconds: int, seed: int, progress: Progress) -> dict[str, Any]:
    table = qualified(ctx.settings.jobs.namespace, live_tables(ctx.settings, "ecommerce_orders")["current"])
    last = query.run(ctx.settings, f"SELECT coalesce(to_unixtime(max(cdc_committed_at)), 0) FROM {table}").rows[0][0]
    last_ms = int(float(last) * 1000)
    load = threading.Thread(target=lambda: _paced(ctx, rate, seconds, seed), daemon=True)
    load.start()
    latencies: list[float] = []
    while load.is_alive() or not latencies:
        rows = query.run(ctx.settings, f"SELECT to_unixtime(cdc_committed_at) FROM {table} "
                                       f"WHERE cdc_committed_at > from_unixtime({last_ms / 1000:.3f})").rows
        seen_ms = time.time() * 1000
        for (committed,) in rows:
            committed_ms = float(committed) * 1000
            latencies.append((seen_ms - committed_ms) / 1000)
            last_ms = max(last_ms, int(committed_ms))
        time.sleep(1)
        if not load.is_alive() and len(latencies) > 0:
            break
    load.join()
    q = statistics.quantiles(latencies, n=20) if len(latencies) >= 2 else latencies * 19
    out = {"rate": rate, "seconds": seconds, "samples": len(latencies), "p50_s": round(statistics.median(latencies), 2),
           "p95_s": round(q[18], 2), "checkpoint_interval_s": ctx.settings.flink.checkpoint_interval_s}
    progress(f"  cdc: source commit -> visible in Trino at {rate:.0f} changes/s: p50 {out['p50_s']}s, "
             f"p95 {out['p95_s']}s ({len(latencies)} rows, checkpoint interval {out['checkpoint_interval_s']}s)")
    return out


def _paced(ctx: Context, rate: float, seconds: int, seed: int) -> None:
    with source.owner_connection(ctx) as conn:
        workload.run(conn, changes=int(rate * seconds), seed=seed, batch=max(1, int(rate // 10)), rate=rate)


def _timed(ctx: Context, table: str, repeats: int = 5) -> float:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        query.run(ctx.settings, QUERY.format(table=table))
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def compaction(ctx: Context, progress: Progress) -> dict[str, Any]:
    name = live_tables(ctx.settings, "ecommerce_orders")["current"]
    table = qualified(ctx.settings.jobs.namespace, name)
    before_files = maintenance.files(ctx, name)
    before_s = _timed(ctx, table)
    result = maintenance.compact(ctx, name, force=True)
    after_s = _timed(ctx, table)
    assert result.after is not None
    out = {"table": name, "data_files_before": before_files.data, "delete_files_before": before_files.deletes,
           "deleted_rows_before": before_files.deleted_rows, "data_files_after": result.after.data,
           "delete_files_after": result.after.deletes, "optimize_s": round(result.seconds, 1),
           "query_s_before": round(before_s, 3), "query_s_after": round(after_s, 3)}
    progress(f"  cdc: {name}: {before_files.data} data + {before_files.deletes} delete files, query "
             f"{before_s * 1000:.0f} ms; after optimize ({result.seconds:.1f}s) {result.after.data} + "
             f"{result.after.deletes}, query {after_s * 1000:.0f} ms")
    return out


def measure(ctx: Context, changes: int, seed: int, progress: Progress, latency_rate: float = 200,
            latency_s: int = 30) -> dict[str, Any]:
    _captured(ctx)
    progress(f"change data capture: {changes:,} changes into the upsert tables")
    return {"throughput": throughput(ctx, changes, seed, progress),
            "bulk": bulk(ctx, 5, progress),
            "latency": latency(ctx, latency_rate, latency_s, seed + 1, progress),
            "compaction": compaction(ctx, progress)}
