"""ecommerce_products: the `ecommerce` database's `products` table (Debezium) -> change log and
current state (see ecommerce_customers)."""

from __future__ import annotations

from lakehouse.cdc import cdc_pipeline
from lakehouse.pipeline import SourceColumn, SourceTable

SOURCE = SourceTable("ecommerce", "public", "products", (
    SourceColumn("id", "bigint", "BIGINT", nullable=False),
    SourceColumn("sku", "text", "STRING", nullable=False),
    SourceColumn("name", "text", "STRING", nullable=False),
    SourceColumn("category", "text", "STRING"),
    SourceColumn("price", "numeric(10,2)", "DECIMAL(10, 2)", nullable=False),
    SourceColumn("stock", "integer", "INT", nullable=False),
    SourceColumn("active", "boolean", "BOOLEAN", nullable=False),
    SourceColumn("updated_at", "timestamptz", "TIMESTAMP", nullable=False),
), primary_key=("id",))

PIPELINE = cdc_pipeline("ecommerce_products", SOURCE)
