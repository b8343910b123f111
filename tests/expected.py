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
