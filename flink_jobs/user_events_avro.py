"""user-events-avro -> user_events_avro_raw: the document's Avro `UserEvent`s, decoded by the
`kappa-contract` format from the Confluent wire format (writer schemas from the schema registry by
id), each record landed, quarantined with its reason, or recorded late."""

from __future__ import annotations

from flink_jobs.runner import run
from flink_jobs.spec import JobSpec
from flink_jobs.sql import configure, create_catalog, prepare_source, statement_set


def build(t_env, spec: JobSpec):  # type: ignore[no-untyped-def]
    configure(t_env, spec)
    create_catalog(t_env, spec)
    return statement_set(t_env, prepare_source(t_env, spec, "user_events_avro"))


if __name__ == "__main__":
    run(build, __doc__ or "")
