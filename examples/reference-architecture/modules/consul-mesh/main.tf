# Consul Connect on the Vault CA with zero trust: deny by default, then exactly the edges the
# application needs.
terraform {
  required_providers {
    stack = {
      source = "stack/stack"
    }
  }
}

variable "root_pki_path" {
  description = "PKI mount of the root CA (from the vault-pki module)."
  type        = string
}

variable "intermediate_pki_path" {
  description = "PKI mount Consul manages for its intermediate CA."
  type        = string
  default     = "pki-connect-int"
}

variable "edges" {
  description = "Allowed connections, source → destination."
  type        = map(object({ source = string, destination = string }))
  default = {
    web_to_api = { source = "web", destination = "api" }
    api_to_db  = { source = "api", destination = "db" }
  }
}

resource "stack_consul_connect" "this" {
  ca_provider = "vault"
  vault {
    root_pki_path         = var.root_pki_path
    intermediate_pki_path = var.intermediate_pki_path
    leaf_cert_ttl         = "72h"
  }
  default_intention = "deny"
}

resource "stack_consul_intention" "edge" {
  for_each    = var.edges
  depends_on  = [stack_consul_connect.this]
  source      = each.value.source
  destination = each.value.destination
  action      = "allow"
  description = "reference architecture: ${each.key}"
}

output "active_root_id" {
  description = "Consul's ID of the active root: its SHA-1 fingerprint."
  value       = stack_consul_connect.this.active_root_id
}

output "trust_domain" {
  description = "SPIFFE trust domain."
  value       = stack_consul_connect.this.trust_domain
}

output "allowed" {
  description = "The allowed edges."
  value       = sort([for e in stack_consul_intention.edge : "${e.source} -> ${e.destination}"])
}
