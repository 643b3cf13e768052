variable "bootstrap_kv_mount" {
  description = "KV version 2 mount that holds the Consul and Nomad management tokens (`secret` in a dev Vault)."
  type        = string
  default     = "secret"
}

variable "consul_bootstrap_path" {
  description = "Path below `bootstrap_kv_mount` of Consul's management token."
  type        = string
  default     = "bootstrap/consul"
}

variable "nomad_bootstrap_path" {
  description = "Path below `bootstrap_kv_mount` of Nomad's management token."
  type        = string
  default     = "bootstrap/nomad"
}

variable "nomad_jwks_url" {
  description = "Where Vault fetches the keys Nomad signs workload identities with, e.g. `http://127.0.0.1:4646/.well-known/jwks.json`."
  type        = string
}

variable "postgres_host" {
  description = "PostgreSQL host the `api` service queries (and Vault manages users on)."
  type        = string
  default     = "127.0.0.1"
}

variable "postgres_port" {
  description = "PostgreSQL port."
  type        = number
  default     = 5432
}

variable "postgres_database" {
  description = "PostgreSQL database."
  type        = string
  default     = "postgres"
}

variable "postgres_admin_user" {
  description = "PostgreSQL user Vault manages credentials with (needs CREATEROLE)."
  type        = string
}

variable "postgres_admin_password" {
  description = "Its password. Ephemeral: sent to Vault write-only, never stored."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "api_secret" {
  description = "The static secret the `api` service receives (as API_SECRET). Ephemeral: it goes to Vault, never into state."
  type        = string
  sensitive   = true
  ephemeral   = true
  default     = "change-me-in-production"
}

variable "web_port" {
  description = "Loopback port the `web` service listens on."
  type        = number
  default     = 18080
}

variable "python" {
  description = "Python 3 interpreter that runs the demo services."
  type        = string
  default     = "python3"
}

variable "psql" {
  description = "Path of the `psql` client the `api` service queries PostgreSQL with."
  type        = string
  default     = "psql"
}

variable "audit_log_path" {
  description = "File Vault's audit device writes to."
  type        = string
  default     = "/tmp/stack-reference-vault-audit.log"
}
