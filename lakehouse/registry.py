"""The pipeline registry: every declaration in `lakehouse/pipelines/`, checked to agree with itself
and with the contracts, and the one place the rest of the platform asks about pipelines.

Adding a pipeline is a new module in `lakehouse/pipelines/` (its `PIPELINE`) plus its Flink SQL
module; settings, tables, views, the replay gate, backfills, Dagster's assets and checks and the
benchmark follow from the declaration.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from lakehouse import pipelines as declarations
from lakehouse import sql_pipelines
from lakehouse.cdc import source_problems
from lakehouse.contracts import contract, schema_problems
from lakehouse.pipeline import (
    EVENT_TIME_FIELD,
    ROUTED,
    Between,
    Checks,
    ContractFields,
    NotNull,
    OneOf,
    Param,
    Pipeline,
    PipelineSettings,
    Scenario,
    Table,
    Topic,
    Unique,
    WindowLength,
)
from lakehouse.scenarios.base import Event, ScenarioOptions

PIPELINES_DIR = Path(declarations.__path__[0])
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
SQL_TYPES = re.compile(r"^(STRING|VARCHAR|INT|BIGINT|DOUBLE|BOOLEAN|DATE|TIMESTAMP|DECIMAL\(\d+, ?\d+\))$")
COMPUTED_COLUMNS = ("window_length_s",)  # added by the quality checks from the window bounds


class RegistryError(Exception):
    """Declarations that do not agree; the message lists every problem."""


@dataclass(frozen=True)
class Registry:
    """The declared pipelines, in declaration order (module name order)."""

    pipelines: tuple[Pipeline, ...]
    # SQL pipelines left out, name -> why (not planned, or changed since): `kappa pipeline plan` fixes it
    left_out: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        problems = validate(self.pipelines)
        if problems:
            raise RegistryError("pipeline declarations disagree:\n  " + "\n  ".join(problems))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.pipelines)

    @property
    def live(self) -> tuple[Pipeline, ...]:
        """The pipelines the platform runs (started by `kappa up`, in Dagster, behind views)."""
        return tuple(p for p in self.pipelines if p.live)

    def get(self, name: str) -> Pipeline:
        for p in self.pipelines:
            if p.name == name:
                return p
        raise KeyError(f"unknown pipeline {name!r}; known: {', '.join(self.names)}")

    @property
    def captured(self) -> tuple[Pipeline, ...]:
        """The live pipelines that mirror a database table (change data capture)."""
        return tuple(p for p in self.live if p.source is not None)

    @property
    def topics(self) -> dict[str, Topic]:
        """The live pipelines' topics by name (several pipelines may read one topic)."""
        return {p.topic.name: p.topic for p in self.live}

    @property
    def scenarios(self) -> dict[str, tuple[Scenario, Topic]]:
        """Scenario name -> (generator, the topic it fills), for `kappa produce --scenario`."""
        return {t.scenario.name: (t.scenario, t) for t in self.topics.values() if t.scenario is not None}

    def owner(self, table: str) -> tuple[Pipeline, Table]:
        """The live pipeline and declared table behind a base table name."""
        for p in self.live:
            for t in p.tables:
                if t.name == table:
                    return p, t
        raise KeyError(f"no pipeline writes a table named {table!r}")

    def extended(self, *extra: Pipeline) -> Registry:
        """These pipelines and `extra` (tests, and users' own declarations), checked together."""
        return Registry((*self.pipelines, *extra), self.left_out)


