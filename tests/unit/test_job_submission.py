"""Before a job is submitted, the cluster must have a free task slot for each of its subtasks: a job
that finds none restarts forever in Flink, waiting for resources, and nothing says why."""

from __future__ import annotations

import pytest

from kappa.errors import KappaError
from kappa.jobs.submit import wait_for_slots

pytestmark = pytest.mark.unit


def test_it_waits_until_a_finishing_job_frees_a_slot() -> None:
    answers = iter([{"slots-available": 0, "slots-total": 8}, {"slots-available": 0, "slots-total": 8},
                    {"slots-available": 2, "slots-total": 8}])
    slept: list[float] = []
    wait_for_slots(lambda: next(answers), "replay", 2, wait_s=60, sleep=slept.append)
    assert len(slept) == 2


def test_a_full_cluster_is_refused_with_the_figures_and_the_remedy() -> None:
    full = {"slots-available": 1, "slots-total": 8, "jobs-running": 8}
    with pytest.raises(KappaError, match=r"^transactions needs 2 free task slot\(s\) and Flink has 1 of 8 free after "
                                         r"0s \(8 jobs running\): stop a job \(kappa jobs stop NAME\) or raise "
                                         r"\[flink\] task_slots$"):
        wait_for_slots(lambda: full, "transactions", 2, wait_s=0, sleep=lambda _s: None)
