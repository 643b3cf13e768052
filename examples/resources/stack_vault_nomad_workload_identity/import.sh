# The import ID is the path of the JWT auth method; the role and policy are found from it.
terraform import stack_vault_nomad_workload_identity.nomad jwt-nomad
