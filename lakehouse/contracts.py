"""Event contracts: versioned JSON Schemas, one per topic, in lakehouse/contracts/.

The same file documents the topic for producers, validates generated events in tests, and is
embedded in each job's spec, where it becomes the job's parsing and quarantine rules. A topic written
in Avro (the Confluent wire format) keeps Avro schemas instead (`<topic>.v<n>.avsc`): its contract is
derived from the schema (`avro_contract`), and the same rules then judge its records.
"""

from __future__ import annotations

import json
import math
import os
import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

CONTRACTS_DIR = Path(__file__).with_name("contracts")
# Where the contracts are read from instead (a checkout's working copy of a new version, the tests' copies).
CONTRACTS_DIR_ENV = "KAPPA_CONTRACTS_DIR"
LATEST = "latest"  # a topic's contract version: the newest one in the contracts directory
_VERSIONED = re.compile(r"(?P<topic>[a-z0-9][a-z0-9._-]*)\.v(?P<version>[1-9][0-9]*)(?P<ext>\.schema\.json|\.avsc)")
EVENT_TIME_FIELD = "timestamp"  # every contract's event time
DERIVED_FROM_COORDINATES = "kafka-coordinates"  # x-derived-when-absent: the record's topic:partition:offset


WIRE_CONFLUENT_AVRO = "confluent-avro"  # x-wire of a contract derived from an Avro schema
# An event time outside these is implausible (every JSON contract bounds its event time alike).
EVENT_TIME_BOUNDS = (946684800000, 4102444800000)  # 2000-01-01 .. 2100-01-01, epoch ms


def contracts_dir() -> Path:
    """The directory of the contracts: lakehouse/contracts/, unless $KAPPA_CONTRACTS_DIR names another."""
    override = os.environ.get(CONTRACTS_DIR_ENV)
    return Path(override) if override else CONTRACTS_DIR


def versions(topic: str, directory: Path | None = None) -> dict[int, Path]:
    """A topic's contract files by version (`<topic>.v<n>.schema.json` or `.avsc`)."""
    found = {}
    for path in (directory or contracts_dir()).iterdir():
        m = _VERSIONED.fullmatch(path.name)
        if m and m["topic"] == topic:
            found[int(m["version"])] = path
    return dict(sorted(found.items()))


def latest_version(topic: str) -> int:
    found = versions(topic)
    if not found:
        raise KeyError(f"no contract for topic {topic!r} in {contracts_dir()}")
    return max(found)


def contract(topic: str, version: int | str = LATEST) -> dict[str, Any]:
    """A topic's contract at `version` (the newest by default) as the jobs read it."""
    directory = contracts_dir()
    number = latest_version(topic) if version == LATEST else int(version)
    path = versions(topic, directory).get(number)
    if path is None:
        known = sorted({m["topic"] for p in directory.iterdir() if (m := _VERSIONED.fullmatch(p.name))})
        raise KeyError(f"no contract for topic {topic!r} v{number}; known: {', '.join(known)}")
    return _read(path, topic)


@cache
def _read(path: Path, topic: str) -> dict[str, Any]:
    doc = json.loads(path.read_text())
    return avro_contract(doc, topic) if path.name.endswith(".avsc") else dict(doc)


_AVRO_SQL = {"string": "STRING", "long": "BIGINT", "int": "BIGINT", "double": "DOUBLE", "float": "DOUBLE",
             "boolean": "STRING", "enum": "STRING"}


