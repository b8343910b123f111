# ---- Kafka: an existing cluster (Amazon MSK, Confluent, Strimzi, ...) ----
variable "kafka_bootstrap_servers" {
  description = "Bootstrap servers of the existing Kafka cluster."
  type        = list(string)
}

variable "kafka_sasl_username" {
  description = "SASL/SCRAM user Terraform and the jobs use; null for an unauthenticated cluster."
  type        = string
  default     = null
}

variable "kafka_sasl_password" {
  description = "SASL/SCRAM password."
  type        = string
  default     = null
  sensitive   = true
  ephemeral   = true
}

variable "kafka_tls" {
  description = "Talk TLS to the brokers."
  type        = bool
  default     = true
}

variable "topics" {
  description = "The event topics, as in the platform's settings ([kafka.topics.*]); the cluster profile's: replication 3, min.insync.replicas 2."
  type = map(object({
    partitions          = number
    replication_factor  = number
    min_insync_replicas = number
    retention_ms        = number
    cleanup_policy      = string
  }))
}

variable "topic_extra_config" {
  description = "Further configs applied to every topic on the cluster (each topic's min.insync.replicas is in var.topics)."
  type        = map(string)
  default     = {}
}

# ---- PostgreSQL: a managed instance (RDS, Cloud SQL, ...) for the Iceberg catalog and Dagster ----
variable "postgres_host" {
  description = "Host of the managed PostgreSQL."
  type        = string
}

variable "postgres_port" {
  description = "Port of the managed PostgreSQL."
  type        = number
  default     = 5432
}

variable "postgres_admin_user" {
  description = "An administrative user allowed to create roles and databases."
  type        = string
}

variable "postgres_admin_password" {
  description = "That user's password."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "catalog_role" {
  description = "The role owning the catalog database."
  type        = string
  default     = "kappa"
}

variable "catalog_role_password" {
  description = "The catalog role's password (write-only; also given to Flink, Trino and Dagster as Kubernetes secrets)."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "catalog_database" {
  description = "The Iceberg JDBC catalog's database."
  type        = string
  default     = "iceberg"
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
  description = "Dagster's storage database."
  type        = string
  default     = "dagster"
}

# ---- Object storage and Kubernetes ----
variable "warehouse_uri" {
  description = "The Iceberg warehouse in an existing bucket, e.g. s3://my-bucket/warehouse."
  type        = string

  validation {
    condition     = can(regex("^(s3|s3a|gs|abfss)://", var.warehouse_uri))
    error_message = "The warehouse must be in object storage (s3://, gs://, abfss://)."
  }
}

variable "s3_endpoint" {
  description = "S3 endpoint for S3-compatible stores (MinIO, Ceph); empty for AWS."
  type        = string
  default     = ""
}

variable "kube_context" {
  description = "kubectl context of the target cluster; null uses the current one."
  type        = string
  default     = null
}

variable "namespace" {
  description = "Namespace for the platform's releases."
  type        = string
  default     = "kappa"
}

variable "flink_image" {
  description = "The jobs' image, built from infra/images/flink/Dockerfile."
  type        = string
}

variable "flink_operator_version" {
  description = "Flink Kubernetes Operator chart version (its Helm repository is per release on downloads.apache.org)."
  type        = string
  default     = "1.13.0"
}

variable "jobs" {
  description = "The streaming jobs: module, parallelism and the JSON spec rendered by the platform (without the catalog password)."
  type = map(object({
    module      = string
    parallelism = number
    spec        = string
  }))
  default = {}
}

variable "checkpoint_interval_s" {
  description = "Flink checkpoint interval; Iceberg commits happen on checkpoints. From the platform's settings: `kappa infra kubernetes-vars`."
  type        = number
}

variable "trino_catalog_properties" {
  description = "Trino's Iceberg catalog, rendered by the platform (`kappa infra kubernetes-vars`) with the same function as the local stack's; the JDBC URL, user, warehouse and S3 endpoint are added here."
  type        = map(string)
}

variable "trino_chart_version" {
  description = "Trino Helm chart version (https://trinodb.github.io/charts)."
  type        = string
  default     = "1.39.1"
}

variable "trino_workers" {
  description = "Number of Trino workers."
  type        = number
  default     = 2
}

variable "dagster_chart_version" {
  description = "Dagster Helm chart version (https://dagster-io.github.io/helm), matching the platform's Dagster."
  type        = string
  default     = "1.13.3"
}
