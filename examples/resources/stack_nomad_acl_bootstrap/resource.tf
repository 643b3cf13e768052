provider "stack" {
  nomad {
    token_vault_path = "secret/bootstrap/nomad"
  }
}

resource "stack_nomad_acl_bootstrap" "this" {
  vault_kv_path = "bootstrap/nomad"
}

resource "stack_nomad_acl_policy" "readonly" {
  depends_on = [stack_nomad_acl_bootstrap.this]

  name      = "readonly"
  rules_hcl = <<-EOT
    namespace "*" {
      policy = "read"
    }
  EOT
}