def avro_contract(schema: dict[str, Any], topic: str) -> dict[str, Any]:
    """The contract an Avro record schema stands for: each field a property (strings, enums and
    booleans STRING, int and long BIGINT, float and double DOUBLE, maps, arrays and records JSON),
    required unless it is nullable or has a default; the event time (`timestamp`, epoch ms) bounded
    like every contract's. Fields are matched by name, so a record written with an older version of
    the schema reads too."""
    if schema.get("type") != "record":
        raise ValueError(f"topic {topic}: an Avro contract is a record schema, not {schema.get('type')!r}")
    properties: dict[str, Any] = {}
    required = []
    for field in schema["fields"]:
        kind = field["type"]
        nullable = isinstance(kind, list) and "null" in kind
        if isinstance(kind, list):
            others = [k for k in kind if k != "null"]
            if len(others) != 1:
                raise ValueError(f"topic {topic}: field {field['name']} is a union of {others}; only [null, T] is read")
            kind = others[0]
        name = kind if isinstance(kind, str) else kind["type"]
        prop: dict[str, Any] = {"x-sql-type": _AVRO_SQL.get(name, "JSON")}
        if name == "enum":
            prop["enum"] = list(kind["symbols"])
        if field.get("doc"):
            prop["description"] = field["doc"]
        if field["name"] == EVENT_TIME_FIELD:
            if prop["x-sql-type"] != "BIGINT":
                raise ValueError(f"topic {topic}: the event time {EVENT_TIME_FIELD} is a long (epoch ms), not {name}")
            lo, hi = EVENT_TIME_BOUNDS
            prop |= {"x-time-formats": ["epoch-ms"], "minimum": lo, "maximum": hi}
        properties[field["name"]] = prop
        if not nullable and "default" not in field:
            required.append(field["name"])
    if EVENT_TIME_FIELD not in properties:
        raise ValueError(f"topic {topic}: the Avro record has no {EVENT_TIME_FIELD} field (the event time, epoch ms)")
    return {"title": topic, "description": schema.get("doc", f"Avro record {schema.get('name')}"),
            "type": "object", "x-topic": topic, "x-wire": WIRE_CONFLUENT_AVRO,
            "required": required, "properties": properties}


def _scalar_text(value: Any) -> str | None:
    """A field's text: a string as written, a number as its exact decimal text (see `decode`),
    true/false; None for null, objects and arrays."""
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# What SQL's casts accept (ASCII digits, optional sign, spaces around), unlike Python's int() and
# float(), which also take "1_000", "NaN", "inf" and non-ASCII digits.
_INTEGER = re.compile(r" *[+-]?[0-9]+ *")
_NUMBER = re.compile(r" *[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)? *")
_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")
BIGINT_RANGE = (-(2**63), 2**63 - 1)
_DECIMAL_LITERAL = re.compile(r" *[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE]([+]?[0-9]+|-0*([0-9]|1[0-9]|20)))? *")


def _numeric(text: str, sql_type: str) -> float | int | Decimal | None:
    """The value as the field's SQL type stores it, or None when it is not representable there:
    BIGINT is a 64-bit integer written as one (no fraction), DECIMAL(p, s) rounds half up to s places
    and holds p - s integer digits (an exponent below -20 is refused), DOUBLE is a
    finite double. (The type is part of the contract: a number too big for its
    column is invalid, not out of range.)"""
    if sql_type == "BIGINT":
        if not _INTEGER.fullmatch(text):
            return None
        integer = int(text)
        return integer if BIGINT_RANGE[0] <= integer <= BIGINT_RANGE[1] else None
    if not _NUMBER.fullmatch(text):
        return None  # NaN, Infinity, 1_000 and the like are not numbers to SQL
    decimal = _DECIMAL.fullmatch(sql_type)
    if decimal:
        precision, scale = int(decimal.group(1)), int(decimal.group(2))
        limit = Decimal(10) ** (precision - scale)
        raw = Decimal(text.strip())
        if abs(raw) >= limit or not _DECIMAL_LITERAL.fullmatch(text):
            return None  # too big, or an exponent below -20 (Flink's cast is erratic there)
        fixed = raw.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
        return fixed if abs(fixed) < limit else None
    number = float(text)
    return number if math.isfinite(number) else None


# Event times (`x-time-formats` on a BIGINT field, stored as epoch milliseconds):
#   epoch-ms  an integer, as a number or as text (the BIGINT rules above)
#   iso-8601  YYYY-MM-DD, then T, t or a space, then hh:mm, optionally :ss and .fraction (1-9 digits,
#             digits past the millisecond dropped), then optionally Z, z, +hh, +hhmm or +hh:mm (or -).
#             Without a zone the time is read in the field's `x-time-zone` (an IANA name, UTC when
#             absent); a local time a clock change skips or repeats takes the offset before the change.
TIME_FORMATS = {"iso-8601": "ISO-8601", "epoch-ms": "epoch ms"}  # a reason's wording, in this order
_ISO_8601 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?"
    r"(?:([Zz])|([+-])([0-9]{2})(?::?([0-9]{2}))?)?")
_EPOCH = date(1970, 1, 1).toordinal()


def time_formats(prop: dict[str, Any]) -> tuple[str, ...]:
    """The formats a field's times take, in the reasons' order; () for a plain field."""
    declared = prop.get("x-time-formats", ())
    unknown = set(declared) - set(TIME_FORMATS)
    if unknown:
        raise ValueError(f"x-time-formats {sorted(unknown)}: the formats are {', '.join(TIME_FORMATS)}")
    return tuple(f for f in TIME_FORMATS if f in declared)


