"""A pipeline written in SQL on the real stack: `kappa pipeline deploy` starts the source document's
ksqlDB example (lakehouse/pipelines/suspicious_sql.*). Over a known stream its analytics view
equals a plain-Python computation and the built-in `suspicious_activity`, and its malformed events
are quarantined with the built-in pipeline's reasons. A changed setting deploys as a replay of a new
version through the gate, and the view then shows the new version's rows."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from confluent_kafka import Consumer

from flink_jobs.spec import pipeline_name
from kappa.catalog import catalog, ensure_job_tables, ensure_streaming_tables
from kappa.context import Context
from kappa.errors import KappaError
from kappa.flink_rest import FlinkRest
from kappa.jobs import JobStore, get_definition, start_job, stop_job
from kappa.kafka_acl import CONSUMER
from kappa.producer import produce
from kappa.serving import apply_job_views
from lakehouse.quality import validate
from lakehouse.registry import generate
from lakehouse.scenarios import ScenarioOptions
from tests.expected import tumbling_windows
from tests.integration.conftest import trino_rows
from tests.integration.streams import close_windows, fresh_event_time, ms, rows_when, topic_of

pytestmark = pytest.mark.integration
NAME = "suspicious_sql"
MIN = 60_000


def kappa(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI; its output with every run of white space as one space (the console wraps long lines)."""
    done = subprocess.run([sys.executable, "-m", "kappa", "--config", str(config), *args], capture_output=True,
                          text=True, timeout=1200, check=False)
    return subprocess.CompletedProcess(done.args, done.returncode, " ".join(done.stdout.split()), done.stderr)


def deploy_with(ctx: Context, tmp_path: Path, name: str, **settings: Any) -> subprocess.CompletedProcess[str]:
    """`kappa pipeline deploy NAME --yes` with the stack's settings but these of [jobs.NAME] changed."""
    effective = json.loads(ctx.settings.effective_settings_file.read_text())
    effective.setdefault("jobs", {}).setdefault(name, {}).update(settings)
    changed = tmp_path / "settings.effective.json"
    changed.write_text(json.dumps(effective))
    return kappa(changed, "pipeline", "deploy", name, "--yes")


def suspicious(valid: list[dict], window_min: int, count_above: int, total_above: int) -> dict:
    return {k: v for k, v in tumbling_windows(valid, window_min * MIN).items()
            if v[0] > count_above or v[1] > total_above}


@pytest.fixture(scope="module")
def produced(ctx: Context) -> Iterator[dict[str, Any]]:
    """The built-in job and the SQL pipeline (deployed through the CLI) running, and one known stream."""
    start_job(ctx, "transactions")
    apply_job_views(ctx, ctx.settings.pipelines.get("transactions"),  # run alone, no earlier test made them
                    JobStore(ctx.settings.state).get("transactions").version)
    done = kappa(ctx.settings.effective_settings_file, "pipeline", "deploy", NAME)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"{NAME} running as Flink job" in done.stdout, done.stdout
    topic = topic_of(ctx, "transactions")
    prefix = f"sql{uuid.uuid4().hex[:6]}-"
    # about 10 events per user and 5-minute window: some windows above the count, some not
    opts = ScenarioOptions(count=1500, seed=20261127, start_ms=fresh_event_time(ctx, "transactions_raw") + 17_000,
                           event_interval_ms=2000, keys=15, key_prefix=prefix, malformed_share=0.03)
    # Every partition active just before the stream: partitions idle since the jobs read their backlog
    # leave the watermark to whichever partition's batch is read first, and the others' first events of
    # the stream would be late.
    close_windows(ctx, topic, opts.start_ms - 1000)
    _, delivered = produce(ctx.kafka(), topic, list(generate("transactions", opts)), collect=True)
    last_ms = max(d.event.record["timestamp"] for d in delivered if d.event.record)
    close_windows(ctx, topic, last_ms + 10 * MIN)
    yield {"prefix": prefix, "delivered": delivered, "topic": topic,
           "valid": [d.event.record for d in delivered if d.event.record]}
    with contextlib.suppress(KappaError, requests.RequestException):  # one more job would load every later test
        stop_job(ctx, NAME, savepoint=False)


