//! A small Terraform plugin framework for protocol 6: go-plugin transport, cty values and their
//! encodings, schemas, a schema-driven plan engine, and the `Provider` gRPC service.
#![warn(missing_docs)]

pub mod codec;
pub mod diag;
pub mod log;
pub mod plan;
pub mod resource;
pub mod schema;
pub mod server;
#[cfg(feature = "testing")]
pub mod testing;
pub mod transport;
pub mod value;

pub use diag::{AttributePath, Diagnostic, Diags};
pub use resource::{
    DataSource, DynDataSource, DynEphemeral, DynResource, EphemeralResource, Opened, Provider,
    Resource,
};
pub use schema::{Attribute, Block, NestedBlock, Schema};
pub use server::ProviderServer;
pub use value::{Number, Type, Value};

/// Runs a provider binary: `--debug` serves in reattach mode, otherwise Terraform's handshake.
/// Exits the process with status 1 when not launched by Terraform.
pub fn run<P: Provider>(provider: P, provider_address: &str, log_module: &'static str) {
    log::init(log_module);
    let debug = std::env::args()
        .skip(1)
        .any(|a| a == "--debug" || a == "-debug");
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let opts = transport::ServeOptions {
        provider_address: provider_address.to_string(),
        debug,
    };
    let result = rt.block_on(transport::serve(
        move || ProviderServer::new(provider),
        opts,
    ));
    match result {
        Ok(()) => {}
        // The explanation for humans has been printed already.
        Err(transport::ServeError::NotLaunchedByTerraform) => std::process::exit(1),
        Err(e) => {
            eprintln!("terraform-provider: {e}");
            std::process::exit(1);
        }
    }
}
