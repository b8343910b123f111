"""The Dagster UI (webserver) and daemon, with instance storage in the platform's PostgreSQL, so run
history survives restarts. Both load the code location `orchestration.definitions` with the same
settings as the CLI (the effective settings file)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from kappa.context import Context
from kappa.errors import ServiceError
from kappa.provisioned import outputs as provisioned_outputs
from kappa.runtime.process import ProcessSpec
from kappa.unix_http import post_json

REPO_ROOT = Path(__file__).resolve().parents[3]
LOCATION = "kappa"
_LOCATION_QUERY = """{ workspaceOrError { ... on Workspace { locationEntries { loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
STORAGE_PASSWORD_ENV = "KAPPA_DAGSTER_STORAGE_PASSWORD"
_DAEMON_QUERY = "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }"


def dagster_home(ctx: Context) -> Path:
    return ctx.settings.state / "dagster"


def render_instance(ctx: Context) -> dict:
    s = ctx.settings
    provisioned = provisioned_outputs(ctx.settings)
    # The password by reference: Dagster passes its instance's configuration to every code server it
    # starts on the command line, which any local user can read in `ps`; the variable is in the
    # environment of Dagster's processes only (readable by their user alone).
    # psycopg2 explicitly: SQLAlchemy 2.1 defaults to psycopg 3, whose server-side parameters break
    # dagster-postgres's `NOTIFY run_events, %(id)s`.
    db = {"username": provisioned.dagster_role, "password": {"env": STORAGE_PASSWORD_ENV}, "hostname": s.host,
          "port": s.postgres.port, "db_name": provisioned.dagster_database, "scheme": "postgresql+psycopg2"}
    return {
        "storage": {"postgres": {"postgres_db": db}},
        "telemetry": {"enabled": False},
        "nux": {"enabled": False},  # no community pop-up over the page on a first visit
        "run_coordinator": {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator",
                            "config": {"max_concurrent_runs": 2}},
    }


@contextlib.contextmanager
def storage_password(ctx: Context) -> Iterator[None]:
    """The storage password in this process's environment while it opens the instance itself."""
    before = os.environ.get(STORAGE_PASSWORD_ENV)
    os.environ[STORAGE_PASSWORD_ENV] = ctx.secrets.dagster_storage_password
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(STORAGE_PASSWORD_ENV, None)
        else:
            os.environ[STORAGE_PASSWORD_ENV] = before


def render_workspace() -> dict:
    return {"load_from": [{"python_module": {
        "module_name": "orchestration.definitions", "working_directory": str(REPO_ROOT), "location_name": LOCATION,
    }}]}


def fail_orphaned_runs(home: Path) -> list[str]:
    """Runs the stored history says are in progress, while no daemon runs: their workers ended with
    the stack that ran them (a stop, a crash, a reboot). Marked failed, with the reason, so that they
    no longer hold the run queue's slots; returns their ids."""
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    in_progress = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
    with DagsterInstance.from_config(str(home.resolve())) as instance:
        runs = instance.get_runs(filters=RunsFilter(statuses=in_progress))
        for run in runs:
            instance.report_run_failed(run, "the platform stopped while this run was in progress; run it again")
    return [r.run_id for r in runs]


def graphql(ctx: Context, query: str, timeout_s: float = 5) -> Any:
    """A query to Dagster's GraphQL API on its socket (the platform's own user only)."""
    return post_json(ctx.settings.dagster_socket, "/graphql", {"query": query}, timeout=timeout_s)


class _Dagster:
    version = "1.13"
    depends_on: tuple[str, ...] = ("infra",)

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.home = dagster_home(ctx)

    def url(self) -> str | None:
        return self.ctx.settings.dagster_url

    def prepare(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        instance = self.home / "dagster.yaml"
        instance.write_text(yaml.safe_dump(render_instance(self.ctx)))
        instance.chmod(0o600)
        (self.home / "workspace.yaml").write_text(yaml.safe_dump(render_workspace()))
        settings_file = self.ctx.settings.effective_settings_file
        settings_file.write_text(self.ctx.settings.model_dump_json(indent=1))

    def env(self) -> dict[str, str]:
        return {"DAGSTER_HOME": str(self.home), "KAPPA_CONFIG": str(self.ctx.settings.effective_settings_file),
                "PYTHONPATH": str(REPO_ROOT), "TQDM_DISABLE": "1",
                STORAGE_PASSWORD_ENV: self.ctx.secrets.dagster_storage_password}

    def bin(self, name: str) -> str:
        return str(Path(sys.executable).parent / name)

    def after_start(self) -> None:
        return None


class DagsterWebserver(_Dagster):
    name = "dagster-webserver"

    def ports(self) -> list[int]:
        return []  # a socket in the state directory; the gateway serves the UI on dagster.port

    def spec(self) -> ProcessSpec:
        return ProcessSpec(
            name=self.name,
            argv=[sys.executable, "-m", "kappa.services.dagster_socket", str(self.ctx.settings.dagster_socket),
                  "-w", str(self.home / "workspace.yaml")],
            log_path=self.ctx.log_path(self.name), ports=self.ports(), env=self.env(), cwd=REPO_ROOT,
        )

    def healthy(self) -> bool:
        """Up, and the code location loaded (a broken one is reported at once, with its error)."""
        answer = graphql(self.ctx, _LOCATION_QUERY)
        entries = answer["data"]["workspaceOrError"]["locationEntries"]
        for entry in entries:
            loaded = entry.get("locationOrLoadError") or {}
            if loaded.get("__typename") == "PythonError":
                message = " ".join(str(loaded.get("message", "")).split())[:300]
                raise ServiceError(self.name, f"the code location failed to load: {message}",
                                   self.ctx.log_path(self.name))
        return bool(entries) and all(e["loadStatus"] == "LOADED" and e.get("locationOrLoadError") for e in entries)


class DagsterDaemon(_Dagster):
    name = "dagster-daemon"
    depends_on: tuple[str, ...] = ("infra", "dagster-webserver")

    def ports(self) -> list[int]:
        return []

    def url(self) -> str | None:
        return None

    def prepare(self) -> None:
        super().prepare()
        with storage_password(self.ctx):
            fail_orphaned_runs(self.home)

    def spec(self) -> ProcessSpec:
        return ProcessSpec(
            name=self.name, argv=[self.bin("dagster-daemon"), "run", "-w", str(self.home / "workspace.yaml")],
            log_path=self.ctx.log_path(self.name), env=self.env(), cwd=REPO_ROOT,
        )

    def healthy(self) -> bool:
        statuses = graphql(self.ctx, _DAEMON_QUERY)["data"]["instance"]["daemonHealth"]["allDaemonStatuses"]
        required = [d for d in statuses if d["required"]]
        return bool(required) and all(d["healthy"] for d in required)
