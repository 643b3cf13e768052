# The import ID is the KV v2 secret holding the token, <mount>/<path>.
terraform import stack_nomad_acl_bootstrap.this secret/bootstrap/nomad
