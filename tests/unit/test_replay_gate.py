"""The replay gate's coverage: which buckets of event time it leaves out and why, the figure it
enforces, and the progress rate a replay shows. (Trino is replaced by a recorder here; the
integration tier runs the gate for real in tests/integration/test_replay.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kappa import query
from kappa.artifacts.installs import Installs
from kappa.context import Context
from kappa.replay import smoothed_rate
from kappa.replay_gate import (
    LATENESS,
    OPEN,
    OUTSIDE,
    _Buckets,
    _excluded_buckets,
    _Lateness,
    _ranges,
    percent,
    run_gate,
    shared_offsets,
)
from kappa.settings import load_settings
from lakehouse.registry import default_registry
from tests.unit.provisioned import fake_secrets

MIN = 60_000
TRANSACTIONS = default_registry().get("transactions")


def test_a_bucket_with_lateness_differences_leaves_out_its_neighbours_too() -> None:
    b = _Buckets(5 * MIN, 0, 20)
    valid = [{3: (10, 2)}, {3: (10, 0)}]  # bucket 3 holds 2 events the live version read outside the offsets
    late = _Lateness({10: 7, 4: 1}, 8, 0, None, None)
    closed = 18 * 5 * MIN  # windows ending in bucket 17 have fired in both versions
    reasons = _excluded_buckets(b, valid, late, closed)
    assert {k for k, r in reasons.items() if r == LATENESS} == {3, 4, 5, 9, 10, 11}  # lateness outranks outside
    assert {k for k, r in reasons.items() if r == OUTSIDE} == {2}
    assert {k for k, r in reasons.items() if r == OPEN} == {k for k in b.indexes() if (k + 2) * 5 * MIN > closed}
    assert 12 not in reasons and 0 not in reasons


def test_excluded_buckets_merge_into_ranges_largest_first() -> None:
    b = _Buckets(MIN, 0, 9)
    reasons = {1: LATENESS, 2: LATENESS, 3: LATENESS, 5: OUTSIDE, 8: LATENESS}
    ranges = _ranges(b, reasons, {1: 5, 2: 50, 3: 5, 5: 100, 8: 0})
    assert [(r.start_ms, r.end_ms, r.reason, r.events) for r in ranges] == [
        (5 * MIN, 6 * MIN, OUTSIDE, 100), (MIN, 4 * MIN, LATENESS, 60)]  # an empty range is not named


def test_shares_are_never_rounded_up_to_a_whole() -> None:
    assert percent(0.99996) == "99.99%"
    assert percent(1.0) == "100.00%"
    assert percent(8652 / 1813454) == "0.47%"


def test_only_offsets_both_versions_committed_are_compared() -> None:
    assert shared_offsets({0: (10, 100), 1: (0, 50), 2: (5, 9), 3: (4, 8)}, {0: 80, 1: 70, 2: 3}) == {
        0: (10, 80), 1: (0, 50), 2: (5, 5), 3: (4, 4)}


def test_the_rate_follows_reading_positions_over_the_window() -> None:
    assert smoothed_rate([(0.0, 0)]) == 0.0
    assert smoothed_rate([(0.0, 0), (3.0, 30_000), (6.0, 60_000)]) == pytest.approx(10_000)
    assert smoothed_rate([(0.0, 0), (3.0, 0), (6.0, 90_000)]) == pytest.approx(15_000)


class FakeTrino:
    """Answers the gate's queries from per-bucket figures: most events late in the live version only."""

    def __init__(self, live_only_late: int, total: int) -> None:
        self.live_only_late, self.total = live_only_late, total

    def __call__(self, settings: Any, sql: str, params: list[Any] | None = None, **_kw: Any) -> query.Result:
        if "count(DISTINCT o)" in sql:
            return query.Result(["p", "n", "d"], [[0, 100_000, 100_000]])
        if "NOT EXISTS" in sql:  # late in one version only: the live one, 40 min ahead of record times
            return query.Result(["side", "b", "n", "ahead"], [["live", k, self.live_only_late // 8, 40 * MIN]
                                                             for k in range(2, 10) if self.live_only_late])
        if "SELECT min(" in sql:
            return query.Result(["lo", "hi"], [[0, 20 * 5 * MIN - 1]])
        if "count_if(inside)" in sql:
            return query.Result(["b", "in", "out"], [[k, self.total // 20, 0] for k in range(20)])
        sums = [1.5] * sql.count("sum(")
        return query.Result(["b", "n"] + ["s"] * len(sums), [[k, 4, *sums] for k in range(20)])


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    settings = load_settings(None, state_dir=tmp_path)
    return Context(settings, Installs(*(tmp_path / n for n in "abcdefghij")),
                   fake_secrets())


def _gate(ctx: Context, closed_ms: int = 10**12, **kw: Any) -> Any:
    live, new = TRANSACTIONS.table_names(1), TRANSACTIONS.table_names(2)
    params = {"window_size_min": 5, "out_of_orderness_s": 5}
    return run_gate(ctx, TRANSACTIONS, live, new, params, params, closed_ms, {0: (0, 100_000)}, "transactions", **kw)


def test_a_replay_that_compared_a_sliver_is_refused_with_its_figure(ctx: Context,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(query, "run", FakeTrino(live_only_late=80_000, total=100_000))
    result = _gate(ctx)
    assert not result.passed and result.coverage_only
    # lateness in buckets 2..9 leaves out 1..10: 10 of the 20 buckets, 5,000 events each
    assert result.coverage.compared == 50_000 and result.coverage.share == 0.5
    assert result.failures[0].startswith("coverage 50.00% is below operations.replay_min_coverage 95.00%")
    assert "50,000 events: lateness differs" in result.failures[0]
    assert any("80,000 events late in the live version only: its watermark was up to 40.0 min ahead" in line
               for line in result.lines), result.lines
    published = [t.name for t in TRANSACTIONS.published]
    for name in published:  # every published table has its line, with the share of windows compared
        assert any(line.startswith(f"ok       {name}__v2 vs {name}: rows 40 vs 40 (50.00% of 80 closed rows")
                   for line in result.lines), result.lines

    accepted = _gate(ctx, accept_coverage=True)
    assert accepted.passed and accepted.accepted_coverage
    assert any(line.startswith("accepted coverage 50.00%") for line in accepted.lines)
    assert accepted.as_dict()["coverage"]["accepted"] is True

    # a stronger comparison (a mirrored table against its source) replaces the figure: not a user's acceptance
    waived = _gate(ctx, coverage_waived_for="compared with its source instead")
    assert waived.passed and not waived.accepted_coverage
    assert any(line.startswith("waived   coverage 50.00%") and line.endswith("compared with its source instead")
               for line in waived.lines), waived.lines


def test_a_clean_replay_compares_everything(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(query, "run", FakeTrino(live_only_late=0, total=100_000))
    result = _gate(ctx)
    assert result.passed and result.coverage.share == 1.0, result.failures
    assert ("coverage 100.00%: 100,000 of the 100,000 replayed valid events in closed windows compared (5-minute "
            "buckets of event time)") in result.lines


def test_the_newest_event_time_whose_windows_are_open_is_reported_apart(ctx: Context,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(query, "run", FakeTrino(live_only_late=0, total=100_000))
    result = _gate(ctx, closed_ms=18 * 5 * MIN)  # windows ending in buckets 17.. may not have fired yet
    assert result.passed and result.coverage.share == 1.0, result.failures
    assert (result.coverage.compared, result.coverage.open) == (85_000, 15_000)  # buckets 17, 18, 19
    assert any(line.startswith("         15,000 more in the newest event time") for line in result.lines)


def test_the_shared_routing_tables_are_read_for_the_pipelines_own_rows(ctx: Context,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Several pipelines read one topic (a SQL pipeline beside the built-in one) and share the live
    quarantine and late tables: the gate counts only its pipeline's rows there, and every query's
    placeholders match its parameters."""
    fake, seen = FakeTrino(live_only_late=0, total=100_000), []

    def recording(settings: Any, sql: str, params: list[Any] | None = None, **kw: Any) -> query.Result:
        seen.append((sql, list(params or [])))
        return fake(settings, sql, params, **kw)

    monkeypatch.setattr(query, "run", recording)
    assert _gate(ctx).passed
    shared = [f"\"{TRANSACTIONS.table_names(1)[r]}\"" for r in ("quarantine", "late")]
    reading_shared = [(sql, params) for sql, params in seen if any(t in sql for t in shared)]
    assert reading_shared
    for sql, params in seen:
        assert sql.count("?") == len(params), sql
    for sql, params in reading_shared:
        for table in shared:
            assert sql.count(f"{table} WHERE job = ?") == sql.count(table), sql
        assert "transactions" in params
