# Vault's side of the workloads: Nomad workload identities (JWT auth), dynamic PostgreSQL
# credentials, and an audit device that records every request.
terraform {
  required_providers {
    stack = {
      source = "stack/stack"
    }
  }
}

variable "jwks_url" {
  description = "Nomad's JWKS URL."
  type        = string
}

variable "postgres_host" {
  description = "PostgreSQL host."
  type        = string
}

variable "postgres_port" {
  description = "PostgreSQL port."
  type        = number
}

variable "postgres_database" {
  description = "PostgreSQL database."
  type        = string
}

variable "postgres_admin_user" {
  description = "PostgreSQL user Vault manages credentials with."
  type        = string
}

variable "postgres_admin_password" {
  description = "Its password (ephemeral)."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "audit_log_path" {
  description = "File the audit device writes to."
  type        = string
}

variable "db_mount" {
  description = "Mount of the database secrets engine."
  type        = string
  default     = "database"
}

resource "stack_vault_audit" "file" {
  path        = "reference-audit"
  type        = "file"
  description = "Every request and response of the platform"
  options = {
    file_path = var.audit_log_path
  }
}

resource "stack_vault_database_secrets" "postgres" {
  mount = var.db_mount
  db_connection {
    name                = "postgres"
    plugin              = "postgresql"
    connection_url      = "postgresql://{{username}}:{{password}}@${var.postgres_host}:${var.postgres_port}/${var.postgres_database}?sslmode=disable"
    username            = var.postgres_admin_user
    password_wo         = var.postgres_admin_password
    password_wo_version = 1
  }
  role {
    name                  = "api"
    creation_statements   = ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"]
    revocation_statements = ["DROP ROLE IF EXISTS \"{{name}}\";"]
    default_ttl           = "1h"
    max_ttl               = "24h"
  }
}

# Workloads may read database credentials of the `api` role.
resource "stack_vault_policy" "db_creds" {
  name   = "nomad-workloads-db"
  policy = <<-EOT
    path "${var.db_mount}/creds/api" {
      capabilities = ["read"]
    }
  EOT
}

resource "stack_vault_nomad_workload_identity" "nomad" {
  jwks_url       = var.jwks_url
  token_policies = ["nomad-workloads", stack_vault_policy.db_creds.name]
}

output "db_mount" {
  description = "Database secrets engine mount."
  value       = stack_vault_database_secrets.postgres.mount
}

output "db_role" {
  description = "Role the api reads credentials from."
  value       = "api"
  depends_on  = [stack_vault_nomad_workload_identity.nomad]
}
