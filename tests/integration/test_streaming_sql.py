"""`kappa sql --streaming` on the real stack: a session on Flink's SQL gateway over the live topics.
A query's rows stream back equal to a plain-Python computation over known events (valid ones only:
the malformed one is not offered), an event-time window fires once the watermark passes it, the
query's job stops at the row limit, a write and an invalid query are refused with one line, and the
gateway answers no client without the platform's certificate."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests

from kappa.context import Context
from kappa.flink_rest import ACTIVE_STATES, FlinkRest
from kappa.jobs import start_job
from kappa.producer import produce
from kappa.runtime.process import ProcessTable
from kappa.services.sql_gateway import SqlGateway
from kappa.streaming_sql import start_gateway
from lakehouse.scenarios.base import Event, encode
from tests.expected import tumbling_windows
from tests.integration.conftest import wait_for
from tests.integration.streams import close_windows, fresh_event_time, topic_of

pytestmark = pytest.mark.integration
MIN = 60_000


def streaming(ctx: Context, sql: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kappa", "--config", str(ctx.settings.effective_settings_file),
                           "sql", "--streaming", "--from", "earliest", "-e", sql, *args],
                          capture_output=True, text=True, timeout=600, check=False)


def rows(out: str) -> list[list[str]]:
    """The printed rows (after the header line `op | ...`), each as its fields without the change kind."""
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("op | "))
    return [line.split(" | ")[1:] for line in lines[header + 1:] if line.startswith(("+I | ", "+U | "))]


@pytest.fixture(scope="module")
def known(ctx: Context) -> Iterator[dict]:
    start_job(ctx, "transactions")  # its raw table tells where fresh event time starts
    topic = topic_of(ctx, "transactions")
    user = f"gw{uuid.uuid4().hex[:6]}"
    base = fresh_event_time(ctx, "transactions_raw")
    records = [{"transaction_id": f"{user}-{i}", "user_id": f"{user}-{i % 3}", "amount": float(i + 1),
                "merchant": "m", "timestamp": base + i * 20_000} for i in range(30)]  # 10 minutes
    malformed = Event(f"{user}-bad", b'{"transaction_id": "' + user.encode() + b'-bad", "amount": "lots"}', None)
    produce(ctx.kafka(), topic, [Event(r["user_id"], encode(r), r) for r in records] + [malformed])
    close_windows(ctx, topic, base + 30 * MIN)
    start_gateway(ctx)  # the CLI starts it too; here so that each test can run alone
    yield {"user": user, "records": records}
    ProcessTable(ctx.settings.run_dir).stop(SqlGateway.name)  # its heap would weigh on the later tests


def test_a_querys_rows_stream_back_equal_to_the_events(ctx: Context, known: dict) -> None:
    records = known["records"]
    done = streaming(ctx, f"SELECT transaction_id, CAST(amount AS STRING) FROM transactions WHERE transaction_id LIKE "
                          f"'{known['user']}-%'", "--limit", str(len(records)))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert sorted(rows(done.stdout)) == sorted([r["transaction_id"], f"{r['amount']:.2f}"] for r in records)
    assert f"({len(records)} rows (Flink job " in done.stdout and "stopped at the row limit" in done.stdout

    def query_jobs_stopped() -> bool:
        return not [j for j in FlinkRest(ctx).jobs() if j["name"].startswith("kappa-sql ")
                    and j["state"] in ACTIVE_STATES]
    wait_for(query_jobs_stopped, timeout_s=60, what="the query's Flink job stopped after the row limit")


def test_an_event_time_window_fires_once_the_watermark_passes_it(ctx: Context, known: dict) -> None:
    expected = tumbling_windows(known["records"], 5 * MIN)
    done = streaming(ctx, f"""
        SELECT CAST(window_start AS STRING) AS window_start, user_id, COUNT(*) AS n
        FROM TABLE(TUMBLE(TABLE transactions, DESCRIPTOR(event_time), INTERVAL '5' MINUTE))
        WHERE user_id LIKE '{known['user']}-%'
        GROUP BY window_start, window_end, user_id""", "--limit", str(len(expected)))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    def start(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.000")
    assert sorted(rows(done.stdout)) == sorted([start(k[0]), k[2], str(v[0])] for k, v in expected.items())


@pytest.mark.parametrize(("sql", "says"), [
    ("INSERT INTO kappa.streaming.transactions_raw SELECT * FROM kappa.streaming.transactions_raw",
     "a streaming SQL session only reads: 'INSERT INTO kappa.streaming.transactions_raw' is not allowed"),
    ("SELECT no_such_column FROM transactions", "Column 'no_such_column' not found"),
])
def test_a_write_or_an_invalid_query_is_refused_in_one_line(ctx: Context, sql: str, says: str) -> None:
    done = streaming(ctx, sql)
    assert done.returncode == 1 and says in done.stderr, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.security
def test_the_gateway_answers_only_the_platforms_certificate(ctx: Context, known: dict) -> None:
    url = f"{ctx.settings.sql_gateway_url}/v3/info"
    anonymous = requests.Session()
    anonymous.trust_env = False
    with pytest.raises(requests.exceptions.SSLError):
        anonymous.get(url, verify=False, timeout=10)  # noqa: S501 (the point: no client certificate)


def test_kappa_status_shows_the_gateway_while_it_runs(ctx: Context, known: dict) -> None:
    done = subprocess.run([sys.executable, "-m", "kappa", "--config", str(ctx.settings.effective_settings_file),
                           "status", "--json"], capture_output=True, text=True, timeout=300, check=False)
    services = {s["name"]: s for s in json.loads(done.stdout)["services"]}
    gateway = services.get(SqlGateway.name)
    assert gateway is not None and gateway["state"] == "healthy", done.stdout[-3000:]
    assert gateway["ports"] == [ctx.settings.flink.sql_gateway_port] and gateway["url"] == ctx.settings.sql_gateway_url
