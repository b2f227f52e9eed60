//! The committed header must be exactly what cbindgen generates from the source, and
//! must compile cleanly as C99 and as C++11; the tests' Rust declarations of it
//! must match it.

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

#[test]
fn committed_header_matches_generated() {
    let generated = std::fs::read_to_string(concat!(env!("OUT_DIR"), "/connman.h")).unwrap();
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/connman.h"))
            .unwrap();
    assert!(
        generated == committed,
        "include/connman.h is stale: run `CONNMAN_WRITE_HEADER=1 cargo build` and commit it"
    );
}

/// Runs `compiler FLAGS -I include SOURCE EXTRA...`; fails the test with the
/// compiler's diagnostics unless it succeeds.
fn compile(compiler: &str, flags: &[&str], source: &Path, extra: &[&OsStr]) {
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
    let out = Command::new(compiler)
        .args(flags)
        .arg("-I")
        .arg(&include)
        .arg(source)
        .args(extra)
        .output()
        .expect("a C and a C++ compiler are installed");
    assert!(
        out.status.success(),
        "{compiler} {flags:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn header_compiles_as_c99_and_cpp11() {
    let dir = std::env::temp_dir().join(format!("connman-header-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = "#include \"connman.h\"\nint main(void) { connman_options o = connman_options_default(); (void)o; return 0; }\n";
    for (compiler, std, file) in [("cc", "-std=c99", "h.c"), ("c++", "-std=c++11", "h.cpp")] {
        let path = dir.join(file);
        std::fs::write(&path, src).unwrap();
        let flags = [
            std,
            "-Wall",
            "-Wextra",
            "-pedantic",
            "-Werror",
            "-fsyntax-only",
        ];
        compile(compiler, &flags, &path, &[]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The Rust declarations of the C ABI that tests use (`common/capi.rs`) must match
/// the header: every struct's size and field offsets, every constant. A C program
/// prints the header's figures; the Rust side computes its own from the same list.
#[test]
fn rust_declarations_of_the_c_abi_match_the_header() {
    use common::capi::*;
    use std::fmt::Write as _;
    use std::mem::{offset_of, size_of};

    let mut c_lines = String::new();
    let mut rust = String::new();
    macro_rules! structs {
        ($($ty:ident { $($field:ident),* })*) => {$(
            writeln!(c_lines, "    printf(\"{} %zu\\n\", sizeof({}));", stringify!($ty), stringify!($ty)).unwrap();
            writeln!(rust, "{} {}", stringify!($ty), size_of::<$ty>()).unwrap();
            $(
                writeln!(c_lines, "    printf(\"{}.{} %zu\\n\", offsetof({}, {}));",
                    stringify!($ty), stringify!($field), stringify!($ty), stringify!($field)).unwrap();
                writeln!(rust, "{}.{} {}", stringify!($ty), stringify!($field), offset_of!($ty, $field)).unwrap();
            )*
        )*};
    }
    macro_rules! constants {
        ($($name:ident),*) => {$(
            writeln!(c_lines, "    printf(\"{} %lld\\n\", (long long){});", stringify!($name), stringify!($name)).unwrap();
            writeln!(rust, "{} {}", stringify!($name), $name as i64).unwrap();
        )*};
    }
    structs! {
        connman_conn { id }
        connman_pool { id }
        connman_handler { ctx, on_connect, on_reset, on_reconnect, on_data, on_close }
        connman_options {
            backoff_initial_ms, backoff_max_ms, connect_timeout_ms, idle_timeout_ms,
            healthy_after_ms, send_queue_limit, keepalive_idle_ms, keepalive_interval_ms,
            keepalive_count, user_timeout_ms, nodelay, recovery_backoff_max_ms,
            recovery_window_ms, resolve_in_background, send_while_reconnecting, reserved
        }
        connman_stats {
            state, last_error, last_resolve_error, connects, resets, attempts,
            consecutive_failures, bytes_received, bytes_sent, bytes_discarded,
            send_queue_bytes, reserved
        }
        connman_pool_stats { members, connected, closed, reserved }
        connman_config { threads, reserved }
    }
    constants!(
        CONNMAN_OK,
        CONNMAN_ERR_INVALID_ARGUMENT,
        CONNMAN_ERR_NOT_FOUND,
        CONNMAN_ERR_CLOSED,
        CONNMAN_ERR_NOT_CONNECTED,
        CONNMAN_ERR_WOULD_BLOCK,
        CONNMAN_ERR_EXISTS,
        CONNMAN_ERR_PANIC,
        CONNMAN_ERR_RESOLVE,
        CONNMAN_ERR_TOO_LARGE,
        CONNMAN_ERR_FACTORY,
        CONNMAN_ERR_IN_CALLBACK,
        CONNMAN_ERR_OS,
        CONNMAN_ERR_FORKED,
        CONNMAN_ERR_STATE,
        CONNMAN_STATE_CONNECTING,
        CONNMAN_STATE_CONNECTED,
        CONNMAN_STATE_RECONNECTING,
        CONNMAN_STATE_CLOSING,
        CONNMAN_STATE_CLOSED,
        CONNMAN_MAX_HOST_LEN,
        CONNMAN_MAX_POOL_NAME_LEN,
        CONNMAN_MAX_UNIX_PATH_LEN,
        CONNMAN_MAX_THREADS,
        CONNMAN_VERSION_MAJOR,
        CONNMAN_VERSION_MINOR,
        CONNMAN_VERSION_PATCH,
        CONNMAN_LOG_ERROR,
        CONNMAN_LOG_WARN,
        CONNMAN_LOG_INFO,
        CONNMAN_LOG_DEBUG
    );

    let dir = std::env::temp_dir().join(format!("connman-layout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("layout.c");
    let exe = dir.join("layout");
    std::fs::write(
        &src,
        format!(
            "#include <stddef.h>\n#include <stdio.h>\n#include \"connman.h\"\nint main(void) {{\n{c_lines}    return 0;\n}}\n"
        ),
    )
    .unwrap();
    compile(
        "cc",
        &["-std=c99", "-Wall", "-Werror"],
        &src,
        &["-o".as_ref(), exe.as_ref()],
    );
    let out = Command::new(&exe).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let c = String::from_utf8_lossy(&out.stdout);
    for (c_line, rust_line) in c.lines().zip(rust.lines()) {
        assert_eq!(
            c_line, rust_line,
            "tests/common/capi.rs no longer matches include/connman.h (C, then Rust)"
        );
    }
    assert_eq!(c.lines().count(), rust.lines().count());
}
