# What the platform reads after `apply` (kappa.infra.outputs): engines are configured from these.

output "topics" {
  description = "The event topics as created, with partitions, replication and configs."
  value       = module.topics.topics
}

output "catalog_role" {
  description = "The role the engines log in as."
  value       = module.catalog.role
}

output "catalog_database" {
  description = "The Iceberg catalog database."
  value       = module.catalog.database
}

output "catalog_jdbc_url" {
  description = "JDBC URL of the Iceberg catalog (Flink, Trino)."
  value       = "jdbc:postgresql://${var.postgres_host}:${var.postgres_port}/${module.catalog.database}"
}

output "dagster_database" {
  description = "Dagster's storage database."
  value       = module.dagster_storage.database
}

output "dagster_role" {
  description = "The role Dagster logs in as (it owns Dagster's database and nothing else)."
  value       = module.dagster_storage.role
}

output "registry_database" {
  description = "The schema registry's storage database."
  value       = module.registry_storage.database
}

output "registry_role" {
  description = "The role the schema registry logs in as (it owns the registry's database and nothing else)."
  value       = module.registry_storage.role
}

output "warehouse_uri" {
  description = "The Iceberg warehouse location."
  value       = var.object_store_warehouse != "" ? var.object_store_warehouse : module.warehouse[0].uri
}

output "cdc_database" {
  description = "The change-data-capture source database."
  value       = module.cdc_source.database
}

output "cdc_owner_role" {
  description = "The role owning the source database (the application's)."
  value       = module.cdc_source.role
}

output "cdc_capture_role" {
  description = "The replication role Debezium logs in as."
  value       = postgresql_role.cdc_capture.name
}
