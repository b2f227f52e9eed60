//! Runs the C and C++ examples' test suite (`make -C c-examples test`): every
//! example against the flaky echo server (TCP and Unix socket; the embedded-mode
//! loops on poll() and libuv), the C contract test (its guarantee tests in every
//! runtime mode), static and pkg-config builds, valgrind and AddressSanitizer
//! (each skipped, saying so, when the tool is missing, as `loop_libuv` is
//! without libuv). Skipped with a message when `make` or a C compiler is not
//! installed.

use std::path::Path;
use std::process::Command;

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn c_examples_make_test() {
    if !have("make") || !have("cc") {
        eprintln!("SKIPPED: c_examples needs make and cc");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The cargo running this test, so that the Makefile builds with the same one.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());

    // The server the tests use (the same one the Rust tests run); the Makefile
    // would otherwise build a release one itself.
    let flaky = testkit::flaky::binary();

    // A build directory of our own: other `cargo test` runs (or a `make test` by
    // hand in c-examples/build) may be going on in this tree at the same time.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|d| root.join(d))
        .unwrap_or_else(|| root.join("target"));
    let build = target.join(format!("c-examples-test-{}", std::process::id()));

    let out = Command::new("make")
        .arg("-C")
        .arg(root.join("c-examples"))
        .arg("test")
        .arg(format!("BUILD={}", build.display()))
        .env("CARGO", &cargo)
        .env("FLAKY_ECHO", flaky)
        // A make above us (e.g. `make check` calling cargo test) must not leak
        // its jobserver or flags into this one.
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .output()
        .expect("make runs");
    let _ = std::fs::remove_dir_all(&build);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "make -C c-examples test failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    // Shown with `cargo test -- --nocapture`.
    println!("{stdout}");
}
