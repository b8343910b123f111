"""Hypothesis strategies for malformed transactions: a well-formed event broken in one way.

Each draw is a `Mutation` applied to a template event (so a mutated event keeps a plausible
neighbour's event time and cannot move the watermark), or a payload that is not an event at all.
Whether the job must accept or quarantine it, and why, is decided by the contract's plain-Python
statement (`lakehouse.contracts.quarantine_reason`), never by the job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
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


# An event time that is not a usable one: a usable one could be anywhere up to the year 2100 and
# would (correctly) move the watermark, which is not what this fuzz is about.
unusable_times = st.one_of(
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
        elif self.kind == "duplicate_key":
            text = json.dumps(record)
            return (text[:-1] + f', "{self.field}": {json.dumps(self.value)}}}').encode()
        return json.dumps(record).encode()


mutations = st.one_of(
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
