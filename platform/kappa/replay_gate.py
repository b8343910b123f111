"""The quality gate a replay must pass before its tables replace the live ones.

Over the event-time range both versions have fully processed, every published table of the new
version is reconciled with the live version: row counts and the sums of its declared measures
(`Gate` in the pipeline's declaration). A table whose logic the replay changed on purpose (a window
size, a threshold) is reported, not failed. The replay's own accounting must be whole: for every
partition, landed + quarantined + late covers its offsets exactly once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kappa import query
from kappa.context import Context
from lakehouse.pipeline import ROUTES, Pipeline, PipelineSettings, longest_window_ms
from lakehouse.sql import qualified


@dataclass
class GateResult:
    passed: bool
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "report": self.lines, "failures": self.failures}


def _margin_ms(params: dict[str, Any]) -> int:
    """How far around a compared range's edges windows may hold events from outside it."""
    return max(longest_window_ms(params), 60_000)


def _instant(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def _shown(ms: int) -> str:
    return _instant(ms).strftime("%Y-%m-%d %H:%M:%S.000 UTC")


MAX_LATENESS_DIFFERENCES = 200


def _table(ctx: Context, name: str) -> str:
    return qualified(ctx.settings.jobs.namespace, name)


def _aggregate(ctx: Context, table: str, time_col: str, measures: tuple[str, ...], lo: int, hi: int,
               excluded: list[tuple[int, int]]) -> tuple:
    column = qualified(time_col)
    sums = ", ".join(f"sum({qualified(m)})" for m in measures)
    holes = f" AND NOT ({column} BETWEEN ? AND ?)" * len(excluded)
    sql = f"SELECT count(*), {sums} FROM {_table(ctx, table)} WHERE {column} >= ? AND {column} < ?{holes}"
    params = [_instant(lo), _instant(hi), *(_instant(x) for pair in excluded for x in pair)]
    row = query.run(ctx.settings, sql, params, user="pipeline").rows[0]
    return tuple(Decimal(str(v)).quantize(Decimal("0.000001")) if isinstance(v, float) else v for v in row)


def run_gate(ctx: Context, pipeline: Pipeline, live_tables: dict[str, str], new_tables: dict[str, str],
             live_params: dict[str, Any], new_params: dict[str, Any], range_ms: tuple[int, int] | None,
             offsets: dict[int, tuple[int, int]], topic: str) -> GateResult:
    """`offsets`: per partition, the [start, end) offsets the replay has fully committed."""
    result = GateResult(passed=True)
    changed = sorted(k for k in set(live_params) | set(new_params) if live_params.get(k) != new_params.get(k))
    if changed:
        diffs = ", ".join(f"{k} {live_params.get(k)} -> {new_params.get(k)}" for k in changed)
        result.lines.append(f"parameters changed: {diffs}")
    if range_ms is not None:
        margin = max(_margin_ms(live_params), _margin_ms(new_params))
        lo, hi = range_ms[0] + margin, range_ms[1] - margin
        if hi <= lo:
            result.lines.append("no fully processed range in common yet: content comparison skipped")
        else:
            result.lines.append(f"compared over event time [{_shown(lo)}, {_shown(hi)})")
            valid = [_valid_events(ctx, t, lo, hi) for t in (live_tables, new_tables)]
            if valid[0] != valid[1]:
                result.failures.append(f"valid events (on time + late) differ: {valid[1]} vs {valid[0]}")
            else:
                result.lines.append(f"ok       valid events (on time + late) equal: {valid[1]}")
            # Lateness depends on arrival timing, which a replay cannot reproduce: windows around an
            # event that one version found late and the other did not are left out of the comparison.
            moved = _lateness_differences(ctx, live_tables, new_tables, topic, offsets)
            excluded = [(t - margin, t + margin) for t in moved]
            if len(moved) > MAX_LATENESS_DIFFERENCES:
                result.lines.append(f"changed  {len(moved)} events late in one version only: windows not compared")
                return _finish(result, ctx, new_tables, topic, offsets)
            if moved:
                result.lines.append(f"note     {len(moved)} events late in one version only; the windows around "
                                    "them are left out")
            for table in pipeline.published:
                role, gate = table.role, table.gate
                assert gate is not None  # the registry checks every published table has one
                live = _aggregate(ctx, live_tables[role], gate.time, gate.measures, lo, hi, excluded)
                new = _aggregate(ctx, new_tables[role], gate.time, gate.measures, lo, hi, excluded)
                by_design = [p for p in changed if p in gate.changed_by or p in PipelineSettings.ROUTING]
                label = f"{new_tables[role]} vs {live_tables[role]}: rows {new[0]} vs {live[0]}"
                if live == new:
                    result.lines.append(f"ok       {label}, sums equal")
                elif by_design:
                    result.lines.append(f"changed  {label} (expected: {', '.join(by_design)} changed)")
                else:
                    result.failures.append(f"{label}; sums {new[1:]} vs {live[1:]}")
    return _finish(result, ctx, new_tables, topic, offsets)


def _finish(result: GateResult, ctx: Context, new_tables: dict[str, str], topic: str,
            offsets: dict[int, tuple[int, int]]) -> GateResult:
    lines, failures = accounting(ctx, new_tables, topic, offsets)
    result.lines += lines
    result.failures += failures
    result.passed = not result.failures
    return result


def _valid_events(ctx: Context, tables: dict[str, str], lo: int, hi: int) -> int:
    where = "event_time >= ? AND event_time < ?"
    sql = (f"SELECT (SELECT count(*) FROM {_table(ctx, tables['raw'])} WHERE {where}) + "
           f"(SELECT count(*) FROM {_table(ctx, tables['late'])} WHERE {where})")
    bounds = [_instant(lo), _instant(hi)]
    return int(query.run(ctx.settings, sql, bounds * 2, user="pipeline").rows[0][0])


def offset_bounds(offsets: dict[int, tuple[int, int]], partition: str = "kafka_partition",
                  offset: str = "kafka_offset") -> tuple[str, list[int]]:
    """A predicate for `[start, end)` offsets per partition, and its parameters ("FALSE" for none)."""
    ranges = [(p, lo, hi) for p, (lo, hi) in sorted(offsets.items()) if hi > lo]
    if not ranges:
        return "FALSE", []
    text = " OR ".join(f"({partition} = ? AND {offset} >= ? AND {offset} < ?)" for _ in ranges)
    return text, [x for r in ranges for x in r]


def _lateness_differences(ctx: Context, live: dict[str, str], new: dict[str, str], topic: str,
                          offsets: dict[int, tuple[int, int]]) -> list[int]:
    """Event times (ms) of replayed events that exactly one of the two versions found late."""
    bounds, bound_params = offset_bounds(offsets)

    def side(t: str) -> str:
        return (f"SELECT kafka_partition, kafka_offset, event_time FROM {_table(ctx, t)} "
                f"WHERE kafka_topic = ? AND ({bounds})")

    live_only = f"SELECT * FROM ({side(live['late'])} EXCEPT {side(new['late'])})"
    new_only = f"SELECT * FROM ({side(new['late'])} EXCEPT {side(live['late'])})"
    sql = f"SELECT to_unixtime(event_time) * 1000 FROM (({live_only}) UNION ALL ({new_only}))"
    rows = query.run(ctx.settings, sql, [topic, *bound_params] * 4, user="pipeline").rows
    return sorted(int(r[0]) for r in rows)


def routed_offsets(ctx: Context, tables: dict[str, str]) -> str:
    """Every record a version routed (raw, quarantine, late) as `(p, o)` rows of one topic (a `?`)."""
    return " UNION ALL ".join(
        f"SELECT kafka_partition p, kafka_offset o FROM {_table(ctx, tables[r])} WHERE kafka_topic = ?"
        for r in ROUTES)


def accounting(ctx: Context, tables: dict[str, str], topic: str,
               offsets: dict[int, tuple[int, int]]) -> tuple[list[str], list[str]]:
    """Each replayed offset landed, quarantined or late exactly once, with no gaps."""
    bounds, bound_params = offset_bounds(offsets, "p", "o")
    if not bound_params:
        return ["no offsets committed yet: accounting skipped"], []
    sql = f"SELECT p, count(*), count(DISTINCT o) FROM ({routed_offsets(ctx, tables)}) WHERE {bounds} GROUP BY p"
    rows = query.run(ctx.settings, sql, [topic] * len(ROUTES) + bound_params, user="pipeline").rows
    seen = {r[0]: (r[1], r[2]) for r in rows}
    failures = []
    for p, (lo, hi) in sorted(offsets.items()):
        count, distinct = seen.get(p, (0, 0))
        if count != distinct:
            failures.append(f"partition {p}: {count - distinct} offsets landed twice")
        if distinct != hi - lo:
            failures.append(f"partition {p}: {distinct} of the {hi - lo} offsets {lo}..{hi - 1} accounted for")
    total = sum(hi - lo for lo, hi in offsets.values())
    lines = [] if failures else [f"ok       all {total} offsets landed, quarantined or late exactly once"]
    return lines, failures
