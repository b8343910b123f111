"""Pipelines written in SQL, without Flink: the file's statements and views with their lines, settings
substituted, Flink's types as the lakehouse's, and declarations that load, or are refused or left out
with the reason. Planning and running the SQL are the Flink tier's (tests/flink/test_sql_pipeline.py)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kappa.cli import pipeline_cmds
from kappa.cli.app import app
from kappa.settings import ConfigError, load_settings
from lakehouse.pipeline import Between, NotNull, OneOf, Param, Unique, WindowLength
from lakehouse.registry import PIPELINES_DIR, Registry, default_registry, python_pipelines
from lakehouse.sql_pipelines import declare, job_sql, load
from lakehouse.sql_text import SqlPipelineError, platform_type, statements, substitute, views

pytestmark = pytest.mark.unit
TOPICS = {p.topic.name: p.topic for p in python_pipelines()}


def test_statements_split_at_semicolons_outside_literals_identifiers_and_comments() -> None:
    text = ("-- a comment; not a statement\n"
            "CREATE VIEW a AS SELECT ';' AS s, `x;y` FROM t; /* two\n lines; */\n"
            "\n"
            "CREATE VIEW b AS\n  SELECT 'it''s' AS q FROM t\n")
    found = statements(text)
    assert [(s.line, s.text) for s in found] == [
        (2, "CREATE VIEW a AS SELECT ';' AS s, `x;y` FROM t"),
        (5, "CREATE VIEW b AS\n  SELECT 'it''s' AS q FROM t"),
    ]


def test_views_carry_their_querys_first_line_and_anything_else_is_refused(tmp_path: Path) -> None:
    sql = tmp_path / "p.sql"
    sql.write_text("-- header\nCREATE VIEW first AS\nSELECT 1 AS one FROM t;\ncreate temporary view second as select 2 "
                   "AS two FROM t;\n")
    assert [(v, line) for v, _, line in views(sql)] == [("first", 3), ("second", 4)]
    sql.write_text("CREATE VIEW ok AS SELECT 1 AS one FROM t;\n\nINSERT INTO x SELECT 1;\n")
    with pytest.raises(SqlPipelineError, match=r"p.sql, line 3: only `CREATE VIEW name AS SELECT \.\.\.`"):
        views(sql)
    sql.write_text("CREATE VIEW v AS SELECT 1 FROM t;\nCREATE VIEW V AS SELECT 2 FROM t;")
    with pytest.raises(SqlPipelineError, match="line 2: view V is created twice"):
        views(sql)


def test_settings_are_substituted_as_literals_and_an_unknown_one_is_named() -> None:
    assert substitute("n > ${n} AND s = ${s} AND f = ${f}", {"n": 10, "s": "o'k", "f": 1.5}) == \
        "n > 10 AND s = 'o''k' AND f = 1.5"
    with pytest.raises(SqlPipelineError, match=r"\$\{missing\} is not a setting of this pipeline.*known: n"):
        substitute("${missing}", {"n": 1})


@pytest.mark.parametrize(("flink", "lakehouse"), [
    ("TIMESTAMP(3) *ROWTIME*", "TIMESTAMP"), ("TIMESTAMP_LTZ(3) NOT NULL", "TIMESTAMP"),
    ("VARCHAR(2147483647)", "STRING"),
    ("STRING NOT NULL", "STRING"), ("BIGINT NOT NULL", "BIGINT"), ("DECIMAL(38, 2)", "DECIMAL(38, 2)"),
    ("INT", "INT"), ("SMALLINT", "INT"), ("FLOAT", "DOUBLE"), ("BOOLEAN", "BOOLEAN"),
])
def test_flinks_types_map_to_the_lakehouses(flink: str, lakehouse: str) -> None:
    assert platform_type(flink) == lakehouse


def test_a_type_without_a_lakehouse_type_says_to_cast_it() -> None:
    with pytest.raises(SqlPipelineError, match="ARRAY<INT> has no lakehouse type.*CAST it"):
        platform_type("ARRAY<INT>")


def test_the_seed_example_loads_with_its_tables_checks_and_rendered_sql() -> None:
    p = default_registry().get("suspicious_sql")
    assert p.sql is not None and p.module == "flink_jobs.sql_pipeline" and p.topic.name == "transactions"
    assert p.roles == ("raw", "suspicious_activity")
    table = p.table("suspicious_activity")
    assert (table.name, table.day_partition, table.gate.time if table.gate else None) == \
        ("suspicious_activity_sql", "window_start", "window_end")
    assert table.columns == (("window_start", "TIMESTAMP"), ("window_end", "TIMESTAMP"), ("user_id", "STRING"),
                             ("transaction_count", "BIGINT"), ("total_amount", "DECIMAL(18, 2)"))
    keys = ("window_start", "window_end", "user_id")
    assert table.checks is not None and set(table.checks.expectations) == {
        NotNull(keys), Unique(keys), Between("transaction_count", 1), Between("total_amount", 0),
        NotNull(("transaction_count", "total_amount")), WindowLength("window_min")}
    settings = p.settings()
    assert not settings.autostart  # a SQL pipeline runs once deployed
    params = settings.params() | {"count_above": 3}
    rendered = job_sql(p, params)
    assert rendered["stream"] == "transactions"
    assert "HAVING COUNT(*) > 3 OR SUM(amount) > 5000" in rendered["views"][0][1]
    assert "INTERVAL '5' MINUTE" in rendered["views"][0][1]
    assert rendered["outputs"] == [["suspicious_activity", [list(c) for c in table.columns]]]


def _copy(tmp_path: Path) -> Path:
    for suffix in (".toml", ".sql", ".schema.json"):
        shutil.copy(PIPELINES_DIR / f"suspicious_sql{suffix}", tmp_path / f"mine{suffix}")
    return tmp_path / "mine.toml"


def test_a_query_changed_since_it_was_planned_is_refused_until_planned_again(tmp_path: Path) -> None:
    declaration = _copy(tmp_path)
    assert load(declaration, TOPICS).name == "mine"
    sql = declaration.with_suffix(".sql")
    sql.write_text(sql.read_text().replace("COUNT(*) > ${count_above}", "COUNT(*) >= ${count_above}"))
    with pytest.raises(SqlPipelineError, match=r"mine.sql changed since it was planned: run `kappa pipeline plan "
                                               r"mine`"):
        load(declaration, TOPICS)
    declaration.with_suffix(".schema.json").unlink()
    with pytest.raises(SqlPipelineError, match="mine.sql has not been planned"):
        load(declaration, TOPICS)


@pytest.mark.parametrize(("edit", "says"), [
    (lambda t: t.replace('topic = "transactions"', 'topic = "nope"'), "topic 'nope' is not declared by any pipeline"),
    (lambda t: t + "\n[extra]\n", "unknown keys extra"),
    (lambda t: t.replace('view = "suspicious_activity"', 'view = "elsewhere"'),
     "stores view 'elsewhere', which the SQL does not create"),
    (lambda t: t.replace("count_above = 10\n", ""), r"\$\{count_above\} is not a setting"),
    (lambda t: t.replace("window_min = 5", "out_of_orderness_s = 5"), r"belong to every pipeline"),
    (lambda t: t.replace('entity = "user_id"', 'entity = "nope"'),
     r"\[alerts.suspicious_activity\]: entity 'nope' is not a column of view suspicious_activity \(window_start, "),
    (lambda t: t + '\n[alerts.other]\nview = "elsewhere"\nentity = "user_id"\n',
     r"\[alerts.other\] sends view 'elsewhere', which no \[tables.\*\] stores \(stored: suspicious_activity\)"),
    (lambda t: t + '\n[alerts.Other]\nview = "suspicious_activity"\nentity = "user_id"\n', "a rule is named in lower"),
    (lambda t: t.replace('entity = "user_id"', 'entity = "user_id"\nseverity = "high"'), "unknown keys severity"),
    (lambda t: t.replace('not_null = ["transaction_count"', 'not_null = ["nope"'),
     r"\[tables.suspicious_activity_sql\]: not_null: 'nope' is not a column of the view \(window_start, "),
    (lambda t: t.replace("total_amount = 0 }", 'total_amount = "${nope}" }'),
     r"min.total_amount: '\$\{nope\}' is not a number or a \$\{setting\} of this pipeline \(settings: .*count_above"),
    (lambda t: t.replace('window_minutes = "${window_min}"', "window_minutes = 5"),
     "window_minutes names the setting that sizes the window"),
    (lambda t: t.replace('window_minutes = "${window_min}"', 'accepted = { user_id = [] }'),
     "accepted.user_id is a list of the values the column may hold"),
    (lambda t: t.replace('window_minutes = "${window_min}"', 'max = 3'), "max is a table of column = value"),
])
def test_a_declaration_that_does_not_hold_together_is_refused_with_the_reason(tmp_path: Path, edit, says) -> None:  # type: ignore[no-untyped-def]
    declaration = _copy(tmp_path)
    declaration.write_text(edit(declaration.read_text()))
    with pytest.raises(SqlPipelineError, match=says):
        load(declaration, TOPICS)


def test_every_kind_of_expectation_is_declared_with_settings_as_bounds(tmp_path: Path) -> None:
    declaration = _copy(tmp_path)
    declaration.write_text(declaration.read_text().replace('window_minutes = "${window_min}"', (
        'max = { transaction_count = "${count_above}", total_amount = 1e6 }\n'
        'unique = [["user_id", "window_start"], "total_amount"]\n'
        'accepted = { user_id = ["u-1", "u-2"] }')))
    table = load(declaration, TOPICS).table("suspicious_activity")
    assert table.checks is not None
    found = list(table.checks.expectations)
    assert Between("transaction_count", 1, Param("count_above")) in found
    assert Between("total_amount", 0, 1e6) in found
    assert Unique(("user_id", "window_start")) in found and Unique(("total_amount",)) in found
    accepted = [e for e in found if isinstance(e, OneOf)]
    assert [(e.column, e.values({})) for e in accepted] == [("user_id", ["u-1", "u-2"])]
    assert not any(isinstance(e, WindowLength) for e in found)


def test_the_examples_alert_rule_reaches_the_jobs_spec() -> None:
    """The example sends its suspicious windows to the alerts topic under the built-in rule's name, so
    an alert for the same user and window has the same id from either pipeline."""
    p = default_registry().get("suspicious_sql")
    assert p.sql is not None and p.sql.alerts == (("suspicious_activity", "suspicious_activity", "user_id"),)
    assert job_sql(p, p.settings().params())["alerts"] == [["suspicious_activity", "suspicious_activity", "user_id"]]
    no_rules = dataclasses.replace(p, sql=dataclasses.replace(p.sql, alerts=()))
    assert "alerts" not in job_sql(no_rules, p.settings().params())  # a pipeline without rules: spec unchanged


def test_the_recorded_columns_are_those_of_the_shipped_sql() -> None:
    """The registry loads only a pipeline whose recorded digest matches its SQL and contract; a
    shipped pipeline is never left out."""
    draft = declare(PIPELINES_DIR / "suspicious_sql.toml", TOPICS)
    recorded = json.loads((PIPELINES_DIR / "suspicious_sql.schema.json").read_text())
    assert recorded["digest"] == draft.digest
    assert default_registry().left_out == ()


def test_new_writes_a_declaration_and_query_that_declare_cleanly(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline_cmds, "PIPELINES_DIR", tmp_path)
    done = CliRunner().invoke(app, ["pipeline", "new", "mine", "--topic", "transactions"])
    assert done.exit_code == 0, done.output
    draft = declare(tmp_path / "mine.toml", TOPICS)
    assert [v for v, _, _ in draft.views] == ["mine_counts"] and list(draft.tables) == ["mine_counts"]
    assert "INTERVAL '5' MINUTE" in draft.rendered_views()[0][1] and "GROUP BY window_start, window_end, user_id" \
        in draft.rendered_views()[0][1]
    again = CliRunner().invoke(app, ["pipeline", "new", "mine", "--topic", "transactions"])
    assert again.exit_code != 0 and "pipeline mine already exists" in str(again.exception)


def test_a_left_out_pipelines_settings_section_does_not_stop_the_platform(tmp_path: Path) -> None:
    """Evolving a topic's contract leaves its SQL pipelines out until planned again; the effective
    settings still hold their sections, and must load (the section waits for the pipeline)."""
    config = tmp_path / "kappa.toml"
    config.write_text('[jobs.suspicious_sql]\ncount_above = 6\n[jobs.gone]\nparallelism = 1\n')
    left_out = Registry(python_pipelines(), (("suspicious_sql", "suspicious_sql.sql changed since it was planned"),))
    with pytest.raises(ConfigError, match="no pipeline named gone"):
        load_settings(config, registry=left_out)
    config.write_text('[jobs.suspicious_sql]\ncount_above = 6\n')
    assert "suspicious_sql" not in load_settings(config, registry=left_out).pipelines.names
    with pytest.raises(ConfigError, match="no pipeline named suspicious_sql"):
        load_settings(config, registry=Registry(python_pipelines()))


JOIN_SQL = """CREATE VIEW purchases_after_login AS
SELECT t.transaction_id, t.user_id, u.event_id AS login_id, t.event_time AS purchased_at
FROM transactions AS t JOIN user_events AS u
  ON t.user_id = u.user_id AND u.action = 'login'
 AND t.event_time BETWEEN u.event_time AND u.event_time + INTERVAL '${within_min}' MINUTE;
