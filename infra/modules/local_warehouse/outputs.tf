output "path" {
  description = "The warehouse directory."
  value       = terraform_data.warehouse.output
}

output "uri" {
  description = "The warehouse as a file:// URI (the Iceberg catalog's `warehouse` property)."
  value       = "file://${terraform_data.warehouse.output}"
}
