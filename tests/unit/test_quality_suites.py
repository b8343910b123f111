"""Each Great Expectations suite passes on valid data and fails, naming the bad rows, on invalid data.
Valid fixtures come from the generators and the plain-Python reference computations."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from lakehouse.contracts import CONTRACTS_DIR, CONTRACTS_DIR_ENV, contract
from lakehouse.quality import validate
from lakehouse.registry import default_registry, generate
from lakehouse.scenarios import ScenarioOptions
from tests import expected

MIN = 60_000
REGISTRY = default_registry()


def check(df: pd.DataFrame, table: str):  # type: ignore[no-untyped-def]
    """The declared suite of a table, run on a dataframe."""
    pipeline, declared = REGISTRY.owner(table)
    return validate(df, pipeline, declared, PARAMS)


def report_key(table: str) -> str:
    declared = REGISTRY.owner(table)[1]
    assert declared.checks is not None
    return declared.checks.keys[0]
T0 = 1_800_000_000_000 - 1_800_000_000_000 % (60 * MIN)
PARAMS = {"window_size_min": 5, "suspicious_window_min": 5, "suspicious_count_above": 10,
          "suspicious_total_above": 5000, "spend_window_min": 5, "spend_slide_min": 1, "fraud_total_above": 1000,
          "stats_window_min": 1, "temperature_above": 30.0, "humidity_above": 70.0,
          "window_min": 5, "count_above": 10, "total_above": 5000}  # the last three: suspicious_sql's


def ts(ms: int) -> pd.Timestamp:
    return pd.Timestamp(ms, unit="ms", tz="UTC")


def records(scenario: str, n: int = 2000) -> list[dict]:
    opts = ScenarioOptions(count=n, seed=8, start_ms=T0, event_interval_ms=700, keys=40,
                           key_prefix="s-" if scenario == "iot-sensors" else "u-")
    return [e.record for e in generate(scenario, opts)]


def transactions_5m() -> pd.DataFrame:
    rows = [{"window_start": ts(s), "window_end": ts(e), "user_id": u, "transaction_count": c, "total_amount": t}
            for (s, e, u), (c, t) in expected.tumbling_windows(records("transactions"), 5 * MIN).items()]
    return pd.DataFrame(rows)


def suspicious_activity_sql() -> pd.DataFrame:
    """The SQL pipeline's table: the seed's HAVING over plain-Python tumbling windows."""
    df = transactions_5m()
    return df[(df["transaction_count"] > PARAMS["count_above"]) | (df["total_amount"] > PARAMS["total_above"])] \
        .reset_index(drop=True)


def transactions_raw() -> pd.DataFrame:
    return pd.DataFrame([{**{k: v for k, v in r.items() if k != "timestamp"}, "amount": Decimal(str(r["amount"])),
                          "event_time": ts(r["timestamp"]), "kafka_partition": 0, "kafka_offset": i}
                         for i, r in enumerate(records("transactions"))])


def user_events_raw() -> pd.DataFrame:
    fields = [n for n in contract("user-events")["properties"] if n != "timestamp"]
    return pd.DataFrame([{**{n: json.dumps(r[n]) if isinstance(r.get(n), dict) else r.get(n) for n in fields},
                          "event_time": ts(r["timestamp"]), "kafka_partition": 0, "kafka_offset": i}
                         for i, r in enumerate(records("user-events"))])


def sensor_stats_1m() -> pd.DataFrame:
    rows = []
    for (start, sensor, location), values in expected.sensor_stats(records("iot-sensors"), MIN).items():
        avg_t, min_t, max_t, avg_h, min_h, max_h, count = values
        rows.append({"window_start": ts(start), "window_end": ts(start + MIN), "sensor_id": sensor,
                     "location": location, "avg_temperature": avg_t, "min_temperature": min_t,
                     "max_temperature": max_t, "avg_humidity": avg_h, "min_humidity": min_h, "max_humidity": max_h,
                     "reading_count": count})
    return pd.DataFrame(rows)


def sensor_alerts() -> pd.DataFrame:
    return pd.DataFrame([{"sensor_id": s, "event_time": ts(t), "rule": rule, "location": "x", "alert_id": f"{s}{t}"}
                         for s, t, rule in expected.sensor_alerts(records("iot-sensors"), 30.0, 70.0)])


# table -> (valid fixture, how to break row 3, the key the failure must name)
CASES = {
    "transactions_5m": (transactions_5m, lambda df: df.assign(total_amount=df["total_amount"].where(
        df.index != 3, Decimal("-1"))), "total_amount"),
    "suspicious_activity_sql": (suspicious_activity_sql, lambda df: df.assign(total_amount=df["total_amount"].where(
        df.index != 3, None)), "total_amount"),
    "transactions_raw": (transactions_raw, lambda df: df.assign(user_id=df["user_id"].where(df.index != 3, None)),
                         "user_id"),
    "user_events_raw": (user_events_raw, lambda df: df.assign(action=df["action"].where(df.index != 3, "hack")),
                        "action"),
    "sensor_stats_1m": (sensor_stats_1m, lambda df: df.assign(max_humidity=df["max_humidity"].where(
        df.index != 3, 140.0)), "max_humidity"),
    "sensor_alerts": (sensor_alerts, lambda df: df.assign(rule=df["rule"].where(df.index != 3, "bogus")), "rule"),
}


@pytest.mark.parametrize("table", sorted(CASES))
def test_suite_passes_on_valid_data(table: str) -> None:
    build, _, _ = CASES[table]
    result = check(build(), table)
    assert result.success, result.summary()
    assert result.rows > 10


@pytest.mark.parametrize("table", sorted(CASES))
def test_suite_fails_naming_the_bad_row(table: str) -> None:
    build, break_row, column = CASES[table]
    df = build()
    result = check(break_row(df), table)
    assert not result.success
    failing = [f for f in result.failures if f["column"] == column]
    assert failing and failing[0]["unexpected"] == 1
    key_column = report_key(table)
    assert failing[0]["keys"][0][key_column] == str(df.iloc[3][key_column])


def test_duplicate_windows_and_wrong_window_sizes_are_caught() -> None:
    df = transactions_5m()
    broken = pd.concat([df, df.iloc[[0]]], ignore_index=True)
    broken.loc[1, "window_end"] = broken.loc[1, "window_start"] + pd.Timedelta(minutes=10)
    result = check(broken, "transactions_5m")
    kinds = {f["expectation"]: f for f in result.failures}
    assert kinds["expect_compound_columns_to_be_unique"]["unexpected"] == 2
    assert kinds["expect_column_values_to_be_between"]["column"] == "window_length_s"


def test_a_sql_pipelines_declared_expectations_catch_a_wrong_window_and_a_negative_total() -> None:
    df = suspicious_activity_sql()
    broken = df.copy()
    broken.loc[2, "window_end"] = broken.loc[2, "window_start"] + pd.Timedelta(minutes=PARAMS["window_min"] + 1)
    broken.loc[5, "total_amount"] = Decimal("-3")
    failed = {(f["expectation"], f["column"]): f for f in check(broken, "suspicious_activity_sql").failures}
    assert set(failed) == {("expect_column_values_to_be_between", "window_length_s"),
                           ("expect_column_values_to_be_between", "total_amount")}
    between = "expect_column_values_to_be_between"
    assert failed[(between, "window_length_s")]["keys"][0]["user_id"] == df.loc[2, "user_id"]
    assert failed[(between, "total_amount")]["keys"][0]["user_id"] == df.loc[5, "user_id"]


def test_a_contracts_new_version_adds_its_column_to_the_raw_tables_suite(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once a new contract version is in the contracts directory, the raw table's suite expects its
    field as a column (and checks its values like the others)."""
    rows = pd.DataFrame([{"user_id": f"u{i}", "action": "login", "properties": "{}", "event_time": ts(T0 + i),
                          "kafka_partition": 0, "kafka_offset": i} for i in range(20)])
    assert check(rows, "user_events_avro_raw").success
    v1 = json.loads((CONTRACTS_DIR / "user-events-avro.v1.avsc").read_text())
    v2 = {**v1, "fields": [*v1["fields"], {"name": "channel", "type": ["null", {"type": "enum", "name": "Channel",
                                                                                  "symbols": ["web", "app"]}],
                                           "default": None}]}
    for path in CONTRACTS_DIR.iterdir():
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / "user-events-avro.v2.avsc").write_text(json.dumps(v2))
    monkeypatch.setenv(CONTRACTS_DIR_ENV, str(tmp_path))
    missing = check(rows, "user_events_avro_raw")
    assert not missing.success and "expect_column_to_exist(channel): no such column" in missing.summary()
    assert check(rows.assign(channel=[None] * 10 + ["web"] * 10), "user_events_avro_raw").success
    wrong = check(rows.assign(channel=[None] * 19 + ["fax"]), "user_events_avro_raw")
    assert [(f["column"], f["unexpected"]) for f in wrong.failures] == [("channel", 1)]
