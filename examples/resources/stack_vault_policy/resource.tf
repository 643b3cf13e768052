resource "stack_vault_policy" "example" {
  name   = "my-policy"
  policy = <<-EOT
    path "secret/data/my-app/*" {
      capabilities = ["read", "list"]
    }
  EOT
}