@cache
def python_pipelines() -> tuple[Pipeline, ...]:
    """Every `PIPELINE` declared in a module of `lakehouse/pipelines/`."""
    found = []
    for info in sorted(pkgutil.iter_modules(declarations.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{declarations.__name__}.{info.name}")
        pipeline = getattr(module, "PIPELINE", None)
        if not isinstance(pipeline, Pipeline):
            raise RegistryError(f"{module.__name__} declares no PIPELINE")
        found.append(pipeline)
    return tuple(found)


@cache
def default_registry() -> Registry:
    """The pipelines declared in modules of `lakehouse/pipelines/`, then those written in SQL there
    (`<name>.toml` and `<name>.sql`), which read topics the modules declare. A SQL pipeline that is
    not planned, or changed since, is left out (`left_out` says why) and the others load."""
    found = python_pipelines()
    topics = {p.topic.name: p.topic for p in found}
    written_in_sql, left_out = [], []
    for declaration in sql_pipelines.declarations(PIPELINES_DIR):
        try:
            written_in_sql.append(sql_pipelines.load(declaration, topics))
        except sql_pipelines.SqlPipelineError as exc:  # one user's unplanned SQL must not stop the platform
            left_out.append((declaration.stem, str(exc)))
    return Registry(found + tuple(written_in_sql), tuple(left_out))


# --- validation ---------------------------------------------------------------------------------


def validate(pipelines: Iterable[Pipeline]) -> list[str]:
    """Every disagreement among the declarations (empty when they agree)."""
    problems: list[str] = []
    pipelines = tuple(pipelines)
    seen_names: set[str] = set()
    tables: dict[str, str] = {t.name: "the platform (shared)" for t in ROUTED}
    topics: dict[str, Topic] = {}
    scenarios: dict[str, str] = {}
    dailies: dict[str, str] = {}
    for p in pipelines:
        where = f"pipeline {p.name}"
        if not NAME.match(p.name):
            problems.append(f"{where}: the name must be lower case letters, digits and underscores")
        if p.name in seen_names:
            problems.append(f"{where}: declared twice")
        seen_names.add(p.name)
        problems += _topic_problems(p, topics, scenarios)
        problems += _settings_problems(p)
        if not _module_exists(p.module):
            problems.append(f"{where}: SQL module {p.module} not found")
        roles = [t.role for t in p.tables]
        if {t.role for t in ROUTED} & set(roles):
            problems.append(f"{where}: roles {', '.join(t.role for t in ROUTED)} are the shared tables'")
        if len(set(roles)) != len(roles):
            problems.append(f"{where}: a role is declared twice ({', '.join(roles)})")
        if p.live and "raw" not in roles:
            problems.append(f"{where}: a live pipeline lands its topic in a table of role 'raw'")
        for t in p.tables:
            if t.name in tables:
                problems.append(f"{where}: table {t.name} is already written by {tables[t.name]}")
            tables[t.name] = f"pipeline {p.name}"
            problems += _table_problems(p, t)
        for d in p.daily:
            if d.name in dailies or d.name in tables:
                owner = dailies.get(d.name, "a table")
                problems.append(f"{where}: daily table {d.name} is already declared by {owner}")
            dailies[d.name] = f"pipeline {p.name}"
            published = {t.role for t in p.published}
            for role in d.sources:
                if role not in published:
                    problems.append(f"{where}: daily {d.name} reads {role!r}, which is not a published table")
            if "{views}" not in d.select or "bounds" not in d.select:
                problems.append(f"{where}: daily {d.name} must read `{{views}}.<table>` and the `bounds` relation")
            problems += [f"{where}: daily {d.name}: {x}" for x in _column_type_problems(d.columns)]
    return problems + source_problems(pipelines)


def _module_exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _topic_problems(p: Pipeline, topics: dict[str, Topic], scenarios: dict[str, str]) -> list[str]:
    where, topic = f"pipeline {p.name}", p.topic
    problems = []
    if not TOPIC_NAME.match(topic.name):
        problems.append(f"{where}: {topic.name!r} is not a Kafka topic name")
    if topic.name in topics and topics[topic.name] != topic:
        problems.append(f"{where}: topic {topic.name} is declared differently by another pipeline "
                        "(import that pipeline's TOPIC instead)")
    topics.setdefault(topic.name, topic)
    if topic.partitions < 1:
        problems.append(f"{where}: topic {topic.name} needs at least one partition")
    if topic.contract_version is not None:
        try:
            schema = contract(topic.name, topic.contract_version)
            if EVENT_TIME_FIELD not in schema.get("properties", {}):
                problems.append(f"{where}: the contract of {topic.name} has no {EVENT_TIME_FIELD!r} (event time)")
            problems += [f"{where}: the contract of {topic.name}: {p}" for p in schema_problems(schema)]
        except KeyError as exc:
            problems.append(f"{where}: {exc.args[0]}")
    elif p.live and p.source is None:
        problems.append(f"{where}: a live pipeline's topic needs a contract (or a captured source table)")
    if topic.scenario is not None:
        owner = scenarios.get(topic.scenario.name)
        if owner is not None and owner != topic.name:
            problems.append(f"{where}: scenario {topic.scenario.name} already fills topic {owner}")
        scenarios[topic.scenario.name] = topic.name
    return problems


def _settings_problems(p: Pipeline) -> list[str]:
    where = f"pipeline {p.name}"
    if not (isinstance(p.settings, type) and issubclass(p.settings, PipelineSettings)):
        return [f"{where}: settings must subclass lakehouse.pipeline.PipelineSettings"]
    try:
        p.settings()
    except Exception as exc:  # a field without a default
        return [f"{where}: every setting needs a default ({' '.join(str(exc).split())})"]
    return []


def _table_problems(p: Pipeline, t: Table) -> list[str]:
    where = f"pipeline {p.name}, table {t.name}"
    problems = []
    if not NAME.match(t.name) or not NAME.match(t.role):
        problems.append(f"{where}: names and roles are lower case letters, digits and underscores")
    problems += [f"{where}: {x}" for x in _column_type_problems(t.columns)]
    columns = dict(t.columns)
    if t.day_partition is not None and columns.get(t.day_partition) != "TIMESTAMP":
        problems.append(f"{where}: day partition {t.day_partition!r} is not a TIMESTAMP column")
    fields = set(p.settings.model_fields) if isinstance(p.settings, type) else set()
    if t.published and (t.gate is None or t.checks is None):
        problems.append(f"{where}: a published table needs its gate measures and its quality checks")
    if t.gate is not None:
        for column in (t.gate.time, *t.gate.measures):
            if column not in columns:
                problems.append(f"{where}: the gate compares {column!r}, which is not a column")
        for name in t.gate.changed_by:
            if name not in fields and not (p.sql is not None and name == "query"):  # a SQL pipeline's digest
                problems.append(f"{where}: the gate names setting {name!r}, which {p.name} does not have")
    if t.checks is not None:
        problems += [f"{where}: {x}" for x in _check_problems(t, t.checks, set(columns), fields)]
    return problems


def _column_type_problems(columns: Iterable[tuple[str, str]]) -> list[str]:
    problems = []
    names = [n for n, _ in columns]
    if len(set(names)) != len(names):
        problems.append("a column is declared twice")
    for name, sql_type in columns:
        if not NAME.match(name):
            problems.append(f"column {name!r}: lower case letters, digits and underscores")
        if not SQL_TYPES.match(sql_type):
            problems.append(f"column {name}: unknown type {sql_type!r}")
    return problems


def _check_problems(t: Table, checks: Checks, columns: set[str], fields: set[str]) -> list[str]:
    problems = []
    usable = columns | set(COMPUTED_COLUMNS)

    def need(*names: str) -> None:
        for n in names:
            if n not in usable:
                problems.append(f"the quality checks name {n!r}, which is not a column")

    def need_setting(bound: Any) -> None:
        if isinstance(bound, Param) and bound.name not in fields:
            problems.append(f"the quality checks name setting {bound.name!r}, which the pipeline does not have")

    need(*checks.keys)
    for e in checks.expectations:
        if isinstance(e, NotNull | Unique):
            need(*e.columns)
        elif isinstance(e, Between):
            need(e.column)
            need_setting(e.low)
            need_setting(e.high)
        elif isinstance(e, OneOf):
            need(e.column)
        elif isinstance(e, WindowLength):
            need("window_start", "window_end")
            need_setting(Param(e.param))
        elif isinstance(e, ContractFields) and t.role != "raw" and not (e.topic and t.role.startswith("raw_")):
            problems.append("ContractFields applies to a raw table only")
    return problems


def generate(scenario: str, opts: ScenarioOptions, registry: Registry | None = None) -> Iterator[Event]:
    """The events of a declared scenario (KeyError, naming the known ones, for another name)."""
    scenarios = (registry or default_registry()).scenarios
    if scenario not in scenarios:
        raise KeyError(f"unknown scenario {scenario!r}; choose one of: {', '.join(sorted(scenarios))}")
    return scenarios[scenario][0].generate(opts)
