"""Change data capture under faults: while a workload changes the source database, the Kafka Connect
worker is killed (-9), the Flink TaskManager is killed (-9), or PostgreSQL (the source, and the
Iceberg catalog) is restarted; `kappa up` brings back what died. Then every current-state table must
equal its source table row for row (0 missing, 0 extra or duplicated, 0 stale) and no change may be
in a change log twice.

The expected state is the source database itself, read in full and compared in plain Python. The
bounded sizes run in `make test`; `make chaos` (KAPPA_CHAOS=full) runs more changes and more kills."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable

import psycopg2
import pytest

from kappa.cdc import compare, source, workload
from kappa.context import Context
from kappa.errors import KappaError
from kappa.jobs import live_tables
from tests.integration.conftest import trino_rows
from tests.integration.faults import ARTIFACTS, Fault, bring_back, kill9, restarted, scale, stop_cleanly
from tests.integration.test_cdc import cdc_jobs_stopped_afterwards, connector_running, pipelines

pytestmark = pytest.mark.fault
__all__ = ["cdc_jobs_stopped_afterwards"]  # the fixture, imported to apply to this module too


def changes(full: bool) -> tuple[int, float]:
    """(statements, statements per second) of one case."""
    return (20_000, 400.0) if full else (1_500, 150.0)


class Load:
    """The workload in a thread, in transactions of 50, reconnecting after a database outage (a
    transaction cut off is rolled back, or committed if PostgreSQL acknowledged it: either way the
    source is what it is, and the comparison reads it)."""

    def __init__(self, ctx: Context, total: int, rate: float) -> None:
        self.ctx, self.total, self.rate = ctx, total, rate
        self.done, self.outages = 0, 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        seed = 1000
        while self.done < self.total:
            try:
                with source.owner_connection(self.ctx) as conn:
                    while self.done < self.total:
                        began = time.monotonic()
                        counts = workload.run(conn, changes=50, seed=seed, batch=50)
                        seed += 1
                        self.done += counts.statements
                        time.sleep(max(0.0, 50 / self.rate - (time.monotonic() - began)))
            except (KappaError, psycopg2.Error):
                self.outages += 1
                time.sleep(0.5)


def duplicated_changes(ctx: Context, since_ms: int) -> int:
    """Changes (not snapshot reads, which share their LSN) found more than once in the change logs."""
    total = 0
    for p in pipelines(ctx):
        table = live_tables(ctx.settings, p.name)["raw"]
        rows = trino_rows(ctx.settings, f"SELECT count(*) - count(DISTINCT (source_lsn, id, op)) "  # noqa: S608
                                        f"FROM streaming.{table} WHERE op <> 'r' AND event_ts_ms >= {int(since_ms)}")
        total += int(rows[0][0])
    return total


# (service, case, fault, whether only `make chaos` runs it: make test kills the TaskManager and restarts
# PostgreSQL under a streaming job in test_faults.py)
FAULTS: list[tuple[str, str, Callable[[Context, str], Fault], bool]] = [
    ("kafka-connect", "kill -9 Kafka Connect worker", kill9, False),
    ("flink-taskmanager", "kill -9 TaskManager", kill9, True),
    ("postgres", "PostgreSQL restart (source and catalog)", stop_cleanly, True),
]


@pytest.mark.timeout(1500)
@pytest.mark.parametrize(("service", "case", "fault"), [
    pytest.param(service, case, fault, id=service, marks=[pytest.mark.chaos] if chaos_only else [])
    for service, case, fault, chaos_only in FAULTS])
def test_cdc_under_fault_ends_equal_to_the_source(ctx: Context, service: str, case: str,
                                                  fault: Callable[[Context, str], Fault]) -> None:
    connector_running(ctx)
    full = os.environ.get("KAPPA_CHAOS", "bounded") == "full"
    total, rate = changes(full)
    since_ms = int(time.time() * 1000) - 1000
    load = Load(ctx, total, rate)
    load.thread.start()
    recoveries = []
    for _ in range(scale().kills):
        time.sleep(total / rate / (scale().kills + 1))
        at = fault(ctx, service)
        if fault is stop_cleanly:  # an operator's stop: started again by `kappa up`, not the supervisor
            time.sleep(2 * ctx.settings.flink.checkpoint_interval_s)  # a checkpoint's commit finds no catalog
            bring_back(ctx)
        restarted(ctx, at)
        connector_running(ctx)
        recoveries.append(time.monotonic() - at.monotonic)
    load.thread.join(timeout=600)
    assert not load.thread.is_alive(), f"the workload did not finish: {load.done}/{total} statements"
    results = [compare.compare_until_equal(ctx, p, timeout_s=300) for p in pipelines(ctx)]
    dupes = duplicated_changes(ctx, since_ms)
    print(f"\n[fault] CDC, {case}: {load.done} statements, {load.outages} database outage(s) seen by the workload, "
          f"recovered in {', '.join(f'{r:.0f}s' for r in recoveries)}; duplicated changes {dupes}")
    for r in results:
        print("  " + r.summary())
    ARTIFACTS.mkdir(exist_ok=True)
    with (ARTIFACTS / "faults.jsonl").open("a") as fh:
        fh.write(json.dumps({
            "case": f"CDC: {case}", "scale": os.environ.get("KAPPA_CHAOS", "bounded"),
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ"), "statements": load.done, "outages": load.outages,
            "duplicated_changes": dupes, "recovery_s": [round(r, 1) for r in recoveries],
            "tables": {r.table: {"source_rows": r.source_rows, "iceberg_rows": r.lake_rows, "missing": r.missing,
                                 "extra": r.extra, "stale": r.stale} for r in results}}) + "\n")
    for r in results:
        assert r.equal, f"{r.summary()}; {r.examples}"
    assert dupes == 0
