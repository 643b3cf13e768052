terraform {
  required_providers {
    stack = {
      source = "stack/stack"
    }
  }
}

# Every block is optional and every setting falls back to the product's standard
# environment variable (VAULT_ADDR, VAULT_TOKEN, CONSUL_HTTP_ADDR, NOMAD_ADDR, ...).
provider "stack" {
  vault {
    address      = "https://vault.example.com:8200"
    ca_cert_file = "/etc/ssl/certs/internal-ca.pem"
    namespace    = "admin"
  }

  consul {
    address    = "consul.example.com:8501"
    ssl        = true
    datacenter = "dc1"
  }

  nomad {
    address = "https://nomad.example.com:4646"
    region  = "global"
  }
}
