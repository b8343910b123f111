"""What `kappa bench` compares its ratios with: Nexmark's published ratios and the product's targets."""

from __future__ import annotations

# Nexmark's published throughput ratios to q0 (Flink's nexmark results, same cluster).
PUBLISHED = {"q5": 0.14, "q7": 0.08, "q8": 0.94, "q11": 0.26}
# The issue "Pipelines at engine speed": each pipeline's sustained rate over q0 -> Iceberg's.
PIPELINE_TARGETS = {"transactions": 0.5, "user_activity": 0.35, "iot_sensors": 0.35}
REPLAY_TARGET = 10.0  # replay catch-up rate over the live rate
FRESHNESS_TARGET = 1.5  # p95 visibility latency over the checkpoint interval
INGEST_TARGET = 0.5  # q0 -> Iceberg over the JVM consumer's rate
