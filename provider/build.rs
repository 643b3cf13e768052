//! Link the provider as a non-PIE executable with lazy binding: Terraform starts several provider
//! processes per command, and skipping load-time relocation and symbol binding shortens start-up.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
        println!("cargo:rustc-link-arg-bins=-Wl,-z,lazy");
    }
}
