//! Link the provider as a non-PIE executable with lazy binding: Terraform starts several provider
//! processes per command, and skipping load-time relocation and symbol binding shortens start-up.
//! A static build (`-C target-feature=+crt-static -C relocation-model=static`) is already
//! non-PIE and has nothing to bind, and `-no-pie` would clash with rustc's `-static-pie`.
fn main() {
    let static_crt = std::env::var("CARGO_CFG_TARGET_FEATURE")
        .is_ok_and(|features| features.split(',').any(|f| f == "crt-static"));
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") && !static_crt {
        println!("cargo:rustc-link-arg-bins=-no-pie");
        println!("cargo:rustc-link-arg-bins=-Wl,-z,lazy");
    }
}
