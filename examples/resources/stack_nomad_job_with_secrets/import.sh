# The import ID is <job id>@<namespace>.
terraform import stack_nomad_job_with_secrets.api api@default
