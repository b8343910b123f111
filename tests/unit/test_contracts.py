"""The contract's plain-Python statement: how it reads JSON and numbers. The Flink tier checks the
jobs' `kappa-contract` format against it record by record (tests/flink/test_contract_format.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lakehouse.contracts import (
    contract,
    decode,
    invalid_time_reason,
    iso_8601_ms,
    quarantine_reason,
    schema_problems,
    time_formats,
    time_ms,
    typed_values,
    violations,
)

SCHEMA = contract("transactions")
GOOD = '{"transaction_id": "t", "user_id": "u", "amount": %s, "merchant": "m", "timestamp": 1700000000000}'


def reason(text: str | bytes | None) -> str | None:
    payload = text.encode() if isinstance(text, str) else text
    return quarantine_reason(payload, SCHEMA, 65536)


@pytest.mark.parametrize("text", [
    GOOD % "1" + " xyz",             # content after the object
    GOOD % "1" + " {}",              # a second value
    GOOD % "NaN", GOOD % "Infinity",  # not JSON numbers, although Python's json reads them
    "\ufeff" + GOOD % "1",           # a byte order mark
    '{"a": ' + "[" * 500 + "]" * 500 + "}",  # nested deeper than 500
])
def test_what_is_not_one_json_object_is_invalid_json(text: str) -> None:
    assert reason(text) == "invalid JSON"


def test_nesting_up_to_500_deep_is_json() -> None:
    assert reason(GOOD.replace('"m"', "[" * 499 + "]" * 499) % "1") is None


def test_numbers_are_read_exactly_not_through_a_double() -> None:
    # a double would make this 1.005, which rounds half up to 1.01
    record = decode(GOOD % "1.0049999999999999999")
    assert typed_values(record, SCHEMA)["amount"] == Decimal("1.00")
    assert typed_values(decode(GOOD % "1.005"), SCHEMA)["amount"] == Decimal("1.01")


def test_numbers_read_as_text_as_the_jobs_see_them() -> None:
    assert typed_values(decode(GOOD.replace('"m"', "-0.0") % "1"), SCHEMA)["merchant"] == "0.0"
    assert typed_values(decode(GOOD.replace('"m"', "1e-7") % "1"), SCHEMA)["merchant"] == "1E-7"
    assert typed_values(decode(GOOD.replace('"m"', "1.5e3") % "1"), SCHEMA)["merchant"] == "1.5E+3"


def test_a_tombstone_is_an_empty_payload() -> None:
    assert reason(None) == "empty payload"
    assert reason(b"") == "invalid JSON"


def test_iot_doubles_must_be_finite_numbers() -> None:
    iot = contract("iot-sensors")
    base = '{"sensor_id": "s", "temperature": %s, "humidity": 40, "timestamp": 1700000000000, "location": "l"}'
    for bad in ('"NaN"', '"Infinity"', "1e400", '"1d"', '"0x10"'):
        assert quarantine_reason((base % bad).encode(), iot, 65536) == "invalid temperature", bad
    assert quarantine_reason((base % '" 21.5 "').encode(), iot, 65536) is None


# Event times: ISO-8601 or epoch milliseconds (x-time-formats), checked against Python's datetime.
USER_EVENTS = contract("user-events")
TIME = USER_EVENTS["properties"]["timestamp"]


def _ms(dt: datetime) -> int:
    return (dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
       st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59),
       st.sampled_from(["T", "t", " "]), st.sampled_from(["Z", "z", "+hh:mm", "+hhmm", "+hh", "", "none"]),
       st.integers(min_value=0, max_value=9))
def test_iso_8601_times_are_the_instants_datetime_reads(local: datetime, offset_min: int, sep: str, zone: str,
                                                       digits: int) -> None:
    if zone in ("Z", "z", "", "none"):
        offset_min = 0 if zone != "+hh" else offset_min
    if zone == "+hh":
        offset_min -= offset_min % 60 if offset_min >= 0 else -((-offset_min) % 60)
    sign, rest = ("-" if offset_min < 0 else "+"), abs(offset_min)
    suffix = {"Z": "Z", "z": "z", "+hh:mm": f"{sign}{rest // 60:02d}:{rest % 60:02d}",
              "+hhmm": f"{sign}{rest // 60:02d}{rest % 60:02d}", "+hh": f"{sign}{rest // 60:02d}",
              "": "+00:00", "none": ""}[zone]
    fraction = f"{local.microsecond:06d}{local.microsecond % 7}{local.microsecond % 3}0"[:digits]
    text = (f"{local.year:04d}-{local.month:02d}-{local.day:02d}{sep}"
            f"{local.hour:02d}:{local.minute:02d}:{local.second:02d}") + (f".{fraction}" if digits else "") + suffix
    instant = local.replace(microsecond=int(fraction.ljust(6, "0")[:6]) if digits else 0,
                            tzinfo=timezone(timedelta(minutes=offset_min)))
    want = _ms(instant.replace(microsecond=instant.microsecond - instant.microsecond % 1000))
    assert iso_8601_ms(text) == want
    assert time_ms(text, TIME) == want


@pytest.mark.parametrize("text", [
    "2026-02-29T00:00:00Z", "2026-13-01T00:00", "2026-11-26T24:00", "2026-11-26T23:60", "2026-12-31T23:59:60Z",
    "2026-11-26T18:40:23+24:00", "2026-11-26T18:40:23+05:60", "2026-11-26T18:40:23+5:30", "2026-11-26",
    "2026-11-26T18", "2026-11-26T18:40:23.", "2026-11-26T18:40:23.1234567891", "2026-11-26T18:40.5",
    " 2026-11-26T18:40Z", "2026-11-26T18:40Z ", "0000-01-01T00:00", "2026-11-26T18:40:2\u0663", "2026/11/26 18:40",
])
def test_what_is_not_iso_8601_is_refused_with_the_formats_named(text: str) -> None:
    assert iso_8601_ms(text) is None
    record = {"user_id": "u", "action": "login", "timestamp": text}
    assert violations(record, USER_EVENTS) == ["invalid timestamp: not ISO-8601 or epoch ms"]


def test_the_source_documents_producer_event_lands() -> None:
    """The document's user-events example: no event_id, `datetime.now().isoformat()` (no zone)."""
    now = datetime(2026, 11, 26, 18, 40, 23, 123456)
    event = {"user_id": "user_123", "action": "login", "timestamp": now.isoformat(), "ip_address": "192.168.1.1",
             "device": "mobile"}
    assert quarantine_reason(json.dumps(event).encode(), USER_EVENTS, 65536) is None
    values = typed_values(event, USER_EVENTS, ("user-events", 3, 41))
    assert values["event_id"] == "user-events:3:41"  # derived from the Kafka coordinates
    assert values["timestamp"] == _ms(now.replace(tzinfo=UTC)) // 1000 * 1000 + 123  # UTC, to the millisecond
    at = ("user-events", 3, 41)
    assert typed_values({**event, "event_id": "e-7"}, USER_EVENTS, at)["event_id"] == "e-7"
    assert typed_values({**event, "event_id": ""}, USER_EVENTS, at)["event_id"] == "user-events:3:41"


