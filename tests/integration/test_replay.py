"""Kappa reprocessing on the real stack: replay with a changed threshold, gate, cut-over while analysts
query, rollback, history; bounded replays reproduce the same tables; retention is refused clearly."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import TopicPartition

from flink_jobs.spec import pipeline_name
from kappa import kafka_clients, query, replay
from kappa.context import Context
from kappa.errors import KappaError
from kappa.flink_rest import FlinkRest
from kappa.jobs import JobStore, get_definition, start_job
from kappa.offsets import resolve
from kappa.producer import produce
from kappa.serving import apply_views
from kappa.settings import TopicSettings
from kappa.topics import end_offsets, ensure_topics, group_lag
from lakehouse.registry import generate
from lakehouse.scenarios import ScenarioOptions
from lakehouse.scenarios.base import Event, encode
from tests.expected import tumbling_windows
from tests.integration.conftest import wait_for
from tests.integration.streams import close_windows, fresh_event_time, ms, rows_when, topic_of

MIN = 60_000
JOB = "transactions"


@pytest.fixture(scope="module")
def produced(ctx: Context) -> Iterator[dict]:
    job = ctx.settings.jobs.transactions
    start_job(ctx, JOB)
    apply_views(ctx)
    base = fresh_event_time(ctx, "transactions_raw")
    prefix = f"rp{uuid.uuid4().hex[:6]}-"
    opts = ScenarioOptions(count=2500, seed=4242, start_ms=base, event_interval_ms=500, keys=12, key_prefix=prefix)
    events = list(generate("transactions", opts))
    # Replays start where this module's events start: earlier tests' events (other days, other
    # arrival orders) are not what these tests are about.
    start = end_offsets(ctx.kafka(), topic_of(ctx, "transactions"))
    from_offsets = "offsets:" + ",".join(f"{p}={end}" for p, (_, end) in sorted(start.items()))
    _, delivered = produce(ctx.kafka(), topic_of(ctx, "transactions"), events, collect=True)
    after = end_offsets(ctx.kafka(), topic_of(ctx, "transactions"))
    to_offsets = "offsets:" + ",".join(f"{p}={end}" for p, (_, end) in sorted(after.items()))
    records = [e.record for e in events]
    close_windows(ctx, topic_of(ctx, "transactions"),
                  max(r["timestamp"] for r in records) + 3 * job.window_size_min * MIN)
    windows = tumbling_windows(records, job.window_size_min * MIN)
    rows_when(ctx, f"SELECT count(*) FROM transactions_5m WHERE user_id LIKE '{prefix}%'",
              lambda r: r[0][0] >= len(windows), "the live windows")
    yield {"prefix": prefix, "records": records, "delivered": delivered, "windows": windows,
           "from": from_offsets, "to": to_offsets, "valid": sum(e.malformed_kind is None for e in events)}
    record = JobStore(ctx.settings.state).get(JOB)
    if record.version != 1 and record.previous_version == 1:  # leave v1 live for the other tests
        replay.rollback(ctx, JOB)


def with_threshold(ctx: Context, count_above: int) -> Context:
    transactions = ctx.settings.jobs.transactions.model_copy(update={"suspicious_count_above": count_above})
    jobs = ctx.settings.jobs.model_copy(update={"transactions": transactions})
    return Context(ctx.settings.model_copy(update={"jobs": jobs}), ctx.installs, ctx.secrets)


def suspicious_users(ctx: Context, prefix: str) -> set[tuple[int, str]]:
    rows = query.run(ctx.settings, f"SELECT window_start, user_id FROM analytics.suspicious_activity "
                                   f"WHERE user_id LIKE '{prefix}%'", user="analyst").rows
    return {(ms(r[0]), r[1]) for r in rows}


def expected_suspicious(produced: dict, count_above: int, total_above: int) -> set[tuple[int, str]]:
    return {(k[0], k[2]) for k, (count, total) in produced["windows"].items()
            if count > count_above or total > total_above}


# Catch-up detection once took up to ~575 s here: on a quiet topic the replay's watermark can stay a
# second behind the live one for good (partitions went idle in another order), and catching up waited
# for it. A replay whose tables hold everything the topic has is now caught up. The limits stay generous.
@pytest.mark.timeout(1800)
def test_replay_with_a_new_threshold_cuts_over_while_analysts_query(ctx: Context, produced: dict) -> None:
    job = ctx.settings.jobs.transactions
    new_threshold = 3
    assert expected_suspicious(produced, new_threshold, job.suspicious_total_above) != expected_suspicious(
        produced, job.suspicious_count_above, job.suspicious_total_above), "the change must be visible"
    assert suspicious_users(ctx, produced["prefix"]) == expected_suspicious(
        produced, job.suspicious_count_above, job.suspicious_total_above)

    changed = with_threshold(ctx, new_threshold)
    plan = replay.plan(changed, JOB, produced["from"])
    assert plan.to_version > plan.from_version and plan.params["suspicious_count_above"] == new_threshold
    run = replay.start(changed, plan)
    # What the user sees while it runs: the rate read from the replay's own source, never 0/s while
    # the offsets it commits (measured here, from Kafka) move on.
    group = pipeline_name(JOB, plan.to_version)
    shown: list[tuple[float, int]] = []

    starts = {r.partition: r.start for r in plan.ranges}

    def watch(p: replay.ReplayProgress) -> None:  # a group with no commit yet reads as its start offsets
        shown.append((p.events_per_s, sum(max(lag.committed or 0, starts[lag.partition])
                                          for lag in group_lag(ctx.kafka(), group, plan.topic))))

    progress = replay.follow(changed, run, watch, timeout_s=1500)
    # Kafka is read here just after each update, so a commit can land between the update's own reading
    # and this one: the update after the one where the offsets were seen to move shows a rate.
    advanced = [rate for (_, before), (_, after), (rate, _) in zip(shown, shown[1:], shown[2:], strict=False)
                if after > before]
    assert all(rate > 0 for rate in advanced), shown
    assert any(rate > 0 for rate, _ in shown), shown
    result = replay.gate(changed, run, progress)
    assert result.passed, result.failures
    assert any(line.startswith("changed  suspicious_activity") for line in result.lines), result.lines

    # Analysts keep querying the view during the switch: never an error, never a partial result.
    want = len(produced["windows"])
    observed: list[object] = []
    stop = threading.Event()

    def analyst_loop() -> None:
        sql = f"SELECT count(*) FROM analytics.transactions_5m WHERE user_id LIKE '{produced['prefix']}%'"
        while not stop.is_set():
            try:
                observed.append(query.run(ctx.settings, sql, user="analyst").rows[0][0])
            except KappaError as exc:
                observed.append(exc)

    thread = threading.Thread(target=analyst_loop)
    thread.start()
    try:
        time.sleep(1)
        replay.cutover(changed, JOB, plan.to_version, run.job_id)
        time.sleep(2)
    finally:
        stop.set()
        thread.join()
    assert len(observed) >= 3 and all(v == want for v in observed), observed
    replay.record_history(changed, action="replay", job=JOB, from_version=plan.from_version,
                          to_version=plan.to_version, outcome="cut over", started_at=run.started_at,
                          ranges=plan.ranges, params=plan.params, gate_result=result)

    assert JobStore(ctx.settings.state).get(JOB).version == plan.to_version
    assert suspicious_users(ctx, produced["prefix"]) == expected_suspicious(produced, new_threshold,
                                                                            job.suspicious_total_above)
    history = replay.history(ctx)
    assert history[0]["to_version"] == plan.to_version and history[0]["gate_passed"] is True


def test_rollback_switches_the_view_back(ctx: Context, produced: dict) -> None:
    job = ctx.settings.jobs.transactions
    record = JobStore(ctx.settings.state).get(JOB)
    assert record.previous_version is not None, "runs after the cut-over test"
    name, current, previous = replay.rollback(ctx, "transactions_5m")
    replay.record_history(ctx, action="rollback", job=name, from_version=current, to_version=previous,
                          outcome="rolled back", started_at=time.time())
    assert JobStore(ctx.settings.state).get(JOB).version == previous
    assert suspicious_users(ctx, produced["prefix"]) == expected_suspicious(
        produced, job.suspicious_count_above, job.suspicious_total_above)
    actions = [(h["action"], h["to_version"]) for h in replay.history(ctx)[:2]]
    assert actions == [("rollback", previous), ("replay", current)]


def test_bounded_replays_of_one_range_are_identical_and_equal_the_live_output(ctx: Context, produced: dict) -> None:
    start, stop = produced["from"], produced["to"]
    contents = []
    for _ in range(2):
        plan = replay.plan(ctx, JOB, start, stop)
        assert plan.bounded and plan.events == len(produced["delivered"])
        run = replay.start(ctx, plan)
        progress = replay.follow(ctx, run, lambda _p: None, timeout_s=600)
        result = replay.gate(ctx, run, progress)
        assert result.passed, result.failures
        # a clean replay: every valid event produced compared, and a line for every published table
        assert result.coverage is not None
        assert (result.coverage.events, result.coverage.compared) == (produced["valid"], produced["valid"])
        for table in plan.pipeline.published:
            assert any(line.startswith(f"ok       {plan.tables[table.role]} vs {table.name}: ") and
                       "(100.00% of" in line for line in result.lines), result.lines
        rows = query.run(ctx.settings, f"SELECT window_start, window_end, user_id, transaction_count, total_amount "
                                       f"FROM streaming.{plan.tables['windows']}").rows
        contents.append({(ms(r[0]), ms(r[1]), r[2]): (r[3], r[4]) for r in rows})
    assert contents[0] == contents[1]
    assert contents[0] == produced["windows"]


def test_replay_before_retention_is_refused_with_the_earliest_available(ctx: Context) -> None:
    topic = f"retention-{uuid.uuid4().hex[:6]}"
    admin = kafka_clients.admin(ctx.kafka())
    ensure_topics(admin, {topic: TopicSettings(partitions=1)})
    produce(ctx.kafka(), topic, [Event("k", b"x", None) for _ in range(20)])
    before = int(time.time() * 1000) - 60_000
    # what retention does: the log start moves past the first records
    admin.delete_records([TopicPartition(topic, 0, 12)])[TopicPartition(topic, 0, 12)].result(30)
    with pytest.raises(KappaError, match="below the log-start offset 12; .*earliest available offset is 12"):
        resolve(ctx.kafka(), topic, "offsets:0=3")
    with pytest.raises(KappaError, match="no longer holds records from .* earliest available is offset 12"):
        resolve(ctx.kafka(), topic, str(before))
    assert [r.start for r in resolve(ctx.kafka(), topic, "earliest")] == [12]
    with pytest.raises(KappaError, match="unknown job .no_such_job."):
        replay.plan(ctx, "no_such_job", "earliest")


def kappa(ctx: Context, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kappa", "--config", str(ctx.settings.effective_settings_file),
                           *args], capture_output=True, text=True, timeout=900, check=False)


@pytest.mark.timeout(1200)
def test_a_replay_that_compared_a_sliver_is_refused_until_its_coverage_is_accepted(ctx: Context) -> None:
    """The issue's walk-through, small: a producer whose clock ran an hour ahead pushed the live
    watermark past everything after it, so the live version took those events late. A replay from
    after the skewed events takes them on time: the versions differ in lateness on almost every
    event, the gate compares almost nothing, and refuses until the user accepts the figure."""
    start_job(ctx, JOB)
    topic = topic_of(ctx, JOB)
    partitions = ctx.settings.kafka.topics[topic].partitions
    base = fresh_event_time(ctx, "transactions_raw")
    user = f"skw{uuid.uuid4().hex[:6]}"

    def tx(i: int, ts: int) -> dict:
        return {"transaction_id": f"{user}-{i}", "user_id": user, "amount": 2.5, "merchant": "m", "timestamp": ts}

    skewed = [tx(p, base + 60 * MIN) for p in range(partitions)]  # one per partition: every split's watermark
    produce(ctx.kafka(), topic, [Event(user, encode(r), r, partition=i) for i, r in enumerate(skewed)])
    start = end_offsets(ctx.kafka(), topic)
    rest, live_job = FlinkRest(ctx), JobStore(ctx.settings.state).get(JOB).job_id
    assert live_job
    wait_for(lambda: (rest.watermark_ms(live_job) or 0) >= base + 59 * MIN, timeout_s=120,
             what="the live watermark to pass the skewed events' time")
    # Few: test_stream_health.py judges the share of the last minutes' events that went late or quarantined.
    on_time = [tx(100 + i, base + i * 1000) for i in range(60)]
    produce(ctx.kafka(), topic, [Event(user, encode(r), r, partition=i % partitions) for i, r in enumerate(on_time)])
    stop = end_offsets(ctx.kafka(), topic)
    rows_when(ctx, f"SELECT count(*) FROM late_events WHERE job = 'transactions' AND payload LIKE '%{user}-%'",
              lambda r: r[0][0] >= len(on_time), "the live version to take the events after the skewed ones late")
    # The live version's tables now hold every offset the replay will read (the late events are the last).

    def offsets(ends: dict) -> str:
        return "offsets:" + ",".join(f"{p}={end}" for p, (_, end) in sorted(ends.items()))

    args = ("replay", JOB, "--from", offsets(start), "--to", offsets(stop), "--yes")
    refused = kappa(ctx, *args)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    out = refused.stdout
    assert f"coverage 0.00%: 0 of the {len(on_time)} replayed valid events in closed windows compared" in out, out
    # Kafka's record times are the wall clock, and the test's event times start after it (fresh_event_time)
    ahead = re.search(rf"{len(on_time)} events late in the live version only: its watermark was up to "
                      r"([\d.]+) min ahead of their Kafka record times", out)
    assert ahead and float(ahead.group(1)) >= 59.9, out
    assert "FAILED   coverage 0.00% is below operations.replay_min_coverage 95.00%" in out, out
    for table in get_definition(ctx.settings, JOB).pipeline.published:  # every published table has its line
        assert re.search(rf"ok       {table.name}__v\d+ vs {table.name}: rows 0 vs 0 \(0\.00% of", out), out
    assert "rerun with --accept-coverage" in refused.stderr, refused.stderr
    refusal = replay.history(ctx)[0]
    assert (refusal["outcome"], refusal["gate_passed"], refusal["coverage"]) == ("refused: coverage", False, 0.0)

    accepted = kappa(ctx, *args, "--accept-coverage")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "accepted coverage 0.00% is below" in accepted.stdout, accepted.stdout
    row = replay.history(ctx)[0]
    assert (row["gate_passed"], row["coverage"], row["coverage_accepted"]) == (True, 0.0, True), row
