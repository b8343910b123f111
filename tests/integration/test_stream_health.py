"""The issue's poisoning, reproduced: a producer whose clock runs ahead sends events stamped past
their Kafka time, then everyone else's events follow. The guard quarantines the future ones (they
never move the watermark), the later events land, not late, and `kappa status` and the Dagster health
sensor's check (kappa.jobs.problems) fail with the numbers."""

from __future__ import annotations

import dataclasses
import json
import math
import random
import types
import uuid
from datetime import UTC, datetime

import pytest
import typer

from kappa.cli.stack_cmds import status
from kappa.context import Context
from kappa.jobs import JobStore, get_definition, job_statuses, problems, start_job
from kappa.jobs.status import routing
from kappa.producer import produce
from lakehouse.contracts import future_reason
from lakehouse.scenarios.base import Event, encode
from tests.integration.conftest import trino_rows, wait_for
from tests.integration.streams import fresh_event_time, rows_when, settle, topic_of

MIN = 60_000


def test_a_clock_ahead_is_quarantined_the_stream_goes_on_and_health_says_so(
        ctx: Context, capsys: pytest.CaptureFixture[str]) -> None:
    job = ctx.settings.jobs.transactions
    start_job(ctx, "transactions")
    # Health is judged over the minutes since this test began: a backlog the job was still landing
    # (earlier tests' events) would count among them and thin the quarantined share.
    settle(ctx, "transactions")
    began = datetime.now(UTC)
    topic = topic_of(ctx, "transactions")
    base = fresh_event_time(ctx, "transactions_raw")
    user = f"clk{uuid.uuid4().hex[:6]}"
    rng = random.Random(5)

    def tx(i: int, ts: int) -> dict:
        return {"transaction_id": f"{user}-{i}", "user_id": user, "amount": 1.0, "merchant": "m", "timestamp": ts}

    # The fast clock: each event stamped 30 to 90 minutes past its Kafka time, beyond the skew allowed.
    future = [tx(i, base + 60 * MIN) for i in range(30)]
    produce(ctx.kafka(), topic, [
        Event(user, encode(r), r, kafka_ts_ms=r["timestamp"] - job.max_future_skew_s * 1000 - rng.randint(30, 90) * MIN)
        for r in future])
    # Everyone else, on time, over every partition (so the job's watermark exists for status to show).
    on_time = [tx(100 + i, base + i * 1000) for i in range(200)]
    partitions = ctx.settings.kafka.topics[topic].partitions
    produce(ctx.kafka(), topic,
            [Event(user, encode(r), r, partition=i % partitions) for i, r in enumerate(on_time)])

    landed = rows_when(ctx, f"SELECT transaction_id FROM transactions_raw WHERE user_id = '{user}'",
                       lambda r: len(r) >= len(on_time), f"{len(on_time)} on-time events")
    assert sorted(r[0] for r in landed) == sorted(r["transaction_id"] for r in on_time)
    quarantined = rows_when(ctx, f"SELECT reason FROM quarantine WHERE job = 'transactions' AND payload LIKE "
                                 f"'%{user}-%'", lambda r: len(r) >= len(future), f"{len(future)} quarantined")
    assert [r[0] for r in quarantined] == [future_reason(job.max_future_skew_s)] * len(future)
    assert trino_rows(ctx.settings, f"SELECT count(*) FROM late_events WHERE job = 'transactions' AND payload "
                                    f"LIKE '%{user}-%'") == [[0]], "the future events moved the watermark"

    # Health, over the minutes this test's events were ingested in (a loaded machine may take minutes to
    # commit them): a failure with the numbers.
    tables = get_definition(ctx.settings, "transactions").tables(
        JobStore(ctx.settings.state).get("transactions").version)
    minutes = math.ceil((datetime.now(UTC) - began).total_seconds() / 60)
    statuses = [dataclasses.replace(s, routing=routing(ctx, s.name, tables, minutes, since=began))
                if s.name == "transactions"
                else s for s in job_statuses(ctx)]
    found = [p for p in problems(statuses, ctx.settings.operations) if p.startswith("transactions: ")]
    mine = [p for p in found if "were quarantined" in p]
    assert mine, (found, [s.routing for s in statuses if s.name == "transactions"])
    counts = mine[0].split(": ", 1)[1].split(" events")[0].split(" of ")
    assert int(counts[0]) >= len(future) and int(counts[1]) >= len(future) + len(on_time)

    # `kappa status --json` carries the same job figures, and exits 1 when anything is wrong. Right after a
    # checkpoint or a restart an operator may not report its watermark yet: ask again until it does.
    def report_with_watermark() -> dict | None:
        with pytest.raises(typer.Exit):
            status(types.SimpleNamespace(obj=ctx.settings), as_json=True)  # type: ignore[arg-type]
        report = json.loads(capsys.readouterr().out)
        tx = next(j for j in report["jobs"] if j["name"] == "transactions")
        return report if tx["watermark_ahead_s"] is not None else None

    report = wait_for(report_with_watermark, timeout_s=60, what="the transactions job's watermark in status")
    tx_status = next(j for j in report["jobs"] if j["name"] == "transactions")
    assert tx_status["state"] == "RUNNING" and tx_status["routing"]["quarantined"] >= len(future)
    assert isinstance(tx_status["watermark_ahead_s"], float) and report["problems"]
