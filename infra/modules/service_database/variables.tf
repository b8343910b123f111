variable "role" {
  description = "The login role that owns the database; the service connects as this role and no other does."
  type        = string
}

variable "role_password" {
  description = "The role's password, from the platform's secret store. Write-only: never stored in the state or the plan."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "role_password_version" {
  description = "Bump to apply a changed password (write-only values are not compared with the database)."
  type        = number
  default     = 1
}

variable "database" {
  description = "The service's database."
  type        = string
}
