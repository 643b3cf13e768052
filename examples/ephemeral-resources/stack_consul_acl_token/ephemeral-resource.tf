# Read a token's secret while Terraform runs, e.g. to hand it to another system's
# write-only argument, without it entering plan or state.
ephemeral "stack_consul_acl_token" "web" {
  accessor_id = stack_consul_acl_token.web.accessor_id
}
