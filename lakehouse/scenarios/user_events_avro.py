"""The source document's `UserEvent`s (section "Schema Registry"): a user, an action, the time and a
`properties` map of strings (product, category, price), keyed by user. The records match the Avro
schema lakehouse/contracts/user-events-avro.v1.avsc; `kappa produce` writes them in the Confluent wire
format with that schema's registry id (kappa.schemas.in_wire_format)."""

from __future__ import annotations

import random
from collections.abc import Iterator

from lakehouse.scenarios.base import Event, ScenarioOptions, ZipfKeys, encode, event_time

ACTIONS = ("view_product", "view_product", "view_product", "add_to_cart", "purchase", "login", "logout")
CATEGORIES = ("electronics", "books", "home", "toys", "sports")


def generate(opts: ScenarioOptions) -> Iterator[Event]:
    rng = random.Random(opts.seed)
    users = ZipfKeys(opts.keys, opts.skew, opts.key_prefix)
    for i in range(opts.count):
        user = users.draw(rng)
        action = rng.choice(ACTIONS)
        properties = {} if action in ("login", "logout") else {
            "product_id": f"prod_{rng.randint(1, 5000):04d}", "category": rng.choice(CATEGORIES),
            "price": f"{rng.uniform(1, 500):.2f}"}
        record = {"user_id": user, "action": action, "timestamp": event_time(rng, opts, i), "properties": properties}
        if opts.malformed_share and rng.random() < opts.malformed_share:
            # a producer that writes JSON to the Avro topic: quarantined as not in the wire format
            yield Event(user, encode(record), None, "not_wire_format")
        else:
            yield Event(user, encode(record), record)
