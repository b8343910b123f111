"""Kill -9 the TaskManager twice while a known stream is being processed: Flink restarts from its
last checkpoint, and the tables end with every event exactly once and exactly the expected windows."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid

import requests

from kappa.jobs import start_job
from kappa.producer import produce
from kappa.runtime.stack import Stack
from kappa.scenarios import ScenarioOptions, generate
from kappa.services.base import Context
from tests.expected import tumbling_windows
from tests.integration.conftest import wait_for
from tests.integration.streams import close_windows, fresh_event_time, ms, rows_when

MIN = 60_000


def _job_running(ctx: Context, job_id: str) -> bool:
    job = requests.get(f"{ctx.settings.flink_rest_url}/jobs/{job_id}", timeout=5).json()
    return job["state"] == "RUNNING" and all(v["status"] == "RUNNING" for v in job["vertices"])


def _completed_checkpoints(ctx: Context, job_id: str) -> int:
    counts = requests.get(f"{ctx.settings.flink_rest_url}/jobs/{job_id}/checkpoints", timeout=5).json()["counts"]
    return int(counts["completed"])


def _kill_taskmanager_and_recover(ctx: Context, job_id: str) -> float:
    stack = Stack(ctx)
    running = stack.table.get("flink-taskmanager")
    assert running is not None
    killed_at = time.monotonic()
    os.kill(running.pid, signal.SIGKILL)
    wait_for(lambda: stack.table.get("flink-taskmanager") is None, timeout_s=30, what="the TaskManager to die",
             interval_s=0.2)
    stack.up()  # the supervisor brings the missing TaskManager back
    checkpoints = _completed_checkpoints(ctx, job_id)
    wait_for(lambda: _job_running(ctx, job_id) and _completed_checkpoints(ctx, job_id) > checkpoints,
             timeout_s=240, what="the job to recover and checkpoint again", interval_s=0.5)
    return time.monotonic() - killed_at


def test_taskmanager_killed_twice_loses_and_duplicates_nothing(ctx: Context) -> None:
    job = ctx.settings.jobs.transactions
    job_id = start_job(ctx, "transactions")
    base = fresh_event_time(ctx, "transactions_raw")
    prefix = f"eo{uuid.uuid4().hex[:6]}-"
    opts = ScenarioOptions(count=15_000, seed=99, start_ms=base, event_interval_ms=200, keys=60, key_prefix=prefix)
    events = list(generate("transactions", opts))
    result: dict = {}

    def producer() -> None:
        result["count"], result["delivered"] = produce(ctx.settings.kafka_bootstrap, job.topic, events,
                                                       rate=600, collect=True)

    thread = threading.Thread(target=producer)
    thread.start()
    time.sleep(6)
    recoveries = [_kill_taskmanager_and_recover(ctx, job_id)]
    recoveries.append(_kill_taskmanager_and_recover(ctx, job_id))
    thread.join(timeout=300)
    assert result.get("count") == len(events), "the producer did not finish"
    assert len(result["delivered"]) == len(events), "Kafka acknowledged every event"

    records = [e.record for e in events]
    close_windows(ctx, job.topic, max(r["timestamp"] for r in records) + 3 * job.window_size_min * MIN)
    raw = rows_when(ctx, f"SELECT transaction_id FROM transactions_raw WHERE user_id LIKE '{prefix}%'",
                    lambda r: len(r) >= len(records), f"{len(records)} raw rows", timeout_s=420)
    ids = [r[0] for r in raw]
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} duplicate rows after recovery"
    assert set(ids) == {r["transaction_id"] for r in records}

    want = tumbling_windows(records, job.window_size_min * MIN)
    rows = rows_when(ctx, f"SELECT window_start, window_end, user_id, transaction_count, total_amount "
                          f"FROM transactions_5m WHERE user_id LIKE '{prefix}%'",
                     lambda r: len(r) >= len(want), f"{len(want)} windows")
    assert {(ms(r[0]), ms(r[1]), r[2]): (r[3], r[4]) for r in rows} == want
    print(f"\nrecovery after kill -9 of the TaskManager: {', '.join(f'{s:.1f}s' for s in recoveries)}")
