# The same platform on existing distributed engines: a Kafka cluster and a managed PostgreSQL
# provisioned through the same modules as the local stack, the warehouse in object storage, and on
# Kubernetes the Flink Kubernetes Operator running the same PyFlink jobs, Trino and Dagster.

provider "kafka" {
  bootstrap_servers = var.kafka_bootstrap_servers
  tls_enabled       = var.kafka_tls
  sasl_username     = var.kafka_sasl_username
  sasl_password     = var.kafka_sasl_password
  sasl_mechanism    = var.kafka_sasl_username == null ? null : "scram-sha512"
  kafka_version     = "3.9.0"
}

provider "postgresql" {
  host            = var.postgres_host
  port            = var.postgres_port
  username        = var.postgres_admin_user
  password        = var.postgres_admin_password
  sslmode         = "require"
  superuser       = false
  connect_timeout = 15
}

module "topics" {
  source       = "../../modules/kafka_topics"
  topics       = var.topics
  extra_config = var.topic_extra_config
}

module "dagster_storage" {
  source        = "../../modules/service_database"
  role          = var.dagster_role
  role_password = var.dagster_role_password
  database      = var.dagster_database
}

module "catalog" {
  source        = "../../modules/service_database"
  role          = var.catalog_role
  role_password = var.catalog_role_password
  database      = var.catalog_database
}

locals {
  catalog_jdbc_url = "jdbc:postgresql://${var.postgres_host}:${var.postgres_port}/${module.catalog.database}"
  bucket_root      = regex("^([a-z0-9]+://[^/]+)", var.warehouse_uri)[0]
  # The platform's catalog properties (the same function renders the local stack's), plus this deployment's.
  trino_catalog = merge(var.trino_catalog_properties, {
    "iceberg.jdbc-catalog.connection-url"        = local.catalog_jdbc_url
    "iceberg.jdbc-catalog.connection-user"       = module.catalog.role
    "iceberg.jdbc-catalog.default-warehouse-dir" = var.warehouse_uri
    }, var.s3_endpoint == "" ? {} : {
    "s3.endpoint"          = var.s3_endpoint
    "s3.path-style-access" = "true"
  })
}

module "flink_operator" {
  source        = "../../modules/helm_release"
  name          = "flink-kubernetes-operator"
  namespace     = var.namespace
  chart         = "flink-kubernetes-operator"
  repository    = "https://downloads.apache.org/flink/flink-kubernetes-operator-${var.flink_operator_version}/"
  chart_version = var.flink_operator_version
  kube_context  = var.kube_context
  values        = { webhook = { create = false }, watchNamespaces = [var.namespace] }
}

module "flink_jobs" {
  source       = "../../modules/helm_release"
  name         = "kappa-flink"
  namespace    = var.namespace
  chart        = "${path.module}/../../charts/kappa-flink"
  kube_context = var.kube_context
  values = {
    image               = var.flink_image
    checkpointIntervalS = var.checkpoint_interval_s
    checkpointDir       = "${local.bucket_root}/flink/checkpoints"
    savepointDir        = "${local.bucket_root}/flink/savepoints"
    s3                  = { endpoint = var.s3_endpoint, pathStyleAccess = var.s3_endpoint != "" }
    jobs                = var.jobs
  }
  secret_values = { catalogPassword = var.catalog_role_password }
  depends_on    = [module.flink_operator, module.topics, module.catalog]
}

module "trino" {
  source        = "../../modules/helm_release"
  name          = "trino"
  namespace     = var.namespace
  chart         = "trino"
  repository    = "https://trinodb.github.io/charts"
  chart_version = var.trino_chart_version
  kube_context  = var.kube_context
  values = {
    server = { workers = var.trino_workers }
    catalogs = {
      iceberg = join("\n", [for key, value in local.trino_catalog : "${key}=${value}"])
    }
    envFrom = [{ secretRef = { name = "kappa-flink-catalog" } }]
  }
  depends_on = [module.flink_jobs]
}

module "dagster" {
  source        = "../../modules/helm_release"
  name          = "dagster"
  namespace     = var.namespace
  chart         = "dagster"
  repository    = "https://dagster-io.github.io/helm"
  chart_version = var.dagster_chart_version
  kube_context  = var.kube_context
  values = {
    postgresql = { enabled = false, postgresqlHost = var.postgres_host, postgresqlUsername = module.dagster_storage.role,
    postgresqlDatabase = module.dagster_storage.database, service = { port = var.postgres_port } }
    generatePostgresqlPasswordSecret = true
  }
  secret_values = { "postgresql.postgresqlPassword" = var.dagster_role_password }
  depends_on    = [module.dagster_storage]
}
