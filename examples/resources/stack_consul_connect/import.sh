# A cluster has one Connect CA: the import ID is `connect`.
terraform import stack_consul_connect.this connect
