"""The supervisor: restarts a service process that died, within a second, without a user running
`kappa up`.

It is the platform's own runtime made to watch rather than a general supervisor (supervisord, say):
the runtime already knows how each service starts (its rendered configuration, its secrets passed in
its environment, never in a file), how to tell it is healthy, what must be done inside it once it is
(topics, catalog connections) and which jobs should run; a second description of the services for
another tool would be a second place for each fact.

A service that died is one whose pid file is still there with its process gone: a clean stop
(`kappa down`, `kappa` restarting it) removes the pid file, so what a user stopped stays stopped.
Restarts take the same start lock as `kappa up`, so the two never start a service twice. A restarted
JobManager takes its jobs back from ZooKeeper (high availability, services/zookeeper.py); without
it (`[flink] high_availability = false`) the supervisor resubmits them from their newest checkpoint. A service that
dies `restart_limit` times within `restart_window_min` is left down, and the log says so.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from pathlib import Path

from kappa.context import Context
from kappa.errors import KappaError
from kappa.flink_rest import FlinkRest
from kappa.jobs import resume_desired
from kappa.runtime.stack import Stack
from kappa.services.flink import TASKMANAGER, FlinkTaskManager
from kappa.services.supervisor import BEAT_EVERY_S, NAME, heartbeat_file

log = logging.getLogger("kappa.supervisor")
JOBMANAGER = "flink-jobmanager"


class Watch:
    """One look at the stack per `tick`: restart what died, within the restart limit."""

    def __init__(self, stack: Stack, resume_jobs: Callable[[], list[str]] | None,
                 clock: Callable[[], float] = time.monotonic,
                 jobs_recovering: Callable[[str], list[str]] = lambda _tm: []) -> None:
        self.stack = stack
        self.resume_jobs = resume_jobs
        self.clock = clock
        self.jobs_recovering = jobs_recovering
        s = stack.ctx.settings.supervisor
        self.limit, self.window_s = s.restart_limit, s.restart_window_min * 60
        self.defer_s = s.taskmanager_defer_s
        self.restarts: dict[str, deque[float]] = defaultdict(deque)
        self.given_up: set[str] = set()
        self.deferred: dict[str, float] = {}  # a dead TaskManager -> when its restart was first put off

    def _defer(self, name: str, died: list[str], now: float) -> bool:
        """Put off restarting a dead TaskManager while another runs and the jobs recover in its slots."""
        if not name.startswith(TASKMANAGER) or now - self.deferred.setdefault(name, now) >= self.defer_s:
            return False
        others = [s.name for s in self.stack.services
                  if s.name.startswith(TASKMANAGER) and s.name not in died and self.stack.table.get(s.name)]
        try:
            recovering = self.jobs_recovering(name) if others else []
        except Exception:  # the JobManager not answering: nothing to wait for
            recovering = []
        if recovering and now == self.deferred[name]:
            log.warning("%s died; its jobs restart in %s (%s): restarting it once they run, in %ds at most",
                        name, ", ".join(others), ", ".join(recovering), self.defer_s)
        return bool(recovering)

    def tick(self) -> list[str]:
        """Restart the services that died; returns their names."""
        now = self.clock()
        died = [name for name in self.stack.crashed() if name != NAME and name not in self.given_up]
        died = [name for name in died if not self._defer(name, died, now)]
        due = []
        for name in died:
            self.deferred.pop(name, None)
            recent = self.restarts[name]
            while recent and now - recent[0] > self.window_s:
                recent.popleft()
            if len(recent) >= self.limit:
                self.given_up.add(name)
                log.error("%s died %d times within %d min: left down (see %s; `kappa up` starts it again)",
                          name, len(recent) + 1, self.window_s // 60, self.stack.ctx.log_path(name))
                continue
            recent.append(now)
            due.append(name)
        if not due:
            return []
        log.warning("died: %s; restarting", ", ".join(due))
        started_at = self.clock()
        try:
            started = self.stack.up(lambda m: log.info("  %s", m), only=set(due))
        except KappaError as exc:
            log.error("restart of %s failed: %s", ", ".join(due), exc)
            return []
        if not started:  # stopped meanwhile (a stop holds the lock), or started by `kappa up`
            return []
        log.warning("restarted %s in %.1fs", ", ".join(started), self.clock() - started_at)
        if JOBMANAGER in started and self.resume_jobs is not None:
            resumed = self.resume_jobs()
            log.warning("jobs resubmitted after the JobManager: %s (%.1fs after the restart began)",
                        ", ".join(resumed) or "none", self.clock() - started_at)
        return started


def run(ctx: Context) -> None:
    """`kappa supervise`: watch until stopped (SIGTERM from `kappa down`)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    failures: list[str] = []

    def resume() -> list[str]:
        resumed = resume_desired(ctx, lambda m: log.info("  %s", m), failures)
        for failure in failures:
            log.error("%s", failure)
        failures.clear()
        return resumed

    # With high availability the restarted JobManager takes its jobs back from ZooKeeper itself
    stack = Stack(ctx)
    watch = Watch(stack, None if ctx.settings.flink.high_availability else resume,
                  jobs_recovering=lambda name: jobs_recovering(stack, name))
    threading.Thread(target=_beat, args=(heartbeat_file(ctx),), daemon=True, name="heartbeat").start()
    log.info("watching %s", ", ".join(s.name for s in watch.stack.services if s.name != NAME))
    while True:
        watch.tick()
        time.sleep(BEAT_EVERY_S)


def jobs_recovering(stack: Stack, taskmanager: str) -> list[str]:
    """The jobs a dead TaskManager's restart waits for: all of them while the JobManager has not yet
    noticed its death (it still lists it, and the jobs it ran have yet to fail over), then those not
    yet running every task again."""
    rest = FlinkRest(stack.ctx)
    service = stack.by_name[taskmanager]
    registered = {tm.get("id") for tm in rest.get("/taskmanagers", timeout_s=2).get("taskmanagers", [])}
    if isinstance(service, FlinkTaskManager) and service.resource_id() in registered:
        return [f"the JobManager still lists {taskmanager}"]
    return rest.recovering()


def _beat(path: Path) -> None:
    """The heartbeat `kappa status` reads, from its own thread: a restart waits minutes at most for a
    service's health, and the supervisor is alive meanwhile."""
    while True:
        path.touch()
        time.sleep(BEAT_EVERY_S)
