"""Flink jobs on the session cluster: the pipelines with their settings (`definitions`), their
specs (`spec`), submission (`submit`), start and stop (`control`), records (`store`) and health
(`status`). A job's identity on the cluster is its pipeline name `kappa.<job>.v<version>`."""

from kappa.jobs.control import latest_restore_point, resume_desired, start_job, stop_job, suspend_all
from kappa.jobs.definitions import JobDefinition, get_definition, job_definitions, live_tables
from kappa.jobs.spec import render_spec
from kappa.jobs.status import JobStatus, job_statuses, problems
from kappa.jobs.store import JobRecord, JobStore
from kappa.jobs.submit import FLINK_JOBS_DIR, submit

__all__ = [
    "FLINK_JOBS_DIR", "JobDefinition", "JobRecord", "JobStatus", "JobStore", "get_definition", "job_definitions",
    "job_statuses", "latest_restore_point", "live_tables", "problems", "render_spec", "resume_desired", "start_job",
    "stop_job", "submit", "suspend_all",
]
