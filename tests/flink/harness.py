"""Run a job's outputs on a local Flink (in the Flink environment) over a CSV of Kafka records.

Each output query is collected on its own from the same bounded file, so results are exact and
independent of the Iceberg sinks. Event time and watermarks come from the records' own timestamps;
records are read in file order, which is what makes lateness deterministic here.
"""

from __future__ import annotations

import csv
import importlib
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from flink_jobs.spec import JobSpec
from flink_jobs.sql import configure

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "lakehouse" / "contracts"


@dataclass(frozen=True)
class Record:
    """A Kafka record as the job sees it."""

    payload: str | None
    partition: int = 0
    offset: int = 0
    kafka_ts_ms: int = 0
    topic: str = "t"


def records(payloads: list[Any], topic: str = "t") -> list[Record]:
    """Dicts become JSON; strings are sent as they are; offsets follow the list order."""
    out = []
    for i, p in enumerate(payloads):
        text = p if p is None or isinstance(p, str) else json.dumps(p)
        out.append(Record(text, 0, i, 1_700_000_000_000, topic))
    return out


def spec_for(job: str, topic: str, tables: dict[str, str], params: dict[str, Any], path: Path) -> JobSpec:
    return JobSpec.from_dict({
        "job": job, "version": 1,
        "kafka": {"bootstrap": "unused:9092", "topic": topic, "group_id": "test"},
        "catalog": {"name": "kappa", "jdbc_url": "", "user": "", "password": "", "warehouse": ""},
        "namespace": "streaming", "tables": tables,
        "contract": json.loads((CONTRACTS / f"{topic}.v1.schema.json").read_text()),
        "params": {"out_of_orderness_s": 5, "idle_timeout_s": 10, "max_payload_chars": 65536, **params},
        "checkpoint_interval_s": 60, "parallelism": 1, "source": "file", "source_path": str(path),
    })


def write_csv(path: Path, recs: list[Record]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        for r in recs:
            writer.writerow(["\\N" if r.payload is None else r.payload, r.topic, r.partition, r.offset, r.kafka_ts_ms])


def run_outputs(module: str, spec: JobSpec) -> dict[str, list[dict[str, Any]]]:
    """Every output of the job as a list of rows (dicts); times as epoch milliseconds."""
    from pyflink.table import EnvironmentSettings, TableEnvironment

    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    configure(t_env, spec)
    outputs = importlib.import_module(module).outputs(t_env, spec)
    results: dict[str, list[dict[str, Any]]] = {}
    for i, out in enumerate(outputs):
        table = t_env.sql_query(out.query)
        names = table.get_schema().get_field_names()
        types = [str(t) for t in table.get_schema().get_field_data_types()]
        # Timestamps cannot cross to Python as they are: read them as epoch milliseconds.
        cols = [
            f"UNIX_TIMESTAMP(DATE_FORMAT(`{n}`, 'yyyy-MM-dd HH:mm:ss'), 'yyyy-MM-dd HH:mm:ss') * 1000"
            f" + CAST(DATE_FORMAT(`{n}`, 'SSS') AS BIGINT) AS `{n}`"
            if "TIMESTAMP" in t.upper() else f"`{n}`"
            for n, t in zip(names, types, strict=True)
        ]
        t_env.create_temporary_view(f"out_{i}", table)
        rows = t_env.execute_sql(f"SELECT {', '.join(cols)} FROM `out_{i}`").collect()
        with rows:  # several outputs may feed one target (the alerts topic): their rows add up
            results.setdefault(out.name, []).extend(
                dict(zip(names, (_plain(v) for v in r), strict=True)) for r in rows)
    return results


def _plain(value: Any) -> Any:
    return Decimal(str(value)) if isinstance(value, Decimal) else value
