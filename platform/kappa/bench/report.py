"""The Markdown report (and PNG plots, when matplotlib is installed) of one `kappa bench` run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kappa.bench.run import PUBLISHED

TARGETS = {
    "ingest_efficiency_q0_iceberg_vs_jvm_consume": 0.5,
    **{f"{q}_vs_q0": v for q, v in PUBLISHED.items()},
}


def _plot(result: Any, folder: Path) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    names = list(result.queries)
    rates = [result.queries[n]["events_per_s"] for n in names]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.barh(names + list(result.limit), rates + list(result.limit.values()), color="#4477aa")
    ax.set_xlabel("events/s")
    ax.set_title(f"kappa bench ({result.profile}, {result.events:,} Nexmark events)")
    fig.tight_layout()
    fig.savefig(folder / "throughput.png", dpi=100)
    plt.close(fig)
    return ["throughput.png"]


def write_report(result: Any, folder: Path) -> Path:
    lines = [
        f"# kappa bench: {result.profile} profile",
        "",
        f"{result.events:,} Nexmark events in {result.partitions} partitions; Flink parallelism "
        f"{result.parallelism}; checkpoint interval {result.checkpoint_interval_s}s; machine: "
        f"{result.machine['cpus']} CPUs, {result.machine['memory_gib']} GiB.",
        "",
        "## Rates (events/s)",
        "",
        "| measurement | events/s | seconds | CPU-s per 1k events |",
        "|---|---|---|---|",
    ]
    for name, rate in result.limit.items():
        lines.append(f"| limit: {name} | {rate:,.0f} | | |")
    for name, q in result.queries.items():
        lines.append(f"| {name} | {q['events_per_s']:,.0f} | {q['seconds']:.1f} | {q['cpu_s_per_1k_events']:.2f} |")
    lines += ["", "## Ratios (same run)", "", "| ratio | measured | target | |", "|---|---|---|---|"]
    for name, value in result.ratios.items():
        target = TARGETS.get(name)
        verdict = "" if target is None else ("met" if value >= target else f"missed by {target - value:.2f}")
        lines.append(f"| {name} | {value:.2f} | {'' if target is None else f'>= {target}'} | {verdict} |")
    lines += ["", "## Footprint", "", "| service | peak RSS (MiB) |", "|---|---|"]
    for name, mib in result.footprint["peak_rss_mib"].items():
        lines.append(f"| {name} | {mib:,.0f} |")
    lines.append(f"| **total** | **{result.footprint['total_peak_rss_gib']} GiB** (target < 8 GiB) |")
    if result.not_measured:
        lines += ["", "Not measured by this version: " + "; ".join(result.not_measured) + "."]
    for png in _plot(result, folder):
        lines += ["", f"![{png}]({png})"]
    report = folder / "report.md"
    report.write_text("\n".join(lines) + "\n")
    return report
