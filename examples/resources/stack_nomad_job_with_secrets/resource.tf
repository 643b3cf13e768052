variable "api_key" {
  type      = string
  sensitive = true
  ephemeral = true
}

# The tasks get API_KEY (written to secret/data/default/api) and fresh database
# credentials as environment variables, through their workload identity.
resource "stack_nomad_job_with_secrets" "api" {
  jobspec = <<-EOT
    variable "port" {
      type = number
    }
    job "api" {
      group "api" {
        network {
          port "http" { static = var.port }
        }
        update {
          min_healthy_time = "5s"
        }
        task "server" {
          driver = "raw_exec"
          config {
            command = "/usr/local/bin/api-server"
          }
        }
      }
    }
  EOT
  vars = {
    port = "8080"
  }
  secrets_wo = {
    API_KEY = var.api_key
  }
  secrets_wo_version = 1
  database_credentials {
    mount        = "database"
    role         = "api"
    username_env = "PGUSER"
    password_env = "PGPASSWORD"
  }
  timeout = "3m"
}
