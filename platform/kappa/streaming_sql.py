"""Interactive streaming SQL (`kappa sql --streaming`): a session on Flink's SQL gateway over the
platform's topics and catalog, to try a query on live data before saving it as a pipeline.

A session offers each topic that has a contract as the view a SQL pipeline reads it by (its name,
`-` as `_`): the contract's fields, `event_time` (with the pipeline's watermark) and the Kafka
coordinates, valid on-time events only, parsed exactly as the pipelines parse them (the statements
are the ones flink_jobs builds for a job). The Iceberg catalog is there too (`kappa.analytics.*`).
The topics are read as the `consumer` principal in a consumer group of the session's own, never a
pipeline's, so trying a query moves no pipeline's offsets.

A session only reads: SELECT and the statements that look around (SHOW, DESCRIBE, EXPLAIN) or
shape the session (temporary views, SET). Anything that writes is refused; a pipeline writes.
Each query runs as a Flink job on the cluster and stops when it has sent `limit` rows, when
`timeout_s` passes without reaching it, or on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests

from flink_jobs.spec import JobSpec
from flink_jobs.sql import create_catalog
from flink_jobs.sql_pipeline import create_stream
from kappa.context import Context
from kappa.errors import KappaError
from kappa.jobs.definitions import definition
from kappa.jobs.spec import render_spec
from kappa.kafka_acl import CONSUMER
from kappa.runtime.process import ProcessTable
from kappa.services.sql_gateway import SqlGateway, gateway_session
from lakehouse.sql_text import stream_name

API = "/v3"
STARTS = ("earliest", "latest")
# What a session may run: reading, looking around, and shaping the session itself.
_READS = re.compile(r"^\s*(SELECT|WITH|VALUES|SHOW|DESCRIBE|DESC|EXPLAIN|USE|SET|RESET|"
                    r"CREATE\s+TEMPORARY\s+VIEW|DROP\s+TEMPORARY\s+VIEW)\b", re.IGNORECASE)
_KINDS = {"INSERT": "+I", "UPDATE_BEFORE": "-U", "UPDATE_AFTER": "+U", "DELETE": "-D"}


class _Recorder:
    """Stands in for a table environment: keeps the statements flink_jobs would execute on it."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    def execute_sql(self, sql: str) -> None:
        self.sql.append(sql)


def check_start(start: str) -> None:
    if start not in STARTS:
        raise KappaError(f"--from must be one of {', '.join(STARTS)}, not {start!r}")


def session_statements(ctx: Context, start: str, group: str) -> tuple[list[str], list[str]]:
    """(the statements that declare the catalog and every topic's view, the views' names). Each topic
    is parsed with the settings of the first pipeline reading it (its watermark's out-of-orderness)."""
    check_start(start)
    recorder, names, seen = _Recorder(), [], set()
    for p in ctx.settings.pipelines.live:
        topic = p.topic
        if topic.name in seen or p.source is not None or topic.contract_version is None:
            continue  # a captured table's topic carries Debezium's records: its pipeline reads them
        seen.add(topic.name)
        spec = render_spec(ctx, definition(ctx.settings, p), 1, startup_mode=f"{start}-offset")
        spec["kafka"] |= {"group_id": group, "username": CONSUMER, "password": ctx.secrets.kafka_password(CONSUMER)}
        spec["sql"] = {"stream": stream_name(topic.name), "views": [], "outputs": []}
        job = JobSpec.from_dict(spec)
        if not recorder.sql:
            create_catalog(recorder, job)
        create_stream(recorder, job)
        names.append(stream_name(topic.name))
    return recorder.sql, names


def readable(statement: str) -> None:
    """Refuse a statement that would write (a session is for trying queries)."""
    if not _READS.match(statement):
        first = " ".join(statement.split()[:3])
        raise KappaError(f"a streaming SQL session only reads: {first!r} is not allowed (SELECT, WITH, SHOW, "
                         "DESCRIBE, EXPLAIN, SET, CREATE/DROP TEMPORARY VIEW); a pipeline writes tables: "
                         "kappa pipeline new")


def flink_message(body: str) -> str:
    """The cause Flink gives in an error response, without its stack trace."""
    causes = re.findall(r"(?:Caused by: )?([\w.$]+(?:Exception|Error): [^\n]+)", body)
    if not causes:
        return body.strip().splitlines()[0][:500] if body.strip() else "no message"
    message = causes[-1]
    return message.split(": ", 1)[1] if ": " in message else message


