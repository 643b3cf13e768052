# Data kept in state (marked sensitive).
resource "stack_vault_kv_secret" "app" {
  mount = "secret"
  path  = "my-app/config"
  data = {
    log_level = "info"
    api_url   = "https://api.example.com"
  }
  custom_metadata = {
    owner = "team-a"
  }
}

# Write-only data (Terraform 1.11 and later): never stored in the plan or state.
# Bump data_wo_version to write a new value.
variable "db_password" {
  type      = string
  sensitive = true
  ephemeral = true
}

resource "stack_vault_kv_secret" "db" {
  mount = "secret"
  path  = "my-app/db"
  data_wo = {
    username = "app"
    password = var.db_password
  }
  data_wo_version = 1
}