"""
JOIN_DECLARATION = """topic = "transactions"
joins = ["user-events"]
[settings]
within_min = 5
[tables.purchases_after_login]
keys = ["transaction_id", "login_id"]
day_partition = "purchased_at"
"""


def _joining(tmp_path: Path, declaration: str = JOIN_DECLARATION) -> Path:
    path = tmp_path / "after_login.toml"
    path.write_text(declaration)
    path.with_suffix(".sql").write_text(JOIN_SQL)
    draft = declare(path, TOPICS)
    columns = [["transaction_id", "STRING"], ["user_id", "STRING"], ["login_id", "STRING"],
               ["purchased_at", "TIMESTAMP"]]
    path.with_suffix(".schema.json").write_text(json.dumps({"digest": draft.digest,
                                                            "views": {"purchases_after_login": columns}}))
    return path


def test_a_pipeline_joining_two_topics_lands_each_and_gives_its_job_both(tmp_path: Path) -> None:
    p = load(_joining(tmp_path), TOPICS)
    assert [t.name for t in p.topics] == ["transactions", "user-events"]
    assert p.roles == ("raw", "raw_user_events", "purchases_after_login")
    joined_raw = p.table("raw_user_events")
    assert joined_raw.name == "after_login_raw_user_events" and "action" in joined_raw.column_names
    assert p.topics_of("raw_user_events") == ("user-events",) and p.topics_of("raw") == ("transactions",)
    assert p.topics_of("purchases_after_login") == ("transactions", "user-events")
    assert p.raw_roles == ("raw", "raw_user_events")
    assert p.raw_role("user-events") == "raw_user_events" and p.raw_role("transactions") == "raw"
    rendered = job_sql(p, p.settings().params())
    assert [(i["stream"], i["topic"], i["role"]) for i in rendered["inputs"]] == \
        [("user_events", "user-events", "raw_user_events")]
    assert rendered["inputs"][0]["contract"]["properties"]["action"]["enum"][0] == "login"


def test_the_digest_covers_the_joined_topics_contract(tmp_path: Path) -> None:
    """A new contract version of a joined topic leaves the pipeline out until planned again, as one of
    its own topic does."""
    path = _joining(tmp_path)
    before = declare(path, TOPICS).digest
    path.write_text(JOIN_DECLARATION.replace('joins = ["user-events"]', "joins = []"))
    assert declare(path, TOPICS).digest != before


@pytest.mark.parametrize(("joins", "says"), [
    ('joins = ["transactions"]', "a topic is read twice"),
    ('joins = ["nope"]', "topic 'nope' is not declared by any pipeline"),
    ('joins = "user-events"', "joins is a list of topics"),
])
def test_a_join_that_cannot_be_read_is_refused(tmp_path: Path, joins: str, says: str) -> None:
    path = tmp_path / "after_login.toml"
    path.write_text(JOIN_DECLARATION.replace('joins = ["user-events"]', joins))
    path.with_suffix(".sql").write_text(JOIN_SQL)
    with pytest.raises(SqlPipelineError, match=says):
        declare(path, TOPICS)
