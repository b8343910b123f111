"""Run a job's outputs on a local Flink (in the Flink environment) over a file of Kafka records.

Each output query is collected on its own from the same bounded file, so results are exact and
independent of the Iceberg sinks. Event time and watermarks come from the records' own timestamps;
records are read in file order, which is what makes lateness deterministic here.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from flink_jobs.spec import JobSpec
from flink_jobs.sql import configure
from lakehouse.contracts import time_ms

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "lakehouse" / "contracts"


@dataclass(frozen=True)
class Record:
    """A Kafka record as the job sees it."""

    payload: str | bytes | None
    partition: int = 0
    offset: int = 0
    kafka_ts_ms: int = 0
    topic: str = "t"


DEFAULT_KAFKA_TS_MS = 1_700_000_000_000
PRODUCER_CLOCK = {"x-time-formats": ["epoch-ms", "iso-8601"]}


def producer_clock_ms(payload: Any) -> int:
    """The Kafka time a producer whose clock agrees with its events gives a record: the event's own
    time when it has a readable one (a late event was stamped when it happened), else a fixed time."""
    try:
        record = json.loads(payload) if isinstance(payload, (str, bytes)) else payload
        ms = time_ms(str(record["timestamp"]), PRODUCER_CLOCK) if isinstance(record, dict) else None
    except (ValueError, KeyError, TypeError):
        ms = None
    return ms if ms is not None and 0 < ms < 2**41 else DEFAULT_KAFKA_TS_MS


def records(payloads: list[Any], topic: str = "t") -> list[Record]:
    """Dicts become JSON; strings and bytes are sent as they are; offsets follow the list order; each
    record's Kafka time is its event's time (see producer_clock_ms)."""
    out = []
    for i, p in enumerate(payloads):
        text = p if p is None or isinstance(p, (str, bytes)) else json.dumps(p)
        out.append(Record(text, 0, i, producer_clock_ms(p), topic))
    return out


def spec_for(job: str, topic: str, tables: dict[str, str], params: dict[str, Any], path: Path) -> JobSpec:
    return JobSpec.from_dict({
        "job": job, "version": 1,
        "kafka": {"bootstrap": "unused:9092", "topic": topic, "group_id": "test"},
        "catalog": {"name": "kappa", "jdbc_url": "", "user": "", "password": "", "warehouse": ""},
        "namespace": "streaming", "tables": tables,
        "contract": json.loads((CONTRACTS / f"{topic}.v1.schema.json").read_text()),
        # max_future_skew_s: the default of lakehouse.pipeline.PipelineSettings (no pydantic here)
        "params": {"out_of_orderness_s": 5, "idle_timeout_s": 10, "max_payload_chars": 65536,
                   "max_future_skew_s": 300, **params},
        "checkpoint_interval_s": 60, "parallelism": 1, "source": "file", "source_path": str(path),
    })


def write_records(path: Path, recs: list[Record]) -> None:
    """The record file the `kappa-contract-records` format reads: topic, partition, offset, timestamp
    and the value's bytes in base64 (`-` for a tombstone), tab-separated, one record per line."""
    with path.open("w") as fh:
        for r in recs:
            value = r.payload.encode() if isinstance(r.payload, str) else r.payload
            encoded = "-" if value is None else base64.b64encode(value).decode()
            fh.write(f"{r.topic}\t{r.partition}\t{r.offset}\t{r.kafka_ts_ms}\t{encoded}\n")


def contract_format_jar() -> str:
    """The format's jar, built by `kappa setup`; `make test-flink` passes its path."""
    jar = os.environ.get("KAPPA_CONTRACT_FORMAT_JAR", "")
    if not jar or not Path(jar).is_file():
        raise RuntimeError("KAPPA_CONTRACT_FORMAT_JAR does not name the kappa-contract format's jar; "
                           "run the Flink tier with `make test-flink`")
    return Path(jar).as_uri()


def run_outputs(module: str, spec: JobSpec) -> dict[str, list[dict[str, Any]]]:
    """Every output of the job as a list of rows (dicts); times as epoch milliseconds."""
    try:
        return _run_outputs(module, spec)
    except Exception as exc:
        if "NullPointerException: metadataHandlerProvider" not in str(exc):
            raise
        # Calcite keeps its metadata handlers in a thread-local that the planner fills on the JVM thread
        # that plans; a py4j call landing on another JVM thread (a new gateway connection) finds none and
        # planning fails before anything runs (seen once in make test, 2026-11-28, reading an output).
        # The same job again, in a new TableEnvironment, from the same input file.
        return _run_outputs(module, spec)


def _run_outputs(module: str, spec: JobSpec) -> dict[str, list[dict[str, Any]]]:
    from pyflink.table import EnvironmentSettings, TableEnvironment

    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t_env.get_config().set("pipeline.jars", contract_format_jar())
    t_env.get_config().set("restart-strategy.type", "none")  # a failing job fails the test at once
    configure(t_env, spec)
    outputs = importlib.import_module(module).outputs(t_env, spec)
    results: dict[str, list[dict[str, Any]]] = {}
    for i, out in enumerate(outputs):
        table = t_env.sql_query(out.query)
        schema = table.get_resolved_schema()
        names = schema.get_column_names()
        types = [str(t) for t in schema.get_column_data_types()]
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


def run_source(spec: JobSpec, columns: list[str]) -> list[dict[str, Any]]:
    """The job's source table alone (every record, parsed by the contract format), these columns."""
    from pyflink.table import EnvironmentSettings, TableEnvironment

    from flink_jobs.sql import create_source

    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t_env.get_config().set("pipeline.jars", contract_format_jar())
    t_env.get_config().set("restart-strategy.type", "none")
    configure(t_env, spec)
    create_source(t_env, spec, "source")
    with t_env.execute_sql(f"SELECT {', '.join(f'`{c}`' for c in columns)} FROM source").collect() as rows:
        return [dict(zip(columns, (_plain(v) for v in r), strict=True)) for r in rows]
