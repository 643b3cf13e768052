# Short-lived PostgreSQL credentials for this Terraform run only: issued when
# needed, renewed while Terraform runs, revoked (user dropped) when it is done.
ephemeral "stack_vault_database_credentials" "migrations" {
  mount = stack_vault_database_secrets.app.mount
  role  = "migrations"
}

# Use them where ephemeral values are allowed: provider blocks, write-only
# arguments, provisioners.
resource "terraform_data" "migrate" {
  triggers_replace = ["schema-v1"] # change to run the migration again

  provisioner "local-exec" {
    command = "psql -v ON_ERROR_STOP=1 -f ${path.module}/schema.sql"
    environment = {
      PGHOST     = "db.example.com"
      PGDATABASE = "app"
      PGUSER     = ephemeral.stack_vault_database_credentials.migrations.username
      PGPASSWORD = ephemeral.stack_vault_database_credentials.migrations.password
    }
  }
}
