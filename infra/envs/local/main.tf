# The local stack's resources: what `kappa up` provisions once the processes are running.

provider "kafka" {
  bootstrap_servers = var.kafka_bootstrap_servers
  tls_enabled       = false
  sasl_username     = var.kafka_sasl_username
  sasl_password     = var.kafka_sasl_password
  sasl_mechanism    = "scram-sha512"
  kafka_version     = var.kafka_protocol_version
  timeout           = 30
}

provider "postgresql" {
  host            = var.postgres_host
  port            = var.postgres_port
  username        = var.postgres_superuser
  password        = var.postgres_superuser_password
  sslmode         = "disable"
  superuser       = true
  connect_timeout = 15
}

module "topics" {
  source = "../../modules/kafka_topics"
  topics = var.topics
}

module "dagster_storage" {
  source        = "../../modules/service_database"
  role          = var.dagster_role
  role_password = var.dagster_role_password
  database      = var.dagster_database
}

module "registry_storage" {
  source        = "../../modules/service_database"
  role          = var.registry_role
  role_password = var.registry_role_password
  database      = var.registry_database
}

module "catalog" {
  source        = "../../modules/service_database"
  role          = var.catalog_role
  role_password = var.catalog_role_password
  database      = var.catalog_database
}

# The warehouse: a folder here, or an object store's bucket (the cluster profile's, made by `kappa up`
# as the store starts: no Terraform provider for it is built here).
module "warehouse" {
  count  = var.object_store_warehouse == "" ? 1 : 0
  source = "../../modules/local_warehouse"
  path   = var.warehouse_path
}

moved {
  from = module.warehouse
  to   = module.warehouse[0]
}

# The change-data-capture source: the application's database (its owner writes it) and the
# replication role Debezium reads its write-ahead log as (SELECT on the captured tables is granted
# by the owner when `kappa up` creates them: platform/kappa/cdc/source.py).
module "cdc_source" {
  source        = "../../modules/service_database"
  role          = var.cdc_owner_role
  role_password = var.cdc_owner_role_password
  database      = var.cdc_database
}

resource "postgresql_role" "cdc_capture" {
  name                = var.cdc_capture_role
  login               = true
  replication         = true
  password_wo         = var.cdc_capture_role_password
  password_wo_version = 1
}
