# Every value comes from the platform's settings (kappa.toml + KAPPA__ overrides): `kappa` renders
# them into <state_dir>/terraform/local.tfvars.json; the two passwords come from its secret store
# through TF_VAR_ environment variables and are never written to the state.

variable "kafka_bootstrap_servers" {
  description = "Kafka bootstrap servers, host:port."
  type        = list(string)
}

variable "kafka_sasl_username" {
  description = "The SASL/SCRAM principal Terraform manages topics as (its ACLs: platform/kappa/kafka_acl.py)."
  type        = string
}

variable "kafka_sasl_password" {
  description = "Its password, from the platform's secret store (TF_VAR_kafka_sasl_password)."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "kafka_protocol_version" {
  description = "Kafka protocol version the provider speaks (the broker is Kafka 4.x, which accepts 2.1 and later)."
  type        = string
  default     = "3.9.0"
}

variable "topics" {
  description = "The event topics by name, from [kafka.topics.*] in the settings."
  type = map(object({
    partitions          = number
    replication_factor  = number
    min_insync_replicas = number
    retention_ms        = number
    cleanup_policy      = string
  }))
}

variable "postgres_host" {
  description = "Host of the platform's PostgreSQL."
  type        = string
}

variable "postgres_port" {
  description = "Port of the platform's PostgreSQL."
  type        = number
}

variable "postgres_superuser" {
  description = "The superuser Terraform connects as to create the role and databases."
  type        = string
}

variable "postgres_superuser_password" {
  description = "The superuser's password, from the platform's secret store."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "catalog_role" {
  description = "The login role owning the catalog database."
  type        = string
}

variable "catalog_role_password" {
  description = "The catalog role's password, from the platform's secret store (write-only)."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "catalog_database" {
  description = "The Iceberg JDBC catalog's database."
  type        = string
}

variable "dagster_role" {
  description = "The login role owning Dagster's storage database (and nothing else)."
  type        = string
  default     = "dagster"
}

variable "dagster_role_password" {
  description = "The Dagster role's password, from the platform's secret store (write-only)."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "dagster_database" {
  description = "Dagster's run, event and schedule storage database."
  type        = string
}

variable "registry_role" {
  description = "The login role owning the schema registry's storage database (and nothing else)."
  type        = string
  default     = "registry"
}

variable "registry_role_password" {
  description = "The registry role's password, from the platform's secret store (write-only)."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "registry_database" {
  description = "The schema registry's storage database."
  type        = string
}

variable "warehouse_path" {
  description = "Absolute path of the Iceberg warehouse directory (unused with object_store_warehouse)."
  type        = string
}

variable "object_store_warehouse" {
  description = "The warehouse in an object store (s3://bucket/); empty: the folder warehouse_path."
  type        = string
  default     = ""

  validation {
    condition     = var.object_store_warehouse == "" || startswith(var.object_store_warehouse, "s3://")
    error_message = "object_store_warehouse is an s3:// location."
  }
}

variable "cdc_database" {
  description = "The change-data-capture source database (declared by the CDC pipelines)."
  type        = string
}

variable "cdc_owner_role" {
  description = "The login role owning the source database: the application writes as it."
  type        = string
}

variable "cdc_owner_role_password" {
  description = "The owner's password, from the platform's secret store (write-only)."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "cdc_capture_role" {
  description = "The replication role Debezium logs in as (it reads the captured tables and the WAL)."
  type        = string
}

variable "cdc_capture_role_password" {
  description = "Its password, from the platform's secret store (write-only)."
  type        = string
  sensitive   = true
  ephemeral   = true
}
