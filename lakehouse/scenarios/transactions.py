"""Transactions as in the source document's ksqlDB example, keyed by user_id."""

from __future__ import annotations

import random
from collections.abc import Iterator

from lakehouse.contracts import contract
from lakehouse.scenarios.base import Event, ScenarioOptions, ZipfKeys, encode, event_time, malformed

MERCHANTS = ("amazon", "ebay", "walmart", "target", "bestbuy", "zalando", "mercadolibre", "aliexpress")
REQUIRED = tuple(contract("transactions")["required"])  # dropping one makes a malformed event


def generate(opts: ScenarioOptions) -> Iterator[Event]:
    rng = random.Random(opts.seed)
    users = ZipfKeys(opts.keys, opts.skew, opts.key_prefix)
    for i in range(opts.count):
        ts = event_time(rng, opts, i)
        user = users.draw(rng)
        amount = round(min(rng.lognormvariate(3.6, 1.1), 9_999.0), 2)
        record = {
            "transaction_id": f"tx-{opts.seed}-{i:08d}",
            "user_id": user,
            "amount": amount,
            "merchant": rng.choice(MERCHANTS),
            "timestamp": ts,
        }
        if opts.malformed_share and rng.random() < opts.malformed_share:
            payload, kind = malformed(rng, record, REQUIRED, "amount")
            yield Event(user, payload, None, kind)
        else:
            yield Event(user, encode(record), record)
