"""Sensors: observe the streaming tables (snapshot, rows added, freshness) and the topics' subjects
in the schema registry (every registered version with its id), and watch the streams' health. A
breach fails the sensor's tick, which Dagster shows in red with the numbers."""


import time
from typing import Any

import dagster as dg

from kappa import query, schemas
from kappa.catalog import catalog
from kappa.jobs import JobStore, job_statuses, problems
from lakehouse.sql import qualified, quote
from orchestration.assets.lineage import streaming_tables, table_key, topic_key
from orchestration.resources import Platform


def table_observations(platform: Platform) -> list[dg.AssetObservation]:
    ctx = platform.ctx
    ns = ctx.settings.jobs.namespace
    cat = catalog(ctx)
    store = JobStore(ctx.settings.state)
    events = []
    for table, (pipeline, declared) in streaming_tables(ctx.settings).items():
        name = pipeline.table_names(store.get(pipeline.name).version)[declared.role]
        snapshot = cat.load_table((ns, name)).current_snapshot()
        if snapshot is None:
            continue
        summary = snapshot.summary.additional_properties if snapshot.summary else {}
        column = declared.day_partition or "ingest_time"
        newest = query.run(ctx.settings, f"SELECT to_unixtime(max({quote(column)})) FROM {qualified(ns, name)}",
                           user="pipeline").rows[0][0]
        metadata: dict[str, Any] = {
            "table": name, "snapshot_id": str(snapshot.snapshot_id),
            "rows_added": int(summary.get("added-records", 0)), "total_rows": int(summary.get("total-records", 0)),
            "committed_by": summary.get("flink.job-id", "-"),
        }
        if newest is not None:
            metadata["freshness_s"] = round(time.time() - float(newest), 1)
        events.append(dg.AssetObservation(asset_key=table_key(ns, table), metadata=metadata))
    return events


def schema_observations(platform: Platform) -> list[dg.AssetObservation]:
    """Each topic's subject as the registry holds it now: every version with its schema id and format
    (a version a producer registered included), the latest one and the compatibility level."""
    registry = schemas.Registry(platform.settings.registry_socket)
    events = []
    for topic in sorted(platform.settings.pipelines.topics):
        name = schemas.subject(topic)
        history = [{"version": found["version"], "id": found["id"], "format": found.get("schemaType", "AVRO")}
                   for found in (registry.version(name, v) for v in registry.versions(name))]
        if not history:
            continue
        events.append(dg.AssetObservation(asset_key=topic_key(topic), metadata={
            "registry_subject": name, "registry_latest_version": history[-1]["version"],
            "registry_latest_id": history[-1]["id"], "registry_compatibility": registry.compatibility(name) or "-",
            "registry_versions": dg.MetadataValue.json(history)}))
    return events


def stream_problems(platform: Platform) -> list[str]:
    """Everything wrong with the streams right now, each with its numbers (kappa.jobs.status)."""
    return problems(job_statuses(platform.ctx), platform.settings.operations)


def freshness_problems(observations: list[dg.AssetObservation], slo_min: int) -> list[str]:
    out = []
    for obs in observations:
        fresh = obs.metadata.get("freshness_s")
        age_s = float(fresh.value) if fresh is not None and isinstance(fresh.value, (int, float)) else None
        if age_s is not None and age_s > slo_min * 60:
            out.append(f"{obs.asset_key.to_user_string()}: newest event {age_s / 60:.0f} min old (SLO {slo_min} min)")
    return out


def sensors(platform: Platform) -> list[dg.SensorDefinition]:
    @dg.sensor(name="observe_streaming_tables", minimum_interval_seconds=60,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Records each streaming table's latest snapshot, rows added and freshness, and each "
                           "topic's registered schema versions with their ids")
    def observe(_context: dg.SensorEvaluationContext) -> dg.SensorResult:
        return dg.SensorResult(asset_events=table_observations(platform) + schema_observations(platform))

    @dg.sensor(name="stream_health", minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
               description="Fails, with the numbers, when a job is down or restarting, a checkpoint is too old, "
                           "consumer lag is too high, a watermark runs ahead of the clock, too many recent events "
                           "went late or to quarantine, or a table is staler than its SLO")
    def health(_context: dg.SensorEvaluationContext) -> dg.SkipReason:
        problems = stream_problems(platform)
        problems += freshness_problems(table_observations(platform), platform.settings.operations.freshness_slo_min)
        if problems:
            raise StreamUnhealthy("; ".join(problems))
        return dg.SkipReason("all streams healthy")

    return [observe, health]


class StreamUnhealthy(Exception):
    """Raised by the health sensor: its message is what the Dagster UI shows for the failed tick."""
