output "web_url" {
  description = "The `web` service; it calls `api`, which queries PostgreSQL with a dynamic credential."
  value       = module.app.web_url
}

output "curl" {
  description = "A command that shows the whole chain answering."
  value       = "curl -s ${module.app.web_url}"
}

output "mesh_root_fingerprint" {
  description = "SHA-1 fingerprint (Consul's root ID) of the mesh root CA, which lives in Vault."
  value       = module.consul_mesh.active_root_id
}

output "mesh_trust_domain" {
  description = "SPIFFE trust domain of the mesh."
  value       = module.consul_mesh.trust_domain
}

output "allowed_connections" {
  description = "Which services may talk to which; everything else is denied by the `*` → `*` default."
  value       = module.consul_mesh.allowed
}

output "operator_tokens" {
  description = "Where the operators' least-privilege tokens are kept in Vault (read them with `bao kv get`)."
  value       = module.platform_acl.operator_token_paths
}
