"""Test tiers by folder (tests/unit, tests/cluster, ...); settings isolated from the developer's shell."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

try:  # tests/flink run in the Flink environment (apache-flink); elsewhere they are not collected
    import pyflink  # noqa: F401
except ImportError:
    collect_ignore_glob = ["flink/*"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        tier = Path(str(item.fspath)).relative_to(ROOT / "tests").parts[0]
        if tier in ("unit", "integration", "flink", "terraform", "cluster"):
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's KAPPA__* variables must not change what the tests see."""
    for key in list(os.environ):
        if key.startswith("KAPPA__") or key == "KAPPA_CONFIG":
            monkeypatch.delenv(key)