def test_epoch_ms_still_reads_as_before() -> None:
    for text in ("1700000000000", " 1700000000000 ", "+1700000000000"):
        assert time_ms(text, TIME) == 1_700_000_000_000
    assert violations({"user_id": "u", "action": "login", "timestamp": 1.5e12}, USER_EVENTS) == [
        "invalid timestamp: not ISO-8601 or epoch ms"]
    assert violations({"user_id": "u", "action": "login", "timestamp": "1999-12-31T23:59:59.999Z"},
                      USER_EVENTS) == ["timestamp out of range"]
    only_epoch = {**TIME, "x-time-formats": ["epoch-ms"]}
    assert time_ms("2026-11-26T18:40Z", only_epoch) is None
    assert invalid_time_reason("timestamp", time_formats(only_epoch)) == "invalid timestamp: not epoch ms"


def test_a_named_zone_reads_local_times_with_the_offset_before_a_clock_change() -> None:
    madrid = "Europe/Madrid"
    assert iso_8601_ms("2026-07-01T12:00", madrid) == _ms(datetime(2026, 7, 1, 10, tzinfo=UTC))  # CEST, +02:00
    assert iso_8601_ms("2026-01-01T12:00", madrid) == _ms(datetime(2026, 1, 1, 11, tzinfo=UTC))  # CET, +01:00
    assert iso_8601_ms("2026-03-29T02:30", madrid) == _ms(datetime(2026, 3, 29, 1, 30, tzinfo=UTC))  # skipped
    assert iso_8601_ms("2026-10-25T02:30", madrid) == _ms(datetime(2026, 10, 25, 0, 30, tzinfo=UTC))  # repeated
    assert iso_8601_ms("2026-07-01T12:00Z", madrid) == _ms(datetime(2026, 7, 1, 12, tzinfo=UTC))  # a zone wins


def test_a_contract_with_an_unusable_time_or_id_declaration_is_named() -> None:
    schema = {"properties": {
        "timestamp": {"x-sql-type": "STRING", "x-time-formats": ["iso-8601"]},
        "t2": {"x-sql-type": "BIGINT", "x-time-formats": ["rfc-2822"]},
        "t3": {"x-sql-type": "BIGINT", "x-time-formats": ["epoch-ms"], "x-time-zone": "Mars/Olympus"},
        "id": {"x-sql-type": "BIGINT", "x-derived-when-absent": "kafka-coordinates"},
    }}
    assert schema_problems(schema) == [
        "property timestamp: a time field is BIGINT (epoch ms)",
        "property t2: x-time-formats ['rfc-2822']: the formats are iso-8601, epoch-ms",
        "property t3: x-time-zone 'Mars/Olympus' is not an IANA zone",
        "property id: only a STRING field can be derived, from kafka-coordinates",
    ]
    for topic in ("transactions", "user-events", "iot-sensors"):
        assert schema_problems(contract(topic)) == []


def test_an_event_further_ahead_of_its_kafka_time_than_the_skew_is_quarantined() -> None:
    event = {"user_id": "u", "action": "login", "timestamp": "2026-11-26T18:05:00.001Z"}
    kafka_ms = _ms(datetime(2026, 11, 26, 18, 0, tzinfo=UTC))
    payload = json.dumps(event).encode()
    assert quarantine_reason(payload, USER_EVENTS, 65536, kafka_ms, 300) == (
        "timestamp in the future (more than 300 s after its Kafka record time)")
    assert quarantine_reason(payload, USER_EVENTS, 65536, kafka_ms + 1, 300) is None  # exactly 300 s ahead
    assert quarantine_reason(payload, USER_EVENTS, 65536) is None  # no Kafka time: no guard
    # another violation comes first
    bad = json.dumps({**event, "action": "jump"}).encode()
    assert quarantine_reason(bad, USER_EVENTS, 65536, kafka_ms, 300) == "invalid action"
