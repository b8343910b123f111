"""The `kappa` command: the root, settings loading and one-line errors."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.markup import escape

from kappa.cli import (
    backfill_cmds,
    bench_cmds,
    cdc_cmds,
    data_cmds,
    demo,
    infra_cmds,
    jobs_cmds,
    pipeline_cmds,
    replay_cmds,
    schema_cmds,
    stack_cmds,
)
from kappa.cli.output import err_console
from kappa.errors import KappaError
from kappa.runtime.private import private_umask
from kappa.settings import ConfigError, active_profile, load_settings

app = typer.Typer(
    help="Kappa lakehouse: Kafka -> PyFlink -> Iceberg -> Trino, run locally.",
    no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    config: Path | None = typer.Option(  # noqa: UP007 - typer needs Optional here
        None, "--config", "-c", help="Settings file (default: $KAPPA_CONFIG or the nearest kappa.toml)"
    ),
) -> None:
    ctx.meta["config"] = config
    ctx.obj = load_settings(config, profile=active_profile(config))


stack_cmds.register(app)
data_cmds.register(app)
app.add_typer(jobs_cmds.app, name="jobs")
app.add_typer(infra_cmds.app, name="infra")
app.add_typer(schema_cmds.app, name="schema")
app.add_typer(cdc_cmds.app, name="cdc")
app.add_typer(pipeline_cmds.app, name="pipeline")
app.command("demo")(demo.demo)
app.command("replay")(replay_cmds.replay)
app.command("backfill")(backfill_cmds.backfill)
app.command("bench")(bench_cmds.bench)


def main(argv: list[str] | None = None) -> None:
    private_umask()  # what the CLI writes into the state directory (configs, job specs, tables) is private
    try:
        # not standalone: typer.Exit(n) and Ctrl-C (Exit(130)) come back as the return value
        code = app(args=argv, standalone_mode=False)
    except (KappaError, ConfigError) as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        sys.exit(1)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: click's usual one-line message
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err_console.print(f"error: {escape(str(exc))}")
        sys.exit(int(getattr(exc, "exit_code", 2)))
    if code == 130:
        err_console.print("interrupted")
    if isinstance(code, int) and code:
        sys.exit(code)
