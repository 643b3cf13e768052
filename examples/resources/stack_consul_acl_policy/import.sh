# The import ID is the policy name (or its ID).
terraform import stack_consul_acl_policy.web web
