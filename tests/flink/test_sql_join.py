"""A pipeline written in SQL that joins two topics, on a local Flink with explicit event times: each
topic is parsed by its own contract, its malformed and late events routed with its coordinates, its
valid events landed in its own raw table, and the interval join of the two streams equals a
plain-Python join over the same events."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest

from flink_jobs.sql_plan import plan
from lakehouse.sql_text import stream_name
from tests.flink.harness import CONTRACTS, contract_format_jar, records, run_outputs, spec_for, write_records

pytestmark = pytest.mark.flink
T0 = 1_700_000_100_000 - 1_700_000_100_000 % 300_000
MIN = 60_000
WITHIN_MIN = 5
QUERY = f"""SELECT t.transaction_id, t.user_id, t.amount, u.event_id AS login_id,
       t.event_time AS purchased_at, u.event_time AS logged_in_at
FROM transactions AS t
JOIN user_events AS u
  ON t.user_id = u.user_id AND u.action = 'login'
 AND t.event_time BETWEEN u.event_time AND u.event_time + INTERVAL '{WITHIN_MIN}' MINUTE"""
ROLES = {"raw": "r", "quarantine": "q", "late": "l", "raw_user_events": "ru", "purchases_after_login": "p"}


def join_spec(tx_path: Path, ue_path: Path):  # type: ignore[no-untyped-def]
    spec = spec_for("joined_sql", "transactions", ROLES, {}, tx_path)
    return dataclasses.replace(spec, sql={
        "stream": "transactions", "views": [["purchases_after_login", QUERY]],
        "outputs": [["purchases_after_login", [["transaction_id", "STRING"], ["user_id", "STRING"],
                                               ["amount", "DECIMAL(12, 2)"], ["login_id", "STRING"],
                                               ["purchased_at", "TIMESTAMP"], ["logged_in_at", "TIMESTAMP"]]]],
        "inputs": [{"stream": stream_name("user-events"), "topic": "user-events", "role": "raw_user_events",
                    "contract": json.loads((CONTRACTS / "user-events.v1.schema.json").read_text()),
                    "source_path": str(ue_path)}],
        "lines": {"purchases_after_login": 1}})


def streams() -> tuple[list, list, list[dict], list[dict]]:
    """Logins and purchases of four users over an hour, in time order, with malformed and late events
    in both topics. Returns (transaction payloads, user-event payloads, valid purchases, valid logins)."""
    rng = random.Random(11)
    tx: list = []
    ue: list = []
    purchases: list[dict] = []
    logins: list[dict] = []
    ts = T0
    for i in range(300):
        ts += rng.randint(3_000, 15_000)
        user = rng.choice(["ann", "bo", "cy", "di"])
        if rng.random() < 0.3:
            login = {"event_id": f"l{i}", "user_id": user, "action": "login", "timestamp": ts}
            ue.append(login)
            logins.append(login)
        else:
            ue.append({"event_id": f"v{i}", "user_id": user, "action": "view_product", "timestamp": ts})
            purchase = {"transaction_id": f"t{i}", "user_id": user, "amount": round(rng.uniform(1, 90), 2),
                        "merchant": "m", "timestamp": ts}
            tx.append(purchase)
            purchases.append(purchase)
        if i % 60 == 30:
            ue.append('{"user_id": "ann", "action": ')                                       # malformed
            ue.append({"event_id": f"x{i}", "user_id": "ann", "action": "hack", "timestamp": ts})  # not an action
            ue.append({"event_id": f"late{i}", "user_id": "bo", "action": "login", "timestamp": ts - 3 * MIN})
            tx.append({"transaction_id": f"bad{i}", "user_id": "ann", "amount": -1, "merchant": "m",
                       "timestamp": ts})                                                          # out of range
    return tx, ue, purchases, logins


def expected_join(purchases: list[dict], logins: list[dict]) -> set[tuple]:
    return {(p["transaction_id"], p["user_id"], lg["event_id"], p["timestamp"], lg["timestamp"])
            for p in purchases for lg in logins
            if p["user_id"] == lg["user_id"]
            and lg["timestamp"] <= p["timestamp"] <= lg["timestamp"] + WITHIN_MIN * MIN}


def test_a_join_of_two_topics_equals_plain_python_and_routes_each_topics_events(tmp_path: Path) -> None:
    tx, ue, purchases, logins = streams()
    tx_path, ue_path = tmp_path / "transactions.records", tmp_path / "user-events.records"
    write_records(tx_path, records(tx, "transactions"))
    write_records(ue_path, records(ue, "user-events"))
    out = run_outputs("flink_jobs.sql_pipeline", join_spec(tx_path, ue_path))

    found = {(r["transaction_id"], r["user_id"], r["login_id"], r["purchased_at"], r["logged_in_at"])
             for r in out["purchases_after_login"]}
    wanted = expected_join(purchases, logins)
    assert wanted and found == wanted
    assert len(out["purchases_after_login"]) == len(wanted)  # each pair once

    # each topic's valid events in its own raw table; its bad ones quarantined or late, by coordinates
    assert sorted(r["transaction_id"] for r in out["raw"]) == sorted(p["transaction_id"] for p in purchases)
    late_ids = {f"late{i}" for i in range(300) if i % 60 == 30}
    assert sorted(r["event_id"] for r in out["raw_user_events"]) == \
        sorted(e["event_id"] for e in ue if isinstance(e, dict) and e["action"] != "hack"
               and e["event_id"] not in late_ids)
    quarantined = {(r["kafka_topic"], r["kafka_offset"]) for r in out["quarantine"]}
    assert quarantined == {("transactions", i) for i, p in enumerate(tx) if p["amount"] < 0} | \
        {("user-events", i) for i, e in enumerate(ue) if isinstance(e, str) or e["action"] == "hack"}
    assert sorted((r["kafka_topic"], r["kafka_offset"]) for r in out["late"]) == \
        sorted(("user-events", i) for i, e in enumerate(ue) if isinstance(e, dict) and e["event_id"] in late_ids)


def test_planning_a_join_gives_its_columns(tmp_path: Path) -> None:
    spec = join_spec(tmp_path / "none", tmp_path / "none2")
    result = plan(dataclasses.replace(spec, sql={**spec.sql, "outputs": [["purchases_after_login", []]]}),
                  contract_format_jar())
    assert "error" not in result, result
    assert [c for c, _ in result["views"]["purchases_after_login"]] == \
        ["transaction_id", "user_id", "amount", "login_id", "purchased_at", "logged_in_at"]
