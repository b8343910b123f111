variable "role" {
  description = "The login role that owns the catalog and Dagster databases; the engines connect as this role."
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

variable "catalog_database" {
  description = "The database holding the Iceberg JDBC catalog (shared by Flink, Trino and PyIceberg)."
  type        = string
}

variable "extra_databases" {
  description = "Further databases owned by the role, for example Dagster's run and event storage."
  type        = list(string)
  default     = []
}

variable "host" {
  description = "Host the engines use to reach PostgreSQL (for the connection URLs in the outputs)."
  type        = string
}

variable "port" {
  description = "PostgreSQL port (for the connection URLs in the outputs)."
  type        = number
}
