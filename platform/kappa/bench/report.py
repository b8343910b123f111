"""The Markdown report (and PNG plots, when matplotlib is installed) of one `kappa bench` run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kappa.bench.targets import FRESHNESS_TARGET, INGEST_TARGET, PIPELINE_TARGETS, PUBLISHED, REPLAY_TARGET

TARGETS = {
    "ingest_efficiency_q0_iceberg_vs_jvm_consume": INGEST_TARGET,
    **{f"{q}_vs_q0": v for q, v in PUBLISHED.items()},
    "replay_vs_live_rate": REPLAY_TARGET,
    **{f"pipeline_{job}_vs_q0_iceberg": v for job, v in PIPELINE_TARGETS.items()},
    **{f"pipeline_{job}_replay_vs_live_rate": REPLAY_TARGET for job in PIPELINE_TARGETS},
}
AT_MOST = {"freshness_p95_over_interval": FRESHNESS_TARGET}  # ratios where lower is better


def verdict(name: str, value: float) -> tuple[str, str]:
    """(target, met or missed by how much) of one ratio."""
    for part, limit in AT_MOST.items():
        if part in name:
            return f"<= {limit}", "met" if value <= limit else f"missed by {value - limit:.2f}"
    target = TARGETS.get(name)
    if target is None:
        return "", ""
    return f">= {target}", "met" if value >= target else f"missed by {target - value:.2f}"


def _plot(result: Any, folder: Path) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    bars = {f"pipeline {job}": r["events_per_s"] for job, r in (result.pipelines or {}).get("jobs", {}).items()}
    if result.pipelines:
        bars["q0 -> Iceberg (pipelines' reference)"] = result.pipelines["q0_iceberg"]["events_per_s"]
    bars |= {name: q["events_per_s"] for name, q in result.queries.items()}
    bars |= {f"limit: {name}": rate for name, rate in result.limit.items()}
    if not bars:
        return []
    fig, ax = plt.subplots(figsize=(8, 0.8 + 0.35 * len(bars)))
    ax.barh(list(bars), list(bars.values()), color="#4477aa")
    ax.invert_yaxis()
    ax.set_xlabel("events/s")
    ax.set_title(f"kappa bench ({result.profile} profile)")
    fig.tight_layout()
    fig.savefig(folder / "throughput.png", dpi=100)
    plt.close(fig)
    return ["throughput.png"]


def profile_components(profiled: dict[str, Any]) -> list[str]:
    names: dict[str, float] = {}
    for p in profiled.values():
        for c, share in p["components"].items():
            names[c] = names.get(c, 0) + share
    return sorted(names, key=lambda c: -names[c])


def components_table(profiled: dict[str, Any], title: str) -> list[str]:
    if not profiled:
        return []
    names = profile_components(profiled)
    lines = ["", title, "", "| run | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for name, p in profiled.items():
        lines.append(f"| {name} | " + " | ".join(f"{p['components'].get(c, 0):.0%}" for c in names) + " |")
    return lines


def side_by_side_table(intro: str, labels: tuple[str, str, str],
                       rows: list[tuple[str, dict[str, Any], dict[str, Any], float]]) -> list[str]:
    """Two variants of each job (rate, ratio to q0, CPU per event) side by side, and their ratio."""
    left, right, ratio = labels
    out = ["", intro, "", f"| pipeline | {left}: events/s | / q0 | CPU-s per million | {right}: events/s | / q0 | "
           f"CPU-s per million | {ratio} |", "|---|---|---|---|---|---|---|---|"]
    for job, a, b, value in rows:
        out.append(f"| {job} | {a['events_per_s']:,.0f} | {a['vs_q0']:.2f} | {a['cpu_s_per_million_events']:.1f} | "
                   f"{b['events_per_s']:,.0f} | {b['vs_q0']:.2f} | {b['cpu_s_per_million_events']:.1f} | {value}x |")
    return out


def pipelines_section(result: Any) -> list[str]:
    """The product's pipelines first: what users run, as ratios over q0 -> Iceberg in the same run."""
    pl = result.pipelines
    if not pl:
        return []
    ref = pl["q0_iceberg"]
    lines = ["## The product's pipelines", "",
             f"Each job over a backlog of {pl['events']:,} events from its scenario generator (Zipf keys, 1% "
             "malformed, 5% out of order), as a bounded new version into its own tables; rates are sustained "
             "(events over the span of the rows' ingest times), next to q0 -> Iceberg measured the same way; "
             f"{pl['repeats']} rounds, each job's ratio taken over the q0 run of its round; medians.", "",
             "| pipeline | events/s | / q0 -> Iceberg (range) | target | | CPU-s per million events | / q0 |",
             "|---|---|---|---|---|---|---|",
             f"| q0 -> Iceberg (reference) | {ref['events_per_s']:,.0f} | 1.00 | | | "
             f"{ref['cpu_s_per_million_events']:.1f} | 1.00 |"]
    for job, r in pl["jobs"].items():
        target, outcome = verdict(f"pipeline_{job}_vs_q0_iceberg", r["vs_q0"])
        low, high = r["vs_q0_range"]
        lines.append(f"| {job} | {r['events_per_s']:,.0f} | {r['vs_q0']:.2f} ({low:.2f}-{high:.2f}) | {target} | "
                     f"{outcome} | {r['cpu_s_per_million_events']:.1f} | {r['cpu_vs_q0']:.2f} |")
    as_json = {job: r["as_json"] for job, r in pl["jobs"].items() if "as_json" in r}
    if as_json:
        lines += side_by_side_table(
            "Avro in the Confluent wire format next to the same records as JSON (the same job and contract, another "
            "backlog of the same events; same rounds):", ("Avro", "JSON", "Avro / JSON"),
            [(job, pl["jobs"][job], j, j["avro_over_json"]) for job, j in as_json.items()])
    compared = {job: r["compared"] for job, r in pl["jobs"].items() if "compared" in r}
    if compared:
        where = next(iter(compared.values()))["jobs_dir"]
        lines += side_by_side_table(
            f"Compared with the jobs in `{where}` (same backlog, same run):", ("compared", "this code", "speed-up"),
            [(job, c, pl["jobs"][job], c["speedup"]) for job, c in compared.items()])
    lines += ["", "| replay over a live stream | live events/s | replayed events | catch-up events/s | "
              "/ live rate | target | |", "|---|---|---|---|---|---|---|"]
    for job, r in pl["replay"].items():
        target, outcome = verdict(f"pipeline_{job}_replay_vs_live_rate", r["replay_vs_live"])
        lines.append(f"| {job} | {r['live_rate']:,} | {r['events']:,} | {r['catch_up_rate']:,} | "
                     f"{r['replay_vs_live']} | {target} | {outcome} |")
    for job, r in pl["replay"].items():
        if "freshness" in r:
            f = r["freshness"]
            target, outcome = verdict("freshness_p95_over_interval", f["p95_over_interval"])
            lines += ["", f"Freshness of the {job} pipeline at {r['live_rate']:,} events/s (produce -> visible in "
                      f"Trino, {f['events']:,} events, polled every {f['poll_s']}s): p50 {f['p50_s']:.2f}s, p95 "
                      f"{f['p95_s']:.2f}s = {f['p95_over_interval']:.2f} checkpoint intervals "
                      f"({f['checkpoint_interval_s']}s); target {target}: {outcome}."]
    profiled = {"q0 -> Iceberg": ref.get("profile")} | {job: r.get("profile") for job, r in pl["jobs"].items()}
    lines += components_table({k: v for k, v in profiled.items() if v},
                              "Where the CPU goes (on-CPU flame graphs of every vertex, merged; share of samples):")
    for job, r in pl["jobs"].items():
        if r.get("profile"):
            lines.append(f"\nHottest frames of {job}: " + "; ".join(
                f"`{f}` {share:.0%}" for f, share in r["profile"]["top_frames"][:6]) + ".")
    return lines + [""]


