"""The lakehouse as code: Iceberg table definitions (schemas, partitioning, properties)."""
