# The import ID is <mount>/<path>. The mount may contain slashes: the longest
# mount path that is a prefix of the ID is taken as the mount, the rest as the path.
terraform import stack_vault_kv_secret.app secret/my-app/config
terraform import stack_vault_kv_secret.team team/kv/my-app/config

# Terraform 1.12 and later can also import by identity:
#   import {
#     to       = stack_vault_kv_secret.app
#     identity = { mount = "secret", path = "my-app/config" }
#   }
