"""Each table's quality checks (declared with the pipeline) as a Great Expectations suite.

`dagster-ge` only supports GX < 1.0, so the checks call GX 1.x directly: an ephemeral context, a
pandas data source, and a `ValidationDefinition` per run. Every failure lists the failing rows' keys.
Used by Dagster's asset checks and as the blocking gate of backfills.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import great_expectations.expectations as gxe_types
    import pandas as pd

from lakehouse.contracts import contract
from lakehouse.pipeline import (
    EVENT_TIME_FIELD,
    Between,
    Bound,
    ContractFields,
    Expectation,
    NotNull,
    OneOf,
    Param,
    Pipeline,
    Table,
    Unique,
    WindowLength,
)


@dataclass
class SuiteResult:
    table: str
    success: bool
    rows: int
    failures: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        if self.success:
            return f"{self.table}: {self.rows} rows, every expectation met"
        parts = [f"{f['expectation']}({f.get('column') or ','.join(f.get('columns', []))}): "
                 + (f"{f['unexpected']} rows" if isinstance(f["unexpected"], int) else str(f["unexpected"]))
                 for f in self.failures]
        return f"{self.table}: " + "; ".join(parts)


def _bound(value: Bound, params: dict[str, Any]) -> Any:
    return params[value.name] if isinstance(value, Param) else value


def _gxe() -> ModuleType:
    """Great Expectations' expectations, imported when a suite is built (importing GX takes seconds,
    which every `kappa` command would pay otherwise)."""
    import great_expectations.expectations as gxe

    return gxe


def _contract_fields(pipeline: Pipeline, topic_name: str) -> list[gxe_types.Expectation]:
    """Every field of the contract's version a column (a new version's field too, once applied), the
    required ones never null, values within their enums and ranges (a null is not checked there)."""
    topic = next(t for t in pipeline.topics if t.name == (topic_name or pipeline.topic.name))
    assert topic.contract_version is not None
    schema = contract(topic.name, topic.contract_version)
    out: list[gxe_types.Expectation] = []
    for name, prop in schema["properties"].items():
        if name == EVENT_TIME_FIELD:
            continue
        out.append(_gxe().ExpectColumnToExist(column=name))
        if name in schema.get("required", ()):
            out.append(_gxe().ExpectColumnValuesToNotBeNull(column=name))
        if "enum" in prop:
            out.append(_gxe().ExpectColumnValuesToBeInSet(column=name, value_set=prop["enum"]))
        if "minimum" in prop or "maximum" in prop:
            out.append(_gxe().ExpectColumnValuesToBeBetween(column=name, min_value=prop.get("minimum"),
                                                         max_value=prop.get("maximum")))
    return out


def _expectations(e: Expectation, pipeline: Pipeline, params: dict[str, Any]) -> list[gxe_types.Expectation]:
    if isinstance(e, NotNull):
        return [_gxe().ExpectColumnValuesToNotBeNull(column=c) for c in e.columns]
    if isinstance(e, Unique):
        return [_gxe().ExpectCompoundColumnsToBeUnique(column_list=list(e.columns))]
    if isinstance(e, Between):
        low, high = _bound(e.low, params), _bound(e.high, params)
        if e.strict_low:
            return [_gxe().ExpectColumnValuesToBeBetween(column=e.column, min_value=low, max_value=high,
                                                      strict_min=True)]
        return [_gxe().ExpectColumnValuesToBeBetween(column=e.column, min_value=low, max_value=high)]
    if isinstance(e, OneOf):
        return [_gxe().ExpectColumnValuesToBeInSet(column=e.column, value_set=e.values(params))]
    if isinstance(e, WindowLength):
        seconds = int(params[e.param]) * 60
        return [_gxe().ExpectColumnValuesToBeBetween(column="window_length_s", min_value=seconds, max_value=seconds)]
    if isinstance(e, ContractFields):
        return _contract_fields(pipeline, e.topic)
    raise TypeError(f"unknown expectation {e!r}")


def expectations(pipeline: Pipeline, table: Table, params: dict[str, Any]) -> list[gxe_types.Expectation]:
    """The table's declared checks with the pipeline's settings filled in."""
    assert table.checks is not None
    return [x for e in table.checks.expectations for x in _expectations(e, pipeline, params)]


def prepare(df: pd.DataFrame, table: Table) -> pd.DataFrame:
    import pandas as pd  # a second to import with its dependencies: only the checks pay
    df = df.reset_index(drop=True)
    windowed = table.checks is not None and any(isinstance(e, WindowLength) for e in table.checks.expectations)
    if windowed and {"window_start", "window_end"} <= set(df.columns):
        df = df.assign(window_length_s=(pd.to_datetime(df["window_end"]) - pd.to_datetime(df["window_start"]))
                       .dt.total_seconds())
    return df


def validate(df: pd.DataFrame, pipeline: Pipeline, table: Table, params: dict[str, Any],
             max_keys: int = 20) -> SuiteResult:
    """Run the table's suite on a dataframe; failures carry up to `max_keys` failing rows' keys."""
    if table.checks is None:
        return SuiteResult(table.name, True, len(df))
    df = prepare(df, table)
    import great_expectations as gx  # GX takes seconds to import: only when checks run
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch = (context.data_sources.add_pandas("kappa").add_dataframe_asset(table.name)
             .add_batch_definition_whole_dataframe("latest"))
    gx_suite = context.suites.add(gx.ExpectationSuite(name=table.name,
                                                      expectations=expectations(pipeline, table, params)))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{table.name}-check", data=batch, suite=gx_suite))
    result_format = {"result_format": "COMPLETE", "unexpected_index_column_names": list(table.checks.keys)}
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
            "unexpected": "no such column" if cfg.type == "expect_column_to_exist" else
                          info.get("unexpected_count", len(index)),
            "keys": [{k: str(v) for k, v in row.items()} if isinstance(row, dict) else row for row in index[:max_keys]],
        })
    return SuiteResult(table.name, bool(result.success), len(df), failures)
