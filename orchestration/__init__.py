"""The Dagster code location: assets, quality checks, backfills, health sensors, table maintenance."""
