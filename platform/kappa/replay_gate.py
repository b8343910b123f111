"""The quality gate a replay must pass before its tables replace the live ones.

Both versions have read and committed the same offsets (`offsets`). Their valid events (landed +
late) must be the same; every published table is reconciled (row count and the sums of its declared
measures, `Gate` in the pipeline's declaration) over the event time where the two versions had the
same input and both have closed their windows. That time is cut into buckets as long as the longest
window (at least a minute); a bucket is left out, with its neighbours (an event's windows reach that
far), when

- some of its events were late in one version only (lateness depends on arrival timing, which a
  replay cannot reproduce: a skewed producer that pushed the live watermark ahead, an idle partition),
- it holds events outside the compared offsets (before the replay's start, or not yet committed by
  both versions), or
- a version's watermark, as far as its committed data goes, has not closed its windows yet.

The share of the replayed valid events in the compared buckets is the gate's **coverage** (events
whose windows have not closed in both versions yet, the newest event time, are reported apart: there
is nothing settled to compare them with). Below `operations.replay_min_coverage` the gate refuses,
unless the user accepts the figure. A table whose logic the replay changed on purpose (a window
size, a threshold) is reported, not failed. The replay's own accounting must be whole: for every
partition, landed + quarantined + late covers its offsets exactly once.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kappa import query
from kappa.context import Context
from kappa.topics import committed_records
from lakehouse.pipeline import ROUTES, Pipeline, PipelineSettings, longest_window_ms
from lakehouse.sql import qualified

# Why a bucket of event time was left out, the one that wins first.
LATENESS, OUTSIDE, OPEN = "lateness differs", "outside the compared offsets", "windows not closed in both versions"
REASONS = (OPEN, LATENESS, OUTSIDE)


@dataclass
class ExcludedRange:
    start_ms: int
    end_ms: int
    reason: str
    events: int

    def describe(self) -> str:
        return f"[{_shown(self.start_ms)}, {_shown(self.end_ms)}) {self.events:,} events: {self.reason}"


@dataclass
class Coverage:
    """How much of the replay the gate compared. Events whose windows have not closed in both
    versions yet (the newest event time) are counted apart: neither version has published all of
    them, so nothing a cut-over replaces is left unchecked there."""

    events: int  # valid events of the replayed offsets
    compared: int  # of those, in buckets the gate compared
    open: int = 0  # of those, in buckets whose windows have not closed in both versions
    excluded: dict[str, int] = field(default_factory=dict)  # reason -> events (OPEN apart)
    ranges: list[ExcludedRange] = field(default_factory=list)

    @property
    def closed(self) -> int:
        return self.events - self.open

    @property
    def share(self) -> float:
        """Compared over closed; nothing closed to compare is nothing compared (unless nothing was replayed)."""
        if self.closed <= 0:
            return 1.0 if self.events == 0 else 0.0
        return self.compared / self.closed


@dataclass
class GateResult:
    passed: bool
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    coverage: Coverage | None = None
    min_coverage: float = 0.0
    accepted_coverage: bool = False  # it was below the threshold, and the user accepted the figure

    @property
    def coverage_only(self) -> bool:
        """It failed on its coverage alone: a user may accept the figure (`--accept-coverage`)."""
        return not self.passed and all(f.startswith("coverage ") for f in self.failures)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"passed": self.passed, "report": self.lines, "failures": self.failures}
        if self.coverage is not None:
            out["coverage"] = {"share": self.coverage.share, "events": self.coverage.events,
                               "compared": self.coverage.compared, "excluded": self.coverage.excluded,
                               "min": self.min_coverage, "accepted": self.accepted_coverage}
        return out


def _margin_ms(params: dict[str, Any]) -> int:
    """How far in event time an event's windows reach."""
    return max(longest_window_ms(params), 60_000)


