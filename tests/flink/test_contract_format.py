"""The `kappa-contract` format against the contract's plain-Python statement, record by record.

Every contract's fields are set to awkward JSON values (numbers at the edges of their SQL types,
exact decimals beyond a double's digits, numbers as text, NaN and Infinity, containers, long and
non-ASCII strings) and whole payloads are broken (trailing content, a BOM, NaN tokens, deep nesting,
duplicate keys, invalid UTF-8, random bytes, tombstones, oversized). For each record the format's
reason must equal `lakehouse.contracts.quarantine_reason`, and an accepted record's typed columns
must equal `typed_values` (the Python statement), which never looks at what the job produced.
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from typing import Any

import pytest

from lakehouse.contracts import contract, decode, quarantine_reason, typed_values
from tests.flink.harness import records, run_source, spec_for, write_records

MAX_CHARS = 65536
UNREAD = ("empty payload", f"oversized payload (> {MAX_CHARS} characters)", "invalid JSON")  # no fields read
TIMES = [  # ISO-8601 as producers write it, at the edges of the form and of the contract's range
    '"2026-11-26T18:40:23.123456"', '"2026-11-26T18:40:23"', '"2026-11-26 18:40"', '"2026-11-26t18:40:23Z"',
    '"2026-11-26T18:40:23z"', '"2026-11-26T18:40:23+05:30"', '"2026-11-26T18:40:23-0800"', '"2026-11-26T18:40+05"',
    '"2026-11-26T18:40:23.1Z"', '"2026-11-26T18:40:23.123456789-03:00"', '"2026-11-26T18:40:23.1234567891Z"',
    '"2026-11-26T18:40:23."', '"2026-11-26T18:40.5"', '"2026-02-29T00:00:00Z"', '"2028-02-29T00:00:00Z"',
    '"2026-13-01T00:00"', '"2026-00-10T00:00"', '"2026-11-00T00:00"', '"2026-11-26T24:00:00"', '"2026-11-26T23:60"',
    '"2026-12-31T23:59:60Z"', '"2026-11-26T18:40:23+24:00"', '"2026-11-26T18:40:23+05:60"',
    '"2026-11-26T18:40:23+5:30"', '"2026-11-26T18:40:23+05:"', '"2026-11-26T18:40:23+05:3"', '"2026-11-26"',
    '"2026-11-26T18"', '"2026-11-26T18:4"', '"1999-12-31T23:59:59.999Z"', '"2000-01-01T00:00:00Z"',
    '"2000-01-01T01:00:00+01:00"', '"2100-01-01T00:00:00.001Z"', '"2100-01-01T00:00:00Z"', '" 2026-11-26T18:40:23Z"',
    '"2026-11-26T18:40:23Z "', '"2026-11-26T18:40:23.5+00:00"', '"0000-01-01T00:00"', '"0001-01-01T00:00"',
    '"+2026-11-26T18:40"', '"2026/11/26T18:40"', '"2026-11-26T18:40:23\u0662"', '"\u06602026-11-26T18:40"',
    '"2026-11-26T18:40:23-00:00"', '"2026-11-26_18:40"', '"2026-11-26T18:40:23ZZ"', '"2026-11-26T18:40:23+0530Z"',
]
TOKENS = [  # JSON values exactly as written in a payload
    "1", "-0", "-0.0", "0.1", "12.345", "1.005", "1.0049999999999999999", "1000000.004", "1000000.006", "1e20",
    "1E+20", "1e-7", "1e-20", "1e-21", "1e400", "-1e400", "4.9e-324", "123456789012345678901234567890",
    "9223372036854775807", "9223372036854775808", "-9223372036854775809", "1700000000000", "1.7e12", "true",
    "false", "null", "[]", "{}", "[1, 2]", '{"a": 1}', '"1"', '" 2 "', '"+3"', '"1.5"', '"1e3"', '"1.5E+3"',
    '"0x10"', '"1_000"', '"NaN"', '"Infinity"', '"-Infinity"', '"inf"', '"1d"', '"\\u0661\\u0662"', '""', '" "',
    '"--1"', '"1e"', '".5"', '"5."', '"1e-21"', '"1e-400"', '"1e400"', '"abc"', '"\\u00e9t\\u00e9"', '"\\ud800"',
    '"\\ud83d\\ude00"', json.dumps("x" * 129), json.dumps("y" * 300), '"login"', '"purchase"', '"1700000000000"',
    '" 1700000000000 "', '"1700000000000.5"',
    *TIMES,
]
BASES = {
    "transactions": {"transaction_id": "t-1", "user_id": "u-1", "amount": 12.5, "merchant": "m",
                     "timestamp": 1_700_000_000_000},
    "user-events": {"event_id": "e-1", "user_id": "u-1", "action": "purchase", "amount": 99.99,
                    "timestamp": 1_700_000_000_000, "ip_address": "10.0.0.1", "device": "web",
                    "properties": {"b": "2", "a": "1"}},
    "iot-sensors": {"sensor_id": "s-1", "temperature": 21.5, "humidity": 40.0, "pressure": 1000.0,
                    "timestamp": 1_700_000_000_000, "location": "lab"},
}


def _with(base: dict[str, Any], field: str, token: str) -> str:
    """The base record as JSON text with `field` set to the raw token (appended when absent)."""
    text = json.dumps({k: v for k, v in base.items() if k != field})
    return text[:-1] + f', "{field}": {token}}}' if len(text) > 2 else f'{{"{field}": {token}}}'


def payloads(topic: str) -> list[bytes | None]:
    base = BASES[topic]
    text = json.dumps(base)
    schema = contract(topic)
    out: list[bytes | None] = [text.encode()]
    for field, prop in schema["properties"].items():
        if prop.get("x-sql-type") == "JSON":
            continue
        out += [_with(base, field, token).encode() for token in TOKENS]
        out.append(json.dumps({k: v for k, v in base.items() if k != field}).encode())  # absent
    deep = {"depth_499": 499, "depth_500": 500, "depth_501": 501}
    out += [
        (text + " xyz").encode(), (text + " {}").encode(), (text + "\n").encode(), (" " + text + "\t").encode(),
        b"\xef\xbb\xbf" + text.encode(), text.replace("1700000000000", "NaN").encode(),
        text.replace("1700000000000", "Infinity").encode(), text[: len(text) // 2].encode(), b"", b"null", b"[]",
        b"1", b'"s"', None, text.replace("{", "{\x01", 1).encode(),
        *(_with(base, "extra", "[" * n + "]" * n).encode() for n in deep.values()),
        text[:-1].encode() + b', "' + next(iter(base)).encode() + b'": {}}',          # a duplicate key: last wins
        _with(base, "user_id", '"a", "user_id": "b"').encode(),
        text.replace('"u-1"', '"u-\xff\xfe1"').encode("latin-1") if "u-1" in text else text.encode(),
        (text[:-1] + ', "pad": ' + json.dumps("z" * MAX_CHARS) + "}").encode(),
        (text[:-1] + ', "pad": "' + "z" * (MAX_CHARS - len(text) - 10) + '"}').encode(),
        (text[:-1] + ', "pad": "' + "\u00e9" * (MAX_CHARS - len(text) - 10) + '"}').encode(),
    ]
    rng = random.Random(topic)
    out += [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))) for _ in range(40)]
    out += [text.encode()[:cut] + bytes([rng.randrange(256)]) + text.encode()[cut + 1:]
            for cut in (rng.randrange(len(text)) for _ in range(60))]
    return out


def _decoded(payload: bytes | None) -> Any:
    try:
        return decode(payload.decode("utf-8", errors="replace")) if payload is not None else None
    except ValueError:
        return None


@pytest.mark.parametrize("topic", sorted(BASES))
def test_every_record_gets_the_contracts_decision_reason_and_values(tmp_path: Path, topic: str) -> None:
    sent = payloads(topic)
    schema = contract(topic)
    path = tmp_path / f"{topic}.records"
    write_records(path, records(sent, topic))
    spec = spec_for(topic.replace("-", "_"), topic, {}, {}, path)
    fields = [n for n, p in schema["properties"].items() if p.get("x-sql-type") != "JSON" and n != "timestamp"]
    rows = run_source(spec, ["kafka_offset", "reason", "event_ts_ms", *fields])
    assert sorted(r["kafka_offset"] for r in rows) == list(range(len(sent))), "every record comes out once"

    wrong = {}
    for row in rows:
        payload = sent[row["kafka_offset"]]
        reason = quarantine_reason(payload, schema, MAX_CHARS)
        record = None if reason in UNREAD else _decoded(payload)
        values = typed_values(record, schema) if isinstance(record, dict) else {}
        # the event time a record offers the watermark: its timestamp when it is a valid integer
        want: dict[str, Any] = {"reason": reason, "event_ts_ms": values.get("timestamp")}
        if reason is None:
            want |= {f: values[f] for f in fields}
        got = {k: row[k] for k in want}
        if got != want:
            wrong[row["kafka_offset"]] = (payload[:120] if payload else payload, want, got)
    assert not wrong, "\n".join(f"{k}: {v}" for k, v in wrong.items())


def test_json_fields_are_stored_with_sorted_keys_and_exact_numbers(tmp_path: Path) -> None:
    sent = [json.dumps({**BASES["user-events"], "properties": {"z": "1", "a": {"y": 1.50, "b": [2, "x"]}}}).encode(),
            _with(BASES["user-events"], "properties", '"scalar"').encode(),
            _with(BASES["user-events"], "properties", "[3, 1.0]").encode()]
    path = tmp_path / "ue.records"
    write_records(path, records(sent, "user-events"))
    rows = run_source(spec_for("user_activity", "user-events", {}, {}, path), ["kafka_offset", "reason", "properties"])
    got = {r["kafka_offset"]: (r["reason"], r["properties"]) for r in rows}
    assert got == {0: (None, '{"a":{"b":[2,"x"],"y":1.5},"z":"1"}'), 1: (None, None), 2: (None, "[3,1.0]")}


def test_times_without_a_zone_are_read_in_the_contracts_zone(tmp_path: Path) -> None:
    """A contract naming Europe/Madrid: local times around both 2026 clock changes (02:30 on 29 March
    does not exist, 02:30 on 25 October happens twice: both take the offset before the change),
    against the Python statement, which reads the zone with zoneinfo."""
    schema = contract("iot-sensors")
    ts = {**schema["properties"]["timestamp"], "x-time-zone": "Europe/Madrid"}
    madrid = {**schema, "properties": {**schema["properties"], "timestamp": ts}}
    times = ["2026-03-29T01:59:59", "2026-03-29T02:00", "2026-03-29T02:30", "2026-03-29T03:00",
             "2026-10-25T01:59", "2026-10-25T02:00", "2026-10-25T02:30", "2026-10-25T03:00",
             "2026-07-01 12:00:00.250", "2026-07-01T12:00:00.250Z", "2026-01-01T00:00", "1700000000000"]
    sent = [json.dumps({**BASES["iot-sensors"], "timestamp": t}).encode() for t in times]
    path = tmp_path / "madrid.records"
    write_records(path, records(sent, "iot-sensors"))
    spec = dataclasses.replace(spec_for("iot_sensors", "iot-sensors", {}, {}, path), contract=madrid)
    rows = {r["kafka_offset"]: (r["reason"], r["event_ts_ms"]) for r in run_source(spec, ["kafka_offset", "reason",
                                                                                          "event_ts_ms"])}
    want = {i: (quarantine_reason(p, madrid, MAX_CHARS), typed_values(json.loads(p), madrid)["timestamp"])
            for i, p in enumerate(sent)}
    assert rows == want
    # in the gap 02:00 is 03:00 and 02:30 comes half an hour after it; in the overlap, the first 02:30
    assert want[1][1] == want[3][1] and want[2][1] == want[3][1] + 30 * 60_000
    assert want[6][1] == want[5][1] + 30 * 60_000 and want[7][1] == want[5][1] + 2 * 3600_000
