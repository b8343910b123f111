"""One Great Expectations suite per table, as code.

`dagster-ge` only supports GX < 1.0, so the checks call GX 1.x directly: an ephemeral context, a
pandas data source, and a `ValidationDefinition` per run. Every failure lists the failing rows' keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig

from lakehouse.contracts import contract

Expectations = Callable[[dict[str, Any]], list[gxe.Expectation]]


@dataclass(frozen=True)
class Suite:
    """Expectations for one table; `params` are the job's settings (window sizes, thresholds)."""

    table: str
    keys: tuple[str, ...]
    expectations: Expectations
    window_minutes_param: str | None = None  # adds a `window_length_s` column to check window sizes
    description: str = ""


@dataclass
class SuiteResult:
    table: str
    success: bool
    rows: int
    failures: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        if self.success:
            return f"{self.table}: {self.rows} rows, every expectation met"
        parts = [f"{f['expectation']}({f.get('column') or ','.join(f.get('columns', []))}): {f['unexpected']} rows"
                 for f in self.failures]
        return f"{self.table}: " + "; ".join(parts)


def _window(keys: tuple[str, ...], measures: dict[str, tuple[float | None, float | None]]) -> Expectations:
    def build(params: dict[str, Any]) -> list[gxe.Expectation]:
        out: list[gxe.Expectation] = [gxe.ExpectColumnValuesToNotBeNull(column=k) for k in keys]
        out.append(gxe.ExpectCompoundColumnsToBeUnique(column_list=list(keys)))
        for column, (lo, hi) in measures.items():
            out.append(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=lo, max_value=hi))
        return out
    return build


def _size_check(param: str) -> Expectations:
    def build(params: dict[str, Any]) -> list[gxe.Expectation]:
        seconds = int(params[param]) * 60
        return [gxe.ExpectColumnValuesToBeBetween(column="window_length_s", min_value=seconds, max_value=seconds)]
    return build


def _raw(topic: str, keys: tuple[str, ...]) -> Expectations:
    def build(params: dict[str, Any]) -> list[gxe.Expectation]:
        schema = contract(topic)
        out: list[gxe.Expectation] = [gxe.ExpectColumnValuesToNotBeNull(column=k) for k in keys]
        out.append(gxe.ExpectCompoundColumnsToBeUnique(column_list=["kafka_partition", "kafka_offset"]))
        for name, prop in schema["properties"].items():
            if name == "timestamp" or name not in schema.get("required", ()):
                continue
            out.append(gxe.ExpectColumnValuesToNotBeNull(column=name))
            if "enum" in prop:
                out.append(gxe.ExpectColumnValuesToBeInSet(column=name, value_set=prop["enum"]))
            if "minimum" in prop or "maximum" in prop:
                out.append(gxe.ExpectColumnValuesToBeBetween(column=name, min_value=prop.get("minimum"),
                                                             max_value=prop.get("maximum")))
        return out
    return build


def _combine(*parts: Expectations) -> Expectations:
    return lambda params: [e for part in parts for e in part(params)]


def _rules(column: str, values: Callable[[dict[str, Any]], list[str]]) -> Expectations:
    return lambda params: [gxe.ExpectColumnValuesToBeInSet(column=column, value_set=values(params))]


def _suspicious_rules(p: dict[str, Any]) -> list[str]:
    n, total = p["suspicious_count_above"], p["suspicious_total_above"]
    return [f"count > {n} and total > {total}", f"count > {n}", f"total > {total}"]


def _sensor_rules(p: dict[str, Any]) -> list[str]:
    return [f"temperature > {float(p['temperature_above'])!r}", f"humidity > {float(p['humidity_above'])!r}"]


