"""kappa cdc status | restart | load: the Debezium connector (Kafka Connect) and the source database's
workload. The captured tables are the CDC pipelines' (lakehouse/pipelines/ecommerce_*)."""

from __future__ import annotations

import time

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from kappa.cdc import compare, connect, maintenance, source, workload
from kappa.cli.output import console
from kappa.context import build_context
from kappa.errors import KappaError
from kappa.settings import KappaSettings

app = typer.Typer(help="Change data capture: the source database, its Debezium connector, a workload.",
                  no_args_is_help=True)


@app.command()
def status(ctx: typer.Context) -> None:
    """The connector's and its task's state, and the captured tables with their topics."""
    settings: KappaSettings = ctx.obj
    kctx = build_context(settings)
    st = connect.client(kctx).status(settings.cdc.connector)
    table = Table("connector", "state", "task", "task state", "failure")
    for task_id, state, trace in st.tasks:
        table.add_row(st.name, st.state, str(task_id), state, trace)
    if not st.tasks:
        table.add_row(st.name, st.state, "-", "-", "")
    console.print(table)
    captured = Table("source table", "topic", "pipeline", "current state", "change log")
    for p in settings.pipelines.live:
        if p.source is not None:
            captured.add_row(f"{settings.cdc_database}.{p.source.schema}.{p.source.name}", p.topic.name, p.name,
                             p.table("current").name, p.table("raw").name)
    console.print(captured)
    owners = {f"{p.source.schema}.{p.source.name}": p.name for p in settings.pipelines.live if p.source is not None}
    undeclared = source.undeclared_columns(kctx)
    for source_table, columns in undeclared.items():
        console.print(f"[yellow]{source_table} has columns its declaration lacks: {', '.join(columns)}[/yellow]; their "
                      "values are in the change log's `after` only. Declare them in "
                      f"lakehouse/pipelines/{owners[source_table]}.py, then `kappa up` and "
                      f"`kappa jobs restart {owners[source_table]}`.")
    if not connect.running(st) or undeclared:
        raise typer.Exit(1)


@app.command()
def restart(ctx: typer.Context,
            wait_s: int = typer.Option(60, "--wait", min=0, help="seconds to wait for it to run again")) -> None:
    """Re-apply the connector's config and restart it with its task (after a failure, say)."""
    settings: KappaSettings = ctx.obj
    kctx = build_context(settings)
    api = connect.client(kctx)
    connect.apply(kctx)
    api.restart(settings.cdc.connector)
    deadline = time.monotonic() + wait_s
    while True:
        st = api.status(settings.cdc.connector)
        if connect.running(st):
            console.print(f"connector {st.name}: RUNNING")
            return
        if time.monotonic() > deadline:
            failures = "; ".join(t for _i, _s, t in st.tasks if t)
            raise KappaError(f"connector {st.name} is {st.state} after {wait_s}s{': ' + failures if failures else ''} "
                             f"(log: {kctx.log_path('kafka-connect')})")
        time.sleep(1)


@app.command()
def load(ctx: typer.Context,
         changes: int = typer.Option(10_000, "--changes", "-n", min=1, help="statements to run"),
         seed: int = typer.Option(42, "--seed", help="the same seed and starting state: the same changes"),
         batch: int = typer.Option(100, "--batch", min=1, help="statements per transaction"),
         rate: float = typer.Option(0, "--rate", min=0, help="statements per second (0: as fast as it goes)")) -> None:
    """Inserts, updates and deletes on the source database's tables (orders, customers, products)."""
    settings: KappaSettings = ctx.obj
    kctx = build_context(settings)
    if not source.captured(settings):
        raise KappaError("no pipeline captures a source table (lakehouse/pipelines/ecommerce_*)")
    start = time.monotonic()
    with source.owner_connection(kctx) as conn, Progress(
            TextColumn(f"changing {settings.cdc_database}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=console, transient=True) as bar:
        task = bar.add_task("load", total=changes)
        counts = workload.run(conn, changes=changes, seed=seed, batch=batch, rate=rate or None,
                              progress=lambda n: bar.update(task, completed=n))
    elapsed = time.monotonic() - start
    per_table = ", ".join(f"{t} {n}" for t, n in sorted(counts.by_table.items()))
    console.print(f"{counts.statements} changes in {elapsed:.1f}s ({counts.statements / max(elapsed, 1e-9):,.0f}/s): "
                  f"{counts.inserts} inserts, {counts.updates} updates, {counts.deletes} deletes "
                  f"(+{counts.cascaded} orders deleted with their customer); by table: {per_table}")


@app.command("compact")
def compact_(ctx: typer.Context,
             force: bool = typer.Option(False, "--force", help="compact even under the delete-file threshold")) -> None:
    """Apply the upsert tables' accumulated deletes (Trino `optimize`), as Dagster's schedule does."""
    settings: KappaSettings = ctx.obj
    kctx = build_context(settings)
    for table in maintenance.upsert_tables(kctx):
        console.print(maintenance.compact(kctx, table, force=force).summary())


@app.command("verify")
def verify(ctx: typer.Context,
           wait_s: int = typer.Option(300, "--wait", min=0, help="seconds to let in-flight changes land")) -> None:
    """Compare every captured table with its Iceberg table row for row (as Dagster's check does)."""
    settings: KappaSettings = ctx.obj
    kctx = build_context(settings)
    different = 0
    for p in settings.pipelines.live:
        if p.source is not None:
            result = compare.compare_until_equal(kctx, p, timeout_s=wait_s)
            console.print(result.summary())
            for example in result.examples:
                console.print(f"  {example}")
            different += not result.equal
    if different:
        raise typer.Exit(1)
