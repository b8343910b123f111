"""What the platform remembers about each job between commands: `<state>/jobs/<job>/record.json`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class JobRecord:
    name: str
    version: int = 1  # the live version: the one the analytics views point at
    job_id: str | None = None
    submitted_at: float | None = None
    last_savepoint: str | None = None
    previous_version: int | None = None  # what `kappa replay rollback` returns to
    max_version: int = 1  # highest version ever started (replays never reuse a number)
    retired: dict[str, str] = field(default_factory=dict)  # version -> savepoint it stopped with
    # running | stopped: what `kappa up` restores; "" until a user starts or stops the job, when
    # the job's `autostart` setting decides.
    desired: str = ""


class JobStore:
    def __init__(self, state: Path) -> None:
        self.dir = state / "jobs"

    def path(self, name: str) -> Path:
        return self.dir / name / "record.json"

    def get(self, name: str) -> JobRecord:
        p = self.path(name)
        if not p.exists():
            return JobRecord(name)
        return JobRecord(**json.loads(p.read_text()))

    def put(self, record: JobRecord) -> None:
        p = self.path(record.name)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(asdict(record), indent=1))

    def spec(self, name: str, version: int) -> dict[str, Any]:
        """The spec a job version was last submitted with ({} if never)."""
        p = self.dir / name / f"v{version}.spec.json"
        return dict(json.loads(p.read_text())) if p.exists() else {}
