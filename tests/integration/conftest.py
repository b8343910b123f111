"""One real stack for the whole integration tier.

By default a fresh stack on free ports in a temporary state directory (its own Kafka, PostgreSQL,
Flink and Trino processes, stopped at the end). With KAPPA_TEST_STACK=reuse the tests run against
the stack that `kappa up` started from the repository's kappa.toml, and leave it running.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kappa import query
from kappa.artifacts import installs
from kappa.catalog import ensure_streaming_tables
from kappa.context import Context, build_context
from kappa.runtime.private import private_umask
from kappa.runtime.process import ProcessTable, free_port, port_in_use
from kappa.runtime.stack import Stack
from kappa.settings import KappaSettings, load_settings
from lakehouse.registry import default_registry

ROOT = Path(__file__).resolve().parents[2]
TEST_FUTURE_SKEW_S = 30 * 86_400


def stop_abandoned_stacks(root: Path) -> list[str]:
    """A test run that died (killed, or a crash) never stopped its stack: stop those now, by their pid
    files (which the supervisor only honours for processes it started), and remove their state."""
    stopped = []
    if not root.exists():
        return stopped
    for state in sorted(root.iterdir()):
        table = ProcessTable(state / "run")
        for name in table.names():
            if table.stop(name, timeout_s=10):
                stopped.append(f"{state.name}/{name}")
        shutil.rmtree(state, ignore_errors=True)
    return stopped


@pytest.fixture(scope="session")
def settings() -> KappaSettings:
    private_umask()  # the tests act as the CLI does: what they write into the stack's state is private
    if os.environ.get("KAPPA_TEST_STACK") == "reuse":
        return load_settings(ROOT / "kappa.toml")
    # Test stacks live in the cache, not in pytest's temporary folders (which pytest prunes), so that
    # a run that died can be cleaned up by the next one.
    root = load_settings(ROOT / "kappa.toml").cache / "test-stacks"
    stop_abandoned_stacks(root)
    state = root / uuid.uuid4().hex[:8]
    state.mkdir(parents=True)
    return load_settings(ROOT / "kappa.toml", state_dir=str(state), **stack_overrides())


def stack_overrides() -> dict[str, Any]:
    """A test stack's settings over kappa.toml: every port free, checkpoints every 3 s, the jobs' skew."""
    return dict(
        kafka={"port": free_port(), "controller_port": free_port()},
        postgres={"port": free_port()},
        flink={"rest_port": free_port(), "ui_port": free_port(), "rpc_port": free_port(),
               "sql_gateway_port": free_port(), "zookeeper_port": free_port(), "checkpoint_interval_s": 3},
        trino={"port": free_port(), "https_port": free_port()},
        # The tests run Dagster's jobs themselves; the schedules (checks every 15 min, maintenance)
        # would only compete for the 2 cores with them.
        dagster={"port": free_port(), "schedules": False},
        cdc={"connect_port": free_port()},
        # The tests move event time hours past the wall clock (each starts after what the jobs have
        # seen, so nothing of it is late), which the default guard would quarantine; the guard has its
        # own tests: at its default in tests/flink/test_transactions_job.py, at this value in test_stream_health.py.
        jobs={p.name: {"max_future_skew_s": TEST_FUTURE_SKEW_S} for p in default_registry().pipelines},
    )


def free_node_ports(host: str, nodes: int, step: int) -> int:
    """A port free for each of `nodes` Kafka nodes (port + n * step)."""
    for _ in range(50):
        port = free_port(host)
        if not any(port_in_use(host, port + n * step) for n in range(1, nodes)):
            return port
    raise AssertionError(f"no free ports for {nodes} Kafka nodes")


@pytest.fixture(scope="session")
def ctx(settings: KappaSettings) -> Iterator[Context]:
    installs.setup(settings.cache, lambda _m: None)
    stack = Stack(build_context(settings))
    reuse = os.environ.get("KAPPA_TEST_STACK") == "reuse"
    started = stack.up()
    ensure_streaming_tables(stack.ctx)
    try:
        yield stack.ctx
    finally:
        if not reuse or started:
            stack.down()
        if not reuse:
            shutil.rmtree(settings.state, ignore_errors=True)


def wait_for(probe: Callable[[], Any], *, timeout_s: float, what: str, interval_s: float = 2.0) -> Any:
    """Poll until `probe` returns something truthy; fail with `what` and the last value."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}; last value: {last!r}")


def trino_rows(settings: KappaSettings, sql: str) -> list[list[Any]]:
    return query.run(settings, sql).rows


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The source document's examples first: their producers stamp events with the wall clock, and
    the other tests push the jobs' watermarks hours ahead, which would make those events late. The
    schema evolution last: it leaves user-events-avro at a contract version the repository lacks."""
    order = {"test_source_document.py": 0, "test_schema_evolution.py": 2}
    items.sort(key=lambda item: order.get(Path(str(item.fspath)).name, 1))
