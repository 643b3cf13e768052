//! Generates the tfplugin6 and go-plugin bindings with a vendored `protoc`
//! (no system protoc needed).

use std::io;

fn main() -> io::Result<()> {
    let protoc = protoc_bin_vendored::protoc_bin_path().map_err(io::Error::other)?;
    let well_known = protoc_bin_vendored::include_path().map_err(io::Error::other)?;
    // Edition 2021: `set_var` is safe, and a build script is single-threaded here.
    std::env::set_var("PROTOC", protoc);

    println!("cargo:rerun-if-changed=tfplugin6.proto");
    println!("cargo:rerun-if-changed=plugin.proto");

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .generate_default_stubs(true)
        .compile_protos(
            &["tfplugin6.proto".into(), "plugin.proto".into()],
            &[std::path::PathBuf::from("."), well_known],
        )
}
