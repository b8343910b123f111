"""kappa infra plan|apply|destroy|output: Terraform for the local stack's resources."""

from __future__ import annotations

import json

import typer

from kappa import infra
from kappa.cli.output import console
from kappa.context import build_context
from kappa.errors import KappaError
from kappa.provisioned import outputs as provisioned_outputs
from kappa.runtime.stack import Stack
from kappa.settings import KappaSettings

app = typer.Typer(help="Terraform for the local resources (infra/envs/local): topics, databases, warehouse.",
                  no_args_is_help=True)


def _terraform(ctx: typer.Context) -> infra.Terraform:
    settings: KappaSettings = ctx.obj
    c = build_context(settings)
    down = [s.name for s in Stack(c).status() if s.name in ("postgres", "kafka") and s.state != "healthy"]
    if down:
        raise KappaError(f"{' and '.join(down)} not running; start the stack with `kappa up` first")
    return infra.Terraform(c, progress=console.print)


@app.command()
def plan(ctx: typer.Context) -> None:
    """Show what applying the settings would change (nothing, when nothing drifted)."""
    changes, text = _terraform(ctx).plan()
    console.print(text.strip() if changes else "no changes: the resources match the settings")


@app.command()
def apply(ctx: typer.Context) -> None:
    """Create or update the topics, role, databases and warehouse to match the settings."""
    provisioned = _terraform(ctx).apply()
    console.print(f"applied; topics: {', '.join(sorted(provisioned.topics))}; catalog: "
                  f"{provisioned.catalog_jdbc_url}; warehouse: {provisioned.warehouse_uri}")


@app.command()
def output(ctx: typer.Context) -> None:
    """The outputs the platform reads (JSON)."""
    settings: KappaSettings = ctx.obj
    console.print_json(json.dumps(provisioned_outputs(settings).__dict__))


@app.command("kubernetes-vars")
def kubernetes_vars(ctx: typer.Context) -> None:
    """The variables of infra/envs/kubernetes that come from the settings (checkpoint interval, topics,
    Trino's catalog), as JSON: save them as a `*.auto.tfvars.json` next to your own."""
    settings: KappaSettings = ctx.obj
    console.print_json(json.dumps(infra.kubernetes_vars(settings)))


@app.command()
def destroy(ctx: typer.Context, yes: bool = typer.Option(False, "--yes", help="do not ask")) -> None:
    """Delete what Terraform created: the topics (and their events), the databases (the catalog, Dagster's
    history), the role, and the warehouse directory if it is empty."""
    if not yes:
        typer.confirm("This deletes the topics, their events, the catalog and Dagster databases. Continue?",
                      abort=True)
    _terraform(ctx).destroy()
    console.print("destroyed the local resources")
