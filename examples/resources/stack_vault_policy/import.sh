# The import ID is the policy name.
terraform import stack_vault_policy.example my-policy
