//! Generated gRPC bindings for Terraform plugin protocol 6.10 (`tfplugin6`)
//! and the go-plugin controller service (`plugin`).
//!
//! The `.proto` files in this crate were written for this project; see
//! `README.md` for what they cover.

/// Terraform plugin protocol 6.10 (Terraform v1.15.5).
#[allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    clippy::nursery,
    rust_2018_idioms,
    unused_qualifications
)]
pub mod tfplugin6 {
    tonic::include_proto!("tfplugin6");
}

/// go-plugin's `plugin` package: only `GRPCController`.
#[allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    clippy::nursery,
    rust_2018_idioms,
    unused_qualifications
)]
pub mod plugin {
    tonic::include_proto!("plugin");
}