def invalid_time_reason(name: str, formats: tuple[str, ...]) -> str:
    return f"invalid {name}: not {' or '.join(TIME_FORMATS[f] for f in formats)}"


def iso_8601_ms(text: str, zone: str = "UTC") -> int | None:
    """An ISO-8601 time (the form above) as epoch milliseconds, or None when it is not one."""
    m = _ISO_8601.fullmatch(text)
    if not m:
        return None
    year, month, day, hour, minute = (int(m.group(i)) for i in range(1, 6))
    second = int(m.group(6) or 0)
    if year < 1 or hour > 23 or minute > 59 or second > 59:
        return None
    try:
        days = date(year, month, day).toordinal() - _EPOCH
    except ValueError:
        return None
    millis = int((m.group(7) or "").ljust(3, "0")[:3])
    if m.group(8):
        offset_s = 0
    elif m.group(9):
        oh, om = int(m.group(10)), int(m.group(11) or 0)
        if oh > 23 or om > 59:
            return None
        offset_s = (oh * 3600 + om * 60) * (1 if m.group(9) == "+" else -1)
    elif zone == "UTC":
        offset_s = 0
    else:
        local = datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo(zone), fold=0)
        offset = local.utcoffset()
        assert offset is not None
        offset_s = int(offset.total_seconds())
    return ((days * 86_400 + hour * 3600 + minute * 60 + second) - offset_s) * 1000 + millis


def time_ms(text: str, prop: dict[str, Any]) -> int | None:
    """A time field's text as epoch milliseconds, in the first of its formats that reads it."""
    formats = time_formats(prop)
    if "epoch-ms" in formats:
        number = _numeric(text, "BIGINT")
        if number is not None:
            return int(number)
    if "iso-8601" in formats:
        return iso_8601_ms(text, prop.get("x-time-zone", "UTC"))
    return None


def derived_id(topic: str, partition: int, offset: int) -> str:
    """The id of a record that names none (`x-derived-when-absent: kafka-coordinates`): its Kafka
    coordinates, the same in every replay. Topic names cannot hold ':'."""
    return f"{topic}:{partition}:{offset}"


def schema_problems(schema: dict[str, Any]) -> list[str]:
    """What makes a contract unusable by the jobs' format: a time field that is not BIGINT or names
    an unknown format or zone, an id derived from anything but the Kafka coordinates."""
    problems = []
    for name, prop in schema.get("properties", {}).items():
        try:
            formats = time_formats(prop)
        except ValueError as exc:
            problems.append(f"property {name}: {exc}")
            continue
        if formats and prop.get("x-sql-type") != "BIGINT":
            problems.append(f"property {name}: a time field is BIGINT (epoch ms)")
        if "x-time-zone" in prop:
            try:
                ZoneInfo(str(prop["x-time-zone"]))
            except (ValueError, KeyError):
                problems.append(f"property {name}: x-time-zone {prop['x-time-zone']!r} is not an IANA zone")
        derived = prop.get("x-derived-when-absent")
        is_string = prop.get("x-sql-type", "STRING") == "STRING"
        if derived is not None and (derived != DERIVED_FROM_COORDINATES or not is_string):
            problems.append(f"property {name}: only a STRING field can be derived, from kafka-coordinates")
    return problems


def violations(record: Any, schema: dict[str, Any]) -> list[str]:
    """Why a decoded event breaks the contract, in the jobs' order (empty when it conforms).

    An independent statement of the rules the jobs generate in SQL from the same schema: text
    fields accept any scalar, numbers must parse, enums and ranges are checked, a field that is
    an object or array where a scalar is expected counts as missing.
    """
    if not isinstance(record, dict):
        return ["invalid JSON"]
    problems = []
    for name, prop in schema["properties"].items():
        sql_type = prop.get("x-sql-type", "STRING")
        if sql_type == "JSON":
            continue
        text = _scalar_text(record.get(name))
        needed = name in schema.get("required", ())
        for key, allowed in prop.get("x-required-when", {}).items():
            needed = needed or _scalar_text(record.get(key)) in allowed
        if text is None or text == "":
            if needed:
                problems.append(f"missing {name}")
            continue
        if sql_type == "STRING":
            if "enum" in prop and text not in prop["enum"]:
                problems.append(f"invalid {name}")
            elif "maxLength" in prop and len(text) > prop["maxLength"]:
                problems.append(f"{name} too long")
            continue
        formats = time_formats(prop)
        number = time_ms(text, prop) if formats else _numeric(text, sql_type)
        if number is None:
            problems.append(invalid_time_reason(name, formats) if formats else f"invalid {name}")
        elif ("minimum" in prop and number < prop["minimum"]) or ("maximum" in prop and number > prop["maximum"]):
            problems.append(f"{name} out of range")
    return problems


