# The import ID is <mount>/<connection name>. The mount may contain slashes: the
# part after the last "/" is the connection name. Its roles are imported with it.
terraform import stack_vault_database_secrets.app database/app-postgres
terraform import stack_vault_database_secrets.team team/db/app-postgres

# An imported resource never enabled its mount (mount_created = false), so destroy
# leaves the mount. State cannot know which password Vault holds: if the
# configuration sets password_wo_version, the first apply sends password_wo once.
