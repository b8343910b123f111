"""The README's SQL and `kappa` examples, run as written against the stack, so the README cannot drift.

Every SQL block runs statement by statement (its one placeholder, `<snapshot_id>`, filled with a real
snapshot); every `kappa` line of a shell block either runs through the CLI, exit status 0, or is
named in NOT_RUN with the reason it does not run here (and where it is tested instead).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kappa import query
from kappa.context import Context
from kappa.jobs import start_job
from kappa.serving import apply_views
from tests.integration.conftest import wait_for
from tests.integration.test_cdc import connector_running, stop_cdc_jobs

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.S)

# Commands the README shows that change or need more than this shared stack gives; each is covered elsewhere.
NOT_RUN = {
    "kappa up": "starts a stack (every integration test runs on one started the same way)",
    "kappa produce": "adds events to the topics the other tests count (kappa.producer has its own tests)",
    "kappa sql": "an interactive Trino CLI session, or Flink SQL session (--streaming: test_streaming_sql.py)",
    "kappa replay transactions --from earliest --yes": "a cut-over (test_replay.py)",
    "kappa replay rollback": "a rollback (test_replay.py)",
    "kappa replay ecommerce_orders --from earliest --yes": "a cut-over of a CDC table (test_cdc.py)",
    "kappa backfill": "a backfill (test_backfill.py)",
    "kappa pipeline deploy": "starts a job (test_sql_pipeline.py deploys it through the CLI)",
    "kappa pipeline new": "writes files into the repository (tests/unit/test_sql_pipelines.py, in a temporary folder)",
    "kappa pipeline drop": "stops the job (test_sql_pipeline.py)",
    "kappa bench": "the benchmark (make bench)",
    "kappa demo": "adds events to the topics the other tests count (make demo; the cluster profile's run: README)",
    "kappa status": "exits 1 while any job of this shared stack has a problem (test_stream_health.py runs it)",
    "kappa down": "stops the stack the other tests use (every session ends with it: conftest.py)",
    "kappa query 'SELECT user_id, action, session_id": "the column of the evolution walk-through's version 2, "
                                                        "which the repository does not have (test_schema_evolution.py)",
}


def blocks(lang: str) -> list[str]:
    return [body for found, body in BLOCK.findall(README.read_text()) if found == lang]


def kappa_commands() -> list[str]:
    """Each `kappa` line of the README's shell blocks, as `kappa ARGS` (no path, no environment, no comment)."""
    commands = []
    for body in blocks("bash"):
        for line in body.splitlines():
            words = shlex.split(line.split("  #")[0], comments=True)
            at = [i for i, word in enumerate(words) if word == "kappa" or word.endswith("/kappa")]
            if at:
                commands.append(shlex.join(["kappa", *words[at[0] + 1:]]))
    return commands


def runnable(command: str) -> bool:
    return not any(command.startswith(prefix) for prefix in NOT_RUN)


def sql_statements() -> list[str]:
    statements = []
    for body in blocks("sql"):
        text = "\n".join(re.sub(r"--.*$", "", line) for line in body.splitlines())  # the examples' comments
        statements += [s.strip() for s in text.split(";") if s.strip()]
    return statements


@pytest.fixture(scope="module")
def committed(ctx: Context) -> int:
    """A snapshot of transactions_5m at least a minute old (the README's time travel goes a minute back)."""
    start_job(ctx, "transactions")
    apply_views(ctx)

    def old_snapshot() -> int | None:
        rows = query.run(ctx.settings, 'SELECT snapshot_id FROM iceberg.streaming."transactions_5m$snapshots" '
                                       "WHERE committed_at < current_timestamp - INTERVAL '65' SECOND "
                                       "ORDER BY committed_at DESC LIMIT 1").rows
        return int(rows[0][0]) if rows else None

    return int(wait_for(old_snapshot, timeout_s=300, what="a snapshot of transactions_5m a minute old"))


def test_the_readme_has_the_examples_and_each_one_not_run_is_still_there() -> None:
    commands = kappa_commands()
    assert len(sql_statements()) >= 5 and len([c for c in commands if runnable(c)]) >= 5, commands
    stale = [prefix for prefix in NOT_RUN if not any(c.startswith(prefix) for c in commands)]
    assert not stale, f"no longer in the README: {stale}"


@pytest.mark.parametrize("statement", sql_statements())
def test_every_sql_example_runs(ctx: Context, committed: int, statement: str) -> None:
    sql = statement.replace("<snapshot_id>", str(committed))
    assert not re.search(r"<[a-z_]+>", sql), f"an unfilled placeholder: {sql}"
    query.run(ctx.settings, sql)


@pytest.fixture(scope="module")
def cdc_jobs(ctx: Context) -> Iterator[None]:
    """The change data capture walk-through needs the CDC jobs: running while this module's tests do."""
    connector_running(ctx)
    yield
    stop_cdc_jobs(ctx)


@pytest.mark.parametrize("command", [c for c in kappa_commands() if runnable(c)])
def test_every_kappa_example_runs(ctx: Context, committed: int, command: str, request: pytest.FixtureRequest) -> None:
    if command.startswith("kappa cdc"):
        request.getfixturevalue("cdc_jobs")
    words = shlex.split(command)[1:]
    done = subprocess.run([sys.executable, "-m", "kappa", "--config", str(ctx.settings.effective_settings_file),
                           *words], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{command}\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}"


@pytest.mark.parametrize("block", [b for b in blocks("python") if "KafkaProducer(" in b])
def test_every_kafka_client_example_connects(ctx: Context, block: str, tmp_path: Path) -> None:
    """The Kafka client examples, with the stack's address and the password `kappa kafka-client` prints:
    the producer authenticates and reads the topic's metadata."""
    settings = subprocess.run([sys.executable, "-m", "kappa", "--config", str(ctx.settings.effective_settings_file),
                               "kafka-client", "producer"], capture_output=True, text=True, timeout=60, check=True)
    password = dict(line.split("=", 1) for line in settings.stdout.splitlines())["sasl.password"]
    code = f"PASSWORD = {password!r}\n" + block.replace("'127.0.0.1:9092'", repr(ctx.settings.kafka_bootstrap))
    script = tmp_path / "example.py"  # tmp_path is private (700), and no password on a command line
    script.write_text(code + "\nassert producer.partitions_for('transactions')\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
