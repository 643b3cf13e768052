# The import ID is the root mount path, or "<root_path>,<intermediate_path>" when there is an
# intermediate. The CAs in use (the default issuer of each mount) and all roles of the issuing
# mount are imported (roles in name order); `rotate_intermediate_before` is configuration only
# and is not imported.
terraform import stack_vault_pki_ca.connect connect_root,connect_inter

# A root CA without an intermediate:
terraform import stack_vault_pki_ca.root pki
