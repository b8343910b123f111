"""Supervised background processes: pid files, log files, health waits with a deadline, clean stops.

A pid file records the pid and the process's start time, so a recycled pid is never mistaken for
ours and `stop` only ever signals processes this runtime started.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import random
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil

from kappa.errors import ServiceError
from kappa.runtime.private import UMASK

HealthCheck = Callable[[], bool]
PORT_GRACE_S = 5.0


def as_user(user: str | None) -> dict[str, Any]:
    """Popen's arguments to run as `user` with that user's own group and no other (not the caller's:
    a process started by root would otherwise keep group root and reach what root's group may)."""
    if user is None:
        return {}
    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}


@dataclass(frozen=True)
class ProcessSpec:
    """How to run one service process."""

    name: str
    argv: Sequence[str]
    log_path: Path
    ports: Sequence[int] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    user: str | None = None
    stop_signal: int = signal.SIGTERM
    stop_timeout_s: float = 30.0


@dataclass(frozen=True)
class Running:
    name: str
    pid: int
    create_time: float
    log_path: Path
    stop_signal: int = signal.SIGTERM

    @property
    def uptime_s(self) -> float:
        return max(0.0, time.time() - self.create_time)


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port(host: str = "127.0.0.1") -> int:
    """A free port below the kernel's ephemeral range. A service on an ephemeral port can find it
    taken when it restarts: a client retrying to connect to it on localhost may be given that very
    port as its own source port and connect to itself (TCP self-connect); found by the Kafka kill -9 test."""
    low, _ = _ephemeral_range()
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(max(1024, low - 12000), low)
        if not port_in_use(host, port):
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # fall back to the kernel's choice
        s.bind((host, 0))
        return int(s.getsockname()[1])