def _rows(ctx: Context, table: str, prefix: str, count: int) -> dict:
    rows = rows_when(ctx, f"SELECT window_start, window_end, user_id, transaction_count, total_amount FROM {table} "
                          f"WHERE user_id LIKE '{prefix}%'", lambda r: len(r) >= count, f"{count} rows in {table}")
    found = {(ms(r[0]), ms(r[1]), r[2]): (r[3], r[4]) for r in rows}
    assert len(found) == len(rows), f"a window appears twice in {table}"
    return found


def test_the_sql_pipeline_equals_plain_python_and_the_built_in_table(ctx: Context, produced: dict) -> None:
    wanted = suspicious(produced["valid"], 5, 10, 5000)
    assert wanted and len(wanted) < len(tumbling_windows(produced["valid"], 5 * MIN))  # HAVING keeps some
    assert _rows(ctx, "analytics.suspicious_activity_sql", produced["prefix"], len(wanted)) == wanted
    assert _rows(ctx, "analytics.suspicious_activity", produced["prefix"], len(wanted)) == wanted


def test_its_declared_expectations_pass_on_what_it_wrote_and_name_a_broken_row(ctx: Context, produced: dict) -> None:
    """The declaration's checks (keys, bounds, not null, window length: what Dagster runs after each
    materialization) over the rows the job committed to Iceberg."""
    wanted = suspicious(produced["valid"], 5, 10, 5000)
    _rows(ctx, "analytics.suspicious_activity_sql", produced["prefix"], len(wanted))
    pipeline = ctx.settings.pipelines.get(NAME)
    table = pipeline.table("suspicious_activity")
    name = pipeline.table_names(JobStore(ctx.settings.state).get(NAME).version)["suspicious_activity"]
    df = catalog(ctx).load_table((ctx.settings.jobs.namespace, name)).scan().to_pandas()
    df = df[df["user_id"].str.startswith(produced["prefix"])].reset_index(drop=True)
    params = get_definition(ctx.settings, NAME).params
    result = validate(df, pipeline, table, params)
    assert result.success and result.rows == len(wanted), result.summary()
    broken = df.assign(window_end=df["window_end"].where(df.index != 1, df["window_start"]))
    failed = [f for f in validate(broken, pipeline, table, params).failures if f["column"] == "window_length_s"]
    assert failed and [(k["user_id"], k["window_start"]) for k in failed[0]["keys"]] == \
        [(df.loc[1, "user_id"], str(df.loc[1, "window_start"]))]


def test_its_alert_rule_publishes_each_suspicious_window_as_the_built_in_does(ctx: Context, produced: dict) -> None:
    """The example's [alerts.suspicious_activity]: one alert per suspicious window on the `alerts`
    topic, read as an application would (the consumer principal), with the built-in rule's ids."""
    wanted = suspicious(produced["valid"], 5, 10, 5000)
    consumer = Consumer(ctx.kafka(CONSUMER).config(**{"group.id": f"test-{produced['prefix']}alerts",
                                                      "auto.offset.reset": "earliest"}))
    consumer.subscribe([ctx.settings.jobs.alerts_topic])
    by_job: dict[str, dict[str, dict]] = {NAME: {}, "transactions": {}}
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and not all(len(found) >= len(wanted) for found in by_job.values()):
            for msg in consumer.consume(500, timeout=1):
                alert = json.loads(msg.value()) if msg.error() is None else {}
                if alert.get("job") in by_job and str(alert.get("entity_id")).startswith(produced["prefix"]):
                    by_job[alert["job"]][alert["alert_id"]] = alert  # at least once: an id may come twice
    finally:
        consumer.close()
    mine = by_job[NAME].values()
    assert sorted((a["entity_id"], int(json.loads(a["detail"])["transaction_count"]),
                   Decimal(json.loads(a["detail"])["total_amount"])) for a in mine) == \
        sorted((user, count, total) for (_, _, user), (count, total) in wanted.items())
    assert set(by_job[NAME]) == set(by_job["transactions"])  # the same alert, the same id
    assert {a["alert_type"] for a in mine} == {"suspicious_activity"}


