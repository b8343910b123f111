output "name" {
  description = "The release name."
  value       = terraform_data.release.output.name
}

output "namespace" {
  description = "The release's namespace."
  value       = terraform_data.release.output.namespace
}
