"""ecommerce_orders: the `ecommerce` database's `orders` table (Debezium) -> change log and current
state (see ecommerce_customers). Orders reference customers (deleted with them) and products."""

from __future__ import annotations

from lakehouse.cdc import cdc_pipeline
from lakehouse.pipeline import SourceColumn, SourceTable

SOURCE = SourceTable("ecommerce", "public", "orders", (
    SourceColumn("id", "bigint", "BIGINT", nullable=False),
    SourceColumn("customer_id", "bigint", "BIGINT", nullable=False, references="customers"),
    SourceColumn("product_id", "bigint", "BIGINT", nullable=False, references="products"),
    SourceColumn("quantity", "integer", "INT", nullable=False),
    SourceColumn("unit_price", "numeric(10,2)", "DECIMAL(10, 2)", nullable=False),
    SourceColumn("total", "numeric(12,2)", "DECIMAL(12, 2)", nullable=False),
    SourceColumn("status", "text", "STRING", nullable=False),
    SourceColumn("created_at", "timestamptz", "TIMESTAMP", nullable=False),
    SourceColumn("updated_at", "timestamptz", "TIMESTAMP", nullable=False),
), primary_key=("id",))

PIPELINE = cdc_pipeline("ecommerce_orders", SOURCE, partitions=3)
