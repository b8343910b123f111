"""produce, query."""

from __future__ import annotations

import os
import time
from enum import StrEnum

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from kappa import query as q
from kappa import schemas
from kappa.artifacts.installs import installed
from kappa.artifacts.java import find_java
from kappa.artifacts.versions import TRINO_JAVA_MIN
from kappa.cli import streaming_sql_cmds
from kappa.cli.output import console
from kappa.context import build_context
from kappa.errors import KappaError
from kappa.kafka_acl import PRODUCER, principals
from kappa.producer import produce as send
from kappa.runtime.secrets import load_or_create
from kappa.settings import KappaSettings
from kappa.timeparse import parse_time_ms
from lakehouse.catalog import TRINO_CATALOG
from lakehouse.registry import default_registry
from lakehouse.scenarios import ScenarioOptions


def produce(
    ctx: typer.Context,
    scenario: str = typer.Option(..., "--scenario", "-s", help="one of: " + ", ".join(default_registry().scenarios)),
    count: int = typer.Option(10_000, "--count", "-n", min=1),
    rate: float = typer.Option(0.0, "--rate", "-r", min=0.0, help="events per second; 0 = as fast as possible"),
    seed: int = typer.Option(42, "--seed"),
    start: str = typer.Option("now", "--start", help="event time of the first event: now, now-30m, ISO, epoch ms"),
    event_interval_ms: float = typer.Option(
        0.0, "--event-interval-ms", min=0.0,
        help="event-time spacing between events (default: 1000/rate, or 100 ms without a rate)",
    ),
    keys: int = typer.Option(1000, "--keys", min=1, help="number of distinct keys (Zipf-skewed)"),
    malformed_share: float = typer.Option(0.0, "--malformed-share", min=0.0, max=1.0),
    out_of_order_share: float = typer.Option(0.0, "--out-of-order-share", min=0.0, max=1.0),
    late_share: float = typer.Option(0.0, "--late-share", min=0.0, max=1.0,
                                     help="events stamped 10 minutes in the past (late for the jobs)"),
    fmt: str = typer.Option(None, "--format", help="avro (the Confluent wire format, with the registry's schema "
                            "id) or json; default: the topic's contract's"),
) -> None:
    """Produce a deterministic event stream for a scenario."""
    settings: KappaSettings = ctx.obj
    scenarios = settings.pipelines.scenarios
    if scenario not in scenarios:
        raise KappaError(f"unknown scenario {scenario!r}; choose one of: {', '.join(sorted(scenarios))}")
    sc, topic = scenarios[scenario]
    interval = event_interval_ms or (1000.0 / rate if rate > 0 else 100.0)
    opts = ScenarioOptions(
        count=count, seed=seed, start_ms=parse_time_ms(start), event_interval_ms=interval, keys=keys,
        key_prefix=sc.key_prefix, malformed_share=malformed_share, out_of_order_share=out_of_order_share,
        late_share=late_share,
    )
    began = time.monotonic()
    with Progress(TextColumn(f"producing {scenario} -> {topic.name}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task("produce", total=count)
        events = schemas.in_wire_format(settings, topic.name, sc.generate(opts), fmt)
        sent, _ = send(build_context(settings).kafka(PRODUCER), topic.name, events, rate=rate,
                       on_progress=lambda n: bar.update(task, completed=n))
    elapsed = max(time.monotonic() - began, 1e-6)
    console.print(f"produced {sent} {scenario} events to {topic.name} as {fmt or schemas.topic_format(topic.name)} "
                  f"in {elapsed:.1f}s ({sent / elapsed:,.0f}/s)")


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def query(
    ctx: typer.Context,
    sql: str = typer.Argument(..., help="SQL to run on Trino (catalog iceberg, schema streaming)"),
    fmt: Format = typer.Option(Format.table, "--format", "-f"),
    user: str = typer.Option(q.DEFAULT_USER, "--user", "-u", help="admin, pipeline or analyst"),
) -> None:
    """Run SQL on Trino (HTTPS, password authentication) and print the result."""
    settings: KappaSettings = ctx.obj
    result = q.run(settings, sql, user=user)
    if fmt is Format.csv:
        console.print(q.to_csv(result), end="", markup=False)
    elif fmt is Format.json:
        console.print(q.to_json(result), markup=False)
    else:
        print_table(result)


def sql(
    ctx: typer.Context,
    user: str = typer.Option(q.DEFAULT_USER, "--user", "-u", help="admin, pipeline or analyst"),
    streaming: bool = typer.Option(False, "--streaming", help="a Flink SQL session on the live topics instead "
                                   "(Flink's SQL gateway), to try a query before saving it as a pipeline"),
    execute: str | None = typer.Option(None, "--execute", "-e", help="--streaming: run these statements and "
                                       "leave (else read them from the prompt or stdin)"),
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="--streaming: stop a query after this many rows"),
    start: str = typer.Option("latest", "--from", help="--streaming: read the topics from the earliest or the "
                              "latest offsets"),
    timeout_s: float = typer.Option(120.0, "--timeout", min=1.0, help="--streaming: stop a query that has not "
                                    "reached the limit after this many seconds"),
) -> None:
    """An interactive Trino CLI session (HTTPS, the user's generated password); with --streaming, an
    interactive Flink SQL session over the live topics, rows printed as they stream in."""
    settings: KappaSettings = ctx.obj
    if streaming:
        streaming_sql_cmds.streaming(settings, execute, limit, start, timeout_s)
        return
    password = load_or_create(settings.state).trino_password(user)
    cli = installed(settings.cache).trino_cli
    java = find_java("the Trino CLI", minimum=TRINO_JAVA_MIN, explicit=settings.trino.java_home)
    argv = [str(java.java), "-jar", str(cli), "--server", settings.trino_url, "--user", user, "--password",
            "--truststore-path", str(settings.trino_ca_file), "--catalog", TRINO_CATALOG,
            "--schema", settings.jobs.namespace if user != "analyst" else settings.jobs.views_namespace]
    os.execve(argv[0], argv, {**os.environ, "TRINO_PASSWORD": password})


def print_table(result: q.Result, title: str | None = None) -> None:
    table = Table(*result.columns, title=title)
    for row in result.rows:
        table.add_row(*[q.display(v) for v in row])
    console.print(table)
    console.print(f"({len(result.rows)} rows)")


def kafka_client(
    ctx: typer.Context,
    principal: str = typer.Argument(PRODUCER, help="producer, consumer, admin, dagster, terraform or job-<pipeline>"),
    java: bool = typer.Option(False, "--java", help="Kafka's Java clients' form (sasl.jaas.config)"),
) -> None:
    """Connection settings for a Kafka client as one of the platform's principals (address and
    credentials), as properties: `kappa kafka-client consumer > my-app.properties`."""
    settings: KappaSettings = ctx.obj
    known = principals(settings)
    if principal not in known:
        raise KappaError(f"no Kafka principal {principal!r}; principals: {', '.join(known)}")
    access = build_context(settings).kafka(principal)
    for key, value in (access.java_properties() if java else access.config()).items():
        print(f"{key}={value}")


def register(app: typer.Typer) -> None:
    app.command()(produce)
    app.command(name="kafka-client")(kafka_client)
    app.command()(query)
    app.command()(sql)
