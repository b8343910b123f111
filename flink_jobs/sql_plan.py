"""Plan a SQL pipeline on Flink without running it: `python -m flink_jobs.sql_plan --spec spec.json`.

Creates the pipeline's source (over a file that is never read), its stream view and its views as
the job would, then plans each stored view into an append-only sink, as the Iceberg tables are.
Prints one JSON object: `{"views": {view: [[column, Flink type], ...]}}`, or `{"error": {"view": ...,
"line": N, "message": ...}}` with the line of the pipeline's SQL file Flink's message points at
(`spec.sql["lines"]`: each view's first line in the file).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from flink_jobs.spec import JobSpec, ident
from flink_jobs.sql import configure, with_options
from flink_jobs.sql_pipeline import create_stream

_LINE = re.compile(r"\bline (\d+)")
_EXCEPTIONS = ("org.apache.flink.table.api.ValidationException: ", "org.apache.flink.sql.parser.impl.ParseException: ",
               "org.apache.flink.table.api.SqlParserException: ",
               "org.apache.calcite.runtime.CalciteContextException: ")


def _message(exc: Exception) -> str:
    """Flink's own message, without the Java stack."""
    text = str(exc)
    for marker in _EXCEPTIONS:
        if marker in text:
            text = text.split(marker, 1)[1]
    return text.split("\n\tat ")[0].strip()


def _in_file(message: str, first_line: int) -> tuple[int, str]:
    """Flink numbers lines from `CREATE ... AS`, the query starting on line 2; the file's line is that
    shifted to the query's first line in the file."""
    lines = [int(m) for m in _LINE.findall(message)]
    shifted = _LINE.sub(lambda m: f"line {int(m.group(1)) + first_line - 2}", message)
    return (lines[0] + first_line - 2 if lines else first_line), shifted


def plan(spec: JobSpec, jars: str) -> dict[str, Any]:
    from pyflink.table import EnvironmentSettings, TableEnvironment

    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t_env.get_config().set("pipeline.jars", jars)
    configure(t_env, spec)
    lines = dict(spec.sql.get("lines", {}))
    views = list(spec.sql["views"])
    # The views one at a time, so that an error names its view and line.
    try:
        create_stream(t_env, spec)
    except Exception as exc:  # the platform's own statements: a contract Flink cannot read
        return {"error": {"view": "", "line": 0, "message": _message(exc)}}
    for name, query in views:
        try:
            # the query on lines of its own, so that Flink's line and column numbers are the file's
            t_env.execute_sql(f"CREATE TEMPORARY VIEW {ident(name)} AS\n{query}")
        except Exception as exc:
            line, message = _in_file(_message(exc), int(lines.get(name, 1)))
            return {"error": {"view": name, "line": line, "message": message}}
    out: dict[str, list[list[str]]] = {}
    for name, _columns in spec.sql["outputs"]:
        try:
            # The Java schema's types print in full (DECIMAL(18, 2), TIMESTAMP(3) *ROWTIME*); PyFlink's do not.
            schema = t_env.from_path(ident(name))._j_table.getResolvedSchema()
            names = [str(n) for n in schema.getColumnNames()]
            types = [str(t.toString()) for t in schema.getColumnDataTypes()]
            # An append-only sink, as the Iceberg tables are: a query that updates its rows is refused here.
            columns = ", ".join(f"{ident(n)} {_sink_type(t)}" for n, t in zip(names, types, strict=True))
            t_env.execute_sql(f"CREATE TEMPORARY TABLE {ident('plan__' + name)} ({columns}) WITH "
                              f"({with_options({'connector': 'filesystem', 'path': '/nonexistent', 'format': 'csv'})})")
            # each column as the job writes it (a time attribute cast to a plain timestamp: a join's two
            # event times cannot both be the sink's rowtime)
            selected = ", ".join(f"CAST({ident(n)} AS {_sink_type(t)}) AS {ident(n)}" if "*ROWTIME*" in t else ident(n)
                                 for n, t in zip(names, types, strict=True))
            t_env.create_statement_set().add_insert_sql(
                f"INSERT INTO {ident('plan__' + name)} SELECT {selected} FROM {ident(name)}").explain()
        except Exception as exc:
            line, message = _in_file(_message(exc), int(lines.get(name, 1)))
            return {"error": {"view": name, "line": line, "message": message}}
        out[name] = [[n, t] for n, t in zip(names, types, strict=True)]
    return {"views": out}


def _sink_type(flink_type: str) -> str:
    return re.sub(r"\s*\*(ROWTIME|PROCTIME)\*", "", flink_type)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spec", required=True)
    parser.add_argument("--jars", required=True, help="the kappa-contract format's jar, as a file URI")
    args = parser.parse_args(argv)
    result = plan(JobSpec.load(args.spec), args.jars)
    sys.stdout.write("KAPPA-PLAN " + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