def _instant(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def _shown(ms: int) -> str:
    return _instant(ms).strftime("%Y-%m-%d %H:%M:%S UTC")


def percent(share: float) -> str:
    """A share, never rounded up to a whole 100%."""
    return f"{int(share * 10_000) / 100:.2f}%"


def _table(ctx: Context, name: str) -> str:
    return qualified(ctx.settings.jobs.namespace, name)


def _routed(ctx: Context, table: str, route: str, job: str) -> tuple[str, list[Any]]:
    """One route's table of a version as a relation, with its parameters: the quarantine and late
    tables are shared by every pipeline (several may read one topic), so only `job`'s rows."""
    if route == "raw":
        return _table(ctx, table), []
    return f"(SELECT * FROM {_table(ctx, table)} WHERE job = ?)", [job]


def _ms(column: str) -> str:
    """A timestamp column in epoch ms (exact on whole seconds, which every bucket edge is)."""
    return f"CAST(floor(to_unixtime({qualified(column)}) * 1000) AS bigint)"


def offset_bounds(offsets: dict[int, tuple[int, int]], partition: str = "kafka_partition",
                  offset: str = "kafka_offset") -> tuple[str, list[int]]:
    """A predicate for `[start, end)` offsets per partition, and its parameters ("FALSE" for none)."""
    ranges = [(p, lo, hi) for p, (lo, hi) in sorted(offsets.items()) if hi > lo]
    if not ranges:
        return "FALSE", []
    text = " OR ".join(f"({partition} = ? AND {offset} >= ? AND {offset} < ?)" for _ in ranges)
    return text, [x for r in ranges for x in r]


def shared_offsets(replayed: dict[int, tuple[int, int]], live_ends: dict[int, int]) -> dict[int, tuple[int, int]]:
    """The replayed offsets the live version has committed too: below its end in each partition (none
    in a partition where it has committed nothing)."""
    return {p: (lo, max(lo, min(hi, live_ends.get(p, lo)))) for p, (lo, hi) in replayed.items()}


@dataclass
class _Buckets:
    """Event time cut into buckets of `size` ms, `first` .. `last` (indexes of `ms // size`)."""

    size: int
    first: int
    last: int

    @property
    def lo(self) -> int:
        return self.first * self.size

    @property
    def hi(self) -> int:
        return (self.last + 1) * self.size

    def indexes(self) -> range:
        return range(self.first, self.last + 1)


def _valid_by_bucket(ctx: Context, tables: dict[str, str], topic: str, b: _Buckets,
                     offsets: dict[int, tuple[int, int]], job: str) -> dict[int, tuple[int, int]]:
    """Bucket -> (valid events of the compared offsets, valid events of any other offset)."""
    bounds, bound_params = offset_bounds(offsets)
    parts, params = [], []
    for route in ("raw", "late"):
        relation, relation_params = _routed(ctx, tables[route], route, job)
        parts.append(f"SELECT {_ms('event_time')} / ? AS b, ({bounds}) AS inside FROM {relation} "
                     "WHERE kafka_topic = ? AND event_time >= ? AND event_time < ?")
        params += [b.size, *bound_params, *relation_params, topic, _instant(b.lo), _instant(b.hi)]
    sql = (f"SELECT b, count_if(inside), count_if(NOT inside) FROM ({' UNION ALL '.join(parts)}) "
           "GROUP BY b")
    return {int(r[0]): (int(r[1]), int(r[2])) for r in query.run(ctx.settings, sql, params, user="pipeline").rows}


@dataclass
class _Lateness:
    """Events of the compared offsets late in one version only, per bucket, and how far the
    watermark that found them late was ahead of their Kafka record times."""

    by_bucket: dict[int, int]
    live_only: int
    new_only: int
    live_ahead_ms: int | None
    new_ahead_ms: int | None


def _lateness(ctx: Context, live: dict[str, str], new: dict[str, str], topic: str, size: int,
              offsets: dict[int, tuple[int, int]], job: str) -> _Lateness:
    bounds, bound_params = offset_bounds(offsets)

    def side(t: str) -> str:
        return (f"SELECT kafka_partition, kafka_offset, event_time, kafka_timestamp, watermark "
                f"FROM {_routed(ctx, t, 'late', job)[0]} WHERE kafka_topic = ? AND ({bounds})")

    def only(a: str, b: str, label: str) -> str:
        return (f"SELECT '{label}' AS side, l.* FROM ({side(a)}) l WHERE NOT EXISTS (SELECT 1 FROM ({side(b)}) o "
                "WHERE o.kafka_partition = l.kafka_partition AND o.kafka_offset = l.kafka_offset)")

    sql = (f"SELECT side, {_ms('event_time')} / ?, count(*), "
           "max(date_diff('millisecond', kafka_timestamp, watermark)) "
           f"FROM ({only(live['late'], new['late'], 'live')} UNION ALL {only(new['late'], live['late'], 'new')}) "
           "GROUP BY 1, 2")
    per_side = [job, topic, *bound_params] * 2
    rows = query.run(ctx.settings, sql, [size, *per_side, *per_side], user="pipeline").rows
    by_bucket: dict[int, int] = defaultdict(int)
    counts = {"live": 0, "new": 0}
    ahead: dict[str, int | None] = {"live": None, "new": None}
    for side_name, bucket, count, most_ahead in rows:
        by_bucket[int(bucket)] += int(count)
        counts[side_name] += int(count)
        if most_ahead is not None:
            ahead[side_name] = max(ahead[side_name] or int(most_ahead), int(most_ahead))
    return _Lateness(dict(by_bucket), counts["live"], counts["new"], ahead["live"], ahead["new"])


def _aggregate_by_bucket(ctx: Context, table: str, time_col: str, measures: tuple[str, ...],
                         b: _Buckets) -> dict[int, tuple]:
    sums = "".join(f", sum({qualified(m)})" for m in measures)  # none: row counts only
    column = qualified(time_col)
    sql = (f"SELECT {_ms(time_col)} / ?, count(*){sums} FROM {_table(ctx, table)} "
           f"WHERE {column} >= ? AND {column} < ? GROUP BY 1")
    rows = query.run(ctx.settings, sql, [b.size, _instant(b.lo), _instant(b.hi)], user="pipeline").rows
    return {int(r[0]): tuple(r[1:]) for r in rows}


def _total(rows: dict[int, tuple], buckets: list[int], width: int) -> tuple:
    """Row count and measure sums over some buckets (sums of floats rounded to 6 places)."""
    totals: list[Any] = [0] * width
    for k in buckets:
        for i, v in enumerate(rows.get(k, ())):
            if v is not None:
                totals[i] += Decimal(str(v)) if isinstance(v, float) else v
    return tuple(v.quantize(Decimal("0.000001")) if isinstance(v, Decimal) else v for v in totals)


def _excluded_buckets(b: _Buckets, valid: list[dict[int, tuple[int, int]]], late: _Lateness,
                      closed_ms: int) -> dict[int, str]:
    """Bucket -> why it is left out. A bucket is open if a window ending in the next one may not have
    fired yet in a version (the newest event time: there, lateness or uncommitted events are no gap).
    Otherwise a dirty bucket takes its neighbours along: an event's windows reach at most one bucket
    either way."""
    reasons = {j: OPEN for j in b.indexes() if (j + 2) * b.size > closed_ms}
    dirty: list[tuple[int, str]] = [(k, LATENESS) for k in late.by_bucket]
    dirty += [(k, OUTSIDE) for side in valid for k, (_inside, outside) in side.items() if outside]
    for k, reason in dirty:
        for j in (k - 1, k, k + 1):
            if j not in reasons or REASONS.index(reason) < REASONS.index(reasons[j]):
                reasons[j] = reason
    return reasons


def _ranges(b: _Buckets, reasons: dict[int, str], events: dict[int, int]) -> list[ExcludedRange]:
    """Runs of excluded buckets with one reason, largest first."""
    runs: list[ExcludedRange] = []
    for k in b.indexes():
        reason = reasons.get(k)
        if reason is None:
            continue
        if runs and runs[-1].reason == reason and runs[-1].end_ms == k * b.size:
            runs[-1].end_ms += b.size
            runs[-1].events += events.get(k, 0)
        else:
            runs.append(ExcludedRange(k * b.size, (k + 1) * b.size, reason, events.get(k, 0)))
    return sorted((r for r in runs if r.events), key=lambda r: -r.events)


def _span(ctx: Context, tables: dict[str, str], topic: str, offsets: dict[int, tuple[int, int]],
          size: int, job: str) -> _Buckets | None:
    """The buckets holding the replayed offsets' events, with two more on each side."""
    bounds, bound_params = offset_bounds(offsets)
    relations = [_routed(ctx, tables[r], r, job) for r in ("raw", "late")]
    parts = " UNION ALL ".join(f"SELECT event_time FROM {relation} WHERE kafka_topic = ? AND ({bounds})"
                               for relation, _ in relations)
    sql = f"SELECT min({_ms('event_time')}), max({_ms('event_time')}) FROM ({parts})"
    params = [v for _, relation_params in relations for v in (*relation_params, topic, *bound_params)]
    row = query.run(ctx.settings, sql, params, user="pipeline").rows[0]
    if row[0] is None:
        return None
    return _Buckets(size, int(row[0]) // size - 2, int(row[1]) // size + 2)


def lateness_explained(late: _Lateness, out_of_orderness_s: int, refused: bool) -> list[str]:
    """Which version's lateness is suspect, and what to do about it."""
    lines = []
    for name, count, ahead, other in (("live", late.live_only, late.live_ahead_ms, "replay"),
                                      ("replay", late.new_only, late.new_ahead_ms, "live")):
        if not count:
            continue
        line = f"note     {count:,} events late in the {name} version only"
        if ahead is not None and ahead > out_of_orderness_s * 1000:
            line += (f": its watermark was up to {ahead / 60_000:.1f} min ahead of their Kafka record times "
                     f"(a producer stamping events ahead of its clock, or a partition idle while others moved "
                     f"on); the {other} version took them on time")
        lines.append(line)
    if refused and late.live_only > late.new_only:
        lines.append("note     the live version's lateness is the suspect one: if the replay is meant to repair it, "
                     "accept the coverage (--accept-coverage)")
    return lines


def run_gate(ctx: Context, pipeline: Pipeline, live_tables: dict[str, str], new_tables: dict[str, str],
             live_params: dict[str, Any], new_params: dict[str, Any], closed_ms: int | None,
             offsets: dict[int, tuple[int, int]], topic: str, *, live_ends: dict[int, int] | None = None,
             accept_coverage: bool = False, coverage_waived_for: str = "") -> GateResult:
    """`offsets`: per partition, the [start, end) offsets the replay has committed; `live_ends`: how
    far the live version has committed (`routed_ends`; None: all of `offsets`), so that only offsets
    both have are compared; `closed_ms`: the event time up to which both versions have fired and
    committed every window; `coverage_waived_for`: why a coverage below the threshold does not refuse
    (a stronger comparison replaces it)."""
    min_coverage = ctx.settings.operations.replay_min_coverage
    result = GateResult(passed=True, min_coverage=min_coverage)
    changed = sorted(k for k in set(live_params) | set(new_params) if live_params.get(k) != new_params.get(k))
    if changed:
        diffs = ", ".join(f"{k} {live_params.get(k)} -> {new_params.get(k)}" for k in changed)
        result.lines.append(f"parameters changed: {diffs}")
    routing_changed = [p for p in changed if p in PipelineSettings.ROUTING]
    size = max(_margin_ms(live_params), _margin_ms(new_params))
    shared = offsets if live_ends is None else shared_offsets(offsets, live_ends)
    job = pipeline.name
    b = _span(ctx, new_tables, topic, offsets, size, job)
    if b is None:
        result.lines.append("no valid events replayed: content comparison skipped")
        return _finish(result, ctx, new_tables, topic, offsets, job)
    if closed_ms is None:  # no window of the live version has closed: none can be compared
        closed_ms = b.lo

    valid = [_valid_by_bucket(ctx, t, topic, b, shared, job) for t in (live_tables, new_tables)]
    late = _lateness(ctx, live_tables, new_tables, topic, size, shared, job)
    reasons = _excluded_buckets(b, valid, late, closed_ms)
    # The replay's valid events by bucket: those the live version has not committed yet count as left out.
    events = {k: inside + outside for k, (inside, outside) in valid[1].items()}
    covered = [k for k in b.indexes() if k not in reasons]
    coverage = Coverage(sum(events.values()), sum(events.get(k, 0) for k in covered))
    for k, reason in reasons.items():
        if reason == OPEN:
            coverage.open += events.get(k, 0)
        else:
            coverage.excluded[reason] = coverage.excluded.get(reason, 0) + events.get(k, 0)
    coverage.excluded = {r: n for r, n in coverage.excluded.items() if n}
    coverage.ranges = [r for r in _ranges(b, reasons, events) if r.reason != OPEN]
    result.coverage = coverage

    totals = [sum(inside for inside, _ in side.values()) for side in valid]
    if totals[0] == totals[1]:
        result.lines.append(f"ok       valid events (landed + late) equal: {totals[1]:,}")
    elif routing_changed:
        result.lines.append(f"changed  valid events (landed + late): {totals[1]:,} vs {totals[0]:,} "
                            f"(expected: {', '.join(routing_changed)} changed)")
    else:
        result.failures.append(f"valid events (landed + late) differ: {totals[1]:,} vs {totals[0]:,}")
    result.lines.append(f"coverage {percent(coverage.share)}: {coverage.compared:,} of the {coverage.closed:,} "
                        f"replayed valid events in closed windows compared ({b.size // 60_000}-minute buckets "
                        "of event time)")
    for reason, count in sorted(coverage.excluded.items(), key=lambda x: -x[1]):
        result.lines.append(f"         {count:,} left out: {reason}")
    if coverage.open:
        result.lines.append(f"         {coverage.open:,} more in the newest event time, where the windows have not "
                            "closed in both versions yet: not counted")
    result.lines += lateness_explained(late, int(new_params.get("out_of_orderness_s", 0)),
                                       refused=coverage.share < min_coverage)

    for table in pipeline.published:
        gate = table.gate
        assert gate is not None  # the registry checks every published table has one
        rows = [_aggregate_by_bucket(ctx, t[table.role], gate.time, gate.measures, b)
                for t in (live_tables, new_tables)]
        width = 1 + len(gate.measures)
        live, new = _total(rows[0], covered, width), _total(rows[1], covered, width)
        all_windows = _total(rows[1], [k for k in b.indexes() if reasons.get(k) != OPEN], width)[0]
        share = 1.0 if not all_windows else new[0] / all_windows
        by_design = [p for p in changed if p in gate.changed_by or p in PipelineSettings.ROUTING]
        label = (f"{new_tables[table.role]} vs {live_tables[table.role]}: rows {new[0]:,} vs {live[0]:,} "
                 f"({percent(share)} of {all_windows:,} closed rows compared)")
        if live == new:
            result.lines.append(f"ok       {label}, sums equal")
        elif by_design:
            result.lines.append(f"changed  {label} (expected: {', '.join(by_design)} changed)")
        else:
            result.failures.append(f"{label}; sums {new[1:]} vs {live[1:]}")

    if coverage.share < min_coverage:
        shown = "; ".join(r.describe() for r in coverage.ranges[:5])
        more = f"; and {len(coverage.ranges) - 5} more ranges" if len(coverage.ranges) > 5 else ""
        why = (f"{coverage.closed - coverage.compared:,} of {coverage.closed:,} events left out ({shown}{more})"
               if coverage.closed else f"the windows of none of the {coverage.events:,} events have closed in both "
               "versions yet")
        figure = (f"coverage {percent(coverage.share)} is below operations.replay_min_coverage "
                  f"{percent(min_coverage)}: {why}")
        if coverage_waived_for:
            result.lines.append(f"waived   {figure}; {coverage_waived_for}")
        elif accept_coverage:
            result.lines.append(f"accepted {figure}")
            result.accepted_coverage = True
        else:
            result.failures.append(figure)
    return _finish(result, ctx, new_tables, topic, offsets, job)


def _finish(result: GateResult, ctx: Context, new_tables: dict[str, str], topic: str,
            offsets: dict[int, tuple[int, int]], job: str) -> GateResult:
    lines, failures = accounting(ctx, new_tables, topic, offsets, job)
    result.lines += lines
    result.failures += failures
    result.passed = not result.failures
    return result


def routed_offsets(ctx: Context, tables: dict[str, str], topic: str, job: str) -> tuple[str, list[Any]]:
    """Every record of `topic` a version of `job` routed (raw, quarantine, late) as `(p, o)` rows,
    with the query's parameters."""
    relations = [_routed(ctx, tables[r], r, job) for r in ROUTES]
    sql = " UNION ALL ".join(f"SELECT kafka_partition p, kafka_offset o FROM {relation} WHERE kafka_topic = ?"
                             for relation, _ in relations)
    return sql, [v for _, relation_params in relations for v in (*relation_params, topic)]


def routed_ends(ctx: Context, tables: dict[str, str], topic: str, job: str) -> dict[int, int]:
    """Per partition, the offset after the last record a version's tables hold: what it has committed
    (a checkpoint commits a partition's records in order). Kafka's group offsets are only a copy,
    which a job may fail to update (they are not part of Flink's guarantees)."""
    routed, params = routed_offsets(ctx, tables, topic, job)
    rows = query.run(ctx.settings, f"SELECT p, max(o) + 1 FROM ({routed}) GROUP BY p", params, user="pipeline").rows
    return {int(r[0]): int(r[1]) for r in rows}


def accounting(ctx: Context, tables: dict[str, str], topic: str,
               offsets: dict[int, tuple[int, int]], job: str) -> tuple[list[str], list[str]]:
    """Each replayed offset landed, quarantined or late exactly once, with no gaps."""
    bounds, bound_params = offset_bounds(offsets, "p", "o")
    if not bound_params:
        return ["no offsets committed yet: accounting skipped"], []
    routed, params = routed_offsets(ctx, tables, topic, job)
    sql = f"SELECT p, count(*), count(DISTINCT o) FROM ({routed}) WHERE {bounds} GROUP BY p"
    rows = query.run(ctx.settings, sql, params + bound_params, user="pipeline").rows
    seen = {r[0]: (r[1], r[2]) for r in rows}
    # A topic written in transactions has offsets that hold no record (commit markers): count its records.
    transactional = any(p.topic.name == topic for p in ctx.settings.pipelines.captured)
    expected = (committed_records(ctx.kafka(), topic, offsets) if transactional
                else {p: hi - lo for p, (lo, hi) in offsets.items()})
    failures = []
    for p, (lo, hi) in sorted(offsets.items()):
        count, distinct = seen.get(p, (0, 0))
        if count != distinct:
            failures.append(f"partition {p}: {count - distinct} offsets landed twice")
        if distinct != expected[p]:
            failures.append(f"partition {p}: {distinct} of the {expected[p]} records at offsets {lo}..{hi - 1} "
                            "accounted for")
    total = sum(expected.values())
    what = "records (transaction markers aside)" if transactional else "offsets"
    lines = [] if failures else [f"ok       all {total:,} {what} landed, quarantined or late exactly once"]
    return lines, failures
