# One apply bootstraps Consul's ACLs and manages policies with the new token: the provider reads
# the token from Vault when a call is made, so it never enters state.
provider "stack" {
  consul {
    token_vault_path = "secret/bootstrap/consul"
  }
}

resource "stack_consul_acl_bootstrap" "this" {
  vault_kv_mount = "secret"
  vault_kv_path  = "bootstrap/consul"
}

resource "stack_consul_acl_policy" "operators" {
  depends_on = [stack_consul_acl_bootstrap.this]

  name  = "operators"
  rules = <<-EOT
    operator = "read"
    service_prefix "" {
      policy = "read"
    }
  EOT
}
