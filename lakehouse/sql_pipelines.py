"""Pipelines written in SQL: `lakehouse/pipelines/<name>.sql` plus its declaration `<name>.toml`.

The SQL file holds `CREATE VIEW name AS SELECT ...` statements in Flink SQL (windows, `HAVING`,
`MATCH_RECOGNIZE`, joins). It reads the declared topic by the topic's name with `-` and `.` as `_`
(`transactions`, `user_events`): the events its contract accepted and the watermark had not passed.
Malformed and late events are routed before the SQL sees them, as for every pipeline. `${name}` is
replaced by the setting `name` (`[settings]` in the declaration, overridable in `[jobs.<name>]`).

The declaration names the topic, and for each view written to Iceberg: its table, keys, day
partition and gate measures. The columns come from the query itself: `kappa pipeline plan NAME`
plans the SQL on Flink and records each view's schema in `<name>.schema.json` beside it, with a
digest of the SQL and the contract it was planned against; the registry refuses a pipeline whose
SQL or contract changed since (run `kappa pipeline plan` again).

Nothing here imports an engine: the planning itself runs in Flink's environment (flink_jobs/sql_plan.py).
"""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import create_model

from lakehouse.contracts import contract
from lakehouse.pipeline import (
    Between,
    Bound,
    Checks,
    ContractFields,
    Expectation,
    Gate,
    NotNull,
    OneOf,
    Param,
    Pipeline,
    PipelineSettings,
    SqlQuery,
    Table,
    Topic,
    Unique,
    WindowLength,
    raw,
)
from lakehouse.sql_text import SqlPipelineError, digest, stream_name, substitute, views

MODULE = "flink_jobs.sql_pipeline"  # the one Flink module that runs every SQL pipeline
_DECLARATION_KEYS = {"description", "topic", "joins", "autostart", "settings", "tables", "alerts"}
_ALERT_KEYS = {"view", "entity"}
_RULE = re.compile(r"^[a-z][a-z0-9_]*$")
_EXPECTATION_KEYS = {"min", "max", "not_null", "unique", "accepted", "window_minutes"}
_TABLE_KEYS = {"view", "keys", "day_partition", "gate_time", "measures", "published", "description"} | _EXPECTATION_KEYS
_SETTING = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def schema_path(declaration: Path) -> Path:
    return declaration.with_suffix(".schema.json")


def recorded_schema(declaration: Path) -> dict[str, Any] | None:
    path = schema_path(declaration)
    return json.loads(path.read_text()) if path.exists() else None


@dataclass(frozen=True)
class Draft:
    """A SQL pipeline as declared, before its views' columns are known (what planning needs)."""

    name: str
    declaration: Path
    sql_file: Path
    description: str
    topic: Topic
    settings: type[PipelineSettings]
    views: tuple[tuple[str, str, int], ...]  # (view, query, the query's first line in the file)
    tables: dict[str, dict[str, Any]]
    digest: str  # of the SQL and the contract, read once by `declare`
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)  # rule -> [alerts.<rule>]
    joined: tuple[Topic, ...] = ()  # the other topics the SQL reads (`joins`)

    @property
    def topics(self) -> tuple[Topic, ...]:
        return (self.topic, *self.joined)


    def rendered_views(self, params: dict[str, Any] | None = None) -> list[tuple[str, str, int]]:
        """The views with the settings (defaults, or `params`) substituted."""
        values = self.settings().params() if params is None else params
        return [(v, substitute(q, values, f"{self.sql_file.name}, line {line}: "), line) for v, q, line in self.views]


def _known_keys(where: str, section: dict[str, Any], known: set[str]) -> None:
    unknown = set(section) - known
    if unknown:
        raise SqlPipelineError(f"{where}unknown keys {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")


