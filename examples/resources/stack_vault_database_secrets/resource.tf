# The admin password comes from an ephemeral source and is never stored.
variable "postgres_admin_password" {
  type      = string
  sensitive = true
  ephemeral = true
}

resource "stack_vault_database_secrets" "app" {
  mount = "database" # enabled if absent, and then disabled on destroy

  # `connection` is reserved by Terraform for provisioners, hence `db_connection`.
  db_connection {
    name                = "app-postgres"
    plugin              = "postgresql"
    connection_url      = "postgresql://{{username}}:{{password}}@db.example.com:5432/app?sslmode=require"
    username            = "vault_admin"
    password_wo         = var.postgres_admin_password
    password_wo_version = 1 # bump to send a new password
    # verify_connection = true  # default
    # rotate_root       = false # true: Vault rotates the admin password after writing it
  }

  role {
    name = "readonly"
    creation_statements = [
      "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
      "GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{{name}}\";",
    ]
    revocation_statements = [
      "REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA public FROM \"{{name}}\";",
      "DROP ROLE IF EXISTS \"{{name}}\";",
    ]
    default_ttl = "1h"
    max_ttl     = "24h"
  }

  role {
    name                = "migrations"
    creation_statements = ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' IN ROLE app_owner;"]
    default_ttl         = "15m"
    max_ttl             = "1h"
  }
}
