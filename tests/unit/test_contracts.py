"""The contract's plain-Python statement: how it reads JSON and numbers. The Flink tier checks the
jobs' `kappa-contract` format against it record by record (tests/flink/test_contract_format.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from lakehouse.contracts import contract, decode, quarantine_reason, typed_values

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