def tcp_open(host: str, port: int, timeout_s: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


class ProcessTable:
    """The pid files of one state directory."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._guard = threading.RLock()
        self._depth = 0
        self._lock_file: IO[str] | None = None

    def _pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid.json"

    def recorded(self, name: str) -> Running | None:
        """The process recorded for `name`, alive or not."""
        try:
            data = json.loads(self._pid_file(name).read_text())
        except (OSError, ValueError):
            return None
        return Running(name, int(data["pid"]), float(data["create_time"]), Path(data["log_path"]),
                       int(data.get("stop_signal", signal.SIGTERM)))

    def get(self, name: str) -> Running | None:
        """The running process recorded for `name`, or None."""
        running = self.recorded(name)
        return running if running is not None and _alive(running) else None

    def crashed(self, name: str) -> Running | None:
        """The process recorded for `name` when it died without being stopped: a clean stop forgets
        its pid file, a crash leaves it (until the service is started again)."""
        running = self.recorded(name)
        return running if running is not None and not _alive(running) else None

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Held while services are started or stopped, across processes, so that `kappa up` and the
        supervisor never start one twice, nor the supervisor a service being stopped. Re-entrant within
        one table (a failed start stops what it started)."""
        with self._guard:
            if self._depth == 0:
                self.run_dir.mkdir(parents=True, exist_ok=True)
                self._lock_file = (self.run_dir / "start.lock").open("a")
                fcntl.flock(self._lock_file, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._lock_file is not None:
                    fcntl.flock(self._lock_file, fcntl.LOCK_UN)
                    self._lock_file.close()
                    self._lock_file = None

    def record(self, running: Running) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._pid_file(running.name).with_suffix(".tmp")
        tmp.write_text(json.dumps({
            "pid": running.pid, "create_time": running.create_time, "log_path": str(running.log_path),
            "stop_signal": int(running.stop_signal),
        }))
        tmp.replace(self._pid_file(running.name))

    def forget(self, name: str) -> None:
        self._pid_file(name).unlink(missing_ok=True)

    def names(self) -> list[str]:
        if not self.run_dir.exists():
            return []
        return sorted(p.name.removesuffix(".pid.json") for p in self.run_dir.glob("*.pid.json"))

    def start(self, spec: ProcessSpec, host: str) -> Running:
        """Start the process in its own session (it outlives the CLI) with output to its log."""
        for port in spec.ports:
            # a restart may find the port held for a moment (a client's socket in flight): wait a little
            deadline = time.monotonic() + PORT_GRACE_S
            while port_in_use(host, port) and time.monotonic() < deadline:
                time.sleep(0.5)
            if port_in_use(host, port):
                raise ServiceError(
                    spec.name, f"port {port} on {host} is already in use by another program", spec.log_path,
                    "stop that program or choose another port in kappa.toml / KAPPA__* variables",
                )
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **spec.env}
        with spec.log_path.open("ab") as log:
            log.write(f"\n===== kappa: starting {spec.name} at {time.strftime('%Y-%m-%dT%H:%M:%S')} =====\n".encode())
            log.flush()
            try:
                proc = subprocess.Popen(
                    list(spec.argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env=env, cwd=spec.cwd, start_new_session=True, umask=UMASK, **as_user(spec.user),
                )
            except OSError as exc:
                raise ServiceError(spec.name, f"could not be launched: {exc}", spec.log_path) from exc
        running = Running(spec.name, proc.pid, psutil.Process(proc.pid).create_time(), spec.log_path,
                          spec.stop_signal)
        self.record(running)
        return running

    def wait_healthy(self, running: Running, healthy: HealthCheck, timeout_s: float, interval_s: float = 0.5) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not _alive(running):
                self.forget(running.name)
                tail = log_tail(running.log_path, 5).replace("\n", " | ")
                raise ServiceError(running.name, f"exited during start-up; last log lines: {tail}", running.log_path)
            try:
                if healthy():
                    return
            except ServiceError:  # the service is up but told us what is wrong: no point waiting
                raise
            except Exception:  # a health probe that throws just means "not yet"
                pass
            time.sleep(interval_s)
        raise ServiceError(running.name, f"not healthy after {timeout_s:.0f}s", running.log_path)

    def stop(self, name: str, timeout_s: float = 30.0) -> bool:
        """Stop a recorded process and its children; True if something was stopped."""
        return bool(self.stop_together([name], timeout_s))

    def stop_together(self, names: list[str], timeout_s: float = 30.0) -> list[str]:
        """Signal every named process at once, then wait for them (a quorum's members: one stopped
        after the others would wait for a majority that is gone). Returns the names stopped."""
        with self.lock():
            families: dict[str, list[psutil.Process]] = {}
            for name in names:
                family = self._signal(name)
                if family:
                    families[name] = family
            everyone = [p for family in families.values() for p in family]
            _, alive = psutil.wait_procs(everyone, timeout=timeout_s)
            for p in alive:
                with contextlib.suppress(psutil.NoSuchProcess):
                    p.kill()
            psutil.wait_procs(alive, timeout=10)
            for name in families:
                self.forget(name)
            return list(families)

    def _signal(self, name: str) -> list[psutil.Process]:
        """Send a recorded process and its children their stop signal; the processes signalled."""
        running = self.get(name)
        if running is None:
            self.forget(name)
            return []
        try:
            proc = psutil.Process(running.pid)
            family = [proc, *self._own_children(name, proc)]
        except psutil.NoSuchProcess:
            self.forget(name)
            return []
        for p in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.send_signal(running.stop_signal)
        return family

    def _own_children(self, name: str, proc: psutil.Process) -> list[psutil.Process]:
        """The processes `proc` forked, without other services it started (the supervisor's restarts),
        which are recorded under their own names and outlive it."""
        services = {r.pid for n in self.names() if n != name and (r := self.get(n)) is not None}
        own: list[psutil.Process] = []
        pending = proc.children()
        while pending:
            child = pending.pop()
            if child.pid in services:
                continue
            own.append(child)
            with contextlib.suppress(psutil.NoSuchProcess):
                pending.extend(child.children())
        return own


def _alive(running: Running) -> bool:
    try:
        proc = psutil.Process(running.pid)
        if abs(proc.create_time() - running.create_time) > 1.0:
            return False  # the pid was recycled by another program
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
