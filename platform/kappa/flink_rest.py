"""The Flink JobManager's REST API, as the platform uses it: jobs, checkpoints, watermarks,
metrics, savepoints and cancellation."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import requests

from kappa.context import Context
from kappa.errors import KappaError
from kappa.services.flink_tls import rest_tls_files

# A job in one of these states holds (or is about to hold) the cluster's resources and its name.
ACTIVE_STATES = {"CREATED", "RUNNING", "RESTARTING", "INITIALIZING", "RECONCILING", "FAILING", "CANCELLING"}


class FlinkRest:
    """A client of the REST API over mutual TLS (services/flink_tls.py)."""

    def __init__(self, ctx: Context) -> None:
        pem, ca = rest_tls_files(ctx)
        self.session = requests.Session()
        self.session.trust_env = False  # else REQUESTS_CA_BUNDLE overrides `verify` (psf/requests#3829)
        if pem.exists():
            self.url = ctx.settings.flink_rest_url
            self.session.cert = str(pem)
            self.session.verify = str(ca)
        else:  # a cluster started by a version before mutual TLS, still running: so that `kappa down` stops it
            self.url = f"http://{ctx.settings.host}:{ctx.settings.flink.rest_port}"

    def get(self, path: str, timeout_s: float = 10) -> Any:
        """GET a path of the REST API (e.g. `/jobs/<id>/vertices/<v>/flamegraph`), as JSON."""
        try:
            r = self.session.get(self.url + path, timeout=timeout_s)
        except requests.ConnectionError as exc:
            raise KappaError(f"the Flink JobManager does not answer at {self.url}; is the stack up?") from exc
        r.raise_for_status()
        return r.json()

    def jobs(self) -> list[dict[str, Any]]:
        return list(self.get("/jobs/overview").get("jobs", []))

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self.get(f"/jobs/{job_id}"))

    def state(self, job_id: str) -> tuple[str, bool]:
        """The job's state, and whether every one of its tasks runs (a RUNNING job may still be
        deploying some)."""
        detail = self.job(job_id)
        state = str(detail["state"])
        return state, state == "RUNNING" and all(v["status"] == "RUNNING" for v in detail.get("vertices", []))

    def checkpoints(self, job_id: str) -> dict[str, Any]:
        return dict(self.get(f"/jobs/{job_id}/checkpoints"))

    def restarts(self, job_id: str) -> int:
        """How many times the job has restarted since it was submitted."""
        values = self.get(f"/jobs/{job_id}/metrics?get=numRestarts")
        return int(float(values[0]["value"])) if values else 0

    def watermark_ms(self, job_id: str) -> int | None:
        """The job's event-time progress: the highest input watermark any operator has reached."""
        best = None
        for vertex in self.job(job_id).get("vertices", []):
            marks = self.get(f"/jobs/{job_id}/vertices/{vertex['id']}/watermarks")
            values = [int(m["value"]) for m in marks if m["id"].endswith("currentInputWatermark")]
            values = [v for v in values if v > 0]
            if values:
                best = max(best or 0, min(values))
        return best

    def source_offsets(self, job_id: str, topic: str) -> dict[int, int]:
        """Per partition of `topic`, the next offset the job's Kafka source will read: its own reading
        position (the `KafkaSourceReader...currentOffset` gauge), not the offsets committed at checkpoints.
        Empty while the source has not reported yet."""
        pattern = re.compile(rf"KafkaSourceReader\.topic\.{re.escape(topic)}\.partition\.(\d+)\.currentOffset$")
        found: dict[int, int] = {}
        for vertex in self.job(job_id).get("vertices", []):
            base = f"/jobs/{job_id}/vertices/{vertex['id']}/subtasks/metrics"
            ids = [m["id"] for m in self.get(base) if pattern.search(m["id"])]
            if not ids:
                continue
            for metric in self.get(f"{base}?get={','.join(ids)}&agg=max"):
                match = pattern.search(metric["id"])
                value = float(metric.get("max", -1))
                if match and value >= 0:  # -1 until a record of the partition has been read
                    found[int(match.group(1))] = int(value) + 1
        return found

    def recovering(self) -> list[str]:
        """The active jobs not yet running every task (restarting, or their tasks still deploying)."""
        found = []
        for job in self.get("/jobs/overview", timeout_s=2).get("jobs", []):
            tasks = job.get("tasks", {})
            all_running = tasks.get("running", 0) + tasks.get("finished", 0) >= tasks.get("total", 0)
            if job["state"] in ACTIVE_STATES and (job["state"] != "RUNNING" or not all_running):
                found.append(str(job["name"]))
        return found

    def running_by_name(self, pipeline_name: str) -> list[dict[str, Any]]:
        return [j for j in self.jobs() if j["name"] == pipeline_name and j["state"] in ACTIVE_STATES]

    def stop_with_savepoint(self, job_id: str, target: Path, timeout_s: float = 180) -> str:
        r = self.session.post(f"{self.url}/jobs/{job_id}/stop",
                          json={"targetDirectory": target.as_uri(), "drain": False}, timeout=10)
        r.raise_for_status()
        trigger = r.json()["request-id"]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.get(f"/jobs/{job_id}/savepoints/{trigger}")
            if status["status"]["id"] == "COMPLETED":
                op = status.get("operation", {})
                if "failure-cause" in op:
                    raise KappaError(f"savepoint of job {job_id} failed: {op['failure-cause'].get('class')}: "
                                     f"{op['failure-cause'].get('stack-trace', '').splitlines()[0:1]}")
                return str(op["location"])
            time.sleep(1)
        raise KappaError(f"savepoint of job {job_id} did not complete within {timeout_s:.0f}s")

    def cancel(self, job_id: str) -> None:
        self.session.patch(f"{self.url}/jobs/{job_id}", params={"mode": "cancel"}, timeout=10).raise_for_status()
