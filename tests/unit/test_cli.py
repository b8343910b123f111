"""Bad input on the command line gets one clear line, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def kappa(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kappa", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=60, check=False)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("produce", "--scenario", "nope", "--count", "1"), "unknown scenario 'nope'"),
        (("produce", "--scenario", "transactions", "--start", "yesterday"), "cannot read time"),
        (("produce", "--scenario", "transactions", "--rate", "-5"), "--rate"),
        (("logs", "no-such-service"), "no log for 'no-such-service'"),
        (("--config", "/nonexistent/kappa.toml", "status"), "does not exist"),
    ],
)
def test_bad_arguments(args: tuple[str, ...], needle: str, tmp_path: Path) -> None:
    result = kappa(*args)
    assert result.returncode != 0
    assert needle in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_bad_settings_file(tmp_path: Path) -> None:
    (tmp_path / "kappa.toml").write_text("[kafka]\nport = 'x'\n")
    result = kappa("status", cwd=tmp_path)
    assert result.returncode == 1
    assert "kafka.port" in result.stderr and "Traceback" not in result.stderr


def test_help_lists_the_commands() -> None:
    result = kappa("--help")
    assert result.returncode == 0
    for command in ("up", "down", "status", "logs", "produce", "query", "jobs", "demo", "setup"):
        assert command in result.stdout
