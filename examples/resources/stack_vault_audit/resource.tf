# Needs `unsafe_allow_api_audit_creation = true` in the configuration of OpenBao 2.3.2 and later;
# without it, apply fails and shows the equivalent `audit` block for the server configuration.
resource "stack_vault_audit" "file" {
  path        = "file"
  type        = "file"
  description = "Every request and response, one JSON object per line"
  options = {
    file_path = "/var/log/openbao/audit.log"
    mode      = "0600"
  }
}
