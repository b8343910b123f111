"""`kappa up` resumes the jobs that should run: one that cannot start (its tables differ from its
declaration) is reported, and the others still start (kappa.jobs.control.resume_desired). The Flink
side is a stand-in here; the integration tier resumes real jobs."""

from __future__ import annotations

import threading
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


def ctx(tmp_path: Path, parallel: int = 2) -> control.Context:
    settings = SimpleNamespace(state=tmp_path, flink=SimpleNamespace(parallel_submissions=parallel))
    return SimpleNamespace(settings=settings)  # type: ignore[return-value]


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


@pytest.mark.parametrize("parallel", [1, 3])
def test_jobs_start_several_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: int) -> None:
    """Each submission waits for the others of its batch: with `parallel` at a time they all start."""
    names = [f"job{i}" for i in range(6)]
    monkeypatch.setattr(control, "job_definitions", lambda _s: {n: SimpleNamespace(autostart=True) for n in names})
    together = threading.Barrier(parallel, timeout=10)
    at_once: set[int] = set()
    lock = threading.Lock()
    running = [0]

    def start(_ctx: object, name: str) -> str:
        with lock:
            running[0] += 1
            at_once.add(running[0])
        together.wait()
        with lock:
            running[0] -= 1
        return f"jid-{name}"

    monkeypatch.setattr(control, "start_job", start)
    assert control.resume_desired(ctx(tmp_path, parallel)) == names
    assert max(at_once) == parallel
