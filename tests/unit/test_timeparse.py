from __future__ import annotations

import pytest

from kappa.errors import KappaError
from kappa.timeparse import parse_time_ms

NOW = 1_800_000_000_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("now-30m", NOW - 30 * 60_000),
        ("now+2h", NOW + 2 * 3_600_000),
        ("1700000000000", 1_700_000_000_000),
        ("2023-11-14T22:13:20Z", 1_700_000_000_000),
        ("2023-11-14T22:13:20", 1_700_000_000_000),  # naive times are UTC
        ("2023-11-14T23:13:20+01:00", 1_700_000_000_000),
    ],
)
def test_parses(text: str, expected: int) -> None:
    assert parse_time_ms(text, now_ms=NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "now-5x", "2023-13-45"])
def test_rejects_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(KappaError, match="now-30m"):
        parse_time_ms(text, now_ms=NOW)
