# The application: `api` (a static secret and a dynamic PostgreSQL credential from Vault) and
# `web` (finds api through Consul), as raw_exec tasks that really serve HTTP on loopback.
terraform {
  required_providers {
    stack = {
      source = "stack/stack"
    }
  }
}

variable "db_mount" {
  description = "Database secrets engine mount."
  type        = string
}

variable "db_role" {
  description = "Role the api reads credentials from."
  type        = string
}

variable "api_secret" {
  description = "Static secret for the api (ephemeral)."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "web_port" {
  description = "Loopback port of web."
  type        = number
}

variable "python" {
  description = "Python 3 interpreter."
  type        = string
}

variable "psql" {
  description = "psql client path."
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

resource "stack_nomad_job_with_secrets" "api" {
  jobspec = file("${path.module}/jobs/api.nomad.hcl")
  vars = {
    python      = var.python
    script      = abspath("${path.module}/files/api.py")
    psql        = var.psql
    pg_host     = var.postgres_host
    pg_port     = tostring(var.postgres_port)
    pg_database = var.postgres_database
  }
  # Written to secret/data/default/api; only this job's identity can read it.
  secrets_wo = {
    API_SECRET = var.api_secret
  }
  secrets_wo_version = 1
  database_credentials {
    mount        = var.db_mount
    role         = var.db_role
    username_env = "PGUSER"
    password_env = "PGPASSWORD"
  }
  timeout = "2m"
}

resource "stack_nomad_job_with_secrets" "web" {
  # web renders api's address from Consul when it starts.
  depends_on = [stack_nomad_job_with_secrets.api]
  jobspec    = file("${path.module}/jobs/web.nomad.hcl")
  vars = {
    python = var.python
    script = abspath("${path.module}/files/web.py")
    port   = tostring(var.web_port)
  }
  timeout = "2m"
}

output "web_url" {
  description = "URL of web."
  value       = "http://127.0.0.1:${var.web_port}/"
}
