# The seed's platform in one apply: see README.md for how each part maps to the seed.

module "platform_acl" {
  source                = "./modules/platform-acl"
  kv_mount              = var.bootstrap_kv_mount
  consul_bootstrap_path = var.consul_bootstrap_path
  nomad_bootstrap_path  = var.nomad_bootstrap_path
}

module "vault_pki" {
  source = "./modules/vault-pki"
}

module "consul_mesh" {
  source        = "./modules/consul-mesh"
  root_pki_path = module.vault_pki.root_path
  # Consul calls need the management token that platform_acl writes to Vault.
  depends_on = [module.platform_acl]
}

module "nomad_workload_identity" {
  source                  = "./modules/nomad-workload-identity"
  jwks_url                = var.nomad_jwks_url
  postgres_host           = var.postgres_host
  postgres_port           = var.postgres_port
  postgres_database       = var.postgres_database
  postgres_admin_user     = var.postgres_admin_user
  postgres_admin_password = var.postgres_admin_password
  audit_log_path          = var.audit_log_path
}

module "app" {
  source            = "./modules/app"
  db_mount          = module.nomad_workload_identity.db_mount
  db_role           = module.nomad_workload_identity.db_role
  api_secret        = var.api_secret
  web_port          = var.web_port
  python            = var.python
  psql              = var.psql
  postgres_host     = var.postgres_host
  postgres_port     = var.postgres_port
  postgres_database = var.postgres_database
  # Jobs need Nomad's token (platform_acl), Vault's side of workload identity and the mesh.
  depends_on = [module.platform_acl, module.nomad_workload_identity, module.consul_mesh]
}
