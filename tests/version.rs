//! One version, Cargo.toml's: the header's CONNMAN_VERSION_* macros, what
//! connman_version() returns, the Rust crate's VERSION and the Python package's
//! version all say the same. (The pkg-config file gets it from Cargo.toml too:
//! `make -C c-examples test` checks `pkg-config --modversion`.)

mod common;

use common::capi::connman_version;
use std::ffi::CStr;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_copy_of_the_version_is_cargo_toml_s() {
    let cargo = env!("CARGO_PKG_VERSION");
    let header = std::fs::read_to_string(root().join("include/connman.h")).unwrap();
    let part = |name: &str| -> String {
        header
            .lines()
            .find_map(|l| l.strip_prefix(&format!("#define CONNMAN_VERSION_{name} ")))
            .unwrap_or_else(|| panic!("CONNMAN_VERSION_{name} in the header"))
            .trim()
            .to_owned()
    };
    let macros = format!("{}.{}.{}", part("MAJOR"), part("MINOR"), part("PATCH"));
    assert_eq!(macros, cargo, "the header's CONNMAN_VERSION_* macros");

    // SAFETY: connman_version returns a static NUL-terminated string.
    let lib = unsafe { CStr::from_ptr(connman_version()) }
        .to_str()
        .unwrap();
    assert_eq!(lib, cargo, "connman_version()");
    assert_eq!(connman::VERSION, cargo, "connman::VERSION");

    let py = std::fs::read_to_string(root().join("bindings/python/connman/_version.py")).unwrap();
    assert!(
        py.contains(&format!("__version__ = \"{cargo}\"")),
        "bindings/python/connman/_version.py: {py}"
    );
}