def declare(declaration: Path, topics: dict[str, Topic]) -> Draft:
    """Read a `<name>.toml` and the `<name>.sql` beside it. `topics`: the topics the other pipelines
    declare, by name."""
    name = declaration.stem
    where = f"{declaration.name}: "
    try:
        decl = tomllib.loads(declaration.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SqlPipelineError(f"{where}{exc}") from None
    _known_keys(where, decl, _DECLARATION_KEYS)
    joins = decl.get("joins", [])
    if not isinstance(joins, list):
        raise SqlPipelineError(f"{where}joins is a list of topics, e.g. joins = [\"user-events\"]")
    names = [str(decl.get("topic", "")), *(str(j) for j in joins)]
    for topic_name in names:
        if topic_name not in topics:
            raise SqlPipelineError(f"{where}topic {topic_name!r} is not declared by any pipeline "
                                   f"(known: {', '.join(sorted(topics))})")
        if topics[topic_name].contract_version is None:
            raise SqlPipelineError(f"{where}topic {topic_name} has no contract to parse its events with")
    streams = [stream_name(n) for n in names]
    if len(set(streams)) < len(streams):
        raise SqlPipelineError(f"{where}a topic is read twice ({', '.join(names)}): "
                               "join a topic with itself in the SQL")
    topic, joined = topics[names[0]], tuple(topics[n] for n in names[1:])
    sql_file = declaration.with_suffix(".sql")
    if not sql_file.exists():
        raise SqlPipelineError(f"{where}{sql_file.name} is missing")
    tables = {str(k): dict(v) for k, v in dict(decl.get("tables", {})).items()}
    if not tables:
        raise SqlPipelineError(f"{where}declare at least one table ([tables.<name>] with the view it stores)")
    settings = dict(decl.get("settings", {}))
    query = digest(sql_file.read_text(), *(_contract(t) for t in (topic, *joined)))
    draft = Draft(name, declaration, sql_file, str(decl.get("description", f"{topic.name} -> SQL ({sql_file.name})")),
                  topic, _settings_model(name, settings, bool(decl.get("autostart", False)), query),
                  views(sql_file), tables, query, {str(k): dict(v) for k, v in dict(decl.get("alerts", {})).items()},
                  joined)
    draft.rendered_views()  # every ${setting} is declared
    return draft


def _contract(topic: Topic) -> dict[str, Any]:
    """The contract a topic's events are parsed with (declare refuses a topic without one)."""
    if topic.contract_version is None:
        raise SqlPipelineError(f"topic {topic.name} has no contract to parse its events with")
    return contract(topic.name, topic.contract_version)


def load(declaration: Path, topics: dict[str, Topic]) -> Pipeline:
    """The pipeline a `<name>.toml` declares, with the columns `kappa pipeline plan` recorded."""
    draft = declare(declaration, topics)
    where = f"{declaration.name}: "
    schema = recorded_schema(declaration)
    if schema is None or schema.get("digest") != draft.digest:
        state = "has not been planned" if schema is None else "changed since it was planned"
        raise SqlPipelineError(f"{where}{draft.sql_file.name} {state}: run `kappa pipeline plan {draft.name}` "
                               f"(it records the views' columns in {schema_path(declaration).name})")
    columns: dict[str, tuple[tuple[str, str], ...]] = {
        v: tuple((c, t) for c, t in cols) for v, cols in schema["views"].items()}
    view_names = [v for v, _, _ in draft.views]
    topic = draft.topic
    tables = [_landing(draft.name, t, i > 0) for i, t in enumerate(draft.topics)]
    inputs = tuple((stream_name(t.name), t.name, tables[i + 1].role) for i, t in enumerate(draft.joined))
    changed_by = (*[f for f in draft.settings.model_fields if f not in PipelineSettings.model_fields],
                  SqlPipelineSettings.CHANGED_BY_QUERY)
    landed = len(tables)
    tables += [_table(where, table_name, spec, view_names, columns, changed_by, set(draft.settings.model_fields))
               for table_name, spec in draft.tables.items()]
    stored = {t.role: t for t in tables[landed:]}
    alerts = tuple(_alert(where, rule, spec, stored) for rule, spec in draft.alerts.items())
    return Pipeline(
        name=draft.name, description=draft.description, topic=topic, module=MODULE, settings=draft.settings,
        tables=tuple(tables), joined=draft.joined,
        sql=SqlQuery(str(draft.sql_file), stream_name(topic.name), tuple((v, q) for v, q, _ in draft.views),
                     tuple((t.role, t.name) for t in tables[landed:]), draft.digest, alerts, inputs),
    )


def _landing(pipeline: str, topic: Topic, joined: bool) -> Table:
    """The raw table of a topic the pipeline reads: role `raw` for its own, `raw_<stream>` for a joined one."""
    checks = Checks(("kafka_partition", "kafka_offset"), (
        NotNull(("event_time",)), Unique(("kafka_partition", "kafka_offset")),
        ContractFields(topic.name if joined else "")))
    if not joined:
        return raw(f"{pipeline}_raw", topic, gate=Gate("event_time", ()), checks=checks)
    stream = stream_name(topic.name)
    return dataclasses.replace(raw(f"{pipeline}_raw_{stream}", topic, gate=Gate("event_time", ()), checks=checks),
                               role=f"raw_{stream}")


class SqlPipelineSettings(PipelineSettings):
    """A SQL pipeline's settings: those its declaration gives, plus `query`, the digest of its SQL,
    among what the job is given, so that a replay's gate knows the query changed."""

    QUERY: ClassVar[str] = ""
    # the gate compares a SQL pipeline's tables expecting a difference when `query` changed
    CHANGED_BY_QUERY: ClassVar[str] = "query"

    def params(self) -> dict[str, Any]:
        return {**super().params(), self.CHANGED_BY_QUERY: self.QUERY}


def _settings_model(name: str, defaults: dict[str, Any], autostart: bool, query: str) -> type[PipelineSettings]:
    reserved = set(PipelineSettings.model_fields) & set(defaults)
    if reserved:
        raise SqlPipelineError(f"{name}.toml: [settings] {', '.join(sorted(reserved))} belong to every pipeline "
                               f"(set them in [jobs.{name}] of kappa.toml)")
    fields: dict[str, Any] = {k: (type(v), v) for k, v in defaults.items()}
    fields["autostart"] = (bool, autostart)
    model: type[SqlPipelineSettings] = create_model(  # type: ignore[call-overload]
        f"{name}_settings", __base__=SqlPipelineSettings, __doc__=f"{name}: a SQL pipeline's settings", **fields)
    model.QUERY = query
    return model


def _table(where: str, name: str, spec: dict[str, Any], views: list[str],
           columns: dict[str, tuple[tuple[str, str], ...]], changed_by: tuple[str, ...], settings: set[str]) -> Table:
    _known_keys(f"{where}[tables.{name}]: ", spec, _TABLE_KEYS)
    view = str(spec.get("view", name))
    if view not in views:
        raise SqlPipelineError(f"{where}[tables.{name}] stores view {view!r}, which the SQL does not create "
                               f"(it creates: {', '.join(views)})")
    cols = columns.get(view)
    if cols is None:
        raise SqlPipelineError(f"{where}view {view} has no recorded columns: run `kappa pipeline plan`")
    keys = tuple(spec.get("keys", ()))
    measures = tuple(spec.get("measures", ()))
    expectations: list[Expectation] = [NotNull(keys), Unique(keys)] if keys else []
    expectations += _expectations(f"{where}[tables.{name}]: ", spec, [c for c, _ in cols], settings)
    time_col = str(spec.get("gate_time", ""))
    if not time_col:
        timestamps = [c for c, t in cols if t == "TIMESTAMP"]
        time_col = "window_end" if "window_end" in timestamps else (timestamps[0] if timestamps else "")
    return Table(role=view, name=name, columns=cols,
                 description=str(spec.get("description", f"view {view} of the pipeline's SQL")),
                 day_partition=spec.get("day_partition"), published=bool(spec.get("published", True)),
                 gate=Gate(time_col, measures, changed_by), checks=Checks(keys or (cols[0][0],), tuple(expectations)))


@dataclass(frozen=True)
class Accepted:
    """A column's accepted values, as the declaration lists them (an `OneOf` that needs no setting)."""

    values: tuple[Any, ...]

    def __call__(self, params: dict[str, Any]) -> list[Any]:
        return list(self.values)


def _expectations(where: str, spec: dict[str, Any], columns: list[str], settings: set[str]) -> list[Expectation]:
    """A stored view's quality expectations beyond its keys: `min`/`max` bounds (a number or a
    `${setting}`), `not_null` columns, `unique` column sets, `accepted` values and `window_minutes`
    (window_end - window_start: the `${setting}` that sizes the window)."""

    def column(c: Any, key: str) -> str:
        if c not in columns:
            raise SqlPipelineError(f"{where}{key}: {c!r} is not a column of the view ({', '.join(columns)})")
        return str(c)

    def bound(value: Any, key: str) -> Bound:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise SqlPipelineError(f"{where}{key}: a bound is a number or a ${{setting}}, not {value!r}")
        if isinstance(value, (int, float)):
            return value
        match = _SETTING.match(value)
        if match is None or match.group(1) not in settings:
            raise SqlPipelineError(f"{where}{key}: {value!r} is not a number or a ${{setting}} of this pipeline "
                                   f"(settings: {', '.join(sorted(settings))})")
        return Param(match.group(1))

    def table_of(key: str) -> dict[str, Any]:
        value = spec.get(key, {})
        if not isinstance(value, dict):
            raise SqlPipelineError(f"{where}{key} is a table of column = value, e.g. {key} = {{ amount = 0 }}")
        return value

    def names(key: str) -> list[Any]:
        value = spec.get(key, [])
        if not isinstance(value, list):
            raise SqlPipelineError(f"{where}{key} is a list of columns")
        return value

    lows, highs = table_of("min"), table_of("max")
    out: list[Expectation] = [
        Between(column(c, "min" if c in lows else "max"),
                bound(lows[c], f"min.{c}") if c in lows else None,
                bound(highs[c], f"max.{c}") if c in highs else None)
        for c in dict.fromkeys([*lows, *highs])]
    not_null = tuple(column(c, "not_null") for c in names("not_null"))
    out += [NotNull(not_null)] if not_null else []
    for group in names("unique"):
        cols = group if isinstance(group, list) else [group]
        out.append(Unique(tuple(column(c, "unique") for c in cols)))
    for c, values in table_of("accepted").items():
        if not isinstance(values, list) or not values:
            raise SqlPipelineError(f"{where}accepted.{c} is a list of the values the column may hold")
        out.append(OneOf(column(c, "accepted"), Accepted(tuple(values))))
    if "window_minutes" in spec:
        if not {"window_start", "window_end"} <= set(columns):
            raise SqlPipelineError(f"{where}window_minutes needs the view's window_start and window_end columns")
        minutes = bound(spec["window_minutes"], "window_minutes")
        if not isinstance(minutes, Param):
            raise SqlPipelineError(f"{where}window_minutes names the setting that sizes the window, as "
                                   f"\"${{window_min}}\", so that a changed setting changes the check too")
        out.append(WindowLength(minutes.name))
    return out


def _alert(where: str, rule: str, spec: dict[str, Any], stored: dict[str, Table]) -> tuple[str, str, str]:
    """An alert rule: every row of a stored view (its columns are recorded) sent to the alerts topic."""
    if not _RULE.match(rule):
        raise SqlPipelineError(f"{where}[alerts.{rule}]: a rule is named in lower case letters, digits and "
                               "underscores")
    _known_keys(f"{where}[alerts.{rule}]: ", spec, _ALERT_KEYS)
    view = str(spec.get("view", ""))
    if view not in stored:
        raise SqlPipelineError(f"{where}[alerts.{rule}] sends view {view!r}, which no [tables.*] stores "
                               f"(stored: {', '.join(stored) or 'none'})")
    entity = str(spec.get("entity", ""))
    columns = stored[view].column_names
    if entity not in columns:
        raise SqlPipelineError(f"{where}[alerts.{rule}]: entity {entity!r} is not a column of view {view} "
                               f"({', '.join(columns)})")
    return rule, view, entity


def declarations(folder: Path) -> list[Path]:
    """The SQL pipelines' declarations in the pipelines folder."""
    return sorted(folder.glob("*.toml"))


def job_sql(pipeline: Pipeline, params: dict[str, Any]) -> dict[str, Any]:
    """What a SQL pipeline's job spec carries: its views with the settings substituted, and the
    columns of each view it writes (empty for a pipeline declared in Python)."""
    if pipeline.sql is None:
        return {}
    q = pipeline.sql
    return {
        "stream": q.stream,
        "views": [[view, substitute(query, params, f"{Path(q.path).name}, view {view}: ")] for view, query in q.views],
        "outputs": [[role, [list(c) for c in pipeline.table(role).columns]] for role, _ in q.outputs],
        **({"alerts": [list(a) for a in q.alerts]} if q.alerts else {}),
        # each joined topic: the name the SQL reads it by, the topic, its raw table's role, its contract
        **({"inputs": [{"stream": stream, "topic": topic.name, "role": role,
                        "contract": _contract(topic)}
                       for (stream, _, role), topic in zip(q.inputs, pipeline.joined, strict=True)]}
           if q.inputs else {}),
    }