WINDOW = ("window_start", "window_end")
SUITES: dict[str, Suite] = {s.table: s for s in (
    Suite("transactions_raw", ("transaction_id",), _raw("transactions", ("transaction_id", "event_time"))),
    Suite("transactions_5m", (*WINDOW, "user_id"), _combine(
        _window((*WINDOW, "user_id"), {"transaction_count": (1, None), "total_amount": (0, None)}),
        _size_check("window_size_min")), window_minutes_param="window_size_min"),
    Suite("suspicious_activity", (*WINDOW, "user_id"), _combine(
        _window((*WINDOW, "user_id", "alert_id"), {"transaction_count": (1, None)}),
        _rules("rule", _suspicious_rules), _size_check("suspicious_window_min")),
        window_minutes_param="suspicious_window_min"),
    Suite("user_events_raw", ("event_id",), _raw("user-events", ("event_id", "event_time"))),
    Suite("user_spend_5m", (*WINDOW, "user_id"), _combine(
        _window((*WINDOW, "user_id"), {"transaction_count": (1, None), "total_spent": (0, None)}),
        _size_check("spend_window_min")), window_minutes_param="spend_window_min"),
    Suite("fraud_alerts", (*WINDOW, "user_id"), _combine(
        _window((*WINDOW, "user_id", "alert_id"), {"total_spent": (0, None)}),
        lambda p: [gxe.ExpectColumnValuesToBeBetween(column="total_spent", min_value=p["fraud_total_above"],
                                                     strict_min=True)]), window_minutes_param="spend_window_min"),
    Suite("suspicious_patterns", ("user_id", "failed_event_id"), _window(
        ("user_id", "failed_event_id", "success_event_id", "purchase_event_id"), {"purchase_amount": (0, None)})),
    Suite("user_sessions", ("user_id", "session_start"), _window(
        ("user_id", "session_start", "session_end"), {"event_count": (1, None), "purchases": (0, None)})),
    Suite("iot_sensors_raw", ("sensor_id", "event_time"), _raw("iot-sensors", ("sensor_id", "event_time"))),
    Suite("sensor_stats_1m", (*WINDOW, "sensor_id"), _combine(
        _window((*WINDOW, "sensor_id", "location"),
                {"reading_count": (1, None), "min_temperature": (-60, 90), "max_temperature": (-60, 90),
                 "min_humidity": (0, 100), "max_humidity": (0, 100)}),
        _size_check("stats_window_min")), window_minutes_param="stats_window_min"),
    Suite("sensor_alerts", ("sensor_id", "event_time", "rule"), _combine(
        _window(("sensor_id", "event_time", "rule"), {}), _rules("rule", _sensor_rules))),
)}


def prepare(df: pd.DataFrame, suite: Suite) -> pd.DataFrame:
    df = df.reset_index(drop=True)
    if suite.window_minutes_param and {"window_start", "window_end"} <= set(df.columns):
        df = df.assign(window_length_s=(pd.to_datetime(df["window_end"]) - pd.to_datetime(df["window_start"]))
                       .dt.total_seconds())
    return df


def validate(df: pd.DataFrame, suite: Suite, params: dict[str, Any], max_keys: int = 20) -> SuiteResult:
    """Run the suite on a dataframe; failures carry up to `max_keys` failing rows' keys."""
    df = prepare(df, suite)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch = (context.data_sources.add_pandas("kappa").add_dataframe_asset(suite.table)
             .add_batch_definition_whole_dataframe("latest"))
    gx_suite = context.suites.add(gx.ExpectationSuite(name=suite.table, expectations=suite.expectations(params)))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{suite.table}-check", data=batch, suite=gx_suite))
    result_format = {"result_format": "COMPLETE", "unexpected_index_column_names": list(suite.keys)}
    result = definition.run(batch_parameters={"dataframe": df}, result_format=result_format)
    failures = []
    for r in result.results:
        if r.success:
            continue
        cfg = r.expectation_config
        assert cfg is not None
        info = r.result or {}
        index = info.get("unexpected_index_list") or []
        failures.append({
            "expectation": cfg.type, "column": cfg.kwargs.get("column"), "columns": cfg.kwargs.get("column_list", []),
            "unexpected": info.get("unexpected_count", len(index)),
            "keys": [{k: str(v) for k, v in row.items()} if isinstance(row, dict) else row for row in index[:max_keys]],
        })
    return SuiteResult(suite.table, bool(result.success), len(df), failures)
