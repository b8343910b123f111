"""The Nexmark-style generator: proportions, sizes, determinism, delays and hot keys."""

from __future__ import annotations

import json
from collections import Counter

from lakehouse.scenarios.nexmark import AUCTION, BID, PERSON, NexmarkOptions, events


def _decoded(opts: NexmarkOptions) -> list[tuple[dict, int]]:
    return [(json.loads(v), ts) for _k, v, ts in events(opts)]


def test_proportions_and_sizes() -> None:
    produced = list(events(NexmarkOptions(count=5000, delayed_share=0)))
    kinds = Counter(json.loads(v)["event_type"] for _k, v, _ts in produced)
    assert kinds == {PERSON: 100, AUCTION: 300, BID: 4600}
    sizes: dict[int, list[int]] = {}
    for _k, v, _ts in produced:
        sizes.setdefault(json.loads(v)["event_type"], []).append(len(v))
    mean = {k: sum(s) / len(s) for k, s in sizes.items()}
    assert 150 <= mean[PERSON] <= 300 and 400 <= mean[AUCTION] <= 600 and 80 <= mean[BID] <= 150


def test_same_seed_same_events_and_event_time_from_the_index() -> None:
    opts = NexmarkOptions(count=2000, seed=7, events_per_second=1000, delayed_share=0)
    first = _decoded(opts)
    assert first == _decoded(opts)
    assert [ts for _e, ts in first] == [opts.start_ms + i for i in range(2000)]
    assert first != _decoded(NexmarkOptions(count=2000, seed=8, events_per_second=1000, delayed_share=0))


def test_delayed_events_are_earlier_than_their_slot_by_at_most_the_bound() -> None:
    opts = NexmarkOptions(count=20_000, events_per_second=1000, delayed_share=0.05, max_delay_ms=3000)
    delays = [opts.start_ms + i - ts for i, (_e, ts) in enumerate(_decoded(opts))]
    delayed = [d for d in delays if d > 0]
    assert 0.03 * len(delays) < len(delayed) < 0.07 * len(delays)
    assert max(delayed) <= 3000 and min(delays) >= 0


def test_half_the_bids_go_to_the_latest_auctions() -> None:
    auctions = hot = bids = 0
    for e, _ts in _decoded(NexmarkOptions(count=50_000)):
        if e["event_type"] == AUCTION:
            auctions += 1
        elif e["event_type"] == BID and auctions > 1000:
            bids += 1
            hot += e["bid"]["auction"] >= 1000 + auctions - 100
    assert 0.45 < hot / bids < 0.6, hot / bids
