variable "path" {
  description = "Absolute path of the Iceberg warehouse directory on this machine."
  type        = string

  validation {
    condition     = startswith(var.path, "/")
    error_message = "The warehouse path must be absolute."
  }
}
