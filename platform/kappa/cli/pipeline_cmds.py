"""kappa pipeline new | validate | plan | deploy | list | drop: pipelines written in SQL
(lakehouse/pipelines/<name>.sql and <name>.toml; lakehouse/sql_pipelines.py)."""

from __future__ import annotations

import typer
from rich.table import Table

from flink_jobs.spec import pipeline_name
from kappa import sql_pipelines as sp
from kappa.artifacts import installs
from kappa.cli import replay_cmds
from kappa.cli.output import console, step
from kappa.context import build_context
from kappa.errors import KappaError
from kappa.flink_rest import FlinkRest
from kappa.jobs import JobStore, job_definitions, start_job, stop_job
from kappa.offsets import check_start
from kappa.serving import apply_job_views, drop_pipeline_tables
from kappa.settings import KappaSettings
from lakehouse.pipeline import ROUTED, describe
from lakehouse.registry import NAME, PIPELINES_DIR
from lakehouse.sql_pipelines import job_sql, schema_path
from lakehouse.sql_text import stream_name

app = typer.Typer(help="Pipelines written in SQL: a .sql file and its declaration in lakehouse/pipelines/.",
                  no_args_is_help=True)


def _planned(settings: KappaSettings, name: str) -> sp.Planned:
    d = sp.draft(name)
    with step(f"planning {d.sql_file.name} on Flink"):
        return sp.plan(settings, installs.setup(settings.cache, lambda _m: None), d)


@app.command("list")
def list_pipelines(ctx: typer.Context) -> None:
    """The SQL pipelines: topic, tables, whether planned, and their job."""
    settings: KappaSettings = ctx.obj
    loaded = {p.name for p in settings.pipelines.pipelines}
    store = JobStore(settings.state)
    table = Table("pipeline", "topic", "tables", "planned", "job", "description")
    for d in sp.drafts():
        record = store.get(d.name)
        job = f"v{record.version} {record.desired or 'never started'}"
        planned = "yes" if d.name in loaded else "no: run kappa pipeline plan " + d.name
        table.add_row(d.name, d.topic.name, ", ".join(d.tables), planned, job, d.description)
    console.print(table)
    for _, reason in settings.pipelines.left_out:
        console.print(f"[yellow]left out:[/yellow] {reason}", highlight=False)


@app.command()
def new(ctx: typer.Context, name: str,
        topic: str = typer.Option(..., help="the declared topic it reads (its contract parses the events)")) -> None:
    """Start a SQL pipeline: a declaration and a windowed query to edit."""
    if not NAME.match(name):
        raise KappaError(f"{name!r}: a pipeline's name is lower case letters, digits and underscores")
    declaration, sql_file = PIPELINES_DIR / f"{name}.toml", PIPELINES_DIR / f"{name}.sql"
    settings: KappaSettings = ctx.obj
    if declaration.exists() or sql_file.exists() or name in settings.pipelines.names:
        raise KappaError(f"pipeline {name} already exists")
    topics = settings.pipelines.topics
    if topic not in topics:
        raise KappaError(f"unknown topic {topic!r}; declared: {', '.join(sorted(topics))}")
    key = topics[topic].key.split()[0] if topics[topic].key else "kafka_partition"
    stream = stream_name(topic)
    sql_file.write_text(
        f"-- {name}: reads `{stream}` (the valid, on-time events of topic {topic}: the contract's fields,\n"
        f"-- event_time and the Kafka coordinates). ${{window_min}} is a setting of {name}.toml.\n"
        f"CREATE VIEW {name}_counts AS\n"
        f"SELECT window_start, window_end, {key}, COUNT(*) AS events\n"
        f"FROM TABLE(TUMBLE(TABLE {stream}, DESCRIPTOR(event_time), INTERVAL '${{window_min}}' MINUTE))\n"
        f"GROUP BY window_start, window_end, {key};\n")
    declaration.write_text(
        f'description = "{topic}: events per {key} and window"\n'
        f'topic = "{topic}"\n\n'
        "[settings]\nwindow_min = 5\n\n"
        f"[tables.{name}_counts]\n"
        f'keys = ["window_start", "window_end", "{key}"]\n'
        'day_partition = "window_start"\n'
        'measures = ["events"]\n')
    console.print(f"wrote {sql_file} and {declaration}; edit them, then: kappa pipeline plan {name}")


@app.command()
def validate(ctx: typer.Context, name: str) -> None:
    """Plan the SQL on Flink without running it; an error names its line. Fails if the recorded
    columns are out of date."""
    planned = _planned(ctx.obj, name)
    for view, columns in planned.columns.items():
        console.print(f"ok  {view}: {', '.join(f'{c} {t}' for c, t in columns)}", highlight=False)
    stale = sp.recorded_differences(planned)
    if stale:
        raise KappaError(f"{name}: {'; '.join(stale)}: run `kappa pipeline plan {name}`")
    console.print(f"{name} is valid, and its recorded columns ({schema_path(planned.draft.declaration).name}) "
                  "are up to date")


