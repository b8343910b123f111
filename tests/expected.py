"""Plain-Python reference computations over produced events, independent of the Flink jobs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

WindowKey = tuple[int, int, str]


def tumbling_windows(records: Iterable[dict[str, Any]], size_ms: int) -> dict[WindowKey, tuple[int, Decimal]]:
    """(window_start_ms, window_end_ms, user_id) -> (count, sum of amount)."""
    acc: dict[tuple[int, int, str], list[Any]] = defaultdict(lambda: [0, Decimal("0")])
    for r in records:
        start = r["timestamp"] - r["timestamp"] % size_ms
        cell = acc[(start, start + size_ms, r["user_id"])]
        cell[0] += 1
        cell[1] += Decimal(str(r["amount"])).quantize(Decimal("0.01"))
    return {k: (v[0], v[1]) for k, v in acc.items()}


def _money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def hopping_spend(
    records: Iterable[dict[str, Any]], size_ms: int, slide_ms: int
) -> dict[WindowKey, tuple[Decimal, int]]:
    """Purchases per user in every sliding window that contains them: (total_spent, count)."""
    acc: dict[WindowKey, list[Any]] = defaultdict(lambda: [Decimal("0"), 0])
    for r in records:
        if r["action"] != "purchase":
            continue
        ts = r["timestamp"]
        last_start = ts - ts % slide_ms
        for start in range(last_start, ts - size_ms, -slide_ms):
            cell = acc[(start, start + size_ms, r["user_id"])]
            cell[0] += _money(r["amount"])
            cell[1] += 1
    return {k: (v[0], v[1]) for k, v in acc.items()}


def sessions(records: Iterable[dict[str, Any]], gap_ms: int) -> dict[tuple[str, int, int], tuple[int, int, Decimal]]:
    """(user, start, end = last event + gap) -> (events, purchases, total spent).

    A session ends when the next event comes more than `gap_ms` after the last one: session windows
    [t, t + gap) that touch are merged, so a gap of exactly `gap_ms` does not split a session."""
    by_user: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_user[r["user_id"]].append(r)
    out = {}
    for user, events in by_user.items():
        events.sort(key=lambda r: r["timestamp"])
        group: list[dict[str, Any]] = []
        for r in events + [None]:  # type: ignore[list-item]
            if group and (r is None or r["timestamp"] - group[-1]["timestamp"] > gap_ms):
                purchases = [g for g in group if g["action"] == "purchase"]
                out[(user, group[0]["timestamp"], group[-1]["timestamp"] + gap_ms)] = (
                    len(group), len(purchases), sum((_money(p["amount"]) for p in purchases), Decimal("0.00")))
                group = []
            if r is not None:
                group.append(r)
    return out


def login_patterns(records: Iterable[dict[str, Any]], within_ms: int, above: float) -> set[tuple[str, str, str, str]]:
    """(user, failed_id, success_id, purchase_id): login_failed, then login_success, then a purchase
    above `above`, all within `within_ms` of the failure; a match consumes its events."""
    by_user: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_user[r["user_id"]].append(r)
    found = set()
    for user, events in by_user.items():
        events.sort(key=lambda r: r["timestamp"])
        i = 0
        while i < len(events):
            match = None
            if events[i]["action"] == "login_failed":
                f = events[i]
                s = next((j for j in range(i + 1, len(events)) if events[j]["action"] == "login_success"), None)
                if s is not None:
                    p = next((j for j in range(s + 1, len(events))
                              if events[j]["action"] == "purchase" and events[j]["amount"] > above), None)
                    if p is not None and events[p]["timestamp"] - f["timestamp"] <= within_ms:
                        match = (s, p)
            if match:
                s, p = match
                found.add((user, events[i]["event_id"], events[s]["event_id"], events[p]["event_id"]))
                i = p + 1
            else:
                i += 1
    return found


def sensor_stats(records: Iterable[dict[str, Any]], size_ms: int) -> dict[tuple[int, str, str], tuple[Any, ...]]:
    """(window_start, sensor, location) -> (avg/min/max temperature, avg/min/max humidity, count)."""
    groups: dict[tuple[int, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[(r["timestamp"] - r["timestamp"] % size_ms, r["sensor_id"], r["location"])].append(r)
    out = {}
    for key, rows in groups.items():
        t = [float(r["temperature"]) for r in rows]
        h = [float(r["humidity"]) for r in rows]
        out[key] = (sum(t) / len(t), min(t), max(t), sum(h) / len(h), min(h), max(h), len(rows))
    return out


def sensor_alerts(records: Iterable[dict[str, Any]], temperature_above: float,
                  humidity_above: float) -> set[tuple[str, int, str]]:
    """(sensor, event time, rule) for every reading and rule that fired."""
    out = set()
    for r in records:
        if r["temperature"] > temperature_above:
            out.add((r["sensor_id"], r["timestamp"], f"temperature > {temperature_above!r}"))
        if r["humidity"] > humidity_above:
            out.add((r["sensor_id"], r["timestamp"], f"humidity > {humidity_above!r}"))
    return out
