# The import ID is the KV v2 secret holding the token, <mount>/<path>.
terraform import stack_consul_acl_bootstrap.this secret/bootstrap/consul
