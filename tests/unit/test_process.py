"""The supervisor against real (tiny) processes."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from kappa.errors import ServiceError
from kappa.runtime.private import secure_state_dir
from kappa.runtime.process import ProcessSpec, ProcessTable, free_port, tcp_open


def http_server(tmp_path: Path, port: int, name: str = "web") -> ProcessSpec:
    return ProcessSpec(
        name=name, argv=[sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        log_path=tmp_path / "logs" / f"{name}.log", ports=[port], cwd=tmp_path,
    )


def test_start_wait_reuse_and_stop(tmp_path: Path) -> None:
    table = ProcessTable(tmp_path / "run")
    port = free_port()
    running = table.start(http_server(tmp_path, port), "127.0.0.1")
    table.wait_healthy(running, lambda: tcp_open("127.0.0.1", port), timeout_s=20)
    again = table.get("web")
    assert again is not None and again.pid == running.pid
    assert table.names() == ["web"]
    assert table.stop("web") is True
    assert table.get("web") is None
    assert not tcp_open("127.0.0.1", port)
    assert table.stop("web") is False  # stopping twice is harmless


def test_port_in_use_names_service_and_log(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(ServiceError) as err:
            ProcessTable(tmp_path / "run").start(http_server(tmp_path, port), "127.0.0.1")
    msg = str(err.value)
    assert msg.startswith("web: port") and "web.log" in msg and "\n" not in msg


def test_process_dying_at_start_reports_its_log(tmp_path: Path) -> None:
    table = ProcessTable(tmp_path / "run")
    spec = ProcessSpec(name="boom", argv=[sys.executable, "-c", "print('config broken'); raise SystemExit(3)"],
                       log_path=tmp_path / "boom.log")
    running = table.start(spec, "127.0.0.1")
    with pytest.raises(ServiceError) as err:
        table.wait_healthy(running, lambda: False, timeout_s=20)
    assert "exited during start-up" in str(err.value)
    assert "config broken" in str(err.value)
    assert str(tmp_path / "boom.log") in str(err.value)
    assert table.get("boom") is None


def test_unhealthy_until_deadline(tmp_path: Path) -> None:
    table = ProcessTable(tmp_path / "run")
    spec = ProcessSpec(name="slow", argv=[sys.executable, "-c", "import time; time.sleep(60)"],
                       log_path=tmp_path / "slow.log")
    running = table.start(spec, "127.0.0.1")
    try:
        with pytest.raises(ServiceError, match="not healthy after 1s"):
            table.wait_healthy(running, lambda: False, timeout_s=1)
    finally:
        table.stop("slow")


def test_recycled_pid_is_never_signalled(tmp_path: Path) -> None:
    """A pid file whose process start time does not match is stale: stop must not touch that pid."""
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        run = tmp_path / "run"
        run.mkdir()
        (run / "ghost.pid.json").write_text(
            f'{{"pid": {bystander.pid}, "create_time": {time.time() - 10_000}, "log_path": "x"}}'
        )
        table = ProcessTable(run)
        assert table.get("ghost") is None
        assert table.stop("ghost") is False
        assert bystander.poll() is None, "an unrelated process was signalled"
    finally:
        bystander.kill()
        bystander.wait()


def test_free_ports_are_below_the_ephemeral_range() -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    assert all(free_port() < low for _ in range(50))


def test_a_port_held_for_a_moment_at_start_is_waited_for(tmp_path: Path) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    threading.Timer(1.0, blocker.close).start()
    table = ProcessTable(tmp_path / "run")
    running = table.start(http_server(tmp_path, port), "127.0.0.1")
    try:
        table.wait_healthy(running, lambda: tcp_open("127.0.0.1", port), timeout_s=20)
    finally:
        table.stop("web")


def test_a_service_creates_private_files(tmp_path: Path) -> None:
    """Whatever umask the caller has, a supervised process writes files only its user can read."""
    table = ProcessTable(tmp_path / "run")
    out = tmp_path / "written"
    spec = ProcessSpec(name="writer", argv=[sys.executable, "-c", f"open({str(out)!r}, 'w').write('x'); "
                                                                  "import time; time.sleep(30)"],
                       log_path=tmp_path / "logs" / "writer.log")
    running = table.start(spec, "127.0.0.1")
    try:
        table.wait_healthy(running, out.exists, timeout_s=20)
        assert out.stat().st_mode & 0o777 == 0o600
    finally:
        table.stop("writer")


def test_the_state_directory_is_tightened_but_keeps_a_passage_to_a_foreign_folder(tmp_path: Path) -> None:
    state = tmp_path / "state"
    for path in (state / "trino" / "etc", state / "warehouse" / "t", state / "postgres" / "data"):
        path.mkdir(parents=True)
        path.chmod(0o755)
    for path in (state / "trino" / "etc" / "config.properties", state / "warehouse" / "t" / "a.parquet"):
        path.write_text("x")
        path.chmod(0o644)
    state.chmod(0o755)
    (state / "link").symlink_to("/etc/hostname")

    tightened = secure_state_dir(state, foreign=state / "postgres" / "data")

    mode = {p.relative_to(state).as_posix(): p.lstat().st_mode & 0o777 for p in state.rglob("*")}
    assert state.stat().st_mode & 0o777 == 0o711  # enter, never list
    assert mode["postgres"] == 0o701  # the passage to PostgreSQL's data folder
    assert mode["trino/etc/config.properties"] == mode["warehouse/t/a.parquet"] == 0o600
    assert mode["trino"] == mode["trino/etc"] == mode["warehouse/t"] == 0o700
    assert tightened == 9 and secure_state_dir(state, foreign=state / "postgres" / "data") == 0
    assert secure_state_dir(state) == 2 and state.stat().st_mode & 0o777 == 0o700  # no foreign user: no passage


def test_stopping_a_process_spares_the_services_it_started(tmp_path: Path) -> None:
    """The supervisor starts the services it restarts, so they are its children: stopping it stops its
    own helpers, not them."""
    table = ProcessTable(tmp_path / "run")
    port = free_port()
    script = (
        "import subprocess, sys, time\n"
        "from pathlib import Path\n"
        "from kappa.runtime.process import ProcessSpec, ProcessTable\n"
        f"spec = ProcessSpec(name='web', argv=[sys.executable, '-m', 'http.server', '{port}', '--bind', '127.0.0.1'],"
        f" log_path=Path({str(tmp_path / 'web.log')!r}), ports=[{port}])\n"
        f"ProcessTable(Path({str(tmp_path / 'run')!r})).start(spec, '127.0.0.1')\n"
        "helper = subprocess.Popen(['sleep', '300'])\n"
        f"Path({str(tmp_path / 'helper.pid')!r}).write_text(str(helper.pid))\n"
        "time.sleep(300)\n"
    )
    parent = table.start(ProcessSpec(name="watcher", argv=[sys.executable, "-c", script],
                                     log_path=tmp_path / "watcher.log"), "127.0.0.1")
    table.wait_healthy(parent, lambda: (tmp_path / "helper.pid").exists() and table.get("web") is not None,
                       timeout_s=20)
    web = table.get("web")
    assert web is not None and web.pid in {p.pid for p in psutil.Process(parent.pid).children()}
    helper = psutil.Process(int((tmp_path / "helper.pid").read_text()))
    try:
        assert table.stop("watcher") is True
        assert not helper.is_running() or helper.status() == psutil.STATUS_ZOMBIE
        assert table.get("web") is not None and psutil.Process(web.pid).is_running()
    finally:
        table.stop("web")
        table.stop("watcher")
