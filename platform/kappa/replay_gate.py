"""The quality gate a replay must pass before its tables replace the live ones.

Over the event-time range both versions have fully processed, every published table of the new
version is reconciled with the live version: row counts and the sums of its measures. A table whose
logic the replay changed on purpose (a window size, a threshold) is reported, not failed. The
replay's own accounting must be whole: for every partition, landed + quarantined + late covers its
offsets exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kappa import query
from kappa.services.base import Context
from lakehouse.tables import PUBLISHED_ROLES

# role -> (time column, measure columns, params that change its content)
GATE_COLUMNS: dict[str, dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]]] = {
    "transactions": {
        "raw": ("event_time", ("amount",), ()),
        "windows": ("window_end", ("transaction_count", "total_amount"), ("window_size_min",)),
        "suspicious": ("window_end", ("transaction_count", "total_amount"),
                       ("suspicious_window_min", "suspicious_count_above", "suspicious_total_above")),
    },
    "user_activity": {
        "raw": ("event_time", ("amount",), ()),
        "spend": ("window_end", ("total_spent", "transaction_count"), ("spend_window_min", "spend_slide_min")),
        "fraud": ("window_end", ("total_spent",), ("spend_window_min", "spend_slide_min", "fraud_total_above")),
        "patterns": ("purchase_time", ("purchase_amount",), ("pattern_within_min", "pattern_purchase_above")),
        "sessions": ("session_end", ("event_count", "total_spent"), ("session_gap_min",)),
    },
    "iot_sensors": {
        "raw": ("event_time", ("temperature", "humidity"), ()),
        "stats": ("window_end", ("reading_count", "max_temperature"), ("stats_window_min",)),
        "alerts": ("event_time", ("temperature",), ("temperature_above", "humidity_above")),
    },
}
# Changing these changes which events are late or quarantined: every table may differ.
GLOBAL_PARAMS = ("out_of_orderness_s", "idle_timeout_s", "max_payload_chars")


@dataclass
class GateResult:
    passed: bool
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "report": self.lines, "failures": self.failures}


def _margin_ms(params: dict[str, Any]) -> int:
    minutes = [v for k, v in params.items() if k.endswith("_min")]
    return int(max(minutes, default=1) * 60_000)


def _ts(ms: int) -> str:
    import time

    return "TIMESTAMP '" + time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000)) + ".000 UTC'"


MAX_LATENESS_DIFFERENCES = 200


def _aggregate(ctx: Context, table: str, time_col: str, measures: tuple[str, ...], lo: int, hi: int,
               excluded: list[tuple[int, int]]) -> tuple:
    sums = ", ".join(f"sum({m})" for m in measures)
    holes = "".join(f" AND NOT ({time_col} BETWEEN {_ts(a)} AND {_ts(b)})" for a, b in excluded)
    sql = (f"SELECT count(*), {sums} FROM {ctx.settings.jobs.namespace}.{table} "
           f"WHERE {time_col} >= {_ts(lo)} AND {time_col} < {_ts(hi)}{holes}")
    row = query.run(ctx.settings, sql, user="pipeline").rows[0]
    return tuple(Decimal(str(v)).quantize(Decimal("0.000001")) if isinstance(v, float) else v for v in row)


def run_gate(ctx: Context, job: str, live_tables: dict[str, str], new_tables: dict[str, str],
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
            result.lines.append(f"compared over event time [{_ts(lo)[11:-1]}, {_ts(hi)[11:-1]})")
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
            for role in PUBLISHED_ROLES[job]:
                time_col, measures, affected_by = GATE_COLUMNS[job][role]
                live = _aggregate(ctx, live_tables[role], time_col, measures, lo, hi, excluded)
                new = _aggregate(ctx, new_tables[role], time_col, measures, lo, hi, excluded)
                by_design = [p for p in changed if p in affected_by or p in GLOBAL_PARAMS]
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
    accounting_ = accounting(ctx, new_tables, topic, offsets)
    result.lines += accounting_[0]
    result.failures += accounting_[1]
    result.passed = not result.failures
    return result


def _valid_events(ctx: Context, tables: dict[str, str], lo: int, hi: int) -> int:
    ns = ctx.settings.jobs.namespace
    where = f"event_time >= {_ts(lo)} AND event_time < {_ts(hi)}"
    sql = (f"SELECT (SELECT count(*) FROM {ns}.{tables['raw']} WHERE {where}) + "
           f"(SELECT count(*) FROM {ns}.{tables['late']} WHERE {where})")
    return int(query.run(ctx.settings, sql, user="pipeline").rows[0][0])


def _lateness_differences(ctx: Context, live: dict[str, str], new: dict[str, str], topic: str,
                          offsets: dict[int, tuple[int, int]]) -> list[int]:
    """Event times (ms) of replayed events that exactly one of the two versions found late."""
    ns = ctx.settings.jobs.namespace
    bounds = " OR ".join(f"(kafka_partition = {p} AND kafka_offset >= {lo} AND kafka_offset < {hi})"
                         for p, (lo, hi) in offsets.items() if hi > lo) or "FALSE"
    def side(t: str) -> str:
        return (f"SELECT kafka_partition, kafka_offset, event_time FROM {ns}.{t} "
                f"WHERE kafka_topic = '{topic}' AND ({bounds})")

    live_only = f"SELECT * FROM ({side(live['late'])} EXCEPT {side(new['late'])})"
    new_only = f"SELECT * FROM ({side(new['late'])} EXCEPT {side(live['late'])})"
    sql = f"SELECT to_unixtime(event_time) * 1000 FROM (({live_only}) UNION ALL ({new_only}))"
    rows = query.run(ctx.settings, sql, user="pipeline").rows
    return sorted(int(r[0]) for r in rows)


def accounting(ctx: Context, tables: dict[str, str], topic: str,
                offsets: dict[int, tuple[int, int]]) -> tuple[list[str], list[str]]:
    """Each replayed offset landed, quarantined or late exactly once, with no gaps."""
    ns = ctx.settings.jobs.namespace
    union = " UNION ALL ".join(
        f"SELECT kafka_partition p, kafka_offset o FROM {ns}.{tables[r]} WHERE kafka_topic = '{topic}'"
        for r in ("raw", "quarantine", "late"))
    bounds = " OR ".join(f"(p = {p} AND o >= {lo} AND o < {hi})" for p, (lo, hi) in offsets.items() if hi > lo)
    if not bounds:
        return ["no offsets committed yet: accounting skipped"], []
    rows = query.run(ctx.settings, f"SELECT p, count(*), count(DISTINCT o) FROM ({union}) WHERE {bounds} GROUP BY p",
                     user="pipeline").rows
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
