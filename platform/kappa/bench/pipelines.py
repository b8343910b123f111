"""`kappa bench` pipelines: the product's own jobs, measured as users run them, next to q0 -> Iceberg.

- throughput: each job reads a backlog from its scenario generator (Zipf keys, 1% malformed, 5% out
  of order within the watermark delay) as a bounded new version into tables of its own (namespace
  `bench`), exactly as a replay or a backfill runs it. Its sustained rate is the backlog over the
  span of the rows' own `ingest_time` (stamped as each record passes the parse), so the job's
  start-up and final commit do not count; q0 -> Iceberg is measured the same way on the Nexmark topic
  in the same run, and the ratio is the figure. Every record must be accounted for (landed +
  quarantined + late = backlog), or the run fails.
- replay: the job runs live on a stream produced at `live_rate` events/s (event time = wall clock);
  then a new version replays the topic from its first offset to the offsets of that moment (a
  bounded `kappa replay`) while the live stream keeps flowing: its catch-up rate over the live rate.
- freshness: during the transactions job's live phase, how long after it was produced each event is
  visible in Trino, over the checkpoint interval.
- scaling (`kappa bench --scaling N`, on its own): each job live over its backlog at parallelism 1, then
  N, cancelled once every record is accounted for; the ratio of the two sustained rates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kappa import kafka_clients, query, schemas
from kappa.bench.bench_jobs import (
    ALERTS_TOPIC,
    Progress,
    accounted,
    bench_definition,
    bench_pipelines,
    bench_spec,
    bench_tables,
    drop_tables,
    fill_backlog,
    fill_nexmark,
    nexmark_definition,
    nexmark_spec,
    run_to_end,
    run_until_accounted,
    table_ref,
)
from kappa.bench.live import replay_over_live
from kappa.context import Context
from kappa.errors import KappaError
from kappa.jobs import FLINK_JOBS_DIR
from kappa.settings import TopicSettings
from kappa.topics import ensure_topics
from lakehouse.scenarios.nexmark import BID, NexmarkOptions, kind


def throughput(ctx: Context, job: str, topic: str, count: int, run_id: str, progress: Progress, *,
               jobs_dir: Path = FLINK_JOBS_DIR, label: str = "", wire: bool = True) -> dict[str, Any]:
    """One bounded run of the job over the backlog: sustained events/s, CPU per event, profile
    (`wire` False: an Avro pipeline reading the same records as JSON)."""
    tag = f"{run_id}{label}"
    tables = bench_tables(ctx, job, tag)
    spec = bench_spec(ctx, job, topic, tables, tag, bounded=True, wire=wire)
    ran = run_to_end(ctx, bench_definition(ctx, job, tag), spec, jobs_dir=jobs_dir)
    rate, span = sustained(ctx, tables, topic, count, job, tag)
    result = {**ran, "events": count, "events_per_s": rate, "cpu_s_per_million_events": 1e6 * ran["cpu_s"] / count}
    progress(f"  {job}{label}: {rate:,.0f} events/s sustained ({span:.1f}s of processing, "
             f"{ran['seconds']:.1f}s job), {result['cpu_s_per_million_events']:.0f} CPU-s per million")
    return result


def sustained(ctx: Context, tables: dict[str, str], topic: str, count: int, what: str, tag: str) -> tuple[float, float]:
    """A finished run's (events/s, seconds) over the span of its rows' ingest times, its tables then dropped.
    Every record of the backlog must be accounted for exactly once, or the run fails (tables kept)."""
    n, first, last = accounted(ctx, tables, topic)
    if n != count:
        raise KappaError(f"{what}: {n:,} records landed, quarantined or late, of {count:,} read (tables *_{tag})")
    drop_tables(ctx, tables.values())
    return count / max(last - first, 1e-3), last - first


def ensure_alerts_topic(ctx: Context) -> None:
    """The topic the bench runs' alert sinks write to (not the live jobs' `alerts`)."""
    ensure_topics(kafka_clients.admin(ctx.kafka()),
                  {ALERTS_TOPIC: TopicSettings(partitions=3, retention_ms=86_400_000)})


def scaling(ctx: Context, *, count: int, seed: int, run_id: str, parallelism: int, progress: Progress,
            only: list[str] | None = None) -> dict[str, Any]:
    """`kappa bench --scaling N`: each pipeline live (unbounded) over the same backlog at parallelism 1,
    then at N, one after the other in this run: each rate sustained as in `throughput` (events over the
    rows' ingest-time span) and their ratio. Every record must be accounted for once in each run.
    Unbounded because a bounded run always writes with one writer (`render_spec`)."""
    ensure_alerts_topic(ctx)
    pipelines = {job: scenario for job, scenario in bench_pipelines(ctx).items() if not only or job in only}
    jobs: dict[str, Any] = {}
    for job, scenario in pipelines.items():
        topic = fill_backlog(ctx, scenario, count, seed, ctx.settings.pipelines.scenarios[scenario][1].partitions,
                             progress)
        rates, cpu = [], []
        for p in (1, parallelism):
            tag = f"{run_id}_p{p}"
            tables = bench_tables(ctx, job, tag)
            spec = {**bench_spec(ctx, job, topic, tables, tag, bounded=False), "parallelism": p}
            progress(f"{job} live at parallelism {p} over its {count:,}-event backlog")
            ran = run_until_accounted(ctx, bench_definition(ctx, job, tag), spec, tables, topic, count)
            rate, span = sustained(ctx, tables, topic, count, f"{job} at parallelism {p}", tag)
            rates.append(rate)
            cpu.append(round(1e6 * ran["cpu_s"] / count, 1))
            progress(f"  {rate:,.0f} events/s sustained ({span:.1f}s of processing, "
                     f"{ran['cpu_s']:.0f} Flink CPU-s)")
        jobs[job] = {"events_per_s": [round(r) for r in rates], "ratio": round(rates[1] / rates[0], 2),
                     "cpu_s_per_million_events": cpu}
    return {"events": count, "parallelism": [1, parallelism], "taskmanagers": ctx.settings.flink.taskmanagers,
            "slots_per_taskmanager": ctx.settings.flink.task_slots, "jobs": jobs}


def q0_reference(ctx: Context, nexmark_topic: str, count: int, run_id: str, progress: Progress) -> dict[str, Any]:
    """q0 -> Iceberg over the Nexmark topic, its rate measured like the pipelines' (ingest-time span)."""
    table = f"q0_ingest_{run_id}"
    # bounded: one writer (kappa.jobs.spec)
    spec = nexmark_spec(ctx, query="q0", sink="iceberg", topic=nexmark_topic, run=f"{run_id}-q0-ingest",
                        table=table, ingest_time=True)
    ran = run_to_end(ctx, nexmark_definition(ctx, "bench-q0-ingest"), spec)
    row = query.run(ctx.settings, f"SELECT count(*), to_unixtime(min(ingest_time)), to_unixtime(max(ingest_time)) "
                                  f"FROM {table_ref(table)}").rows[0]
    bids = int(row[0])
    expected = sum(1 for i in range(count) if kind(i) == BID)
    if bids != expected:
        raise KappaError(f"q0 -> Iceberg wrote {bids:,} bids of the {expected:,} in the topic (table bench.{table})")
    # q0 keeps the bids (46 of every 50 events) but reads every event: its rate is of events read
    rate = count / max(float(row[2]) - float(row[1]), 1e-3)
    drop_tables(ctx, [table])
    progress(f"  q0 -> Iceberg: {rate:,.0f} events/s sustained ({bids:,} bids written)")
    return {**ran, "events": count, "events_per_s": rate, "cpu_s_per_million_events": 1e6 * ran["cpu_s"] / count}


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def summarise_runs(runs: list[dict[str, Any]], references: list[dict[str, Any]]) -> dict[str, Any]:
    """A job's repeated runs against the q0 runs of the same rounds: medians, and each round's ratio
    (a job and the q0 run beside it saw the same machine, which is why ratios are what is compared)."""
    ratios = [r["events_per_s"] / q["events_per_s"] for r, q in zip(runs, references, strict=True)]
    cpu = [r["cpu_s_per_million_events"] for r in runs]
    ref_cpu = [q["cpu_s_per_million_events"] for q in references]
    return {"events_per_s": _median([r["events_per_s"] for r in runs]), "vs_q0": round(_median(ratios), 3),
            "vs_q0_range": [round(min(ratios), 3), round(max(ratios), 3)],
            "cpu_s_per_million_events": _median(cpu),
            "cpu_vs_q0": round(_median([c / q for c, q in zip(cpu, ref_cpu, strict=True)]), 2),
            "profile": next((r["profile"] for r in runs if r.get("profile")), None),
            "runs": [{k: v for k, v in r.items() if k != "profile"} for r in runs]}


def side_by_side(mine: list[dict[str, Any]], other: list[dict[str, Any]], references: list[dict[str, Any]]
                 ) -> tuple[dict[str, Any], float]:
    """Another variant's runs of a job (other jobs, another format), summarised, and the median over the
    rounds of this variant's rate over that one's."""
    summary = summarise_runs(other, references)
    ratio = round(_median([a["events_per_s"] / b["events_per_s"] for a, b in zip(mine, other, strict=True)]), 2)
    return {k: summary[k] for k in ("events_per_s", "vs_q0", "cpu_s_per_million_events", "profile")}, ratio


def measure(ctx: Context, *, count: int, seed: int, run_id: str, repeats: int, live_rate: int, live_s: int,
            progress: Progress, compare_jobs: Path | None = None, only: list[str] | None = None) -> dict[str, Any]:
    """The pipelines section of a bench run: `repeats` rounds of q0 -> Iceberg and every job over
    backlogs of `count` events (each round's ratio over its own q0 run; medians reported), then each
    job's replay over a live stream (and the transactions pipeline's freshness). `only`: these pipelines."""
    ensure_alerts_topic(ctx)
    nexmark_topic, _ = fill_nexmark(ctx, NexmarkOptions(count=count, seed=seed), 3, progress)
    pipelines = {job: scenario for job, scenario in bench_pipelines(ctx).items() if not only or job in only}
    topics = {job: fill_backlog(ctx, scenario, count, seed, ctx.settings.pipelines.scenarios[scenario][1].partitions,
                                progress)
              for job, scenario in pipelines.items()}
    # an Avro pipeline also reads the same records written as JSON: the wire format's cost, side by side
    as_json = {job: fill_backlog(ctx, scenario, count, seed, ctx.settings.pipelines.scenarios[scenario][1].partitions,
                                 progress, fmt="json")
               for job, scenario in pipelines.items()
               if schemas.topic_format(ctx.settings.pipelines.scenarios[scenario][1].name) == "avro"}
    json_runs: dict[str, list[dict[str, Any]]] = {job: [] for job in as_json}
    references: list[dict[str, Any]] = []
    runs: dict[str, list[dict[str, Any]]] = {job: [] for job in pipelines}
    compared: dict[str, list[dict[str, Any]]] = {job: [] for job in pipelines}
    for round_ in range(1, repeats + 1):
        progress(f"pipelines, round {round_} of {repeats}: q0 -> Iceberg, then each product job over its backlog")
        references.append(q0_reference(ctx, nexmark_topic, count, f"{run_id}_{round_}", progress))
        for job, topic in topics.items():
            runs[job].append(throughput(ctx, job, topic, count, f"{run_id}_{round_}", progress))
            if job in as_json:
                json_runs[job].append(throughput(ctx, job, as_json[job], count, f"{run_id}_{round_}", progress,
                                                 label="_json", wire=False))
            if compare_jobs is not None:
                compared[job].append(throughput(ctx, job, topic, count, f"{run_id}_{round_}", progress,
                                                jobs_dir=compare_jobs, label="_compared"))
    jobs = {job: summarise_runs(runs[job], references) for job in pipelines}
    for job, twin in json_runs.items():
        other, ratio = side_by_side(runs[job], twin, references)
        jobs[job]["as_json"] = {**other, "avro_over_json": ratio}
    if compare_jobs is not None:
        for job in pipelines:
            other, ratio = side_by_side(runs[job], compared[job], references)
            jobs[job]["compared"] = {"jobs_dir": str(compare_jobs), **other, "speedup": ratio}
    reference = {"events_per_s": _median([q["events_per_s"] for q in references]),
                 "cpu_s_per_million_events": _median([q["cpu_s_per_million_events"] for q in references]),
                 "profile": next((q["profile"] for q in references if q.get("profile")), None),
                 "runs": [{k: v for k, v in q.items() if k != "profile"} for q in references]}
    replays = {job: replay_over_live(ctx, job, run_id, live_rate, live_s, seed, progress) for job in pipelines}
    return {"events": count, "repeats": repeats, "q0_iceberg": reference, "jobs": jobs, "replay": replays}
