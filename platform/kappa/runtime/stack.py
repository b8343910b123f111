"""The whole local stack: start in dependency order, wait for health, stop only what we started."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass

from kappa import infra, kafka_clients
from kappa.catalog import catalog
from kappa.context import Context
from kappa.errors import KappaError, ServiceError
from kappa.runtime.private import secure_state_dir
from kappa.runtime.process import ProcessTable, Running
from kappa.services.base import Service
from kappa.services.dagster import DagsterDaemon, DagsterWebserver
from kappa.services.flink import FlinkJobManager, taskmanagers
from kappa.services.gateway import Gateway
from kappa.services.kafka import QUORUM_STOP_TIMEOUT_S, Kafka, kafka_nodes
from kappa.services.kafka_connect import KafkaConnect
from kappa.services.objectstore import ObjectStore
from kappa.services.postgres import Postgres, postgres_system_user
from kappa.services.schema_registry import SchemaRegistry
from kappa.services.sql_gateway import SqlGateway
from kappa.services.supervisor import Supervisor
from kappa.services.trino import Trino, trino_workers
from kappa.services.zookeeper import ZooKeeper
from kappa.settings import KappaSettings

Progress = Callable[[str], None]


INFRA = "infra"
INFRA_NEEDS = ("postgres", "kafka")


def services(ctx: Context) -> list[Service]:
    """In start order."""
    zookeeper: list[Service] = [ZooKeeper(ctx)] if ctx.settings.flink.high_availability else []
    store: list[Service] = [ObjectStore(ctx)] if ctx.settings.objectstore.enabled else []
    started: list[Service] = [Postgres(ctx), *kafka_nodes(ctx), *store, *zookeeper, FlinkJobManager(ctx), Trino(ctx),
                              *trino_workers(ctx),
                              *taskmanagers(ctx), SchemaRegistry(ctx), KafkaConnect(ctx)]
    if ctx.settings.dagster.enabled:
        started += [DagsterWebserver(ctx), DagsterDaemon(ctx)]
    return [*started, Gateway(ctx), *([Supervisor(ctx)] if ctx.settings.supervisor.enabled else [])]


def on_demand(ctx: Context) -> list[Service]:
    """Services a command starts when first needed (`kappa sql --streaming`), not `kappa up`: shown by
    `kappa status` while they run, stopped by `kappa down`."""
    return [SqlGateway(ctx)]


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str  # healthy | unhealthy | stopped | crashed (died without being stopped)
    pid: int | None
    ports: list[int]
    version: str
    url: str | None
    uptime_s: float | None
    log_path: str


class Stack:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.table = ProcessTable(ctx.settings.run_dir)
        self.services = services(ctx)
        self.by_name = {s.name: s for s in self.services}

    def up(self, progress: Progress = lambda _m: None, only: set[str] | None = None) -> list[str]:
        """Start whatever is not running (of `only`, when given: the supervisor restarting what crashed,
        with the platform's tables and topics already provisioned); returns the names started.
        All-or-nothing on failure."""
        s = self.ctx.settings
        secure_state_dir(s.state, foreign=Postgres(self.ctx).data_dir if postgres_system_user() else None)
        s.logs_dir.mkdir(parents=True, exist_ok=True)
        started: list[str] = []
        launched: dict[str, Running] = {}
        ready: set[str] = set() if only is None else {INFRA}
        with self.table.lock():
            try:
                for svc in self.services:
                    # the supervisor's: only what is still crashed now that it holds the lock (not a
                    # service that was being stopped when it looked)
                    wanted = only is None or (svc.name in only and self.table.crashed(svc.name) is not None)
                    running = self.table.get(svc.name)
                    if running is None and wanted:
                        for dep in svc.depends_on:
                            self._ready(launched, ready, dep, progress)
                        svc.prepare()
                        progress(f"starting {svc.name}")
                        running = self.table.start(svc.spec(), s.host)
                        started.append(svc.name)
                    if running is not None and (only is None or svc.name in started):
                        launched[svc.name] = running
                for name in launched:
                    self._ready(launched, ready, name, progress)
                if "postgres" in started and self.table.get("trino") is not None and "trino" not in started:
                    failed = Trino(self.ctx).refresh_catalog_connections()
                    if failed:
                        progress(f"trino: {failed} stale catalog connection(s) renewed after PostgreSQL restarted")
            except BaseException:
                for name in reversed(started):
                    self.table.stop(name)
                raise
        return started

    def crashed(self) -> list[str]:
        """Services that died without being stopped, in start order."""
        return [svc.name for svc in self.services if self.table.crashed(svc.name) is not None]

    def _ready(self, launched: dict[str, Running], ready: set[str], name: str, progress: Progress) -> None:
        """Wait until `name` is healthy, then create what others need inside it (once). `infra` is
        the Terraform step: topics, databases, role and warehouse, once Kafka and PostgreSQL are up."""
        if name == INFRA:
            if name not in ready:
                # every Kafka node: a topic of replication 3 is refused while fewer brokers have registered
                nodes = [svc.name for svc in self.services if isinstance(svc, Kafka)]
                for dep in dict.fromkeys([*INFRA_NEEDS, *nodes]):
                    self._ready(launched, ready, dep, progress)
                infra.provision(self.ctx, progress)
                catalog(self.ctx)  # the Iceberg catalog's own tables, before any engine opens it
                ready.add(name)
            return
        running = launched.get(name)
        if running is None or name in ready:
            return
        progress(f"waiting for {name} to be healthy")
        start = time.monotonic()
        self.table.wait_healthy(running, self.by_name[name].healthy, self.ctx.settings.startup_timeout_s)
        progress(f"{name} healthy after {time.monotonic() - start:.1f}s")
        self.by_name[name].after_start()
        ready.add(name)

    def down(self, progress: Progress = lambda _m: None) -> list[str]:
        kafka_clients.release(self.ctx.settings.kafka_bootstrap)
        stopped: list[str] = []
        order = [s.name for s in reversed(self.services)]
        extra = [n for n in self.table.names() if n not in order]
        # Kafka's nodes stop together (see stop_together), in the first node's place in the order
        quorum = [svc.name for svc in self.services if isinstance(svc, Kafka)]
        groups = [quorum if name == quorum[0] else [name] for name in extra + order if name not in quorum[1:]]
        for together in groups:
            if any(self.table.get(n) is not None for n in together):
                progress(f"stopping {', '.join(together)}")
            stopped += self.table.stop_together(together, QUORUM_STOP_TIMEOUT_S if len(together) > 1 else 30)
        return stopped

    def status(self) -> list[ServiceStatus]:
        out = []
        for svc in self.services + [s for s in on_demand(self.ctx) if self.table.get(s.name) is not None]:
            running = self.table.get(svc.name)
            state = "crashed" if running is None and self.table.crashed(svc.name) else "stopped"
            if running is not None:
                try:
                    state = "healthy" if svc.healthy() else "unhealthy"
                except Exception:
                    state = "unhealthy"
            out.append(ServiceStatus(
                name=svc.name, state=state, pid=running.pid if running else None, ports=svc.ports(),
                version=str(svc.version), url=svc.url(), uptime_s=running.uptime_s if running else None,
                log_path=str(self.ctx.log_path(svc.name)),
            ))
        return out

    def all_healthy(self) -> bool:
        return all(st.state == "healthy" for st in self.status())


def purge(settings: KappaSettings) -> None:
    """Remove the state directory (data, logs, secrets). The stack must be down."""
    table = ProcessTable(settings.run_dir)
    if table.names() and any(table.get(n) for n in table.names()):
        raise KappaError("the stack is still running; run `kappa down` first")
    if settings.state.exists():
        shutil.rmtree(settings.state)


__all__ = ["Stack", "ServiceError", "purge"]
