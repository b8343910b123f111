output "role" {
  description = "The role the service logs in as."
  value       = postgresql_role.owner.name
}

output "database" {
  description = "The service's database."
  value       = postgresql_database.this.name
}
