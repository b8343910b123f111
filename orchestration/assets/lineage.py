"""The asset graph: Kafka topics -> streaming tables (written by Flink, observed, not materialized by
Dagster) -> analytics views (Trino). Keys use base table names, stable across job versions; every
asset comes from the pipeline declarations."""

from __future__ import annotations

import dagster as dg

from kappa import schemas
from kappa.settings import KappaSettings
from lakehouse.pipeline import ROUTED, Pipeline, Table


def topic_key(topic: str) -> dg.AssetKey:
    return dg.AssetKey(["kafka", topic.replace("-", "_").replace(".", "_")])


def source_key(pipeline: Pipeline) -> dg.AssetKey:
    """A captured database table (change data capture): `source/<database>/<table>`."""
    assert pipeline.source is not None
    return dg.AssetKey(["source", pipeline.source.database, pipeline.source.name])


def table_key(namespace: str, table: str) -> dg.AssetKey:
    return dg.AssetKey([namespace, table])


def streaming_tables(settings: KappaSettings) -> dict[str, tuple[Pipeline, Table]]:
    """Base table name -> (pipeline, declared table) for every table a live pipeline writes."""
    return {t.name: (p, t) for p in settings.pipelines.live for t in p.tables}


def topic_metadata(settings: KappaSettings, topic: str) -> dict[str, object]:
    """The topic's contract as the repository keeps it and `kappa up` registers it: the subject, its
    compatibility level, every version (format, file) and the latest version's fields as the asset's
    column schema."""
    files = schemas.schema_files(topic)
    if not files:
        return {}
    history = [{"version": f.version, "format": f.schema_type, "file": f"lakehouse/contracts/{f.path.name}"}
               for f in files]
    return {
        "schema_subject": schemas.subject(topic),
        "schema_compatibility": settings.registry.compatibility,
        "schema_version": files[-1].version,
        "schema_versions": dg.MetadataValue.json(history),
        "dagster/column_schema": dg.TableSchema(columns=[
            dg.TableColumn(name, kind, description=text) for name, kind, text in schemas.fields_of(files[-1])]),
    }


def lineage_specs(settings: KappaSettings) -> list[dg.AssetSpec]:
    ns, views_ns = settings.jobs.namespace, settings.jobs.views_namespace
    specs = [dg.AssetSpec(topic_key(t), group_name="kafka", kinds={"kafka"},
                          description=f"Kafka topic {t} ({c.partitions} partitions)",
                          metadata=topic_metadata(settings, t))
             for t, c in settings.data_topics.items()]
    captured = {p.topic.name: p for p in settings.pipelines.captured}
    for i, spec in enumerate(specs):
        p = next((p for t, p in captured.items() if topic_key(t) == spec.key), None)
        if p is not None:
            specs[i] = spec.replace_attributes(deps=[source_key(p)])
    specs += [dg.AssetSpec(source_key(p), group_name="sources", kinds={"postgres"},
                           description=f"Table {p.source.schema}.{p.source.name} of the {p.source.database} database, "
                                       "captured by Debezium (Kafka Connect) into this topic")
              for p in captured.values() if p.source is not None]
    for table, (pipeline, declared) in streaming_tables(settings).items():
        specs.append(dg.AssetSpec(
            table_key(ns, table), deps=[topic_key(t) for t in pipeline.topics_of(declared.role)],
            group_name="streaming",
            kinds={"iceberg", "flink"},
            description=f"{declared.description}. Written continuously by the Flink job `{pipeline.name}`; "
                        "observed here.",
            metadata={"flink_job": pipeline.name, "partitioned_by": f"day({declared.day_partition})"}))
    for p in settings.pipelines.live:
        for declared in p.published:
            specs.append(dg.AssetSpec(
                table_key(views_ns, declared.name), deps=[table_key(ns, declared.name)], group_name="analytics",
                kinds={"trino"}, description=f"Trino view over the live version of {ns}.{declared.name}"))
    specs += [dg.AssetSpec(table_key(ns, t.name), group_name="streaming", kinds={"iceberg"},
                           description=t.description) for t in ROUTED]
    return specs
