# Vault's side of `nomad setup vault`. Nomad clients then use
#   vault {
#     enabled               = true
#     jwt_auth_backend_path = "jwt-nomad"
#     create_from_role      = "nomad-workloads"
#   }
# and a task with a `vault {}` block may read secret/data/<namespace>/<job id>/*.
variable "nomad_ca_pem" {
  description = "CA certificate of Nomad's HTTPS listener (PEM)."
  type        = string
}

resource "stack_vault_nomad_workload_identity" "nomad" {
  jwks_url     = "https://nomad.example.com:4646/.well-known/jwks.json"
  jwks_ca_pem  = var.nomad_ca_pem
  token_period = "1h"
}

output "nomad_auth_accessor" {
  value = stack_vault_nomad_workload_identity.nomad.auth_accessor
}
