# The mesh's root CA, kept in Vault: its private key never leaves Vault.
terraform {
  required_providers {
    stack = {
      source = "stack/stack"
    }
  }
}

variable "root_path" {
  description = "PKI mount of the mesh root."
  type        = string
  default     = "pki-mesh-root"
}

variable "common_name" {
  description = "Common name of the root certificate."
  type        = string
  default     = "Stack reference mesh root"
}

resource "stack_vault_pki_ca" "mesh" {
  root_path   = var.root_path
  common_name = var.common_name
  key_type    = "ec"
  key_bits    = 256
}

output "root_path" {
  description = "PKI mount of the root, for Consul's Vault CA provider."
  value       = stack_vault_pki_ca.mesh.root_path
}
