//! Shared helpers for acceptance tests.

use stack_acceptance_tests::{Bao, HttpResponse, TfWorkdir};

/// The provider block and `required_providers` every configuration starts with.
pub const PROVIDER: &str = r#"
terraform {
  required_providers {
    stack = { source = "stack/stack" }
  }
}
provider "stack" {}
"#;

/// A Terraform workdir whose provider talks to the shared OpenBao.
pub fn workdir(bao: &Bao) -> TfWorkdir {
    TfWorkdir::new().envs(bao.env())
}

/// A request against OpenBao with the root token that must succeed at the transport level.
pub fn api(bao: &Bao, method: &str, path: &str, body: Option<serde_json::Value>) -> HttpResponse {
    bao.request(method, path, body.as_ref())
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}
