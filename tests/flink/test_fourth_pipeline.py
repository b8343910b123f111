"""The fourth pipeline (tests/fourth_pipeline), added as a declaration and an SQL module only, runs on
a local Flink over generated user events and matches plain Python."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from lakehouse.scenarios import ScenarioOptions, user_events
from tests.flink.harness import records, run_outputs, spec_for, write_records

T0 = 1_800_000_000_000 - 1_800_000_000_000 % 600_000  # a 10-minute boundary
MIN = 60_000
TABLES = {"raw": "r", "activity": "a", "quarantine": "q", "late": "l"}


def expected_activity(events: list[dict], size_ms: int) -> dict[tuple[int, str], tuple[int, int, int, Decimal]]:
    """(window start, product) -> (product views, carts, purchases, revenue), in plain Python."""
    out: dict[tuple[int, str], list] = defaultdict(lambda: [0, 0, 0, Decimal("0")])
    for e in events:
        product = e.get("properties", {}).get("product_id")
        if product is None or e["action"] not in ("view_product", "add_to_cart", "purchase"):
            continue
        row = out[(e["timestamp"] - e["timestamp"] % size_ms, product)]
        row[("view_product", "add_to_cart", "purchase").index(e["action"])] += 1
        if e["action"] == "purchase":
            row[3] += Decimal(str(e["amount"]))
    return {k: (v[0], v[1], v[2], v[3].quantize(Decimal("0.01"))) for k, v in out.items()}


def test_product_activity_per_window_matches_plain_python(tmp_path: Path) -> None:
    opts = ScenarioOptions(count=3000, seed=5, start_ms=T0, event_interval_ms=1200, keys=60, key_prefix="u-")
    events = [e.record for e in user_events.generate(opts)]
    # a last event far ahead closes every window of the stream
    closing = {"event_id": "close", "user_id": "u-x", "action": "login", "timestamp": T0 + 24 * 60 * MIN}
    path = tmp_path / "user-events.records"
    write_records(path, records([*events, closing], "user-events"))
    spec = spec_for("product_activity", "user-events", TABLES, {"window_min": 10}, path)
    out = run_outputs("tests.fourth_pipeline.job", spec)
    got = {(r["window_start"], r["product_id"]): (r["product_views"], r["carts"], r["purchases"], r["revenue"])
           for r in out["activity"]}
    want = expected_activity(events, 10 * MIN)
    assert len(want) > 100
    assert got == want
    assert all(r["window_end"] - r["window_start"] == 10 * MIN for r in out["activity"])
    assert len(out["raw"]) == len(events) + 1 and not out["quarantine"] and not out["late"]
