"""Times on the command line: `now`, `now-30m`, ISO 8601, or epoch milliseconds."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from kappa.errors import KappaError

_RELATIVE = re.compile(r"^now(?:([+-])(\d+)([smhd]))?$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_time_ms(text: str, now_ms: int | None = None) -> int:
    text = text.strip()
    now = int(time.time() * 1000) if now_ms is None else now_ms
    m = _RELATIVE.match(text)
    if m:
        if not m.group(1):
            return now
        delta = int(m.group(2)) * _UNIT_MS[m.group(3)]
        return now + delta if m.group(1) == "+" else now - delta
    if text.isdigit():
        return int(text)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise KappaError(
            f"cannot read time {text!r}: use now, now-30m, an ISO time (2026-11-23T10:00:00Z) or epoch ms"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)
