variable "python" {
  type = string
}
variable "script" {
  type = string
}
variable "psql" {
  type = string
}
variable "pg_host" {
  type = string
}
variable "pg_port" {
  type = string
}
variable "pg_database" {
  type = string
}

job "api" {
  type = "service"

  group "api" {
    # Connect sidecars need the bridge network mode.
    network {
      mode = "bridge"
      port "http" {}
    }

    update {
      min_healthy_time = "2s"
      healthy_deadline = "1m"
    }

    restart {
      attempts = 0
      mode     = "fail"
    }

    service {
      name     = "api"
      port     = "http"
      provider = "consul"
      connect {
        sidecar_service {}
      }
    }

    task "api" {
      driver = "raw_exec"
      config {
        command = var.python
        args    = [var.script, var.psql]
      }
      env {
        PGHOST            = var.pg_host
        PGPORT            = var.pg_port
        PGDATABASE        = var.pg_database
        PGCONNECT_TIMEOUT = "5"
      }
    }
  }
}
