output "role" {
  description = "The role the engines log in as."
  value       = postgresql_role.owner.name
}

output "catalog_database" {
  description = "Name of the Iceberg catalog database."
  value       = postgresql_database.catalog.name
}

output "databases" {
  description = "Every database this module manages."
  value       = concat([postgresql_database.catalog.name], [for d in postgresql_database.extra : d.name])
}

output "catalog_jdbc_url" {
  description = "JDBC URL of the catalog database (no credentials), as Flink and Trino use it."
  value       = "jdbc:postgresql://${var.host}:${var.port}/${postgresql_database.catalog.name}"
}
