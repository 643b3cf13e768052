//! Nomad resources against the Nomad simulator (stack-devstack), real OpenBao and PostgreSQL.

mod acl;
mod job_with_secrets;
