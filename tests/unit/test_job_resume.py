"""`kappa up` resumes the jobs that should run: one that cannot start (its tables differ from its
declaration) is reported, and the others still start (kappa.jobs.control.resume_desired). The Flink
side is a stand-in here; the integration tier resumes real jobs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from kappa.errors import KappaError
from kappa.jobs import control
from kappa.jobs.store import JobRecord, JobStore


@pytest.fixture
def jobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    started: list[str] = []
    definitions = {name: SimpleNamespace(autostart=True) for name in ("first", "broken", "last")}
    monkeypatch.setattr(control, "job_definitions", lambda _settings: definitions)

    def start(_ctx: object, name: str) -> str:
        if name == "broken":
            raise KappaError("pipeline broken v1: table broken_raw has column x, which its declaration no longer has")
        started.append(name)
        return f"jid-{name}"

    monkeypatch.setattr(control, "start_job", start)
    JobStore(tmp_path).put(JobRecord("last", desired="stopped"))  # stopped by a user: not resumed
    return started


def ctx(tmp_path: Path) -> control.Context:
    return SimpleNamespace(settings=SimpleNamespace(state=tmp_path))  # type: ignore[return-value]


def test_a_job_that_cannot_start_is_reported_and_the_others_start(tmp_path: Path, jobs: list[str]) -> None:
    failures: list[str] = []
    assert control.resume_desired(ctx(tmp_path), failures=failures) == ["first"]
    assert jobs == ["first"]
    assert failures == ["job broken not started: pipeline broken v1: table broken_raw has column x, which its "
                        "declaration no longer has"]


def test_without_a_failure_list_the_first_failure_raises(tmp_path: Path, jobs: list[str]) -> None:
    with pytest.raises(KappaError, match="table broken_raw has column x"):
        control.resume_desired(ctx(tmp_path))
    assert jobs == ["first"]
