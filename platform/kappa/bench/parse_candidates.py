"""How to parse a contract's events once: the candidates measured side by side (run in the Flink environment).

    KAPPA_CONTRACT_FORMAT_JAR="$(.venv/bin/kappa paths --get contract_format_jar)" PYTHONPATH=platform \\
      "$(.venv/bin/kappa paths --get flink_python)" -m kappa.bench.parse_candidates --events 1000000

Each candidate reads the same file of `transactions` events (the scenario generator: Zipf keys, 1%
malformed, 5% out of order; one JSON value per line) on a local Flink, parallelism 1, and writes the
typed columns (and the quarantine reason where it has one) to a blackhole sink; rates are events over
the job's run, the file read alone (`raw`) being the floor every candidate pays:

- `json_value`: the SQL the jobs had until commit 511d491, one `JSON_VALUE` per field and per check
  (about twenty parses per event), taken from git history;
- `json_format`: Flink's `json` format with parse errors ignored: typed columns without any reason,
  so it is an upper bound for "json format plus a raw side path" (the side path would still have to
  compute each reason, which is `json_value` again, over a second read of the topic);
- `kappa_contract`: the `kappa-contract` format (flink_jobs/contract_format), one streaming parse per
  record into typed columns, the reason and the event time;
- `kappa_contract_iso`: the same format over the same events with every event time written in
  ISO-8601 as Python's `datetime.isoformat()` writes it (no zone, microseconds): the form the source
  document's producers send, which the contract reads as UTC;
- `VARIANT` is not measured: Flink 2.1 parses into it (`TRY_PARSE_JSON`) but offers no field access
  (`ITEM` on a VARIANT fails validation; `VARIANT_GET` arrives in 2.5) and no cast to STRING, so no
  typed column can be read from it; and FLINK-41298 makes `{"a":1} xyz` parse.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from lakehouse.scenarios import transactions
from lakehouse.scenarios.base import ScenarioOptions

ROOT = Path(__file__).resolve().parents[3]
OLD_SQL_COMMIT = "511d491"  # the last commit whose jobs parsed with JSON_VALUE
CONTRACT = ROOT / "lakehouse" / "contracts" / "transactions.v1.schema.json"


def write_events(path: Path, count: int, seed: int) -> int:
    """The scenario's values, one per line; values holding a line break (some malformed ones) are left
    out, since a line-based file cannot carry them. Returns the lines written."""
    opts = ScenarioOptions(count=count, seed=seed, start_ms=1_700_000_000_000, event_interval_ms=2, keys=10_000,
                           malformed_share=0.01, out_of_order_share=0.05)
    written = 0
    with path.open("wb") as fh:
        for event in transactions.generate(opts):
            if b"\n" in event.value or b"\r" in event.value:
                continue
            fh.write(event.value + b"\n")
            written += 1
    return written


def write_iso_copy(path: Path, iso_path: Path) -> None:
    """The same lines with each integer event time written in ISO-8601 (naive UTC, microseconds)."""
    epoch = datetime(1970, 1, 1)
    with path.open("rb") as src, iso_path.open("wb") as out:
        for line in src:
            try:
                record = json.loads(line)
            except ValueError:
                out.write(line)
                continue
            if isinstance(record, dict) and type(record.get("timestamp")) is int and record["timestamp"] < 2**42:
                record["timestamp"] = (epoch + timedelta(milliseconds=record["timestamp"])).isoformat(
                    timespec="microseconds")
                line = json.dumps(record).encode() + b"\n"
            out.write(line)


def old_sql_module() -> Any:
    """flink_jobs/sql.py as of OLD_SQL_COMMIT, imported from git history."""
    text = subprocess.run(["git", "-C", str(ROOT), "show", f"{OLD_SQL_COMMIT}:flink_jobs/sql.py"],
                          check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "old_sql.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("old_sql", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_sql"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def candidates(path: Path, iso_path: Path, contract: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """name -> (CREATE TABLE source ..., SELECT ... FROM source)."""
    props = contract["properties"]
    typed = {name: ("STRING" if p.get("x-sql-type", "STRING") == "JSON" else p.get("x-sql-type", "STRING"))
             for name, p in props.items()}
    file_options = f"'connector' = 'filesystem', 'path' = '{path}'"
    raw_source = f"CREATE TEMPORARY TABLE source (payload STRING) WITH ({file_options}, 'format' = 'raw')"
    old = old_sql_module()
    fields = old.contract_fields(contract)
    spec = SimpleNamespace(params={"max_payload_chars": 65536}, contract=contract)
    old_columns = ", ".join(f"{f.typed} AS `{f.name}`" for f in fields)
    json_columns = ", ".join(f"`{n}` {t}" for n, t in typed.items())
    fmt = "kappa-contract"
    contract_columns = ", ".join(f"`{n}` {t}" for n, t in typed.items() if n != "timestamp")
    contract_text = json.dumps(contract).replace("'", "''")
    contract_options = (f"{file_options}, 'format' = '{fmt}', '{fmt}.contract' = '{contract_text}', "
                        f"'{fmt}.event-time-field' = 'timestamp'")
    contract_source = (f"CREATE TEMPORARY TABLE source ({contract_columns}, event_ts_ms BIGINT, reason STRING, "
                       f"payload STRING) WITH ({contract_options})")
    contract_query = f"SELECT {', '.join(f'`{n}`' for n in typed if n != 'timestamp')}, event_ts_ms, reason FROM source"
    return {
        "raw": (raw_source, "SELECT payload FROM source"),
        "json_value": (raw_source, f"SELECT {old_columns}, {old.reason_sql(spec)} AS reason FROM source"),
        "json_format": (f"CREATE TEMPORARY TABLE source ({json_columns}) WITH ({file_options}, 'format' = 'json', "
                        "'json.ignore-parse-errors' = 'true')", "SELECT * FROM source"),
        "kappa_contract": (contract_source, contract_query),
        "kappa_contract_iso": (contract_source.replace(f"'path' = '{path}'", f"'path' = '{iso_path}'"), contract_query),
    }


def run(create_source: str, query: str) -> float:
    """Seconds from submission to the end of a bounded job writing the query to a blackhole."""
    from pyflink.table import EnvironmentSettings, TableEnvironment

    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = t_env.get_config()
    config.set("pipeline.jars", Path(os.environ["KAPPA_CONTRACT_FORMAT_JAR"]).as_uri())
    config.set("parallelism.default", "1")
    config.set("pipeline.object-reuse", "true")
    t_env.execute_sql(create_source)
    table = t_env.sql_query(query)
    schema = table.get_resolved_schema()
    columns = ", ".join(f"`{n}` {t}" for n, t in zip(schema.get_column_names(), schema.get_column_data_types(),
                                                     strict=True))
    t_env.execute_sql(f"CREATE TEMPORARY TABLE sink ({columns}) WITH ('connector' = 'blackhole')")
    started = time.monotonic()
    table.execute_insert("sink").wait()
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    contract = json.loads(CONTRACT.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "transactions.jsonl"
        lines = write_events(path, args.events, args.seed)
        print(f"{lines:,} transactions events in {path} ({path.stat().st_size / 1e6:.0f} MB)")
        iso_path = Path(tmp) / "transactions-iso.jsonl"
        write_iso_copy(path, iso_path)
        plans = candidates(path, iso_path, contract)
        seconds: dict[str, list[float]] = {name: [] for name in plans}
        for r in range(args.rounds):
            for name, (source, query) in plans.items():
                seconds[name].append(run(source, query))
                print(f"round {r + 1}: {name}: {lines / seconds[name][-1]:,.0f} events/s")
        floor = statistics.median(seconds["raw"])
        print("\n| candidate | events/s (median) | seconds | over the file read alone |\n|---|---|---|---|")
        for name, runs in seconds.items():
            s = statistics.median(runs)
            print(f"| {name} | {lines / s:,.0f} | {s:.1f} | {floor / s:.2f} |")


if __name__ == "__main__":
    main()
