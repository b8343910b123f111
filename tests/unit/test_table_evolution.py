"""Iceberg schema evolution of a declared table (lakehouse.tables), on a real PyIceberg catalog
(SQLite and a local warehouse): a new contract field becomes a column where a new table would have
it, rows written before read NULL there, and any other difference is refused before a table changes."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from lakehouse.pipeline import Table
from lakehouse.tables import TableEvolutionError, ensure_tables, table_spec

V1 = (("user_id", "STRING"), ("properties", "STRING"), ("event_time", "TIMESTAMP"), ("kafka_offset", "BIGINT"))
V2 = (("user_id", "STRING"), ("properties", "STRING"), ("session_id", "STRING"), ("event_time", "TIMESTAMP"),
      ("kafka_offset", "BIGINT"))


def spec(columns: tuple[tuple[str, str], ...], name: str = "events_raw"):  # type: ignore[no-untyped-def]
    return table_spec(Table("raw", name, columns, "test", day_partition="event_time"))


@pytest.fixture
def catalog(tmp_path: Path) -> SqlCatalog:
    return SqlCatalog("t", uri=f"sqlite:///{tmp_path}/catalog.db", warehouse=f"file://{tmp_path}/warehouse")


def test_a_new_field_becomes_a_column_in_the_declared_place_and_old_rows_read_null(catalog: SqlCatalog) -> None:
    assert ensure_tables(catalog, "s", [spec(V1)]) == ["s", "s.events_raw"]
    table = catalog.load_table(("s", "events_raw"))
    table.append(pa.table({"user_id": ["u1"], "properties": ["{}"],
                           "event_time": pa.array([0], pa.timestamp("us", tz="UTC")), "kafka_offset": [7]}))
    files_before = {f.file.file_path for f in table.scan().plan_files()}
    assert ensure_tables(catalog, "s", [spec(V2)]) == ["s.events_raw + session_id"]
    table = catalog.load_table(("s", "events_raw"))
    assert [f.name for f in table.schema().fields] == [c for c, _t in V2]  # the order a new table gets
    assert table.scan().to_arrow().drop_columns(["event_time"]).to_pylist() == [
        {"user_id": "u1", "properties": "{}", "session_id": None, "kafka_offset": 7}]
    assert {f.file.file_path for f in table.scan().plan_files()} == files_before  # no file rewritten
    assert ensure_tables(catalog, "s", [spec(V2)]) == []  # idempotent
    assert table.spec().fields[0].source_id == table.schema().find_field("event_time").field_id


@pytest.mark.parametrize(("columns", "problem"), [
    (tuple((c, "BIGINT") if c == "user_id" else (c, t) for c, t in V1),
     "column user_id is string in table events_raw, long in its declaration"),
    (tuple(c for c in V1 if c[0] != "properties"),
     "table events_raw has column properties, which its declaration no longer has"),
])
def test_other_differences_are_refused_before_any_table_changes(
        catalog: SqlCatalog, columns: tuple[tuple[str, str], ...], problem: str) -> None:
    ensure_tables(catalog, "s", [spec(V1), spec(V1, "other_raw")])
    with pytest.raises(TableEvolutionError, match=problem):
        ensure_tables(catalog, "s", [spec(V2, "other_raw"), spec(columns)])
    # the other table, listed first and evolvable, was not evolved either
    assert [f.name for f in catalog.load_table(("s", "other_raw")).schema().fields] == [c for c, _t in V1]


def test_evolution_can_be_left_to_the_jobs(catalog: SqlCatalog) -> None:
    ensure_tables(catalog, "s", [spec(V1)])
    assert ensure_tables(catalog, "s", [spec(V2)], evolve_existing=False) == []
    assert "session_id" not in [f.name for f in catalog.load_table(("s", "events_raw")).schema().fields]