@app.command()
def plan(ctx: typer.Context, name: str) -> None:
    """Plan the SQL on Flink, record the views' columns, and show the tables, views and checks."""
    settings: KappaSettings = ctx.obj
    planned = _planned(settings, name)
    path = sp.write_record(planned)
    console.print(f"recorded the columns in {path}")
    d = planned.draft
    views_ns, ns = settings.jobs.views_namespace, settings.jobs.namespace
    table = Table("table", "columns", "keys", "day partition", "analytics view")
    pipeline = sp.loaded(d)
    for stored in pipeline.tables:
        if stored.name in d.tables:
            table.add_row(f"{ns}.{stored.name}", ", ".join(f"{c} {t}" for c, t in stored.columns),
                          ", ".join(d.tables[stored.name].get("keys", [])) or "-", stored.day_partition or "-",
                          f"{views_ns}.{stored.name}" if stored.published else "-")
    for stored in pipeline.tables:
        if stored.name not in d.tables:  # a raw table: each topic it reads
            topic = pipeline.topics_of(stored.role)[0]
            table.add_row(f"{ns}.{stored.name}", f"the contract of {topic}, event_time, Kafka coordinates",
                          "kafka_partition, kafka_offset", "event_time", f"{views_ns}.{stored.name}")
    console.print(table)
    for stored in pipeline.tables:
        if stored.checks:
            checks = "; ".join(describe(e) for e in stored.checks.expectations)
            console.print(f"checks of {ns}.{stored.name}: {checks}", highlight=False, soft_wrap=True)
    console.print(f"malformed events of {', '.join(t.name for t in d.topics)} go to {ns}.quarantine and late ones "
                  f"to {ns}.late_events "
                  f"(job {d.name}); Dagster shows the tables with their lineage and checks")
    for rule, spec in d.alerts.items():
        console.print(f"alert rule {rule}: each row of view {spec.get('view')} goes to the "
                      f"{settings.jobs.alerts_topic} topic, keyed by {spec.get('entity')}", highlight=False)
    console.print(f"start it: kappa pipeline deploy {name}")


def _running_sql(settings: KappaSettings, name: str) -> dict | None:  # type: ignore[type-arg]
    store = JobStore(settings.state)
    record = store.get(name)
    return store.spec(name, record.version).get("sql") if record.job_id else None


@app.command()
def deploy(ctx: typer.Context, name: str,
           start: str = typer.Option("earliest", "--from", help="Where a changed query's replay starts: earliest | "
                                                                   "ISO time | epoch ms | offsets:P=O,..."),
           yes: bool = typer.Option(False, "--yes", "-y", help="Replay a changed query without asking")) -> None:
    """Start the pipeline; a changed query (or setting) deploys as a replay of a new version from the
    topic's first offset (or --from), cut over once the gate passes. The running version is never changed
    in place."""
    settings: KappaSettings = ctx.obj
    if name not in settings.pipelines.names:
        reasons = [r for left_out, r in settings.pipelines.left_out if left_out == name]
        raise KappaError(reasons[0] if reasons else f"no SQL pipeline {name!r} (kappa pipeline list)")
    pipeline = settings.pipelines.get(name)
    if pipeline.sql is None:
        raise KappaError(f"{name} is a built-in pipeline: kappa jobs start {name}")
    check_start(start)
    c = build_context(settings)
    record = JobStore(settings.state).get(name)
    wanted = job_sql(pipeline, job_definitions(settings)[name].params)
    deployed = _running_sql(settings, name)
    if deployed is None or deployed == wanted:
        running = FlinkRest(c).running_by_name(pipeline_name(name, record.version))
        if running:
            console.print(f"{name} v{record.version} already runs this query (Flink job {running[0]['jid']})")
            return
        with step(f"starting {name} v{record.version}"):
            job_id = start_job(c, name)
            apply_job_views(c, pipeline, record.version)
        console.print(f"{name} running as Flink job {job_id}: {settings.flink_ui_url}/#/job/running/{job_id}/overview")
        return
    origin = "the topic's first offset" if start == "earliest" else start
    console.print(f"the query of {name} (or a setting it uses) changed since v{record.version} started: it deploys "
                  f"as a new version, replayed from {origin} and cut over once the gate passes")
    replay_cmds.replay_and_cut_over(c, name, start=start, yes=yes)


@app.command()
def drop(ctx: typer.Context, name: str,
         delete_tables: bool = typer.Option(False, "--delete-tables", help="Also drop its tables and views"),
         yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask")) -> None:
    """Stop the pipeline's job; with --delete-tables, drop its analytics views and the tables of every
    version too (asks first). The declaration stays in lakehouse/pipelines/ until you delete it."""
    settings: KappaSettings = ctx.obj
    pipeline = settings.pipelines.get(name) if name in settings.pipelines.names else None
    if pipeline is None or pipeline.sql is None:
        raise KappaError(f"no planned SQL pipeline {name!r} (kappa pipeline list)")
    c = build_context(settings)
    with step(f"stopping {name}"):
        location = stop_job(c, name, savepoint=True)
    console.print(f"stopped {name}" + (f"; savepoint {location}" if location else ""))
    if not delete_tables:
        console.print(f"its tables and views stay; drop them with: kappa pipeline drop {name} --delete-tables")
        return
    store = JobStore(settings.state)
    versions = range(1, store.get(name).max_version + 1)
    shared = {t.name for t in ROUTED}  # version 1 routes into the platform's quarantine and late_events
    doomed = sorted({t for v in versions for t in pipeline.table_names(v).values()} - shared)
    if not yes:
        typer.confirm(f"Drop views {', '.join(t.name for t in pipeline.published)} and tables {', '.join(doomed)}?",
                      abort=True)
    dropped = drop_pipeline_tables(c, pipeline, doomed)
    console.print(f"dropped {', '.join(dropped) or 'nothing'}; delete {name}.toml and {name}.sql from "
                  f"{PIPELINES_DIR}, or the next kappa up creates its tables again, empty")
