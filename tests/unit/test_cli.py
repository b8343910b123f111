"""Bad input on the command line gets one clear line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def kappa(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    # A narrow terminal, as CI has: output that tests read line by line must not wrap.
    env = {**os.environ, "COLUMNS": "60"}
    return subprocess.run([sys.executable, "-m", "kappa", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=60, check=False, env=env)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("produce", "--scenario", "nope", "--count", "1"), "unknown scenario 'nope'"),
        (("produce", "--scenario", "transactions", "--start", "yesterday"), "cannot read time"),
        (("produce", "--scenario", "transactions", "--rate", "-5"), "--rate"),
        (("logs", "no-such-service"), "no log 'no-such-service'"),
        (("kafka-client", "mallory"), "no Kafka principal 'mallory'"),
        (("--config", "/nonexistent/kappa.toml", "status"), "does not exist"),
        (("pipeline", "new", "Bad-Name", "--topic", "transactions"), "lower case letters, digits and underscores"),
        (("pipeline", "new", "mine", "--topic", "nope"), "unknown topic 'nope'"),
        (("pipeline", "validate", "nope"), "no SQL pipeline 'nope'"),
        (("pipeline", "deploy", "transactions"), "a built-in pipeline: kappa jobs start transactions"),
        (("pipeline", "deploy", "suspicious_sql", "--from", "offsets:0=x"), "cannot read 'offsets:0=x': use offsets:"),
        (("pipeline", "deploy", "suspicious_sql", "--from", "yesterday"), "cannot read time 'yesterday'"),
        (("sql", "--streaming", "--from", "middle"), "--from must be one of earliest, latest, not 'middle'"),
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


def test_logs_lists_every_log_and_shows_one_without_colour_codes(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "logs" / "jobs").mkdir(parents=True)
    (state / "logs" / "dagster-webserver.log").write_text("\x1b[32m2026-11-26 INFO\x1b[0m - started\nsecond\n")
    (state / "logs" / "jobs" / "transactions-submit.log").write_text("submitted\n")
    config = tmp_path / "kappa.toml"
    config.write_text(f'state_dir = "{state}"\n')
    listed = kappa("--config", str(config), "logs")
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["dagster-webserver", "jobs/transactions-submit"]
    shown = kappa("--config", str(config), "logs", "dagster-webserver", "-n", "5")
    assert shown.stdout == "2026-11-26 INFO - started\nsecond\n"
    assert kappa("--config", str(config), "logs", "jobs/transactions-submit").stdout == "submitted\n"


def test_a_trailing_semicolon_is_not_part_of_the_statement() -> None:
    from kappa.query import statement

    assert statement("SELECT 1;") == "SELECT 1"
    assert statement("  SELECT ';' AS s ; ;\n") == "SELECT ';' AS s"


def test_a_replay_from_the_future_is_refused_before_kafka_is_asked() -> None:
    from kappa.errors import KappaError
    from kappa.offsets import resolve

    with pytest.raises(KappaError, match=r"--from now\+1h is .*, in the future: no record is that new yet"):
        resolve("127.0.0.1:1", "transactions", "now+1h")


def test_ctrl_c_exits_130_saying_interrupted(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from kappa.cli import app, bench_cmds

    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(app, "private_umask", lambda: None)  # the process's umask is every other test's too
    monkeypatch.setattr(bench_cmds, "build_context", interrupted)
    with pytest.raises(SystemExit) as exited:
        app.main(["bench", "--scaling", "2"])
    assert exited.value.code == 130
    assert "interrupted" in capsys.readouterr().err


def test_a_command_that_exits_with_a_code_exits_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """`kappa status` with a problem, `kappa cdc status` with a connector down: typer.Exit(1)."""
    import typer

    from kappa.cli import app, bench_cmds

    def problem(*_args: object) -> None:
        raise typer.Exit(1)

    monkeypatch.setattr(app, "private_umask", lambda: None)
    monkeypatch.setattr(bench_cmds, "build_context", problem)
    with pytest.raises(SystemExit) as exited:
        app.main(["bench", "--scaling", "2"])
    assert exited.value.code == 1
