"""Backfill of one day on the real stack: exactly the plain-Python windows, idempotent, and blocked
by a failing quality check."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from kappa import query
from kappa.backfill import backfill_day, declared_checks
from kappa.catalog import catalog
from kappa.context import Context
from kappa.jobs import live_tables, start_job
from kappa.producer import produce
from lakehouse.registry import generate
from lakehouse.scenarios import ScenarioOptions
from tests.expected import tumbling_windows
from tests.integration.streams import ms, settle, topic_of

MIN = 60_000
JOB = "transactions"


@pytest.fixture(scope="module")
def day_events(ctx: Context) -> dict:
    """Half an hour of one day's events, ending a few minutes before now (before midnight when now is
    just after it), that reach Kafka now. After the other tests the live job's watermark is ahead and
    it finds them late: a backfill's job. Recent, because the backfill's bounded job takes as late
    what is more than its lookahead (24 h) behind the newest event time in Kafka, and the other tests
    stamp events ahead of the clock: events from early in the day made this fail late in the day."""
    start_job(ctx, JOB)
    first = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=35)
    if (first + dt.timedelta(minutes=31)).date() != first.date():  # keep the half hour inside one day
        first = dt.datetime.combine(first.date() + dt.timedelta(days=1), dt.time(), dt.UTC) - dt.timedelta(minutes=40)
    day = first.date()
    start = int(first.timestamp() * 1000)
    prefix = f"bf{uuid.uuid4().hex[:6]}-"
    events = list(generate("transactions", ScenarioOptions(count=1500, seed=31, start_ms=start, event_interval_ms=1200,
                                                           keys=20, key_prefix=prefix)))
    produce(ctx.kafka(), topic_of(ctx, "transactions"), events)
    settle(ctx, JOB)
    windows = tumbling_windows([e.record for e in events], ctx.settings.jobs.transactions.window_size_min * MIN)
    return {"day": day, "prefix": prefix, "windows": windows}


def _windows(ctx: Context, prefix: str) -> dict:
    table = live_tables(ctx.settings, JOB)["windows"]
    rows = query.run(ctx.settings, f"SELECT window_start, window_end, user_id, transaction_count, total_amount "
                                   f"FROM streaming.{table} WHERE user_id LIKE '{prefix}%'").rows
    return {(ms(r[0]), ms(r[1]), r[2]): (r[3], r[4]) for r in rows}


def _non_flink_commits(ctx: Context) -> list[int]:
    """Snapshots of the live windows table not committed by the Flink sink (a backfill's)."""
    table = live_tables(ctx.settings, JOB)["windows"]
    return [s.snapshot_id for s in catalog(ctx).load_table(("streaming", table)).snapshots()
            if not (s.summary and "flink.job-id" in s.summary.additional_properties)]


def test_a_failing_check_blocks_publishing(ctx: Context, day_events: dict) -> None:
    before, commits = _windows(ctx, day_events["prefix"]), _non_flink_commits(ctx)
    result = backfill_day(ctx, JOB, day_events["day"], check=lambda table, rows: (False, f"{table}: forced failure"))
    assert not result.ok and result.published == {}
    assert any("forced failure" in b for b in result.blocked)
    assert _windows(ctx, day_events["prefix"]) == before
    assert _non_flink_commits(ctx) == commits, "the backfill committed nothing"


def test_backfill_produces_exactly_the_plain_python_windows(ctx: Context, day_events: dict) -> None:
    # Whatever the live job made of these events (late, or on time), damage the day first:
    table = live_tables(ctx.settings, JOB)["windows"]
    query.run(ctx.settings, f"DELETE FROM streaming.{table} WHERE user_id LIKE '{day_events['prefix']}%' "
                            f"AND user_id < '{day_events['prefix']}00010'", user="pipeline")
    assert _windows(ctx, day_events["prefix"]) != day_events["windows"]
    result = backfill_day(ctx, JOB, day_events["day"], check=declared_checks(ctx.settings, JOB))
    assert result.ok, result.blocked
    assert result.published[table] >= len(day_events["windows"])
    assert _windows(ctx, day_events["prefix"]) == day_events["windows"]
    assert len(_non_flink_commits(ctx)) > 0, "published by the backfill's own overwrite"


def test_a_second_run_changes_nothing(ctx: Context, day_events: dict) -> None:
    table = live_tables(ctx.settings, JOB)["windows"]
    day = day_events["day"].isoformat()
    sql = (f"SELECT count(*), sum(transaction_count), sum(total_amount), checksum(user_id) FROM streaming.{table} "
           f"WHERE window_start >= TIMESTAMP '{day} 00:00:00 UTC' "
           f"AND window_start < TIMESTAMP '{day} 00:00:00 UTC' + INTERVAL '1' DAY")
    before = query.run(ctx.settings, sql).rows
    result = backfill_day(ctx, JOB, day_events["day"], check=declared_checks(ctx.settings, JOB))
    assert result.ok
    assert query.run(ctx.settings, sql).rows == before
    assert _windows(ctx, day_events["prefix"]) == day_events["windows"]
    assert len(_non_flink_commits(ctx)) > 0, "published by the backfill's own overwrite"
