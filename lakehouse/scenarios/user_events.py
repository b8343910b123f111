"""User activity (login, browsing, purchases) keyed by user_id, with the fraud pattern sprinkled in.

Each user follows a small state machine (logged out -> login attempts -> browsing and buying ->
logout). A share of users, picked at random, run the pattern the jobs look for: a failed login,
a successful one, then a large purchase within minutes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from lakehouse.contracts import contract
from lakehouse.scenarios.base import Event, ScenarioOptions, ZipfKeys, encode, event_time, malformed

DEVICES = ("ios", "android", "web")
PAGES = ("home", "search", "product", "cart", "checkout")
REQUIRED = tuple(contract("user-events")["required"])  # dropping one makes a malformed event


def _next_action(rng: random.Random, state: str) -> str:
    if state == "out":
        return "login" if rng.random() < 0.75 else "login_failed"
    if state == "failed":
        return "login_success" if rng.random() < 0.7 else "login_failed"
    r = rng.random()
    if r < 0.45:
        return "view_product"
    if r < 0.65:
        return "add_to_cart"
    if r < 0.85:
        return "purchase"
    return "logout"


def generate(opts: ScenarioOptions) -> Iterator[Event]:
    rng = random.Random(opts.seed)
    users = ZipfKeys(opts.keys, opts.skew, opts.key_prefix)
    state: dict[str, str] = {}
    big_share = float(opts.extra.get("big_purchase_share", 0.05))
    for i in range(opts.count):
        user = users.draw(rng)
        action = _next_action(rng, state.get(user, "out"))
        state[user] = {"login": "in", "login_success": "in", "login_failed": "failed", "logout": "out"}.get(
            action, state.get(user, "in"))
        record: dict = {
            "event_id": f"ev-{opts.seed}-{i:08d}",
            "user_id": user,
            "action": action,
            "timestamp": event_time(rng, opts, i),
            "ip_address": f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            "device": rng.choice(DEVICES),
            "properties": {"page": rng.choice(PAGES)},
        }
        if action in ("view_product", "add_to_cart", "purchase"):
            record["properties"]["product_id"] = f"p-{rng.randint(1, 500):04d}"
        if action == "purchase":
            big = rng.random() < big_share
            amount = rng.uniform(500, 2500) if big else min(rng.lognormvariate(3.5, 1.0), 499.0)
            record["amount"] = round(amount, 2)
        if opts.malformed_share and rng.random() < opts.malformed_share:
            payload, kind = malformed(rng, record, REQUIRED, "timestamp")
            yield Event(user, payload, None, kind)
        else:
            yield Event(user, encode(record), record)