def start_gateway(ctx: Context, progress: Callable[[str], None] = lambda _m: None) -> None:
    """Start the SQL gateway unless it runs; it stays up for later sessions (`kappa down` stops it)."""
    table, gateway = ProcessTable(ctx.settings.run_dir), SqlGateway(ctx)
    running = table.get(gateway.name)
    if running is None:
        progress(f"starting Flink's SQL gateway on {ctx.settings.sql_gateway_url}")
        running = table.start(gateway.spec(), ctx.settings.host)
    table.wait_healthy(running, gateway.healthy, ctx.settings.startup_timeout_s)


@dataclass
class Result:
    columns: list[str]
    kinds: list[str] = field(default_factory=list)  # +I, -U, +U, -D: a changelog
    rows: list[list[Any]] = field(default_factory=list)
    job_id: str | None = None
    stopped: str = ""  # why it stopped early: "limit", "timeout", "interrupted"


class Session:
    """One gateway session; `close()` ends it and every query it runs."""

    def __init__(self, ctx: Context, *, start: str = "latest") -> None:
        self.ctx = ctx
        self.http = gateway_session(ctx)
        self.url = ctx.settings.sql_gateway_url + API
        self.group = f"kappa-sql-{uuid.uuid4().hex[:10]}"  # never a pipeline's group (`kappa.`)
        setup, self.streams = session_statements(ctx, start, self.group)
        properties = {"execution.runtime-mode": "streaming", "execution.target": "remote",
                      "table.local-time-zone": "UTC", "parallelism.default": "1",
                      "table.exec.source.idle-timeout": "5 s"}
        opened = self._call("post", "/sessions", {"sessionName": self.group, "properties": properties})
        self.handle = str(opened["sessionHandle"])
        try:
            for statement in setup:
                self._finish(self._submit(statement), timeout_s=60)
        except BaseException:
            self.close()
            raise

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            r = self.http.request(method, self.url + path, json=body, timeout=30)
        except requests.ConnectionError as exc:
            raise KappaError(f"Flink's SQL gateway does not answer at {self.ctx.settings.sql_gateway_url}; "
                             f"its log: {self.ctx.log_path(SqlGateway.name)}") from exc
        if not r.ok:
            raise KappaError(f"Flink: {flink_message(r.text)}")
        return r.json() if r.text else {}

    def _submit(self, statement: str, config: dict[str, str] | None = None) -> str:
        body: dict[str, Any] = {"statement": statement}
        if config:
            body["executionConfig"] = config
        return str(self._call("post", f"/sessions/{self.handle}/statements", body)["operationHandle"])

    def _pages(self, operation: str, deadline: float) -> Iterator[dict[str, Any]]:
        """The operation's result pages, each once it holds rows, until the end of its results."""
        path = f"/sessions/{self.handle}/operations/{operation}/result/0?rowFormat=JSON"
        while path:
            page = self._call("get", path.removeprefix(API))
            if page.get("resultType") == "EOS":
                return
            if page.get("resultType") == "NOT_READY" or not page.get("results", {}).get("data"):
                if time.monotonic() > deadline:
                    raise TimeoutError
                time.sleep(0.2)
            else:
                yield page
            path = str(page.get("nextResultUri") or "")

    def _finish(self, operation: str, timeout_s: float) -> None:
        """Run a statement without rows to show (a declaration) to its end."""
        for _page in self._pages(operation, time.monotonic() + timeout_s):
            pass
        self._close_operation(operation)

    def _close_operation(self, operation: str) -> None:
        """Ends the operation, cancelling its job if one runs."""
        with contextlib.suppress(requests.RequestException):  # the session's end closes it too
            self.http.delete(f"{self.url}/sessions/{self.handle}/operations/{operation}/close", timeout=30)

    def run(self, statement: str, *, limit: int, timeout_s: float,
            on_row: Callable[[Result, int], None] = lambda _r, _i: None) -> Result:
        """Run one statement; a query's rows arrive through `on_row` as they stream in."""
        readable(statement)
        operation = self._submit(statement, {"pipeline.name": f"kappa-sql {self.group}"})
        result = Result([])
        try:
            for page in self._pages(operation, time.monotonic() + timeout_s):
                data = page["results"]
                result.columns = [c["name"] for c in data.get("columns", [])]
                result.job_id = page.get("jobID") or result.job_id
                for row in data["data"]:
                    result.kinds.append(_KINDS.get(str(row.get("kind")), str(row.get("kind"))))
                    result.rows.append(list(row["fields"]))
                    on_row(result, len(result.rows) - 1)
                    if len(result.rows) >= limit:
                        result.stopped = "limit"
                        return result
        except TimeoutError:
            result.stopped = "timeout"
        except KeyboardInterrupt:
            result.stopped = "interrupted"
        finally:
            self._close_operation(operation)
        return result

    def close(self) -> None:
        if hasattr(self, "handle"):
            with contextlib.suppress(requests.RequestException):
                self.http.delete(f"{self.url}/sessions/{self.handle}", timeout=30)
