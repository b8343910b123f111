"""A Nexmark-style event stream: persons, auctions and bids in the ratio 1:3:46, about 200, 500 and
100 bytes of JSON each, hot sellers, bidders and auctions, and a share of delayed events. Event
time is deterministic for a seed: event i happens at `start_ms + i * interval`, a delayed one up
to `max_delay_ms` earlier (it arrives late)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

PERSON, AUCTION, BID = 0, 1, 2
PROPORTION = 50  # per 50 events: 1 person, 3 auctions, 46 bids
HOT_RATIO = 2  # half of the bids go to hot auctions and come from hot bidders (as Nexmark's default)
HOT_SET = 100  # hot auctions / bidders / sellers are among the latest this many
CHANNELS = ("Google", "Facebook", "Baidu", "Apple")
CITIES = ("Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent")
STATES = ("AZ", "CA", "ID", "OR", "WA", "WY")


@dataclass(frozen=True)
class NexmarkOptions:
    count: int = 1_000_000
    seed: int = 1
    start_ms: int = 1_790_000_000_000
    events_per_second: int = 10_000  # of event time: the interval between consecutive events
    delayed_share: float = 0.01
    max_delay_ms: int = 5_000


def kind(i: int) -> int:
    r = i % PROPORTION
    return PERSON if r == 0 else AUCTION if r <= 3 else BID


_POOL = "".join(random.Random(0).choices("abcdefghijklmnopqrstuvwxyz", k=4096))


def _extra(rng: random.Random, size: int) -> str:
    start = rng.randrange(len(_POOL) - size)
    return _POOL[start:start + size]


def events(opts: NexmarkOptions) -> Iterator[tuple[bytes, bytes, int]]:
    """(key, JSON value, event time ms) in production order."""
    rng = random.Random(opts.seed)
    interval = 1000 / opts.events_per_second
    persons = auctions = 0
    for i in range(opts.count):
        ts = opts.start_ms + int(i * interval)
        if opts.delayed_share and rng.random() < opts.delayed_share:
            ts -= rng.randint(1, opts.max_delay_ms)
        k = kind(i)
        if k == PERSON:
            pid = 1000 + persons
            persons += 1
            value = {"event_type": PERSON, "person": {
                "id": pid, "name": f"p{pid}", "emailAddress": f"p{pid}@example.com",
                "creditCard": f"{rng.randrange(10**15, 10**16)}", "city": rng.choice(CITIES),
                "state": rng.choice(STATES), "dateTime": ts, "extra": _extra(rng, 40)}}
            key = pid
        elif k == AUCTION:
            aid = 1000 + auctions
            auctions += 1
            seller = _pick(rng, 1000, persons)
            value = {"event_type": AUCTION, "auction": {
                "id": aid, "itemName": f"item{aid}", "description": _extra(rng, 120),
                "initialBid": rng.randint(100, 1000), "reserve": rng.randint(1000, 2000), "dateTime": ts,
                "expires": ts + rng.randint(10_000, 300_000), "seller": seller, "category": 10 + rng.randint(0, 4),
                "extra": _extra(rng, 200)}}
            key = aid
        else:
            auction = _pick(rng, 1000, auctions)
            value = {"event_type": BID, "bid": {
                "auction": auction, "bidder": _pick(rng, 1000, persons), "price": rng.randint(100, 10_000),
                "channel": CHANNELS[auction % len(CHANNELS)], "dateTime": ts, "extra": ""}}
            key = auction
        yield str(key).encode(), orjson.dumps(value), ts


def _pick(rng: random.Random, first: int, n: int) -> int:
    """An id among the `n` created so far: hot (among the latest HOT_SET) half of the time."""
    if n <= 0:
        return first
    if rng.randrange(HOT_RATIO) == 0:
        return first + max(0, n - 1 - rng.randrange(min(n, HOT_SET)))
    return first + rng.randrange(n)


__all__ = ["AUCTION", "BID", "PERSON", "NexmarkOptions", "events", "kind"]
