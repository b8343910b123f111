"""The asset graph: Kafka topics -> streaming tables (written by Flink, observed, not materialized by
Dagster) -> analytics views (Trino). Keys use base table names, stable across job versions."""

from __future__ import annotations

import dagster as dg

from kappa.jobs import JOB_MODULES
from kappa.settings import KappaSettings
from lakehouse.tables import PUBLISHED_ROLES, SHARED_TABLES, job_table_specs


def topic_key(topic: str) -> dg.AssetKey:
    return dg.AssetKey(["kafka", topic.replace("-", "_")])


def table_key(namespace: str, table: str) -> dg.AssetKey:
    return dg.AssetKey([namespace, table])


def streaming_tables(settings: KappaSettings) -> dict[str, tuple[str, str]]:
    """table -> (job, role) for every table a job writes (base names)."""
    out = {}
    for job in JOB_MODULES:
        for role, spec in job_table_specs(job, 1).items():
            if role not in SHARED_TABLES:
                out[spec.name] = (job, role)
    return out


def lineage_specs(settings: KappaSettings) -> list[dg.AssetSpec]:
    ns, views_ns = settings.jobs.namespace, settings.jobs.views_namespace
    specs = [dg.AssetSpec(topic_key(t), group_name="kafka", kinds={"kafka"},
                          description=f"Kafka topic {t} ({c.partitions} partitions)")
             for t, c in settings.kafka.topics.items()]
    for table, (job, _role) in streaming_tables(settings).items():
        topic = getattr(settings.jobs, job).topic
        spec = job_table_specs(job, 1)[_role]
        specs.append(dg.AssetSpec(
            table_key(ns, table), deps=[topic_key(topic)], group_name="streaming", kinds={"iceberg", "flink"},
            description=f"{spec.description}. Written continuously by the Flink job `{job}`; observed here.",
            metadata={"flink_job": job, "partitioned_by": f"day({spec.day_partition_source})"}))
    for job, roles in PUBLISHED_ROLES.items():
        for role in roles:
            table = job_table_specs(job, 1)[role].name
            specs.append(dg.AssetSpec(
                table_key(views_ns, table), deps=[table_key(ns, table)], group_name="analytics", kinds={"trino"},
                description=f"Trino view over the live version of {ns}.{table}"))
    specs += [dg.AssetSpec(table_key(ns, s.name), group_name="streaming", kinds={"iceberg"},
                           description=s.description) for s in SHARED_TABLES.values()]
    return specs
