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
  value       = module.catalog.catalog_database
}

output "catalog_jdbc_url" {
  description = "JDBC URL of the Iceberg catalog (Flink, Trino)."
  value       = module.catalog.catalog_jdbc_url
}

output "dagster_database" {
  description = "Dagster's storage database."
  value       = var.dagster_database
  depends_on  = [module.catalog]
}

output "warehouse_uri" {
  description = "The Iceberg warehouse location."
  value       = module.warehouse.uri
}
