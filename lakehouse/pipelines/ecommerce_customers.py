"""ecommerce_customers: the source document's Kafka Connect example, done with log-based CDC. The
`ecommerce` database's `customers` table (Debezium) -> change log and current state.
The job: flink_jobs/cdc.py; the workload: `kappa cdc load` (platform/kappa/cdc/workload.py)."""

from __future__ import annotations

from lakehouse.cdc import cdc_pipeline
from lakehouse.pipeline import SourceColumn, SourceTable

SOURCE = SourceTable("ecommerce", "public", "customers", (
    SourceColumn("id", "bigint", "BIGINT", nullable=False),
    SourceColumn("email", "text", "STRING", nullable=False),
    SourceColumn("name", "text", "STRING", nullable=False),
    SourceColumn("country", "text", "STRING"),
    SourceColumn("tier", "text", "STRING"),
    SourceColumn("created_at", "timestamptz", "TIMESTAMP", nullable=False),
    SourceColumn("updated_at", "timestamptz", "TIMESTAMP", nullable=False),
), primary_key=("id",))

PIPELINE = cdc_pipeline("ecommerce_customers", SOURCE)
