"""`kappa demo`: set up, start the stack and the job, produce a stream, wait for windows, query Trino."""

from __future__ import annotations

import json
import time
from collections import defaultdict

import typer

from kappa import jobs as j
from kappa import query as q
from kappa.cli.data_cmds import print_table
from kappa.cli.output import console, step
from kappa.cli.stack_cmds import bring_up, print_urls
from kappa.errors import KappaError
from kappa.kafka_acl import PRODUCER
from kappa.producer import produce
from kappa.settings import KappaSettings
from lakehouse.registry import generate
from lakehouse.scenarios import ScenarioOptions
from lakehouse.sql import quote

DEMO_EVENTS = 6000
DEMO_SPAN_MS = 30 * 60 * 1000


def demo(
    ctx: typer.Context,
    events: int = typer.Option(DEMO_EVENTS, min=100, help="events to produce"),
    wait_s: int = typer.Option(300, help="how long to wait for the windows to land"),
) -> None:
    """Run the whole pipeline end to end and leave the stack running."""
    settings: KappaSettings = ctx.obj
    began = time.monotonic()
    stack = bring_up(settings)
    job = j.get_definition(settings, "transactions")
    with step("starting the transactions job"):
        job_id = j.start_job(stack.ctx, "transactions")
    tables = job.tables(j.JobStore(settings.state).get("transactions").version)  # the live one, after a replay too
    console.print(f"job transactions running (Flink job {job_id}): {settings.flink_ui_url}")

    # Event time: the 30 minutes up to now, or on a re-run from just after the previous run's last
    # event up to now, so that nothing this run produces is late (behind the job's watermark) or
    # ahead of the clock. Each run's users have their own prefix: what it checks is its own rows.
    marker = settings.state / "demo.json"
    now_ms = int(time.time() * 1000)
    start_ms, run = now_ms - DEMO_SPAN_MS, 1
    if marker.exists():
        previous = json.loads(marker.read_text())
        start_ms, run = max(start_ms, int(previous["last_event_ms"]) + 1), int(previous.get("run", 1)) + 1
    prefix = f"demo{run}-user-"
    interval = max(0.0, (now_ms - start_ms) / events)
    opts = ScenarioOptions(count=events, seed=int(start_ms % 100_000), start_ms=start_ms,
                           event_interval_ms=interval, keys=50, key_prefix=prefix, malformed_share=0.01)
    produced = list(generate("transactions", opts, settings.pipelines))
    with step(f"producing {events} transactions to {job.topic} (users {prefix}*)"):
        produce(stack.ctx.kafka(PRODUCER), job.topic, produced)
    valid = [e.record for e in produced if e.record]
    last_ms = max(r["timestamp"] for r in valid)
    marker.write_text(json.dumps({"last_event_ms": last_ms, "run": run}))

    # Windows the watermark will surely close: those ending a minute before the last event time less
    # the allowed out-of-orderness (partitions go idle one by one, so the final watermark is not exact).
    size_ms = int(job.params["window_size_min"]) * 60_000
    closed_before = last_ms - int(job.params["out_of_orderness_s"]) * 1000 - 60_000
    expected: dict[tuple[int, str], int] = defaultdict(int)
    for r in valid:
        w = r["timestamp"] - r["timestamp"] % size_ms
        if w + size_ms <= closed_before:
            expected[(w, r["user_id"])] += 1
    windows, raw = quote(tables["windows"]), quote(tables["raw"])
    mine = f"{prefix}%"
    deadline = time.monotonic() + wait_s
    landed = rows = 0
    with step("waiting for this run's events and windows to land in Iceberg") as progress:
        while time.monotonic() < deadline:
            rows = int(q.run(settings, f"SELECT count(*) FROM {raw} WHERE user_id LIKE ?", [mine]).rows[0][0])
            landed = int(q.run(settings, f"SELECT count(*) FROM {windows} WHERE user_id LIKE ?", [mine]).rows[0][0])
            progress(f"{rows} of {len(valid)} events and {landed} of {len(expected)} closed windows visible in Trino")
            if rows >= len(valid) and landed >= len(expected):
                break
            time.sleep(3)
    if rows < len(valid) or landed < len(expected):
        raise KappaError(f"only {rows} of {len(valid)} events and {landed} of {len(expected)} windows of this run "
                         f"landed within {wait_s}s; see `kappa status`, the quarantine and late_events tables "
                         f"(`kappa query \"SELECT reason, count(*) FROM quarantine GROUP BY 1\"`) and "
                         f"{settings.logs_dir / 'flink-taskmanager.log'}")
    if not expected:
        console.print(f"this run's events span {(last_ms - start_ms) / 60_000:.1f} min after the previous run's: "
                      f"too little to close a {size_ms // 60_000}-minute window yet")
    console.print(f"\nTrino: iceberg.{settings.jobs.namespace}.{tables['windows']}, top spenders per 5-minute "
                  f"window ({landed} rows)")
    print_table(q.run(settings, f"""
        SELECT window_start, window_end, user_id, transaction_count, total_amount
        FROM {windows} WHERE user_id LIKE ? ORDER BY total_amount DESC, window_start LIMIT 10""", [mine]))
    summary = q.run(settings, f"""
        SELECT (SELECT count(*) FROM {raw}) AS landed_events,
               (SELECT count(*) FROM {quote(tables['quarantine'])}) AS quarantined_events,
               (SELECT count(*) FROM {windows}) AS window_rows""")
    print_table(summary, title="totals")
    console.print(f"\n[green]demo finished[/green] in {time.monotonic() - began:.0f}s; the stack keeps running:")
    print_urls(settings)
    console.print("  try: .venv/bin/kappa status | kappa query \"SELECT * FROM quarantine LIMIT 5\" | kappa down")
