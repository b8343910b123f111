"""transactions job on a local Flink with explicit timestamps: windows, late and malformed events."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from lakehouse.contracts import contract, quarantine_reason, time_ms
from tests import expected
from tests.flink.harness import Record, records, run_outputs, spec_for, write_records

T0 = 1_700_000_100_000 - 1_700_000_100_000 % 300_000  # a 5-minute boundary
MIN = 60_000
TABLES = {"raw": "r", "windows": "w", "suspicious": "s", "quarantine": "q", "late": "l"}
PARAMS = {"window_size_min": 5, "suspicious_window_min": 5, "suspicious_count_above": 3,
          "suspicious_total_above": 500}


def tx(i: int, user: str, amount: float, ts: int) -> dict:
    return {"transaction_id": f"t{i}", "user_id": user, "amount": amount, "merchant": "m", "timestamp": ts}


def run(tmp_path: Path, payloads: list) -> dict:
    path = tmp_path / "transactions.records"
    write_records(path, records(payloads, "transactions"))
    return run_outputs("flink_jobs.transactions", spec_for("transactions", "transactions", TABLES, PARAMS, path))


def test_windows_late_and_malformed(tmp_path: Path) -> None:
    payloads = [
        tx(1, "alice", 10.10, T0 + 1 * MIN),
        tx(2, "bob", 20.00, T0 + 2 * MIN),
        tx(3, "alice", 5.05, T0 + 2 * MIN - 3_000),    # 3 s behind the newest event: within the 5 s bound
        tx(4, "alice", 100.00, T0 + 6 * MIN),          # next window
        '{"transaction_id": "bad", "user_id": ',       # invalid JSON
        tx(5, "carol", -1, T0 + 6 * MIN),              # negative amount
        {"transaction_id": "t6", "user_id": "bob", "timestamp": T0 + 6 * MIN},  # no amount
        tx(7, "bob", 1.00, T0 + 3 * MIN),              # behind the watermark (T0+6m-5s): late
        tx(8, "alice", 7.00, T0 + 6 * MIN + 30_000),
        None,                                          # a tombstone
    ]
    out = run(tmp_path, payloads)
    windows = {(r["window_start"], r["user_id"]): (r["transaction_count"], r["total_amount"]) for r in out["windows"]}
    assert windows == {
        (T0, "alice"): (2, Decimal("15.15")),
        (T0, "bob"): (1, Decimal("20.00")),
        (T0 + 5 * MIN, "alice"): (2, Decimal("107.00")),
    }
    assert all(r["window_end"] - r["window_start"] == 5 * MIN for r in out["windows"])
    assert sorted(r["transaction_id"] for r in out["raw"]) == ["t1", "t2", "t3", "t4", "t8"]
    assert {r["kafka_offset"]: r["reason"] for r in out["quarantine"]} == {
        4: "invalid JSON", 5: "amount out of range", 6: "missing amount", 9: "empty payload",
    }
    late = out["late"]
    assert [r["kafka_offset"] for r in late] == [7]
    assert late[0]["watermark"] == T0 + 6 * MIN - 5_000
    # every record is accounted for exactly once
    assert len(out["raw"]) + len(out["quarantine"]) + len(late) == len(payloads)


def test_suspicious_windows_by_count_or_total(tmp_path: Path) -> None:
    payloads = [tx(i, "eve", 1.0, T0 + i * 1000) for i in range(4)]           # count 4 > 3
    payloads += [tx(10, "mallory", 600.0, T0 + 10_000)]                         # total 600 > 500
    payloads += [tx(11, "bob", 1.0, T0 + 11_000), tx(12, "x", 1.0, T0 + 20 * MIN)]
    out = run(tmp_path, payloads)
    rules = {r["user_id"]: r["rule"] for r in out["suspicious"]}
    assert rules == {"eve": "count > 3", "mallory": "total > 500"}
    ids = {r["user_id"]: r["alert_id"] for r in out["suspicious"]}
    assert len(set(ids.values())) == 2 and all(len(v) == 32 for v in ids.values())
    assert sorted(a["entity_id"] for a in out["alerts_topic"]) == ["eve", "mallory"]
    assert {a["alert_id"] for a in out["alerts_topic"]} == set(ids.values())


def test_numbers_at_the_edges_of_their_sql_types(tmp_path: Path) -> None:
    """Found by the fault suite's fuzz: numbers that do not fit the field's SQL type, or only fit it
    once rounded. The job and the contract's plain-Python statement must agree on each."""
    from lakehouse.contracts import contract, quarantine_reason

    base = {"transaction_id": "e", "user_id": "u", "merchant": "m", "amount": 1.0, "timestamp": T0}
    edges = [
        {"timestamp": 90361946965947301888}, {"timestamp": -(2**63) - 1}, {"timestamp": "+" + str(T0)},
        {"timestamp": "1.5"}, {"timestamp": f" {T0} "},
        {"amount": 10**20}, {"amount": "1e20"}, {"amount": 1000000.004}, {"amount": 1000000.006},
        {"amount": "NaN"}, {"amount": "Infinity"}, {"amount": "1_000"}, {"amount": " 2.5 "}, {"amount": "0x10"},
        {"amount": -0.004}, {"amount": "1e-400"}, {"amount": "1e-20"}, {"amount": "2.5e3"}, {"amount": 1e15},
        {"amount": "1e16"}, {"amount": -1.5264606509263317e-197}, {"amount": "1e-21"}, {"amount": 1e-07},
        {"amount": "0.0000000000000000000000000000000000000001"}, {"amount": "1.5E+3"},
    ]
    payloads = [json.dumps({**base, **edge, "transaction_id": f"e{i}"}) for i, edge in enumerate(edges)]
    out = run(tmp_path, payloads)
    got = {r["kafka_offset"]: r["reason"] for r in out["quarantine"]}
    got.update({r["kafka_offset"]: "landed" for r in out["raw"]})
    schema = contract("transactions")
    want = {i: quarantine_reason(p.encode(), schema, 65536) or "landed" for i, p in enumerate(payloads)}
    assert got == want, {i: (edges[i], want[i], got.get(i)) for i in want if want[i] != got.get(i)}


