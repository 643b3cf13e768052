resource "stack_nomad_acl_policy" "deployers" {
  name        = "deployers"
  description = "Submit jobs and read their variables in the apps namespace."
  rules_hcl   = <<-EOT
    namespace "apps" {
      policy       = "read"
      capabilities = ["submit-job", "read-logs"]
      variables {
        path "*" {
          capabilities = ["read", "list"]
        }
      }
    }
  EOT
}
