"""A pipeline written in SQL (lakehouse/pipelines/suspicious_sql.*) on a local Flink, with explicit
event times: the source document's ksqlDB example produces exactly the built-in pipeline's
suspicious windows and the plain-Python expectation, malformed and late events are routed as for the
built-in pipeline, planning gives the columns recorded beside the SQL, and an invalid query is refused
with its line."""

from __future__ import annotations

import dataclasses
import json
import random
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from flink_jobs.sql_plan import plan
from lakehouse.sql_text import platform_type, stream_name, substitute, views
from tests import expected
from tests.flink.harness import ROOT, contract_format_jar, records, run_outputs, spec_for, write_records

PIPELINES = ROOT / "lakehouse" / "pipelines"
SQL_FILE = PIPELINES / "suspicious_sql.sql"
DECLARATION = tomllib.loads((PIPELINES / "suspicious_sql.toml").read_text())
SETTINGS = DECLARATION["settings"]
ALERTS = [[rule, a["view"], a["entity"]] for rule, a in DECLARATION["alerts"].items()]
RECORDED = json.loads((PIPELINES / "suspicious_sql.schema.json").read_text())["views"]
T0 = 1_700_000_100_000 - 1_700_000_100_000 % 300_000  # a 5-minute boundary
MIN = 60_000
BUILT_IN = {"window_size_min": 5, "suspicious_window_min": 5, "suspicious_count_above": 10,
            "suspicious_total_above": 5000}
ROUTING = {"out_of_orderness_s": 5, "idle_timeout_s": 10, "max_payload_chars": 65536, "max_future_skew_s": 300}


def sql_spec(path: Path, sql_file: Path = SQL_FILE, settings: dict | None = None):  # type: ignore[no-untyped-def]
    values = {**ROUTING, **(settings or SETTINGS)}
    found = views(sql_file)
    spec = spec_for("suspicious_sql", "transactions", {"raw": "r", "quarantine": "q", "late": "l",
                                                       "suspicious_activity": "s"}, values, path)
    return dataclasses.replace(spec, sql={
        "stream": stream_name("transactions"),
        "views": [[v, substitute(q, values)] for v, q, _ in found],
        "outputs": [[v, RECORDED.get(v, [])] for v, _, _ in found],
        "alerts": ALERTS,
        "lines": {v: line for v, _, line in found}})


def tx(i: int, user: str, amount: float, ts: int) -> dict:
    return {"transaction_id": f"t{i}", "user_id": user, "amount": amount, "merchant": "m", "timestamp": ts}


def stream() -> tuple[list, list[dict]]:
    """Purchases by six users over seven windows, one busy (more than 10 in a window), one spending
    more than 5,000 in fewer, the others around the count threshold, in time order; plus malformed
    events and events far behind the watermark. Returns (payloads, the valid on-time events)."""
    rng = random.Random(7)
    payloads: list = []
    on_time: list[dict] = []
    ts = T0
    for i in range(400):
        ts += rng.randint(2_000, 6_000)  # about 75 events per 5-minute window
        user = rng.choice(["ann"] * 5 + ["bo", "cy", "di", "ed", "fay"])  # ann: busy; the others about 7 each
        amount = round(rng.uniform(1_000, 3_000) if user == "di" else rng.uniform(1, 80), 2)  # di: big spender
        event = tx(i, user, amount, ts)
        payloads.append(event)
        on_time.append(event)
        if i % 50 == 25:
            payloads.append('{"transaction_id": "broken", ')           # malformed: quarantined
            payloads.append(tx(10_000 + i, user, -5, ts))               # amount out of range: quarantined
            payloads.append(tx(20_000 + i, "ann", 9_999, ts - 2 * MIN))  # behind the watermark: late
    return payloads, on_time


def test_the_seed_example_in_sql_equals_the_built_in_table_and_plain_python(tmp_path: Path) -> None:
    payloads, on_time = stream()
    path = tmp_path / "transactions.records"
    write_records(path, records(payloads, "transactions"))
    in_sql = run_outputs("flink_jobs.sql_pipeline", sql_spec(path))
    built_in = run_outputs("flink_jobs.transactions", spec_for(
        "transactions", "transactions", {"raw": "r", "windows": "w", "suspicious": "s", "quarantine": "q",
                                         "late": "l"}, {**ROUTING, **BUILT_IN}, path))

    def key(rows: list[dict]) -> dict:
        return {(r["window_start"], r["window_end"], r["user_id"]): (r["transaction_count"], r["total_amount"])
                for r in rows}

    windows = expected.tumbling_windows(on_time, 5 * MIN)
    wanted = {k: v for k, v in windows.items() if v[0] > 10 or v[1] > Decimal(5000)}
    assert len(wanted) >= 3 and any(v[0] <= 10 for v in wanted.values())  # busy users and big spenders
    assert key(in_sql["suspicious_activity"]) == wanted
    assert key(built_in["suspicious"]) == wanted
    # routing as for every pipeline: the same records landed, quarantined (with the same reasons) and late
    for role, fields in (("raw", ("kafka_offset",)), ("quarantine", ("kafka_offset", "reason")),
                         ("late", ("kafka_offset",))):
        assert sorted(tuple(r[f] for f in fields) for r in in_sql[role]) == \
               sorted(tuple(r[f] for f in fields) for r in built_in[role]), role
    assert len(in_sql["late"]) == 8 and len(in_sql["quarantine"]) == 16
    assert len(in_sql["raw"]) + len(in_sql["quarantine"]) + len(in_sql["late"]) == len(payloads)
    # its alert rule: one alert per suspicious window, with the built-in rule's ids (the same alert)
    assert sorted((a["entity_id"], a["window_start"], a["window_end"]) for a in in_sql["alerts_topic"]) == \
        sorted((k[2], k[0], k[1]) for k in wanted)
    assert {a["alert_id"] for a in in_sql["alerts_topic"]} == {a["alert_id"] for a in built_in["alerts_topic"]}
    assert {(a["alert_type"], a["job"]) for a in in_sql["alerts_topic"]} == {("suspicious_activity", "suspicious_sql")}
    for a in in_sql["alerts_topic"]:
        count, total = wanted[(a["window_start"], a["window_end"], a["entity_id"])]
        assert json.loads(a["detail"]) == {"transaction_count": str(count), "total_amount": str(total)}


def test_planning_gives_the_recorded_columns() -> None:
    result = plan(sql_spec(Path("/nonexistent")), contract_format_jar())
    assert "error" not in result, result
    assert {v: [[c, platform_type(t)] for c, t in cols] for v, cols in result["views"].items()} == RECORDED


@pytest.mark.parametrize(("query", "line", "says"), [
    ("SELECT user_id, no_such_column\nFROM transactions", 4, "no_such_column"),
    ("SELECT user_id, COUNT(*) AS n\nFROM transactions\nGROUP BY user_id", 4, "update"),  # not append-only
])
def test_an_invalid_query_is_refused_with_its_line(tmp_path: Path, query: str, line: int, says: str) -> None:
    sql_file = tmp_path / "bad.sql"
    sql_file.write_text(f"-- a comment\n\nCREATE VIEW suspicious_activity AS\n{query};\n")
    result = plan(sql_spec(Path("/nonexistent"), sql_file), contract_format_jar())
    assert "error" in result, result
    error = result["error"]
    assert error["view"] == "suspicious_activity" and says in error["message"], error
    assert error["line"] == line, error
