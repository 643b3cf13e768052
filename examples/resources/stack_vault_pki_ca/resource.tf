# A root CA in "connect_root" and an intermediate in "connect_inter", for Consul Connect's
# Vault CA provider (RootPKIPath / IntermediatePKIPath). The private keys never leave Vault.
resource "stack_vault_pki_ca" "connect" {
  root_path         = "connect_root"
  intermediate_path = "connect_inter"
  common_name       = "Example Connect CA"
  organization      = "Example Inc."

  key_type         = "ec"
  key_bits         = 256
  root_ttl         = "87600h"
  intermediate_ttl = "8760h"

  # Plans made within 30 days of the intermediate's expiry rotate it in place.
  rotate_intermediate_before = "720h"

  # Written into certificates issued from now on (both mounts get the same lists).
  issuing_certificates    = ["https://vault.example.com:8200/v1/connect_inter/ca"]
  crl_distribution_points = ["https://vault.example.com:8200/v1/connect_inter/crl"]

  role {
    name             = "web"
    allowed_domains  = ["example.com"]
    allow_subdomains = true
    max_ttl          = "72h"
  }
}

output "ca_chain" {
  value = join("", stack_vault_pki_ca.connect.ca_chain)
}
