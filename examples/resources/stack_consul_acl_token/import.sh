# The import ID is the token's accessor ID.
terraform import stack_consul_acl_token.web 6a1253d2-1785-24fd-91c2-f8e78c745511
