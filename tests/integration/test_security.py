"""What another local user can see of a running stack: no file of its state, no secret on a command line.

The security tier (`pytest -m security`) is this module, Trino's rules and TLS (test_serving_security.py)
and Flink's REST hardening (test_services.py); `make test` runs it with the integration tier.
"""

from __future__ import annotations

import os
import stat
from dataclasses import asdict
from pathlib import Path

import psutil
import psycopg2
import psycopg2.errors
import pytest
from psycopg2 import sql as pgsql

from kappa.context import Context
from kappa.kafka_acl import BROKER, principals
from kappa.runtime.stack import Stack
from kappa.services.postgres import Postgres, postgres_system_user
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.security

GROUP_OTHER = stat.S_IRWXG | stat.S_IRWXO


def test_nothing_in_the_state_directory_is_open_to_other_users(ctx: Context) -> None:
    """Secrets, service configs, Kafka's segments, Flink's blobs and checkpoints, the warehouse's
    Parquet files, PostgreSQL's data: no group or other access, but "enter" on the folders above
    PostgreSQL's data where it runs as its own user."""
    state = ctx.settings.state
    passage = set(Postgres(ctx).data_dir.parents) if postgres_system_user() else set()
    open_paths = []
    kinds = set()
    for root, dirs, files in os.walk(state):
        for name in [*dirs, *files]:
            path = Path(root, name)
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                continue
            allowed = stat.S_IXOTH if path in passage else 0
            if info.st_mode & GROUP_OTHER & ~allowed:
                open_paths.append(f"{path.relative_to(state)} {stat.filemode(info.st_mode)}")
            kinds.add(path.relative_to(state).parts[0])
    assert not open_paths, open_paths[:20]
    assert stat.S_IMODE(state.stat().st_mode) == (0o711 if passage else 0o700)
    # the walk saw what matters (a test that looks at an empty folder proves nothing)
    assert {"secrets.json", "kafka", "flink", "trino", "warehouse", "postgres", "dagster"} <= kinds, kinds


def test_no_secret_on_any_command_line_or_in_a_readable_environment(ctx: Context) -> None:
    """`ps` shows every user every process's arguments; /proc/PID/environ is its owner's alone."""
    secrets = {name: value for name, value in asdict(ctx.secrets).items() if value}
    secrets |= {f"kafka password of {who}": ctx.secrets.kafka_password(who)
                for who in [BROKER, *principals(ctx.settings)]}

    def dagster_code_servers() -> list[psutil.Process]:
        return [p for p in psutil.process_iter(["cmdline"]) if "grpc" in " ".join(p.info["cmdline"] or [])
                and "dagster" in " ".join(p.info["cmdline"] or [])]

    # The webserver and the daemon each start a code server, given the instance on its command line.
    wait_for(dagster_code_servers, timeout_s=120, what="Dagster's code servers")
    shown = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        shown += [f"{name} in the command line of pid {proc.info['pid']}: {line[:120]}"
                  for name, value in secrets.items() if value in line]
    assert not shown, shown

    table = Stack(ctx).table
    for running in (table.get(name) for name in table.names() if table.crashed(name) is None):
        assert running is not None
        environ = Path(f"/proc/{running.pid}/environ").stat()
        assert not environ.st_mode & GROUP_OTHER, f"{running.name}: {stat.filemode(environ.st_mode)}"


@pytest.mark.parametrize(("role", "database", "table"), [
    ("catalog", "dagster", "runs"),          # the engines' role cannot read Dagster's runs
    ("dagster", "catalog", "iceberg_tables"),  # Dagster's role cannot read or move the catalog's pointers
])
def test_each_database_role_reaches_only_its_own_database(ctx: Context, role: str, database: str, table: str) -> None:
    s = ctx.settings
    user, password = ((s.postgres.user, ctx.secrets.catalog_password) if role == "catalog"
                      else (s.postgres.dagster_user, ctx.secrets.dagster_storage_password))
    name = s.postgres.database if database == "catalog" else s.postgres.dagster_database

    def read(as_user: str, with_password: str) -> int:
        conn = psycopg2.connect(host=s.host, port=s.postgres.port, dbname=name, user=as_user,
                                password=with_password, connect_timeout=5)
        try:
            with conn.cursor() as cur:
                cur.execute(pgsql.SQL("SELECT count(*) FROM {}").format(pgsql.Identifier(table)))
                return int(cur.fetchone()[0])
        finally:
            conn.close()

    owner = (s.postgres.user, ctx.secrets.catalog_password) if database == "catalog" else (
        s.postgres.dagster_user, ctx.secrets.dagster_storage_password)
    assert read(*owner) >= 0  # the table is there, and its owner reads it
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        read(user, password)


def test_trinos_configuration_refers_to_its_secrets_and_holds_none(ctx: Context) -> None:
    etc = ctx.settings.state / "trino" / "etc"
    text = "".join(p.read_text(errors="replace") for p in etc.rglob("*") if p.is_file())
    assert "${ENV:KAPPA_CATALOG_PASSWORD}" in text and "${ENV:KAPPA_TRINO_SHARED_SECRET}" in text
    for name in ("catalog_password", "trino_shared_secret"):
        assert getattr(ctx.secrets, name) not in text, name
