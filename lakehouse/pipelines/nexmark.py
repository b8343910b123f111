"""nexmark: the engine's reference workload for `kappa bench` (persons, auctions and bids; Nexmark's
queries q0, q5, q7, q8, q11). Never started live: the benchmark runs it as bounded jobs into tables
of its own. SQL: flink_jobs/nexmark.py."""

from __future__ import annotations

from lakehouse.pipeline import Pipeline, PipelineSettings, Topic

# Each benchmark run fills a topic of its own (`nexmark-<count>-s<seed>`) with the generator in
# lakehouse/scenarios/nexmark.py; the platform never creates this one.
TOPIC = Topic("nexmark", partitions=3, contract_version=None, key="person, auction or bid id")


class Settings(PipelineSettings):
    """Nothing to set: each benchmark run says its query, sink and parallelism."""

    autostart: bool = False


PIPELINE = Pipeline(
    name="nexmark",
    description="Nexmark queries for kappa bench (bounded, into bench tables or a blackhole)",
    topic=TOPIC,
    module="flink_jobs.nexmark",
    settings=Settings,
    tables=(),
    live=False,
)
