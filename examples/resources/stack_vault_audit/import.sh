# The import ID is the audit device path.
terraform import stack_vault_audit.file file
