"""`kappa pipeline`: pipelines written in SQL (lakehouse/sql_pipelines.py), planned on Flink.

Planning runs Flink's planner in the Flink environment (flink_jobs/sql_plan.py) over the pipeline's
real source definition, without Kafka or the cluster: it needs `kappa setup`, not a running stack.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flink_jobs.spec import pipeline_name
from kappa.artifacts.installs import Installs
from kappa.artifacts.java import find_java
from kappa.artifacts.versions import FLINK_JAVA_MAJORS
from kappa.errors import KappaError
from kappa.settings import KappaSettings
from lakehouse.contracts import contract
from lakehouse.pipeline import Pipeline, Topic
from lakehouse.registry import PIPELINES_DIR, python_pipelines
from lakehouse.sql_pipelines import Draft, declarations, declare, load, schema_path
from lakehouse.sql_text import SqlPipelineError, platform_type, stream_name

PLAN_TIMEOUT_S = 300
_MARK = "KAPPA-PLAN "


@dataclass(frozen=True)
class Planned:
    """A SQL pipeline planned on Flink: each stored view's columns, as the lakehouse types them."""

    draft: Draft
    columns: dict[str, list[tuple[str, str]]]

    def record(self) -> dict[str, Any]:
        return {"digest": self.draft.digest, "views": {v: [list(c) for c in cols] for v, cols in self.columns.items()}}


def _topics() -> dict[str, Topic]:
    """The topics a SQL pipeline may read: those the pipelines declared in Python declare."""
    return {p.topic.name: p.topic for p in python_pipelines()}


def drafts(folder: Path = PIPELINES_DIR) -> list[Draft]:
    """Every SQL pipeline declared in the folder, as declared (planned or not)."""
    topics = _topics()
    try:
        return [declare(d, topics) for d in declarations(folder)]
    except SqlPipelineError as exc:
        raise KappaError(str(exc)) from None


def loaded(d: Draft) -> Pipeline:
    """The pipeline a planned draft declares (its views' columns recorded)."""
    try:
        return load(d.declaration, _topics())
    except SqlPipelineError as exc:
        raise KappaError(str(exc)) from None


def draft(name: str, folder: Path = PIPELINES_DIR) -> Draft:
    for d in drafts(folder):
        if d.name == name:
            return d
    known = ", ".join(d.name for d in drafts(folder)) or "none"
    raise KappaError(f"no SQL pipeline {name!r} in {folder} (declared: {known}; `kappa pipeline new NAME` starts one)")


def plan_spec(d: Draft, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """A job spec for planning only: the pipeline's source over a file that is never read."""
    values = d.settings().params() if params is None else params
    topic = d.topic
    assert topic.contract_version is not None
    rendered = d.rendered_views(values)
    joined = {f"raw_{stream_name(t.name)}": t for t in d.joined}
    stored = {str(spec.get("view", table)) for table, spec in d.tables.items()}
    return {
        "job": d.name, "version": 1,
        "kafka": {"bootstrap": "unused:9092", "topic": topic.name, "group_id": pipeline_name(d.name, 1)},
        "catalog": {"name": "kappa", "jdbc_url": "", "user": "", "password": "", "warehouse": ""},
        "namespace": "streaming", "tables": {r: f"plan_{r}" for r in ("raw", "quarantine", "late", *joined)},
        "contract": contract(topic.name, topic.contract_version),
        "params": values, "checkpoint_interval_s": 60, "parallelism": 1,
        "source": "file", "source_path": "/nonexistent/records",
        "sql": {"stream": stream_name(topic.name), "views": [[v, q] for v, q, _ in rendered],
                "outputs": [[v, []] for v, _, _ in rendered if v in stored],
                "lines": {v: line for v, _, line in rendered},
                **({"inputs": [{"stream": stream_name(t.name), "topic": t.name, "role": role,
                                "contract": contract(t.name, t.contract_version or 1),
                                "source_path": "/nonexistent/records"}
                               for role, t in joined.items()]} if joined else {})},
    }


def plan(settings: KappaSettings, installs: Installs, d: Draft) -> Planned:
    """Plan the pipeline's SQL on Flink; a query Flink refuses is a KappaError naming the file's line."""
    lo, hi = FLINK_JAVA_MAJORS
    java = find_java("Flink", minimum=lo, maximum=hi, explicit=settings.java_home, prefer=17)
    root = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory(prefix="kappa-plan-") as tmp:
        spec_path = Path(tmp) / "spec.json"
        spec_path.write_text(json.dumps(plan_spec(d)))
        cmd = [str(installs.flink_python), "-m", "flink_jobs.sql_plan", "--spec", str(spec_path),
               "--jars", installs.contract_format_jar.as_uri()]
        env = {**os.environ, "JAVA_HOME": str(java.home), "PYTHONPATH": str(root)}
        env.pop("FLINK_CONF_DIR", None)
        try:
            proc = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, timeout=PLAN_TIMEOUT_S,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise KappaError(f"planning {d.name} on Flink took longer than {PLAN_TIMEOUT_S}s") from None
    lines = [line for line in proc.stdout.splitlines() if line.startswith(_MARK)]
    if proc.returncode != 0 or not lines:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise KappaError(f"planning {d.name} on Flink failed (exit {proc.returncode}):\n{tail}")
    result = json.loads(lines[-1][len(_MARK):])
    if "error" in result:
        e = result["error"]
        where = f"{d.sql_file.name}, line {e['line']}" + (f" (view {e['view']})" if e["view"] else "")
        raise KappaError(f"{where}: {e['message']}")
    try:
        columns = {v: [(c, platform_type(t)) for c, t in cols] for v, cols in result["views"].items()}
    except SqlPipelineError as exc:
        raise KappaError(f"{d.sql_file.name}: {exc}") from None
    return Planned(d, columns)


def write_record(p: Planned) -> Path:
    path = schema_path(p.draft.declaration)
    record = p.record()
    views = ",\n".join(f'  "{v}": [\n' + ",\n".join(f"   {json.dumps(c)}" for c in cols) + "\n  ]"
                       for v, cols in record["views"].items())
    path.write_text(f'{{\n "digest": "{record["digest"]}",\n "views": {{\n{views}\n }}\n}}\n')
    assert json.loads(path.read_text()) == record
    return path


def recorded_differences(p: Planned) -> list[str]:
    """How the recorded schema differs from a fresh plan (empty: up to date)."""
    path = schema_path(p.draft.declaration)
    if not path.exists():
        return [f"{path.name} is missing"]
    recorded = json.loads(path.read_text())
    problems = []
    if recorded.get("digest") != p.draft.digest:
        problems.append(f"{p.draft.sql_file.name} or the contract of {p.draft.topic.name} changed since it was planned")
    if recorded.get("views") != p.record()["views"]:
        problems.append("the views' columns differ from those recorded")
    return problems
