"""`kappa sql --streaming`: a session on Flink's SQL gateway (platform/kappa/streaming_sql.py), its
rows printed as they stream in."""

from __future__ import annotations

import sys

from kappa import query as q
from kappa.cli.output import console, step
from kappa.context import build_context
from kappa.errors import KappaError
from kappa.settings import KappaSettings
from kappa.streaming_sql import Result, Session, check_start, start_gateway
from lakehouse.sql_text import statements

PROMPT = "flink> "
_WHY = {"limit": "the row limit", "timeout": "the timeout", "interrupted": "Ctrl-C"}


def _print_row(result: Result, i: int) -> None:
    if i == 0:
        console.print(" | ".join(["op", *result.columns]), style="bold", highlight=False, markup=False,
                      soft_wrap=True)
    console.print(" | ".join([result.kinds[i], *(q.display(v) for v in result.rows[i])]), highlight=False,
                  markup=False, soft_wrap=True)


def _run(session: Session, text: str, limit: int, timeout_s: float) -> None:
    for statement in statements(text):
        result = session.run(statement.text, limit=limit, timeout_s=timeout_s, on_row=_print_row)
        ended = f"; stopped at {_WHY[result.stopped]}" if result.stopped else ""
        job = f" (Flink job {result.job_id})" if result.job_id else ""
        console.print(f"({len(result.rows)} rows{job}{ended})", highlight=False)


def streaming(settings: KappaSettings, execute: str | None, limit: int, start: str, timeout_s: float) -> None:
    """Run `execute`'s statements, or those typed at the prompt (each ends with `;`)."""
    check_start(start)  # before the gateway starts
    ctx = build_context(settings)
    with step("opening a streaming SQL session") as progress:
        start_gateway(ctx, progress)
        session = Session(ctx, start=start)
    try:
        if execute is not None:
            _run(session, execute, limit, timeout_s)
            return
        interactive = sys.stdin.isatty()
        if interactive:
            console.print(f"Flink SQL on the platform's topics ({', '.join(session.streams)}) and catalog "
                          f"({settings.catalog.name}); reading from the {start} offsets, up to {limit} rows a "
                          "query. End statements with `;`, Ctrl-C stops a query, Ctrl-D leaves.", highlight=False)
        buffer = ""
        while True:
            try:
                line = input(PROMPT if interactive and not buffer else "    > " if interactive else "")
            except EOFError:
                break
            except KeyboardInterrupt:  # at the prompt: drop what was typed, as psql does
                buffer = ""
                console.print()
                continue
            buffer += line + "\n"
            if not buffer.rstrip().endswith(";"):
                continue
            text, buffer = buffer, ""
            try:
                _run(session, text, limit, timeout_s)
            except KappaError as exc:
                if not interactive:
                    raise
                console.print(f"[red]error:[/red] {exc}", highlight=False)
        if buffer.strip():
            _run(session, buffer, limit, timeout_s)
    finally:
        session.close()