def typed_values(record: dict[str, Any], schema: dict[str, Any],
                 coordinates: tuple[str, int, int] | None = None) -> dict[str, Any]:
    """A conforming record's fields as the jobs store them: a STRING's text in UTF-8 (a lone surrogate
    escape such as \\ud800 has no UTF-8 form and becomes "?"), a number as its SQL type holds it
    (DECIMAL rounded half up), a time as epoch milliseconds, None when absent; JSON fields are left
    out. Given the record's Kafka coordinates (topic, partition, offset), an absent field that is
    derived from them gets its derived value, as in the raw table."""
    values: dict[str, Any] = {}
    for name, prop in schema["properties"].items():
        sql_type = prop.get("x-sql-type", "STRING")
        if sql_type == "JSON":
            continue
        text = _scalar_text(record.get(name))
        if sql_type == "STRING":
            values[name] = None if text is None else text.encode("utf-8", errors="replace").decode()
            if not text and coordinates is not None and prop.get("x-derived-when-absent") == DERIVED_FROM_COORDINATES:
                values[name] = derived_id(*coordinates)
        elif text is None or text == "":
            values[name] = None
        elif time_formats(prop):
            values[name] = time_ms(text, prop)
        else:
            values[name] = _numeric(text, sql_type)
    return values


MAX_NESTING_DEPTH = 500  # deeper payloads are not JSON the jobs read (nor Python's json, near 1,000)


def _not_a_number(token: str) -> Any:
    raise ValueError(f"{token} is not a JSON number")


def _integer(token: str) -> int | Decimal:
    return int(token) if len(token) <= 4000 else Decimal(token)  # int() refuses over 4,300 digits


def _exact(token: str) -> Decimal:
    value = Decimal(token)
    return abs(value) if value.is_zero() else value  # -0.0 is 0.0, as in Java's BigDecimal


def _depth(value: Any) -> int:
    """How many objects and arrays deep a decoded value goes (iteratively: it may be deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in children)
    return deepest


def decode(text: str) -> Any:
    """A payload's JSON as the jobs read it: exactly one JSON value, numbers exact (a float is its
    decimal text, never rounded to a double: 1.0049999999999999999 stays below 1.005), no NaN or
    Infinity, nested at most MAX_NESTING_DEPTH deep. Raises ValueError otherwise."""
    try:
        value = json.loads(text, parse_float=_exact, parse_int=_integer, parse_constant=_not_a_number)
    except RecursionError as exc:
        raise ValueError("nested too deep") from exc
    if _depth(value) > MAX_NESTING_DEPTH:
        raise ValueError("nested too deep")
    return value


def future_reason(max_future_skew_s: int) -> str:
    return f"timestamp in the future (more than {max_future_skew_s} s after its Kafka record time)"


def quarantine_reason(payload: bytes | None, schema: dict[str, Any], max_payload_chars: int,
                      kafka_ts_ms: int | None = None, max_future_skew_s: int | None = None) -> str | None:
    """The reason a job quarantines this payload, or None if it is accepted. Given the record's Kafka
    time and the pipeline's `max_future_skew_s`, a record that is otherwise valid but whose event time
    is further ahead of its Kafka time is quarantined too."""
    if payload is None:
        return "empty payload"  # a tombstone
    text = payload.decode("utf-8", errors="replace")
    if len(text) > max_payload_chars:
        return f"oversized payload (> {max_payload_chars} characters)"
    try:
        record = decode(text)
    except ValueError:
        return "invalid JSON"
    problems = violations(record, schema)
    if problems:
        return problems[0]
    if kafka_ts_ms is not None and max_future_skew_s is not None:
        event_ms = typed_values(record, schema)[EVENT_TIME_FIELD]
        if event_ms > kafka_ts_ms + max_future_skew_s * 1000:
            return future_reason(max_future_skew_s)
    return None
