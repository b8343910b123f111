"""A pipeline written in SQL that joins two topics, on the real stack: `kappa pipeline deploy`
starts lakehouse/pipelines/purchases_after_login.* (transactions joined with user-events). Over known
streams in both topics its analytics view equals a plain-Python interval join, each topic's events
land in its own raw table, and a changed setting deploys as a replay of both topics through the gate,
which accounts for every record of each."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from kappa.context import Context
from kappa.errors import KappaError
from kappa.jobs import JobStore, job_definitions, live_tables, stop_job
from kappa.jobs.status import Routing, routing
from kappa.producer import produce
from lakehouse.scenarios.base import Event, encode
from tests.integration.conftest import wait_for
from tests.integration.streams import fresh_event_time, ms, rows_when
from tests.integration.test_sql_pipeline import deploy_with, kappa

pytestmark = pytest.mark.integration
NAME = "purchases_after_login"
MIN = 60_000


def joined(purchases: list[dict], logins: list[dict], within_min: int) -> set[tuple[str, str, int]]:
    return {(p["transaction_id"], lg["event_id"], p["timestamp"]) for p in purchases for lg in logins
            if p["user_id"] == lg["user_id"]
            and lg["timestamp"] <= p["timestamp"] <= lg["timestamp"] + within_min * MIN}


@pytest.fixture(scope="module")
def produced(ctx: Context) -> Iterator[dict[str, Any]]:
    done = kappa(ctx.settings.effective_settings_file, "pipeline", "deploy", NAME)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    prefix, since = f"j{uuid.uuid4().hex[:6]}-", datetime.now(UTC)
    # After every event time either topic holds: a pipeline deployed for the first time reads each
    # topic from its first offset, and other tests' events run hours ahead of the clock. The built-in
    # jobs reading the same topics have seen them all.
    base = max(fresh_event_time(ctx, live_tables(ctx.settings, "transactions")["raw"]),
               fresh_event_time(ctx, live_tables(ctx.settings, "user_activity")["raw"]))
    purchases, logins = [], []
    for i in range(120):
        user, ts = f"{prefix}{i % 4}", base + i * 20_000
        if i % 3 == 0:
            logins.append({"event_id": f"{prefix}l{i}", "user_id": user, "action": "login", "timestamp": ts})
        else:
            purchases.append({"transaction_id": f"{prefix}t{i}", "user_id": user, "amount": float(i),
                              "merchant": "m", "timestamp": ts})
    produce(ctx.kafka(), "user-events", [Event(r["user_id"], encode(r), r) for r in logins])
    produce(ctx.kafka(), "transactions", [Event(r["user_id"], encode(r), r) for r in purchases])
    yield {"prefix": prefix, "purchases": purchases, "logins": logins, "since": since}
    with contextlib.suppress(KappaError, requests.RequestException):
        stop_job(ctx, NAME, savepoint=False)


def _rows(ctx: Context, prefix: str, count: int) -> set[tuple[str, str, int]]:
    rows = rows_when(ctx, f"SELECT transaction_id, login_id, purchased_at FROM analytics.{NAME} "
                          f"WHERE user_id LIKE '{prefix}%'", lambda r: len(r) >= count, f"{count} joined rows")
    found = {(r[0], r[1], ms(r[2])) for r in rows}
    assert len(found) == len(rows), "a pair appears twice"
    return found


def test_the_join_equals_plain_python_and_each_topic_lands_in_its_raw_table(ctx: Context, produced: dict) -> None:
    wanted = joined(produced["purchases"], produced["logins"], 5)
    assert wanted
    assert _rows(ctx, produced["prefix"], len(wanted)) == wanted
    logins = rows_when(ctx, f"SELECT event_id FROM analytics.{NAME}_raw_user_events WHERE user_id LIKE "
                            f"'{produced['prefix']}%'", lambda r: len(r) >= len(produced["logins"]), "the logins")
    assert sorted(r[0] for r in logins) == sorted(lg["event_id"] for lg in produced["logins"])
    # `kappa status` counts the events landed from both topics
    record, window = JobStore(ctx.settings.state).get(NAME), ctx.settings.operations.health_window_min
    names = job_definitions(ctx.settings)[NAME].tables(record.version)
    # The pipeline reads both topics from their first offsets and may still be landing older events
    # from other partitions: a reading counts only when the purchases' table did not move around it.
    def settled() -> tuple[Routing, Routing] | None:
        before = routing(ctx, NAME, names, window, since=produced["since"])
        both = routing(ctx, NAME, names, window, since=produced["since"], raw_roles=("raw", "raw_user_events"))
        after = routing(ctx, NAME, names, window, since=produced["since"])
        return (both, after) if before is not None and both is not None and before == after else None

    both, own = wait_for(settled, timeout_s=300, what="a reading with the raw table at rest", interval_s=5)
    assert both.landed - own.landed >= len(produced["logins"]) and own.landed >= len(produced["purchases"])
    assert job_definitions(ctx.settings)[NAME].pipeline.raw_roles == ("raw", "raw_user_events")


def test_a_changed_setting_replays_both_topics_through_the_gate(ctx: Context, produced: dict, tmp_path: Path) -> None:
    _rows(ctx, produced["prefix"], len(joined(produced["purchases"], produced["logins"], 5)))
    done = deploy_with(ctx, tmp_path, NAME, within_min=2)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "topic user-events" in done.stdout and "(topic user-events)" in done.stdout, done.stdout[-3000:]
    assert JobStore(ctx.settings.state).get(NAME).version == 2
    wanted = joined(produced["purchases"], produced["logins"], 2)
    assert wanted and wanted != joined(produced["purchases"], produced["logins"], 5)
    assert _rows(ctx, produced["prefix"], len(wanted)) == wanted
