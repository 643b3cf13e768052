variable "python" {
  type = string
}
variable "script" {
  type = string
}
variable "port" {
  type = string
}

job "web" {
  type = "service"

  group "web" {
    # Connect sidecars need the bridge network mode.
    network {
      mode = "bridge"
      port "http" {
        static = var.port
      }
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
      name     = "web"
      port     = "http"
      provider = "consul"
      connect {
        sidecar_service {}
      }
    }

    task "web" {
      driver = "raw_exec"
      config {
        command = var.python
        args    = [var.script]
      }
      # Where is api? Consul knows: a healthy instance's address.
      template {
        data        = <<-EOT
          {{ range service "api" }}API_ADDR={{ .Address }}:{{ .Port }}
          {{ end }}
        EOT
        destination = "local/api.env"
        env         = true
      }
    }
  }
}
