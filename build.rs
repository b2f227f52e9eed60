//! Generates the C header with cbindgen into OUT_DIR, arranged as a manual
//! (build/header_layout.rs); the committed copy in include/connman.h must match it
//! (tests/header.rs and .ci/run check). Set CONNMAN_WRITE_HEADER=1 to refresh the
//! committed copy.

#[path = "build/header_layout.rs"]
mod header_layout;

use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=build");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=CONNMAN_WRITE_HEADER");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable");
    let bindings = cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut raw = Vec::new();
    bindings.write(&mut raw);
    let header = header_layout::arrange(&String::from_utf8(raw).expect("UTF-8 header"));
    std::fs::write(out_dir.join("connman.h"), &header).expect("OUT_DIR is writable");
    if std::env::var_os("CONNMAN_WRITE_HEADER").is_some_and(|v| v == "1") {
        std::fs::write(crate_dir.join("include").join("connman.h"), &header)
            .expect("include/ is writable");
    }
}
