# The mesh root lives in Vault; Consul gets a least-privilege token for its CA provider.
resource "stack_vault_pki_ca" "mesh" {
  root_path   = "pki-mesh"
  common_name = "mesh root"
}

resource "stack_consul_connect" "this" {
  ca_provider = "vault"
  vault {
    root_pki_path         = stack_vault_pki_ca.mesh.root_path
    intermediate_pki_path = "pki-connect-int"
    leaf_cert_ttl         = "72h"
  }
  # Zero trust: only explicit stack_consul_intention edges may talk.
  default_intention = "deny"
}

output "mesh_trust_domain" {
  value = stack_consul_connect.this.trust_domain
}
