"""user_activity job on a local Flink: sliding spend windows, fraud alerts, login patterns, sessions,
each compared with a plain-Python computation over the same events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from lakehouse.contracts import derived_id
from lakehouse.scenarios import ScenarioOptions, user_events
from tests import expected
from tests.flink.harness import records, run_outputs, spec_for, write_records

MIN = 60_000
T0 = 1_800_000_000_000 - 1_800_000_000_000 % (60 * MIN)
TABLES = {"raw": "r", "spend": "s", "fraud": "f", "patterns": "p", "sessions": "x", "quarantine": "q", "late": "l"}
PARAMS = {"spend_window_min": 5, "spend_slide_min": 1, "fraud_total_above": 1000, "pattern_within_min": 10,
          "pattern_purchase_above": 500, "session_gap_min": 30}


def ev(i: int, user: str, action: str, minute: float, amount: float | None = None) -> dict:
    r = {"event_id": f"e{i}", "user_id": user, "action": action, "timestamp": int(T0 + minute * MIN),
         "ip_address": "10.0.0.1", "device": "web", "properties": {"page": "home"}}
    if amount is not None:
        r["amount"] = amount
    return r


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], dict]:
    """A realistic stream (state machines, big purchases, quiet users) plus handcrafted patterns."""
    opts = ScenarioOptions(count=2500, seed=11, start_ms=T0, event_interval_ms=2500, keys=30, key_prefix="u",
                           extra={"big_purchase_share": 0.15})
    stream = [e.record for e in user_events.generate(opts)]
    crafted = [  # after the generated span (T0 + ~104 min); sent in time order below
        ev(1, "pat-a", "login_failed", 120), ev(2, "pat-a", "view_product", 121),
        ev(3, "pat-a", "login_success", 122), ev(4, "pat-a", "purchase", 123, 40.0),
        ev(5, "pat-a", "purchase", 125, 800.0),                        # match: F1 S3 P5
        ev(6, "pat-b", "login_failed", 120), ev(7, "pat-b", "login_success", 121),
        ev(8, "pat-b", "purchase", 140, 900.0),                        # too late: 20 min after the failure
        ev(9, "pat-c", "login_success", 120), ev(10, "pat-c", "purchase", 121, 999.0),  # no failure first
        ev(11, "pat-d", "login_failed", 130), ev(12, "pat-d", "login_failed", 131),
        ev(13, "pat-d", "login_success", 132), ev(14, "pat-d", "purchase", 133, 501.0),  # match from e11
        ev(15, "pat-d", "purchase", 134, 700.0),                       # consumed nothing new: no second match
        ev(16, "sess", "login", 150), ev(17, "sess", "purchase", 160, 10.0),
        ev(18, "sess", "login", 190), ev(19, "sess", "logout", 219.9),         # a gap of exactly 30 min: same session
        ev(20, "sess", "login", 249.95),                                       # 30.05 min later: a new session
    ]
    events = stream + sorted(crafted, key=lambda r: r["timestamp"])
    # Every third generated event as the source document's producer writes it: no event_id and an
    # ISO-8601 time (four ways of writing the same instant). The expected results read the same
    # events with the id the contract derives (topic:partition:offset) and the time in milliseconds.
    sent = [as_document_writes(e, i) if i < len(stream) and i % 3 == 0 else e for i, e in enumerate(events)]
    events = [{**e, "event_id": derived_id("user-events", 0, i)} if "event_id" not in s else e
              for i, (e, s) in enumerate(zip(events, sent, strict=True))]
    path = tmp_path_factory.mktemp("ua") / "user-events.records"
    write_records(path, records(sent, "user-events"))
    out = run_outputs("flink_jobs.user_activity", spec_for("user_activity", "user-events", TABLES, PARAMS, path))
    return events, out


def as_document_writes(event: dict, i: int) -> dict:
    """The event without its id, its time in ISO-8601: naive (read as UTC, as datetime.isoformat()
    writes it), with Z, with an offset, or with a space and a negative offset."""
    instant = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=event["timestamp"])
    written = [
        instant.replace(tzinfo=None).isoformat(),
        instant.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        instant.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(timespec="microseconds"),
        instant.astimezone(timezone(timedelta(hours=-3))).isoformat(sep=" ", timespec="milliseconds"),
    ][(i // 3) % 4]
    return {k: v for k, v in event.items() if k != "event_id"} | {"timestamp": written}


def test_nothing_is_late_or_quarantined(generated: tuple[list[dict], dict]) -> None:
    events, out = generated
    assert out["quarantine"] == [] and out["late"] == []
    assert len(out["raw"]) == len(events)


def test_raw_rows_carry_the_derived_ids_and_the_times_as_instants(generated: tuple[list[dict], dict]) -> None:
    events, out = generated
    got = {r["kafka_offset"]: (r["event_id"], r["event_time"], r["event_ts_ms"]) for r in out["raw"]}
    assert got == {i: (e["event_id"], e["timestamp"], e["timestamp"]) for i, e in enumerate(events)}
    assert sum(1 for e in events if e["event_id"].startswith("user-events:0:")) > 800


def test_sliding_spend_windows(generated: tuple[list[dict], dict]) -> None:
    events, out = generated
    want = expected.hopping_spend(events, 5 * MIN, 1 * MIN)
    got = {(r["window_start"], r["window_end"], r["user_id"]): (r["total_spent"], r["transaction_count"])
           for r in out["spend"]}
    assert got == want
    fraud = {(r["window_start"], r["user_id"]) for r in out["fraud"]}
    assert fraud == {(k[0], k[2]) for k, (total, _) in want.items() if total > 1000}
    assert fraud, "the stream should contain fraud windows"
    assert {a["alert_id"] for a in out["alerts_topic"] if a["alert_type"] == "fraud_alert"} == {
        r["alert_id"] for r in out["fraud"]}


def test_login_patterns(generated: tuple[list[dict], dict]) -> None:
    events, out = generated
    got = {(r["user_id"], r["failed_event_id"], r["success_event_id"], r["purchase_event_id"])
           for r in out["patterns"]}
    want = expected.login_patterns(events, 10 * MIN, 500)
    assert got == want
    crafted = {g for g in got if g[0].startswith("pat-")}
    assert crafted == {("pat-a", "e1", "e3", "e5"), ("pat-d", "e11", "e13", "e14")}
    amounts = {r["purchase_event_id"]: r["purchase_amount"] for r in out["patterns"]}
    assert amounts["e5"] == Decimal("800.00")


def test_sessions(generated: tuple[list[dict], dict]) -> None:
    events, out = generated
    got = {(r["user_id"], r["session_start"], r["session_end"]): (r["event_count"], r["purchases"], r["total_spent"])
           for r in out["sessions"]}
    assert got == expected.sessions(events, 30 * MIN)
    assert any(count > 1 for count, _, _ in got.values())
    sess = sorted((start, end, got[(u, start, end)][0]) for (u, start, end) in got if u == "sess")
    assert sess == [(T0 + 150 * MIN, T0 + int(249.9 * MIN), 4), (T0 + int(249.95 * MIN), T0 + int(279.95 * MIN), 1)]
