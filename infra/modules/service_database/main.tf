# A service's own database, owned by a login role of its own: the Iceberg catalog (the engines' role)
# and Dagster's runs, events and schedules (Dagster's role) are each out of reach of the other's role.

resource "postgresql_role" "owner" {
  name                = var.role
  login               = true
  password_wo         = var.role_password
  password_wo_version = var.role_password_version
}

resource "postgresql_database" "this" {
  name  = var.database
  owner = postgresql_role.owner.name
}
