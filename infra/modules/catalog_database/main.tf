resource "postgresql_role" "owner" {
  name                = var.role
  login               = true
  password_wo         = var.role_password
  password_wo_version = var.role_password_version
}

resource "postgresql_database" "catalog" {
  name  = var.catalog_database
  owner = postgresql_role.owner.name
}

resource "postgresql_database" "extra" {
  for_each = toset(var.extra_databases)

  name  = each.key
  owner = postgresql_role.owner.name
}
