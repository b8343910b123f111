from __future__ import annotations

import json
from collections import Counter

from lakehouse.registry import generate
from lakehouse.scenarios import ScenarioOptions
from lakehouse.scenarios.base import MALFORMED_KINDS


def events(**kw):  # type: ignore[no-untyped-def]
    opts = ScenarioOptions(**{"count": 5000, "seed": 7, "start_ms": 1_700_000_000_000, **kw})
    return list(generate("transactions", opts))


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    assert events() == events()
    assert [e.value for e in events()] != [e.value for e in events(seed=8)]


def test_well_formed_events_follow_the_contract() -> None:
    for e in events():
        assert e.record is not None
        assert json.loads(e.value) == e.record
        assert set(e.record) == {"transaction_id", "user_id", "amount", "merchant", "timestamp"}
        assert e.key == e.record["user_id"]
        assert e.record["amount"] >= 0 and round(e.record["amount"], 2) == e.record["amount"]
    ids = [e.record["transaction_id"] for e in events()]
    assert len(set(ids)) == len(ids)


def test_event_time_follows_the_interval() -> None:
    evs = events(event_interval_ms=250)
    assert [e.record["timestamp"] for e in evs[:4]] == [1_700_000_000_000 + 250 * i for i in range(4)]


def test_keys_are_skewed() -> None:
    counts = Counter(e.key for e in events(keys=100))
    top = counts.most_common(1)[0][1]
    assert top > 5 * (5000 / 100), "the hottest key should be far above a uniform share"
    assert len(counts) > 50, "and the tail should still be long"


def test_malformed_share_and_kinds() -> None:
    evs = events(malformed_share=0.1)
    bad = [e for e in evs if e.record is None]
    assert 350 < len(bad) < 650
    assert {e.malformed_kind for e in bad} == set(MALFORMED_KINDS)
    for e in bad:
        try:
            parsed = json.loads(e.value)
        except ValueError:
            continue
        # parseable ones break the contract: a missing field, a non-number, or an oversized payload
        assert (set(parsed) != {"transaction_id", "user_id", "amount", "merchant", "timestamp"}
                or not isinstance(parsed["amount"], (int, float)))


def test_out_of_order_events_stay_within_the_bound() -> None:
    evs = events(out_of_order_share=0.2, max_disorder_ms=1500, event_interval_ms=100)
    ts = [e.record["timestamp"] for e in evs]
    inversions = sum(1 for a, b in zip(ts, ts[1:], strict=False) if b < a)
    assert inversions > 100
    for i, t in enumerate(ts):
        assert 1_700_000_000_000 + 100 * i - 1500 <= t <= 1_700_000_000_000 + 100 * i
