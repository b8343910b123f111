"""user-events -> sliding spend windows, fraud alerts, login patterns and sessions, on the real stack,
each compared with a plain-Python computation over the events this test produced."""

from __future__ import annotations

import uuid

import pytest

from kappa.context import Context
from kappa.jobs import start_job
from lakehouse.scenarios import ScenarioOptions
from tests import expected
from tests.integration.streams import close_windows, fresh_event_time, ms, produce_scenario, rows_when, topic_of

MIN = 60_000


@pytest.fixture(scope="module")
def produced(ctx: Context) -> dict:
    job = ctx.settings.jobs.user_activity
    start_job(ctx, "user_activity")
    base = fresh_event_time(ctx, "user_events_raw")
    prefix = f"ua{uuid.uuid4().hex[:6]}-"
    opts = ScenarioOptions(count=4000, seed=77, start_ms=base, event_interval_ms=1500, keys=40, key_prefix=prefix,
                           malformed_share=0.02, extra={"big_purchase_share": 0.15})
    delivered = produce_scenario(ctx, "user-events", topic_of(ctx, "user_activity"), opts)
    records = [d.event.record for d in delivered if d.event.record]
    last_ms = max(r["timestamp"] for r in records)
    close_windows(ctx, topic_of(ctx, "user_activity"), last_ms + (job.session_gap_min + 2 * job.spend_window_min) * MIN)
    return {"prefix": prefix, "records": records, "delivered": delivered}


def _where(prefix: str) -> str:
    return f"user_id LIKE '{prefix}%'"


def test_sliding_spend_and_fraud_alerts(ctx: Context, produced: dict) -> None:
    job = ctx.settings.jobs.user_activity
    want = expected.hopping_spend(produced["records"], job.spend_window_min * MIN, job.spend_slide_min * MIN)
    rows = rows_when(ctx, f"SELECT window_start, window_end, user_id, total_spent, transaction_count "
                          f"FROM user_spend_5m WHERE {_where(produced['prefix'])}",
                     lambda r: len(r) >= len(want), f"{len(want)} spend windows")
    assert {(ms(r[0]), ms(r[1]), r[2]): (r[3], r[4]) for r in rows} == want
    fraud_want = {k for k, (total, _) in want.items() if total > job.fraud_total_above}
    assert fraud_want, "the stream should contain fraud windows"
    fraud = rows_when(ctx, f"SELECT window_start, window_end, user_id FROM fraud_alerts "
                           f"WHERE {_where(produced['prefix'])}",
                      lambda r: len(r) >= len(fraud_want), f"{len(fraud_want)} fraud alerts")
    assert {(ms(r[0]), ms(r[1]), r[2]) for r in fraud} == fraud_want


def test_login_patterns(ctx: Context, produced: dict) -> None:
    job = ctx.settings.jobs.user_activity
    want = expected.login_patterns(produced["records"], job.pattern_within_min * MIN, job.pattern_purchase_above)
    assert want, "the stream should contain the pattern"
    rows = rows_when(ctx, f"SELECT user_id, failed_event_id, success_event_id, purchase_event_id "
                          f"FROM suspicious_patterns WHERE {_where(produced['prefix'])}",
                     lambda r: len(r) >= len(want), f"{len(want)} patterns")
    assert {tuple(r) for r in rows} == want


def test_sessions(ctx: Context, produced: dict) -> None:
    job = ctx.settings.jobs.user_activity
    want = expected.sessions(produced["records"], job.session_gap_min * MIN)
    rows = rows_when(ctx, f"SELECT user_id, session_start, session_end, event_count, purchases, total_spent "
                          f"FROM user_sessions WHERE {_where(produced['prefix'])}",
                     lambda r: len(r) >= len(want), f"{len(want)} sessions")
    assert {(r[0], ms(r[1]), ms(r[2])): (r[3], r[4], r[5]) for r in rows} == want


def test_every_event_is_landed_or_quarantined(ctx: Context, produced: dict) -> None:
    valid = {r["event_id"] for r in produced["records"]}
    rows = rows_when(ctx, f"SELECT event_id FROM user_events_raw WHERE {_where(produced['prefix'])}",
                     lambda r: len(r) >= len(valid), f"{len(valid)} raw events")
    assert sorted(r[0] for r in rows) == sorted(valid)
    bad = {(d.partition, d.offset) for d in produced["delivered"] if d.event.record is None}
    where = " OR ".join(f"(kafka_partition = {p} AND kafka_offset = {o})" for p, o in bad)
    quarantined = rows_when(ctx, f"SELECT kafka_partition, kafka_offset FROM quarantine "
                                 f"WHERE kafka_topic = 'user-events' AND ({where})",
                            lambda r: len(r) >= len(bad), f"{len(bad)} quarantined")
    assert {(r[0], r[1]) for r in quarantined} == bad
