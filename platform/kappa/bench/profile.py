"""What limits a Flink job: an on-CPU flame graph sampled from Flink's REST API while the job runs,
reduced to the share of samples per frame (self time) and per component."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import requests

from kappa.flink_rest import FlinkRest

# Frame prefixes -> the component they belong to, first match wins.
COMPONENTS = (
    ("kappa-contract format", ("io.kappa.contract",)),
    ("JSON parsing", ("org.apache.flink.formats.json", "com.fasterxml.jackson",
                      "org.apache.flink.shaded.jackson2")),
    ("Parquet/Iceberg writing", ("org.apache.parquet", "org.apache.iceberg", "shaded.parquet")),
    ("Kafka client", ("org.apache.kafka", "org.apache.flink.connector.kafka")),
    ("CEP (MATCH_RECOGNIZE)", ("org.apache.flink.cep",)),
    ("Python UDF bridge", ("org.apache.flink.python", "org.apache.beam")),
    ("Flink records and state", ("org.apache.flink.table.data", "org.apache.flink.table.runtime",
                                 "org.apache.flink.runtime", "org.apache.flink.streaming",
                                 "org.apache.flink.api", "org.apache.flink.core")),
    ("JDK", ("java.", "jdk.", "sun.")),
)


def component(frame: str) -> str:
    for name, prefixes in COMPONENTS:
        if frame.startswith(prefixes):
            return name
    return "other"


def self_time(tree: dict[str, Any]) -> Counter[str]:
    """Samples in which each frame was on top of the stack."""
    out: Counter[str] = Counter()
    stack = [tree]
    while stack:
        node = stack.pop()
        children = node.get("children") or []
        own = int(node.get("value", 0)) - sum(int(c.get("value", 0)) for c in children)
        if own > 0 and node.get("name") != "root":
            out[str(node["name"])] += own
        stack.extend(children)
    return out


def summarise(tree: dict[str, Any], top: int = 8) -> dict[str, Any]:
    return summarise_frames(self_time(tree), top)


def summarise_frames(frames: Counter[str], top: int = 8) -> dict[str, Any]:
    total = sum(frames.values()) or 1
    by_component: Counter[str] = Counter()
    for frame, n in frames.items():
        by_component[component(frame)] += n
    return {"samples": total,
            "components": {k: round(v / total, 3) for k, v in by_component.most_common()},
            "top_frames": [(f, round(n / total, 3)) for f, n in frames.most_common(top)]}


def _flamegraph(rest: FlinkRest, job_id: str, vertex: str) -> dict[str, Any] | None:
    r = rest.session.get(f"{rest.url}/jobs/{job_id}/vertices/{vertex}/flamegraph", params={"type": "on_cpu"},
                         timeout=10)
    data = r.json().get("data") if r.ok else None
    return data if data and int(data.get("value", 0)) > 0 else None


def sample_job(rest: FlinkRest, job_id: str, timeout_s: float = 60) -> dict[str, Any] | None:
    """On-CPU flame graphs of every vertex of the job, merged: where the whole job's CPU goes (a
    vertex that waits is rarely on CPU, so each weighs by the CPU it uses). None if it ended first."""
    deadline = time.monotonic() + timeout_s
    frames: Counter[str] = Counter()
    pending: set[str] | None = None
    while time.monotonic() < deadline:
        try:
            job = rest.job(job_id)
            if job["state"] != "RUNNING":
                break
            if pending is None:
                running = [v["id"] for v in job["vertices"] if v["status"] == "RUNNING"]
                if len(running) < len(job["vertices"]):
                    time.sleep(0.5)
                    continue
                pending = set(running)
            for vertex in sorted(pending):
                tree = _flamegraph(rest, job_id, vertex)  # the first request starts the sampling
                if tree is not None:
                    frames += self_time(tree)
                    pending.discard(vertex)
            if not pending:
                break
        except (requests.RequestException, ValueError, KeyError):
            pass
        time.sleep(1)
    return summarise_frames(frames) if frames else None


def sample(rest: FlinkRest, job_id: str, timeout_s: float = 60) -> dict[str, Any] | None:
    """An on-CPU flame graph of the job's busiest vertex, or None if the job ended first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            job = rest.job(job_id)
            if job["state"] != "RUNNING":
                return None
            vertices = [v for v in job["vertices"] if v["status"] == "RUNNING"]
            if not vertices:
                time.sleep(0.5)
                continue
            # the vertex that has been busy longest (a chained source->calc->sink in q0)
            vertex = max(vertices, key=lambda v: (v.get("metrics") or {}).get("accumulated-busy-time", 0))["id"]
            data = _flamegraph(rest, job_id, vertex)
            if data is not None:
                return summarise(data)
        except (requests.RequestException, ValueError, KeyError):
            pass
        time.sleep(1)
    return None
