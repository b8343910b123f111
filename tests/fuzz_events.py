"""Hypothesis strategies for malformed transactions: a well-formed event broken in one way, or
written another way the contract accepts (no transaction_id, an ISO-8601 event time).

Each draw is a `Mutation` applied to a template event (so a mutated event keeps a plausible
neighbour's event time and cannot move the watermark), or a payload that is not an event at all.
Whether the job must accept or quarantine it, and why, is decided by the contract's plain-Python
statement (`lakehouse.contracts.quarantine_reason`), never by the job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

FIELDS = ("transaction_id", "user_id", "amount", "merchant", "timestamp")
TS_MIN, TS_MAX = 946684800000, 4102444800000  # the contract's event-time bounds

scalars = (st.none() | st.booleans() | st.integers(min_value=-(10**20), max_value=10**20)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30))
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6)


def _not_an_integer(text: str) -> bool:
    return not text.strip().lstrip("+-").isdigit()


# ISO-8601 that is not (a day or time that does not exist, a malformed zone, too many digits) or is
# outside the contract's years.
BROKEN_ISO = ("2026-02-29T00:00:00Z", "2026-13-01T00:00", "2026-11-26T24:00", "2026-11-26T23:60",
              "2026-12-31T23:59:60Z", "2026-11-26T18:40:23+24:00", "2026-11-26T18:40+5:30", "2026-11-26",
              "2026-11-26T18:40:23.", "2026-11-26T18:40:23.1234567891Z", " 2026-11-26T18:40Z", "2026/11/26 18:40",
              "1999-12-31T23:59:59.999Z", "2100-01-01T00:00:00.001Z", "2026-11-26T18:40:23ZZ")

# An event time that is not a usable one: a usable one could be anywhere up to the year 2100 and
# would (correctly) move the watermark, which is not what this fuzz is about.
unusable_times = st.one_of(
    st.sampled_from(BROKEN_ISO),
    st.none(), st.booleans(), st.text(max_size=14).filter(_not_an_integer),
    st.integers(max_value=TS_MIN - 1), st.integers(min_value=TS_MAX + 1, max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not float(f).is_integer()),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@dataclass(frozen=True)
class Mutation:
    kind: str
    field: str = ""
    value: Any = None

    def apply(self, template: dict[str, Any], max_payload_chars: int) -> bytes:
        record = dict(template)
        if self.kind == "drop":
            record.pop(self.field)
        elif self.kind == "set":
            record[self.field] = self.value
        elif self.kind == "extra_field":
            record[self.field or "_"] = self.value
        elif self.kind == "bytes":
            return bytes(self.value)
        elif self.kind == "not_an_object":
            return json.dumps(self.value).encode()
        elif self.kind == "truncate":
            text = json.dumps(record).encode()
            return text[: int(self.value) % len(text)]
        elif self.kind == "oversized":
            record["merchant"] = "x" * (max_payload_chars + int(self.value))
        elif self.kind == "invalid_utf8":
            return json.dumps(record).encode().replace(b'"merchant": "', b'"merchant": "\xff\xfe' + bytes(self.value))
        elif self.kind == "iso_time":
            record["timestamp"] = iso_8601(record["timestamp"], *self.value)
        elif self.kind == "duplicate_key":
            text = json.dumps(record)
            return (text[:-1] + f', "{self.field}": {json.dumps(self.value)}}}').encode()
        return json.dumps(record).encode()


def iso_8601(ms: int, zone: str, offset_min: int, sep: str, sub_ms: str) -> str:
    """The instant `ms` written in ISO-8601, as producers do: with Z, an offset (+hh:mm or +hhmm) or no
    zone (UTC), and digits past the millisecond, which the contract drops."""
    offset_min = offset_min if zone in ("+hh:mm", "+hhmm") else 0
    local = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms, minutes=offset_min)
    sign, rest = ("-" if offset_min < 0 else "+"), abs(offset_min)
    suffix = {"Z": "Z", "+hh:mm": f"{sign}{rest // 60:02d}:{rest % 60:02d}",
              "+hhmm": f"{sign}{rest // 60:02d}{rest % 60:02d}", "none": ""}[zone]
    return (f"{local.year:04d}-{local.month:02d}-{local.day:02d}{sep}{local.hour:02d}:{local.minute:02d}:"
            f"{local.second:02d}.{local.microsecond // 1000:03d}{sub_ms}{suffix}")


# The template's own event time, written in ISO-8601: the same instant, so it lands where its
# neighbour does.
iso_times = st.tuples(st.sampled_from(["Z", "+hh:mm", "+hhmm", "none"]),
                      st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59),
                      st.sampled_from(["T", " ", "t"]), st.text("0123456789", max_size=6))

mutations = st.one_of(
    st.builds(Mutation, st.just("iso_time"), st.just("timestamp"), iso_times),
    st.builds(Mutation, st.just("drop"), st.sampled_from(FIELDS)),
    st.builds(Mutation, st.just("set"), st.sampled_from(FIELDS[:-1]), json_values),
    st.builds(Mutation, st.just("set"), st.just("timestamp"), unusable_times),
    st.builds(Mutation, st.just("extra_field"), st.text(max_size=8).filter(lambda k: k not in FIELDS), json_values),
    st.builds(Mutation, st.just("bytes"), st.just(""), st.binary(max_size=120)),
    st.builds(Mutation, st.just("not_an_object"), st.just(""),
              json_values.filter(lambda v: not isinstance(v, dict))),
    st.builds(Mutation, st.just("truncate"), st.just(""), st.integers(min_value=0, max_value=200)),
    st.builds(Mutation, st.just("oversized"), st.just(""), st.integers(min_value=1, max_value=100)),
    st.builds(Mutation, st.just("invalid_utf8"), st.just(""), st.binary(max_size=4)),
    st.builds(Mutation, st.just("duplicate_key"), st.sampled_from(FIELDS[:-1]), json_values),
)
