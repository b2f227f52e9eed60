//! Runs the Python binding's test suite (`bindings/python/tests`, stdlib
//! unittest) against the libconnman cdylib and the flaky-echo server that cargo
//! built for this very test run:
//!
//! - `CONNMAN_LIBRARY`: the `libconnman.so` cargo built for this run, found from
//!   this test executable's location (`target/<profile>/deps/python-<hash>`):
//!   `target/<profile>/deps/libconnman.so`, else `target/<profile>/libconnman.so`;
//! - `CONNMAN_FLAKY_ECHO`: the flaky-echo server, built by `testkit::flaky::binary()`;
//! - `PYTHONPATH`: `bindings/python`, so the package is tested in place
//!   (`bindings/python/tools/ci.sh`, from `.ci/run`, runs the same suite
//!   against the wheel `pip` builds, installed in a fresh venv).
//!
//! The interpreter is `python3`, or `$CONNMAN_PYTHON` if set.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The whole suite takes a few seconds; this only guards against a hang.
const SUITE_TIMEOUT: Duration = Duration::from_secs(300);

fn cdylib() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps directory");
    let profile = deps.parent().expect("profile directory");
    let name = format!(
        "{}connman{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    // `cargo test` builds the cdylib into deps/ and does not always copy it up
    // to target/<profile>/ (a copy there may be stale from an earlier
    // `cargo build`), so deps/ comes first.
    let candidates = [deps.join(&name), profile.join(&name)];
    for c in &candidates {
        if c.is_file() {
            return c.clone();
        }
    }
    panic!("the connman cdylib was not built; looked at {candidates:?}");
}

fn read_all(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

#[test]
fn python_binding_suite() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var("CONNMAN_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let lib = cdylib();
    let flaky = testkit::flaky::binary().display();

    let started = Instant::now();
    let mut child = Command::new(&python)
        .args([
            "-m",
            "unittest",
            "discover",
            "-s",
            "bindings/python/tests",
            "-v",
        ])
        .current_dir(root)
        .env("CONNMAN_LIBRARY", &lib)
        .env("CONNMAN_FLAKY_ECHO", testkit::flaky::binary())
        .env("PYTHONPATH", root.join("bindings/python"))
        .env_remove("CONNMAN_TEST_INSTALLED")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {python:?} (set CONNMAN_PYTHON?): {e}"));
    let out = read_all(child.stdout.take().expect("stdout"));
    let err = read_all(child.stderr.take().expect("stderr"));

    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = match rx.recv_timeout(SUITE_TIMEOUT) {
        Ok(status) => status.expect("waiting for python"),
        Err(_) => {
            // SAFETY: kill(2) on the child we spawned and have not reaped yet.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            let _ = rx.recv();
            panic!(
                "the Python suite did not finish within {SUITE_TIMEOUT:?}\n--- stdout\n{}\n--- stderr\n{}",
                out.join().unwrap_or_default(),
                err.join().unwrap_or_default()
            );
        }
    };
    let (out, err) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    // Shown by the test harness on failure, or with --nocapture.
    println!(
        "library: {}\nflaky-echo: {flaky}\ntook {:?}",
        lib.display(),
        started.elapsed()
    );
    println!("--- stdout\n{out}\n--- stderr\n{err}");
    assert!(
        status.success(),
        "the Python suite failed ({status}); its output is above"
    );
    let ran: usize = err
        .lines()
        .find_map(|l| l.strip_prefix("Ran ")?.split(' ').next()?.parse().ok())
        .unwrap_or(0);
    assert!(
        ran > 0,
        "the Python suite ran no tests; its output is above"
    );
}
