# The import ID is the namespace name.
terraform import stack_nomad_namespace.apps apps
