"""The supervisor's watch against real (tiny) processes: a process killed with -9 is restarted at the
next look, a cleanly stopped one is not, one that keeps dying is left down after the limit, and a
restarted JobManager brings the jobs back. The integration tier kills the real services
(tests/integration/test_faults.py)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

from kappa.runtime.process import ProcessSpec, ProcessTable
from kappa.runtime.supervisor import JOBMANAGER, Watch
from kappa.settings import SupervisorSettings


class TinyStack:
    """What the watch uses of the stack, over real processes that sleep (or die at once)."""

    def __init__(self, tmp_path: Path, names: list[str], argv: list[str] | None = None) -> None:
        self.table = ProcessTable(tmp_path / "run")
        self.tmp_path = tmp_path
        self.argv = argv or [sys.executable, "-c", "import time; time.sleep(120)"]
        self.ctx = SimpleNamespace(settings=SimpleNamespace(supervisor=SupervisorSettings(restart_limit=2)),
                                   log_path=lambda name: tmp_path / f"{name}.log")
        self.services = [SimpleNamespace(name=n) for n in names]
        for name in names:
            self.table.start(self.spec(name), "127.0.0.1")

    def spec(self, name: str) -> ProcessSpec:
        return ProcessSpec(name=name, argv=self.argv, log_path=self.tmp_path / f"{name}.log")

    def crashed(self) -> list[str]:
        return [s.name for s in self.services if self.table.crashed(s.name) is not None]

    def up(self, progress, only: set[str]) -> list[str]:  # type: ignore[no-untyped-def]
        with self.table.lock():
            started = [s.name for s in self.services if s.name in only and self.table.get(s.name) is None]
            for name in started:
                self.table.start(self.spec(name), "127.0.0.1")
        return started

    def kill9(self, name: str) -> int:
        running = self.table.get(name)
        assert running is not None
        os.kill(running.pid, signal.SIGKILL)
        psutil.Process(running.pid).wait(10)
        return running.pid

    def stop_all(self) -> None:
        for s in self.services:
            self.table.stop(s.name, timeout_s=5)


@pytest.fixture
def resumed() -> list[int]:
    return []


def test_a_killed_process_is_restarted_and_a_stopped_one_is_not(tmp_path: Path, resumed: list[int]) -> None:
    stack = TinyStack(tmp_path, ["kafka", "trino"])
    watch = Watch(stack, lambda: resumed.append(1) or [])  # type: ignore[arg-type]
    try:
        assert watch.tick() == []
        old = stack.kill9("kafka")
        assert stack.table.get("kafka") is None and stack.table.crashed("kafka") is not None
        assert watch.tick() == ["kafka"]
        again = stack.table.get("kafka")
        assert again is not None and again.pid != old and stack.table.crashed("kafka") is None
        assert stack.table.stop("trino")
        assert stack.table.crashed("trino") is None
        assert watch.tick() == [] and stack.table.get("trino") is None
        assert resumed == [], "no JobManager was restarted"
    finally:
        stack.stop_all()


def test_a_process_that_keeps_dying_is_left_down_after_the_limit(tmp_path: Path, resumed: list[int],
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    stack = TinyStack(tmp_path, ["trino"], argv=[sys.executable, "-c", "raise SystemExit(1)"])
    clock = iter(range(0, 10_000, 10))
    watch = Watch(stack, lambda: [], clock=lambda: float(next(clock)))  # type: ignore[arg-type]
    restarts = []
    with caplog.at_level(logging.ERROR, logger="kappa.supervisor"):
        for _ in range(4):
            psutil.wait_procs([psutil.Process(r.pid) for r in [stack.table.recorded("trino")] if r is not None
                               and psutil.pid_exists(r.pid)], timeout=10)
            restarts += watch.tick()
    assert restarts == ["trino", "trino"]  # restart_limit = 2
    assert "trino died 3 times within 10 min: left down" in caplog.text
    assert str(tmp_path / "trino.log") in caplog.text


def test_restarts_spread_over_more_than_the_window_are_not_counted_together(tmp_path: Path) -> None:
    stack = TinyStack(tmp_path, ["kafka"])
    now = [0.0]
    watch = Watch(stack, lambda: [], clock=lambda: now[0])  # type: ignore[arg-type]
    try:
        for _ in range(4):
            stack.kill9("kafka")
            assert watch.tick() == ["kafka"]
            now[0] += 11 * 60  # longer than restart_window_min apart
    finally:
        stack.stop_all()


def test_a_restarted_jobmanager_brings_the_jobs_back(tmp_path: Path, resumed: list[int]) -> None:
    stack = TinyStack(tmp_path, [JOBMANAGER, "flink-taskmanager"])
    watch = Watch(stack, lambda: resumed.append(1) or ["transactions"])  # type: ignore[arg-type]
    try:
        stack.kill9(JOBMANAGER)
        assert watch.tick() == [JOBMANAGER]
        assert resumed == [1]
    finally:
        stack.stop_all()


def test_the_start_lock_lets_one_starter_at_a_time(tmp_path: Path) -> None:
    table = ProcessTable(tmp_path / "run")
    order: list[str] = []
    def second() -> None:
        with table.lock():
            order.append("second")

    with table.lock():
        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.5)
        order.append("first")
    waiter.join(5)
    assert order == ["first", "second"]


def test_a_service_being_stopped_is_never_seen_crashed_under_the_lock(tmp_path: Path) -> None:
    """The supervisor may look while `kappa down` stops a service (its process gone, its pid file not
    yet): it re-checks under the start lock, which the stop holds until the pid file is gone."""
    stopper, watcher = ProcessTable(tmp_path / "run"), ProcessTable(tmp_path / "run")  # as two processes
    slow = [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, lambda *a: (time.sleep(1), "
            "exit(0))); time.sleep(60)"]
    stopper.start(ProcessSpec(name="kafka", argv=slow, log_path=tmp_path / "kafka.log"), "127.0.0.1")
    time.sleep(0.5)  # its handler installed
    seen: list[object] = []
    stopping = threading.Thread(target=stopper.stop, args=("kafka",))
    stopping.start()
    time.sleep(0.2)
    with watcher.lock():
        seen.append(watcher.crashed("kafka"))
        seen.append(watcher.get("kafka"))
    stopping.join(10)
    assert seen == [None, None]


def test_a_dead_taskmanager_waits_while_its_jobs_recover_in_the_other(tmp_path: Path) -> None:
    """Its restart (a JVM starting) would take the CPU the jobs restoring in the other TaskManager's
    slots need: it comes once they run, or `taskmanager_defer_s` after the death at most."""
    stack = TinyStack(tmp_path, [JOBMANAGER, "flink-taskmanager", "flink-taskmanager-2"])
    now = [1000.0]
    recovering = [["kappa.transactions.v1"]]
    watch = Watch(stack, None, clock=lambda: now[0], jobs_recovering=lambda _tm: recovering[0])  # type: ignore[arg-type]
    try:
        stack.kill9("flink-taskmanager")
        assert watch.tick() == [] and stack.table.get("flink-taskmanager") is None
        now[0] += 5
        recovering[0] = []  # every job runs again
        assert watch.tick() == ["flink-taskmanager"]

        stack.kill9("flink-taskmanager-2")
        recovering[0] = ["kappa.transactions.v1"]
        assert watch.tick() == []
        now[0] += 60  # still recovering, but not waited for longer
        assert watch.tick() == ["flink-taskmanager-2"]
    finally:
        stack.stop_all()


def test_a_taskmanager_is_restarted_at_once_when_no_other_runs(tmp_path: Path) -> None:
    stack = TinyStack(tmp_path, [JOBMANAGER, "flink-taskmanager", "flink-taskmanager-2"])
    watch = Watch(stack, None, jobs_recovering=lambda _tm: ["kappa.transactions.v1"])  # type: ignore[arg-type]
    try:
        stack.kill9("flink-taskmanager")
        stack.kill9("flink-taskmanager-2")
        assert sorted(watch.tick()) == ["flink-taskmanager", "flink-taskmanager-2"]
    finally:
        stack.stop_all()
