# Quickstart: one Vault policy, managed by the stack provider.
# The provider reads VAULT_ADDR and VAULT_TOKEN from the environment.
terraform {
  required_providers {
    stack = {
      source = "stack/stack"
    }
  }
}

provider "stack" {}

variable "policy_name" {
  description = "Name of the policy to create."
  type        = string
  default     = "quickstart-app-read"
}

resource "stack_vault_policy" "app" {
  name   = var.policy_name
  policy = <<-EOT
    # Let the app read its own secrets and nothing else.
    path "secret/data/app/*" {
      capabilities = ["read"]
    }
  EOT
}

output "policy_name" {
  description = "The policy that was created."
  value       = stack_vault_policy.app.name
}
