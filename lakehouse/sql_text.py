"""The text of a pipeline written in SQL: its statements, its views, `${setting}` substitution, and
the lakehouse type of a column Flink planned. Plain Python (no pydantic): the Flink tier uses it too."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_VIEW = re.compile(r"^CREATE\s+(?:TEMPORARY\s+)?VIEW\s+([A-Za-z_][A-Za-z0-9_]*)\s+AS\s+(.+)$",
                   re.IGNORECASE | re.DOTALL)
_PARAM = re.compile(r"\$\{([a-z][a-z0-9_]*)\}")


class SqlPipelineError(ValueError):
    """A SQL pipeline that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Statement:
    text: str
    line: int  # of the file, where the statement starts (1-based)


def statements(text: str) -> list[Statement]:
    """The file's statements, split at `;` outside string literals, quoted identifiers and comments."""
    out: list[Statement] = []
    buf: list[str] = []
    start = None
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "-" and text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if c == "/" and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            stop = n if end < 0 else end + 2
            line += text.count("\n", i, stop)
            buf.append(" ")
            i = stop
            continue
        if c in "'`\"":
            end = i + 1
            while end < n and not (text[end] == c and not text.startswith(c * 2, end)):
                end += 2 if text.startswith(c * 2, end) else 1
            if start is None:
                start = line
            buf.append(text[i:end + 1])
            line += text.count("\n", i, end + 1)
            i = end + 1
            continue
        if c == ";":
            if "".join(buf).strip():
                out.append(Statement("".join(buf).strip(), start or line))
            buf, start = [], None
            i += 1
            continue
        if c == "\n":
            line += 1
        elif not c.isspace() and start is None:
            start = line
        buf.append(c)
        i += 1
    if "".join(buf).strip():
        out.append(Statement("".join(buf).strip(), start or line))
    return out


def stream_name(topic: str) -> str:
    """The name a pipeline's SQL reads its topic by."""
    return re.sub(r"[^A-Za-z0-9_]", "_", topic)


def views(path: Path) -> tuple[tuple[str, str, int], ...]:
    """(name, query, first line) of each `CREATE VIEW` in the file, in order; anything else is an error."""
    found: list[tuple[str, str, int]] = []
    for st in statements(path.read_text()):
        m = _VIEW.match(st.text)
        if m is None:
            raise SqlPipelineError(f"{path.name}, line {st.line}: only `CREATE VIEW name AS SELECT ...` statements "
                                   f"belong in a pipeline's SQL (found: {st.text.split()[0]} ...)")
        if m.group(1).lower() in {name.lower() for name, _, _ in found}:
            raise SqlPipelineError(f"{path.name}, line {st.line}: view {m.group(1)} is created twice")
        found.append((m.group(1), m.group(2).strip(), st.line + st.text[:m.start(2)].count("\n")))
    if not found:
        raise SqlPipelineError(f"{path.name}: no `CREATE VIEW name AS SELECT ...` statement")
    return tuple(found)


def substitute(query: str, params: dict[str, Any], where: str = "") -> str:
    """`${name}` -> the setting's value as a SQL literal (numbers as they are, text quoted)."""
    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in params:
            raise SqlPipelineError(f"{where}${{{name}}} is not a setting of this pipeline "
                                   f"(declare it under [settings]; known: {', '.join(sorted(params)) or 'none'})")
        v = params[name]
        if isinstance(v, bool):
            return "TRUE" if v else "FALSE"
        if isinstance(v, int | float):
            return repr(v)
        return "'" + str(v).replace("'", "''") + "'"
    return _PARAM.sub(value, query)


def digest(sql_text: str, *contracts: dict[str, Any]) -> str:
    """What a recorded schema was planned from: the SQL and the contracts of the topics it reads."""
    h = hashlib.sha256(sql_text.encode())
    for schema in contracts:
        h.update(json.dumps(schema, sort_keys=True).encode())
    return h.hexdigest()[:16]


_DECIMAL = re.compile(r"^DECIMAL\((\d+), ?(\d+)\)$")


def platform_type(flink_type: str) -> str:
    """A Flink column type (as the planner prints it) as the lakehouse's column type."""
    t = re.sub(r"\s+NOT NULL$", "", flink_type.strip().upper())
    t = re.sub(r"\s*\*(ROWTIME|PROCTIME)\*$", "", t)
    if t.startswith("VARCHAR") or t.startswith("CHAR") or t == "STRING":
        return "STRING"
    if t.startswith("TIMESTAMP"):  # TIMESTAMP(3), TIMESTAMP_LTZ(3), TIMESTAMP(3) WITH LOCAL TIME ZONE
        return "TIMESTAMP"
    if t in ("TINYINT", "SMALLINT", "INT", "INTEGER"):
        return "INT"
    if t in ("BIGINT", "DOUBLE", "BOOLEAN", "DATE"):
        return t
    if t == "FLOAT":
        return "DOUBLE"
    m = _DECIMAL.match(t)
    if m:
        return f"DECIMAL({m.group(1)}, {m.group(2)})"
    raise SqlPipelineError(f"column type {flink_type} has no lakehouse type (use STRING, INT, BIGINT, DOUBLE, "
                           "BOOLEAN, DATE, TIMESTAMP or DECIMAL: CAST it in the view)")
