"""kappa schema list | show TOPIC | diff TOPIC | check [TOPIC] | apply TOPIC | connect: the topics'
contracts in the schema registry, and their live evolution."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from kappa import evolution, schemas
from kappa.cli.output import console, step
from kappa.context import build_context
from kappa.errors import KappaError
from kappa.services.gateway import REGISTRY_USER
from kappa.settings import KappaSettings
from lakehouse.contracts import latest_version

app = typer.Typer(help="The topics' contracts in the schema registry (subjects `<topic>-value`).",
                  no_args_is_help=True)


def _registry(settings: KappaSettings) -> schemas.Registry:
    return schemas.Registry(settings.registry_socket)


def _topic(settings: KappaSettings, topic: str) -> str:
    if topic not in settings.pipelines.topics:
        raise KappaError(f"no topic {topic!r}; topics: {', '.join(sorted(settings.pipelines.topics))}")
    return topic


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """Every declared topic's subject: its versions, the latest id, format and compatibility level."""
    settings: KappaSettings = ctx.obj
    registry = _registry(settings)
    table = Table("topic", "subject", "format", "registered", "in the repository", "latest id", "compatibility")
    for topic in sorted(settings.pipelines.topics):
        name = schemas.subject(topic)
        files = schemas.schema_files(topic)
        versions = registry.versions(name)
        latest = registry.version(name) if versions else None
        table.add_row(topic, name, files[-1].schema_type if files else "-",
                      ",".join(map(str, versions)) or "-", ",".join(str(f.version) for f in files) or "-",
                      str(latest["id"]) if latest else "-", registry.compatibility(name) or "-")
    console.print(table)


@app.command()
def show(ctx: typer.Context, topic: str = typer.Argument(..., help="a declared topic"),
         version: str = typer.Option("latest", "--version", "-v", help="a registered version, or latest")) -> None:
    """A topic's registered schema (the latest version unless --version)."""
    settings: KappaSettings = ctx.obj
    name = schemas.subject(_topic(settings, topic))
    if version != "latest" and not version.isdigit():
        raise KappaError(f"--version must be a number or latest, not {version!r}")
    registry = _registry(settings)
    if not registry.versions(name):
        raise KappaError(f"subject {name} has no version in the registry; `kappa up` registers the repository's")
    found = registry.version(name, version)
    console.print(f"subject {name} version {found['version']} id {found['id']} "
                  f"format {found.get('schemaType', 'AVRO')}")
    console.print_json(json.dumps(json.loads(found["schema"])))


@app.command()
def diff(ctx: typer.Context, topic: str = typer.Argument(..., help="a declared topic")) -> None:
    """Field by field, the repository's newest contract version against the latest registered one."""
    settings: KappaSettings = ctx.obj
    name = schemas.subject(_topic(settings, topic))
    files = schemas.schema_files(topic)
    if not files:
        raise KappaError(f"topic {topic} has no contract in lakehouse/contracts/")
    newest = files[-1]
    registry = _registry(settings)
    if not registry.versions(name):
        console.print(f"{name} has no version registered; `kappa up` registers {newest.path.name} as version 1")
        return
    latest = registry.version(name)
    old = schemas.describe_fields(latest.get("schemaType", "AVRO"), json.loads(latest["schema"]))
    new = schemas.describe_fields(newest.schema_type, json.loads(newest.text))
    lines = schemas.diff_fields(old, new)
    console.print(f"{name}: registered version {latest['version']} (id {latest['id']}) -> {newest.path.name}")
    for line in lines or ["no field differs"]:
        console.print(f"  {line}", soft_wrap=True)


@app.command()
def check(ctx: typer.Context, topic: str = typer.Argument(None, help="a declared topic (default: every one)")) -> None:
    """Whether the repository's contract versions that are not registered yet pass their subject's
    compatibility level; changes nothing (`kappa schema apply TOPIC` applies them)."""
    settings: KappaSettings = ctx.obj
    topics = [_topic(settings, topic)] if topic else None
    for applied in schemas.apply_declared(settings, _registry(settings), topics=topics, dry_run=True):
        name = schemas.subject(applied.topic)
        if applied.registered:
            console.print(f"{name}: version(s) {', '.join(map(str, applied.registered))} of the repository pass "
                          f"{settings.registry.compatibility}; `kappa schema apply {applied.topic}` applies them")
        else:
            console.print(f"{name}: every version in the repository is registered")


@app.command()
def apply(ctx: typer.Context, topic: str = typer.Argument(..., help="a declared topic"),
          dry_run: bool = typer.Option(False, "--dry-run", help="print what would change, change nothing")) -> None:
    """Move a topic to the repository's newest contract version while it streams: checked against the
    registry's compatibility level, the tables gain the new columns, running jobs restart from a
    savepoint reading it, the version is registered, the views expose it."""
    settings: KappaSettings = ctx.obj
    c = build_context(settings)
    _topic(settings, topic)
    if dry_run:
        todo = evolution.plan(c, topic)
    else:
        with step(f"applying {topic}'s contract v{latest_version(topic)}") as progress:
            todo = evolution.apply(c, topic, progress)
    if todo.empty:
        console.print(f"{topic}: contract v{todo.contract_version} is applied; nothing to do")
        return
    console.print(("would apply" if dry_run else "applied") + f" {topic}'s contract v{todo.contract_version}:")
    for line in todo.lines():
        console.print(f"  {line}", soft_wrap=True)
    for _name, reason in settings.pipelines.left_out:  # a SQL pipeline planned against the older contract
        console.print(f"[yellow]left out:[/yellow] {reason}", soft_wrap=True, highlight=False)


@app.command()
def connect(ctx: typer.Context) -> None:
    """What a client needs to reach the registry: its URL, user, password and the gateway's CA."""
    settings: KappaSettings = ctx.obj
    c = build_context(settings)
    console.print(f"url      {settings.registry_url}\n"
                  f"user     {REGISTRY_USER}\n"
                  f"password {c.secrets.registry_password}\n"
                  f"ca       {settings.gateway_ca_file}\n"
                  "confluent_kafka: SchemaRegistryClient({'url': URL, 'basic.auth.user.info': 'registry:PASSWORD', "
                  "'ssl.ca.location': CA})", soft_wrap=True)