def test_a_producer_clock_ahead_is_quarantined_and_never_moves_the_watermark(tmp_path: Path) -> None:
    """Synchronized producers (Kafka time = event time, a second or two apart) and, among them, a
    producer whose clock runs ahead: its events stamped 5 min + 1 ms to 90 min past their Kafka time
    (some in ISO-8601) are quarantined, and the on-time events after them are not late. Each record's
    fate is the contract's (the Python statement given its Kafka time and the default skew, 300 s)."""
    rng = random.Random(20)
    schema = contract("transactions")
    skew_s = 300
    sent: list[Record] = []

    def send(payload: dict | str, kafka_ts: int) -> None:
        sent.append(Record(payload if isinstance(payload, str) else json.dumps(payload), 0, len(sent), kafka_ts,
                           "transactions"))

    for i in range(90):  # 30 minutes of events, 20 s apart
        ts = T0 + i * 20_000
        send(tx(i, f"u{i % 4}", 10.0 + i, ts), ts + rng.randint(-2_000, 2_000))
        if i % 9 == 4:  # the fast clock: ahead of its Kafka time by just over the skew, up to 90 min
            ahead = rng.choice([skew_s * 1000 + 1, skew_s * 1000 + 1_000, 30 * MIN, 90 * MIN])
            future = tx(1000 + i, f"u{i % 4}", 5.0, ts + ahead)
            if i % 2:
                future["timestamp"] = iso(ts + ahead)
            send(future, ts)
    send(tx(2000, "u9", -1.0, T0 + 200 * MIN), T0 + 30 * MIN)   # also invalid: the first violation wins
    last = T0 + 30 * MIN
    send(tx(2001, "u8", 1.0, last + skew_s * 1000), last)           # exactly the skew ahead: accepted
    send({**tx(2002, "u8", 1.0, 0), "timestamp": iso(last + skew_s * 1000)}, last)  # the same, in ISO-8601

    path = tmp_path / "transactions.records"
    write_records(path, sent)
    out = run_outputs("flink_jobs.transactions", spec_for("transactions", "transactions", TABLES, PARAMS, path))

    want = {r.offset: quarantine_reason(r.payload.encode(), schema, 65536, r.kafka_ts_ms, skew_s) for r in sent}
    got = {r["kafka_offset"]: None for r in out["raw"]} | {r["kafka_offset"]: r["reason"] for r in out["quarantine"]}
    assert out["late"] == [], "a future event moved the watermark"
    assert got == want
    future = [k for k, reason in want.items() if reason and "in the future" in reason]
    assert len(future) == 10 and want[len(sent) - 3] == "amount out of range"
    accepted = [json.loads(r.payload) for r in sent if want[r.offset] is None]
    for record in accepted:
        record["timestamp"] = time_ms(str(record["timestamp"]), schema["properties"]["timestamp"])
    windows = {(r["window_start"], r["window_end"], r["user_id"]): (r["transaction_count"], r["total_amount"])
               for r in out["windows"]}
    assert windows == expected.tumbling_windows(accepted, 5 * MIN)


def iso(ms: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds")
