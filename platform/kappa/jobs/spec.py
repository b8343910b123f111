"""A job version's spec: everything its Flink SQL module needs, rendered from the settings, the
declaration and what Terraform provisioned (flink_jobs/spec.py reads it)."""

from __future__ import annotations

from typing import Any

from flink_jobs.spec import pipeline_name
from kappa.catalog import job_catalog_spec
from kappa.context import Context
from kappa.jobs.definitions import JobDefinition
from kappa.kafka_acl import job_principal
from lakehouse.cdc import job_contract
from lakehouse.contracts import contract
from lakehouse.sql_pipelines import job_sql


def render_spec(ctx: Context, job: JobDefinition, version: int, startup_mode: str = "earliest-offset",
                tables: dict[str, str] | None = None, **kafka_extra: Any) -> dict[str, Any]:
    s = ctx.settings
    topic = job.pipeline.topic
    return {
        "job": job.name,
        "version": version,
        "kafka": {
            "bootstrap": s.kafka_bootstrap, "topic": topic.name, "group_id": pipeline_name(job.name, version),
            "username": job_principal(job.name), "password": ctx.secrets.kafka_password(job_principal(job.name)),
            "startup_mode": startup_mode, **kafka_extra,
        },
        "catalog": job_catalog_spec(ctx),
        "namespace": s.jobs.namespace,
        "tables": tables or job.tables(version),
        "contract": job_contract(job.pipeline.source) if job.pipeline.source is not None
        else contract(topic.name, topic.contract_version) if topic.contract_version is not None else {},
        "params": job.params,
        "checkpoint_interval_s": s.flink.checkpoint_interval_s,
        # A bounded run (backfill, bounded replay) writes with one writer: Iceberg 1.11's FlinkSink
        # loses the files of a writer that reaches the end of its input before another when a
        # checkpoint completes in between (IcebergFilesCommitter files both under the end-of-input
        # checkpoint id; the second overwrites the first). Found by kappa bench at parallelism 2.
        "parallelism": 1 if kafka_extra.get("bounded_mode") else job.parallelism,
        "alerts_topic": s.jobs.alerts_topic,
        "registry_socket": str(s.registry_socket),
        "sql": job_sql(job.pipeline, job.params),
    }
