terraform {
  required_version = ">= 1.11"
  required_providers {
    stack = {
      source = "stack/stack"
    }
  }
}

# Vault comes from VAULT_ADDR / VAULT_TOKEN. Consul and Nomad addresses come from
# CONSUL_HTTP_ADDR / NOMAD_ADDR; their tokens are read from Vault when a call is made, so the
# ACL bootstrap below and everything that needs its token fit in one apply.
provider "stack" {
  consul {
    token_vault_path = "${var.bootstrap_kv_mount}/${var.consul_bootstrap_path}"
  }
  nomad {
    token_vault_path = "${var.bootstrap_kv_mount}/${var.nomad_bootstrap_path}"
  }
}
