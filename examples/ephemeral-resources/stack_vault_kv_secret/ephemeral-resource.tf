# Read a secret while Terraform runs; its data never enters the plan or state.
ephemeral "stack_vault_kv_secret" "source" {
  mount = "secret"
  path  = "shared/db"
  # version = 3 # omit for the latest version
}

# Copy it with a write-only argument.
resource "stack_vault_kv_secret" "copy" {
  mount           = "secret"
  path            = "my-app/db"
  data_wo         = ephemeral.stack_vault_kv_secret.source.data
  data_wo_version = 1
}