def cdc_section(result: Any) -> list[str]:
    """Change data capture: the ecommerce pipelines on the live stack (kappa/bench/cdc.py)."""
    c = getattr(result, "cdc", None)
    if not c:
        return []
    t, b, lat, comp = c["throughput"], c["bulk"], c["latency"], c["compaction"]
    return [
        "## Change data capture (PostgreSQL -> Debezium -> Kafka -> Flink -> Iceberg upsert tables)", "",
        "| measurement | changes | changes/s | seconds |", "|---|---|---|---|",
        f"| workload generator, committed in the source | {t['changes']:,} | {t['source_changes_per_s']:,} | "
        f"{t['load_s']} |",
        f"| the same, visible end to end (change logs) | {t['changes']:,} | {t['visible_changes_per_s']:,} | "
        f"{t['visible_s']} |",
        f"| bulk updates ({b['rounds']} x every order), visible end to end | {b['changes']:,} | "
        f"{b['visible_changes_per_s']:,} | {b['visible_s']} |", "",
        f"Source commit to visible in Trino (orders' current state) at {lat['rate']:.0f} changes/s for "
        f"{lat['seconds']}s: p50 {lat['p50_s']}s, p95 {lat['p95_s']}s ({lat['samples']:,} rows; checkpoint "
        f"interval {lat['checkpoint_interval_s']}s, one poll a second).", "",
        f"Query on {comp['table']} with {comp['data_files_before']} data and {comp['delete_files_before']} delete "
        f"files ({comp['deleted_rows_before']:,} deleted rows): {comp['query_s_before'] * 1000:.0f} ms; after "
        f"`optimize` ({comp['optimize_s']}s): {comp['data_files_after']} data and {comp['delete_files_after']} delete "
        f"files, {comp['query_s_after'] * 1000:.0f} ms (median of five).", ""]


