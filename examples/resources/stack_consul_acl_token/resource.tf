# The token's secret goes to Vault (keys `token` and `accessor_id`), never into state.
resource "stack_consul_acl_token" "web" {
  description   = "web service"
  policies      = [stack_consul_acl_policy.web.name]
  vault_kv_path = "consul-tokens/web"
}
