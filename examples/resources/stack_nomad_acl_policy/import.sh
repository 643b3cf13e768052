# The import ID is the policy name.
terraform import stack_nomad_acl_policy.deployers deployers
