output "topics" {
  description = "The topics on the Kafka cluster."
  value       = module.topics.topics
}

output "catalog_jdbc_url" {
  description = "JDBC URL of the Iceberg catalog on the managed PostgreSQL."
  value       = local.catalog_jdbc_url
}

output "warehouse_uri" {
  description = "The Iceberg warehouse in object storage."
  value       = var.warehouse_uri
}

output "releases" {
  description = "Helm releases in the namespace."
  value       = [module.flink_operator.name, module.flink_jobs.name, module.trino.name, module.dagster.name]
}
