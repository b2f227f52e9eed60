//! The growth scheme of the C structs ("Structs that grow" in the header): a program
//! compiled against an older copy of the header, whose structs lack the newest
//! fields (their space still reserved), runs unrebuilt against the current
//! library, reads correct values and makes no memory errors (valgrind, when
//! installed).

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

/// The header as it was before the newest fields: each listed field becomes one
/// more reserved word of its struct.
fn older_header(current: &str) -> String {
    let mut out = String::new();
    // (struct, field declaration, reserved declaration before, after)
    let removed = [
        (
            "uint32_t send_while_reconnecting;",
            "uint32_t reserved[17];",
            "uint32_t reserved[18];",
        ),
        (
            "uint64_t send_queue_bytes;",
            "uint64_t reserved[8];",
            "uint64_t reserved[9];",
        ),
    ];
    let mut text = current.to_owned();
    for (field, before, after) in removed {
        assert!(text.contains(field), "the current header has {field}");
        text = text.replacen(&format!("  {field}\n"), "", 1);
        assert!(text.contains(before), "the current header has {before}");
        text = text.replacen(before, after, 1);
    }
    out.push_str(&text);
    out
}

#[test]
fn a_program_built_against_an_older_header_runs_with_this_library() {
    let _s = serial();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("connman-growth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let current = std::fs::read_to_string(root.join("include/connman.h")).unwrap();
    std::fs::write(dir.join("connman.h"), older_header(&current)).unwrap();
    // The libconnman.so cargo built for this run sits next to this test executable
    // (target/<profile>/deps/).
    let lib_dir = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    assert!(
        lib_dir.join("libconnman.so").exists(),
        "{lib_dir:?}/libconnman.so"
    );
    let exe = dir.join("growth");
    let out = Command::new("cc")
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-g", "-I"])
        .arg(&dir)
        .arg(root.join("tests/abi/growth.c"))
        .arg("-o")
        .arg(&exe)
        .arg("-L")
        .arg(&lib_dir)
        .arg("-lconnman")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "compiling against the older header: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let srv = Server::echo();
    let valgrind = Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let mut cmd = if valgrind {
        let mut c = Command::new("valgrind");
        c.args(["--error-exitcode=99", "--quiet", "--leak-check=no"])
            .arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    let run = cmd
        .arg(srv.port.to_string())
        .env("LD_LIBRARY_PATH", &lib_dir)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        run.status.success() && String::from_utf8_lossy(&run.stdout).contains("growth: ok"),
        "status {:?} (99: valgrind found memory errors)\nstdout: {}\nstderr: {}",
        run.status,
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
}