def test_malformed_events_are_quarantined_for_it_as_for_the_built_in_pipeline(ctx: Context, produced: dict) -> None:
    malformed = {(d.partition, d.offset) for d in produced["delivered"] if not d.event.record}
    assert malformed
    where = " OR ".join(f"(kafka_partition = {p} AND kafka_offset = {o})" for p, o in sorted(malformed))

    def reasons(job: str) -> dict:
        rows = rows_when(ctx, f"SELECT kafka_partition, kafka_offset, reason FROM streaming.quarantine "  # noqa: S608
                              f"WHERE job = '{job}' AND kafka_topic = '{produced['topic']}' AND ({where})",
                         lambda r: len(r) >= len(malformed), f"{len(malformed)} quarantined events of {job}")
        return {(r[0], r[1]): r[2] for r in rows}

    assert reasons(NAME) == reasons("transactions")


def test_validate_plans_the_query_on_flink_and_finds_its_record_current(ctx: Context) -> None:
    """(An invalid query, refused with its line and Flink's message: tests/flink/test_sql_pipeline.py.)"""
    done = kappa(ctx.settings.effective_settings_file, "pipeline", "validate", NAME)
    assert done.returncode == 0 and "is valid" in done.stdout, done.stdout + done.stderr


def test_a_changed_setting_deploys_as_a_replay_through_the_gate(ctx: Context, produced: dict,
                                                               tmp_path: Path) -> None:
    _rows(ctx, "analytics.suspicious_activity_sql", produced["prefix"], 1)  # v1 has committed the stream
    done = deploy_with(ctx, tmp_path, NAME, count_above=6)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "deploys as a new version" in done.stdout and "cut over" in done.stdout, done.stdout[-3000:]
    assert "count_above 10 -> 6" in done.stdout, done.stdout[-3000:]
    assert JobStore(ctx.settings.state).get(NAME).version == 2
    wanted = suspicious(produced["valid"], 5, 6, 5000)
    assert wanted != suspicious(produced["valid"], 5, 10, 5000)
    assert _rows(ctx, "analytics.suspicious_activity_sql", produced["prefix"], len(wanted)) == wanted
    assert trino_rows(ctx.settings, "SELECT count(*) FROM streaming.suspicious_activity_sql__v2")[0][0] > 0


def test_drop_stops_it_and_with_delete_tables_drops_its_tables_and_view(ctx: Context, produced: dict) -> None:
    pipeline = ctx.settings.pipelines.get(NAME)
    version = JobStore(ctx.settings.state).get(NAME).version
    done = kappa(ctx.settings.effective_settings_file, "pipeline", "drop", NAME, "--delete-tables", "--yes")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"stopped {NAME}" in done.stdout and "analytics.suspicious_activity_sql" in done.stdout, done.stdout
    assert not FlinkRest(ctx).running_by_name(pipeline_name(NAME, version))
    assert JobStore(ctx.settings.state).get(NAME).desired == "stopped"
    tables = {r[0] for r in trino_rows(ctx.settings, "SHOW TABLES FROM streaming LIKE 'suspicious_%'")}
    assert not {"suspicious_activity_sql", "suspicious_activity_sql__v2", "suspicious_sql_raw"} & tables, tables
    assert "suspicious_activity" in tables  # the built-in pipeline's are untouched
    views = {r[0] for r in trino_rows(ctx.settings, "SHOW TABLES FROM analytics LIKE 'suspicious_%'")}
    assert "suspicious_activity_sql" not in views and "suspicious_activity" in views
    # the declaration stays: what `kappa up` does next, for the tests after this one
    ensure_streaming_tables(ctx)
    ensure_job_tables(ctx, pipeline, version)
    apply_job_views(ctx, pipeline, version)
