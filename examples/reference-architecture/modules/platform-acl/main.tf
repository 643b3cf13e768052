# ACL bootstrap of Consul and Nomad. The management tokens go to Vault KV (never state); the
# operators get least-privilege policies and tokens of their own, also kept in Vault.
terraform {
  required_providers {
    stack = {
      source = "stack/stack"
    }
  }
}

variable "kv_mount" {
  description = "KV version 2 mount for the tokens."
  type        = string
}

variable "consul_bootstrap_path" {
  description = "Path of Consul's management token below `kv_mount`."
  type        = string
}

variable "nomad_bootstrap_path" {
  description = "Path of Nomad's management token below `kv_mount`."
  type        = string
}

resource "stack_consul_acl_bootstrap" "this" {
  vault_kv_mount = var.kv_mount
  vault_kv_path  = var.consul_bootstrap_path
}

resource "stack_nomad_acl_bootstrap" "this" {
  vault_kv_mount = var.kv_mount
  vault_kv_path  = var.nomad_bootstrap_path
}

resource "stack_consul_acl_policy" "operators" {
  depends_on  = [stack_consul_acl_bootstrap.this]
  name        = "operators"
  description = "Read the catalog, the mesh and the intentions; change nothing."
  rules       = <<-EOT
    operator = "read"
    service_prefix "" {
      policy     = "read"
      intentions = "read"
    }
    node_prefix "" {
      policy = "read"
    }
  EOT
}

resource "stack_consul_acl_token" "operators" {
  description    = "operators (read-only)"
  policies       = [stack_consul_acl_policy.operators.name]
  vault_kv_mount = var.kv_mount
  vault_kv_path  = "operators/consul"
}

resource "stack_nomad_acl_policy" "operators" {
  depends_on  = [stack_nomad_acl_bootstrap.this]
  name        = "operators"
  description = "Read jobs, allocations and logs in every namespace; submit nothing."
  rules_hcl   = <<-EOT
    namespace "*" {
      policy       = "read"
      capabilities = ["read-logs", "read-fs"]
    }
    node {
      policy = "read"
    }
    agent {
      policy = "read"
    }
  EOT
}

output "operator_token_paths" {
  description = "KV paths of the operator tokens."
  value = {
    consul = "${var.kv_mount}/operators/consul"
  }
}