def scaling_section(result: Any) -> list[str]:
    """`kappa bench --scaling N`: each pipeline's rate at parallelism 1 and N, side by side."""
    sc = result.scaling
    if not sc:
        return []
    p1, pn = sc["parallelism"]
    lines = ["## Scaling", "",
             f"Each pipeline live (unbounded) over the same backlog of {sc['events']:,} events at parallelism {p1}, "
             f"then {pn}, one after the other in this run; {sc['taskmanagers']} TaskManagers of "
             f"{sc['slots_per_taskmanager']} slots; rates sustained (events over the span of the rows' ingest "
             "times).", "",
             f"| pipeline | events/s at {p1} | events/s at {pn} | ratio | Flink CPU-s per million events at {p1} "
             f"| at {pn} |", "|---|---|---|---|---|---|"]
    lines += [f"| {job} | {r['events_per_s'][0]:,} | {r['events_per_s'][1]:,} | {r['ratio']:.2f}x | "
              f"{r['cpu_s_per_million_events'][0]:.0f} | {r['cpu_s_per_million_events'][1]:.0f} |"
              for job, r in sc["jobs"].items()]
    return [*lines, ""]


def write_report(result: Any, folder: Path) -> Path:
    lines = [
        f"# kappa bench: {result.profile} profile",
        "",
        *scaling_section(result),
        *pipelines_section(result),
        *cdc_section(result),
        f"Flink parallelism {result.parallelism} (the Nexmark queries'); checkpoint interval "
        f"{result.checkpoint_interval_s}s; machine: {result.machine['cpus']} CPUs, {result.machine['memory_gib']} GiB.",
    ]
    if result.limit or result.queries:
        lines += ["", "## Nexmark: the engine's reference (events/s)", "",
                  f"{result.events:,} Nexmark events in {result.partitions} partitions.", "",
                  "| measurement | events/s | seconds | Flink CPU-s per million events |", "|---|---|---|---|"]
    for name, rate in result.limit.items():
        lines.append(f"| limit: {name} | {rate:,.0f} | | |")
    for name, q in result.queries.items():
        cpu = q["cpu_s_per_million_events"]
        lines.append(f"| {name} | {q['events_per_s']:,.0f} | {q['seconds']:.1f} | {cpu:.1f} |")
    if result.ratios:
        lines += ["", "## Ratios (same run)", "", "| ratio | measured | target | |", "|---|---|---|---|"]
    for name, value in result.ratios.items():
        target, outcome = verdict(name, value)
        lines.append(f"| {name} | {value:.2f} | {target} | {outcome} |")
    profiled = {name: q["profile"] for name, q in result.queries.items() if q.get("profile")}
    if profiled:
        lines += ["", "## Where the CPU goes (on-CPU flame graph of the busiest vertex, share of samples)", "",
                  "| query | " + " | ".join(profile_components(profiled)) + " |",
                  "|---|" + "---|" * len(profile_components(profiled))]
        for name, p in profiled.items():
            lines.append(f"| {name} | " + " | ".join(f"{p['components'].get(c, 0):.0%}"
                                                      for c in profile_components(profiled)) + " |")
        if "q0:iceberg" in profiled:
            lines += ["", "Hottest frames of q0 -> Iceberg (self time): "
                      + "; ".join(f"`{f}` {share:.0%}" for f, share in profiled["q0:iceberg"]["top_frames"][:5]) + "."]
    if result.freshness:
        lines += ["", "## Freshness (produce -> visible in Trino)", "",
                  "| checkpoint interval | rate (achieved) | p50 | p95 | max | p95 / interval |",
                  "|---|---|---|---|---|---|"]
        for f in result.freshness:
            lines.append(f"| {f['checkpoint_interval_s']}s | {f['achieved_rate']:,}/s | {f['p50_s']:.2f}s | "
                         f"{f['p95_s']:.2f}s | {f['max_s']:.2f}s | {f['p95_over_interval']:.2f} |")
        lines.append(f"\nTrino polled every {result.freshness[0]['poll_s']}s (the measurement's resolution).")
    if result.replay:
        r = result.replay
        lines += ["", "## Replay", "",
                  f"{r['events']:,} events produced live at {r['live_rate']:,}/s were replayed into a new table at "
                  f"{r['catch_up_rate']:,}/s ({r['replay_vs_live']}x the live rate, {r['seconds']:.1f}s); "
                  f"content of the replayed table {'equals' if r['content_equal'] else 'DIFFERS FROM'} the live one "
                  f"({r['replay_rows']:,} vs {r['live_rows']:,} rows, Trino checksum over every row)."]
    if result.serving:
        lines += ["", f"## Serving: Trino vs DuckDB ({result.serving['rows']:,} rows, one snapshot)", "",
                  "| query | Trino (view) | DuckDB (iceberg_scan) | Trino / DuckDB | same answer |",
                  "|---|---|---|---|---|"]
        for name, q in result.serving["queries"].items():
            lines.append(f"| {name} | {q['trino_s'] * 1000:.0f} ms | {q['duckdb_s'] * 1000:.0f} ms | "
                         f"{q['duckdb_vs_trino']} | {'yes' if q['results_equal'] else 'NO'} |")
    if result.compaction:
        c = result.compaction
        lines += ["", f"## Small commits vs compaction ({c['table']}: {c['commits']} commits)", "",
                  f"{c['files_before']} data files before, {c['files_after']} after `optimize` ({c['optimize_s']}s).",
                  "", "| query | Trino before | after | speed-up |", "|---|---|---|---|"]
        for name, before in c["trino_s_before"].items():
            lines.append(f"| {name} | {before * 1000:.0f} ms | {c['trino_s_after'][name] * 1000:.0f} ms | "
                         f"{c['speedup'].get(name, '')} |")
    lines += ["", "## Footprint", "", "| service | peak RSS (MiB) |", "|---|---|"]
    for name, mib in result.footprint["peak_rss_mib"].items():
        lines.append(f"| {name} | {mib:,.0f} |")
    lines.append(f"| **total** | **{result.footprint['total_peak_rss_gib']} GiB** (target < 8 GiB) |")
    for png in _plot(result, folder):
        lines += ["", f"![{png}]({png})"]
    report = folder / "report.md"
    report.write_text("\n".join(lines) + "\n")
    return report
