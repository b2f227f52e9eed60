//! The README's quick starts, run as a reader would run them: each program
//! (`examples/quickstart.rs`, `c-examples/quickstart.c`, `c-examples/quickstart.cpp`,
//! `bindings/python/examples/quickstart_reconnect.py`) against a flaky-echo that is stopped
//! and started again, and its output checked: on_connect, the echo, on_reset,
//! on_reconnect on the same descriptor, the second echo, done.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

const STEP: Duration = Duration::from_secs(20);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A running quick start; killed if the test fails before it exits.
struct Run {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Run {
    fn start(mut cmd: Command, port: u16) -> Run {
        let mut child = cmd
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Run {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line starting with `prefix`; returns it.
    fn expect(&mut self, prefix: &str) -> String {
        let end = Instant::now() + STEP;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line starting with {prefix:?}; output so far: {:#?}",
                    self.seen
                ),
            }
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs one quick start through connect, echo, a server stop and start, reconnect.
fn check(cmd: Command) {
    let mut srv = Server::echo();
    let mut run = Run::start(cmd, srv.port);
    let connect = run.expect("on_connect: fd ");
    run.expect("echo: hello");
    srv.cmd("stop");
    run.expect("on_reset");
    srv.cmd("start");
    let reconnect = run.expect("on_reconnect: fd ");
    run.expect("echo: hello again");
    run.expect("on_close");
    run.expect("done");
    let fd = |l: &str| l.split_whitespace().nth(2).map(str::to_owned);
    assert_eq!(
        fd(&connect),
        fd(&reconnect),
        "the same descriptor: {:#?}",
        run.seen
    );
    let status = run.child.wait().unwrap();
    assert!(
        status.success(),
        "exit status {status}; output: {:#?}",
        run.seen
    );
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The C and C++ quick starts, built by the Makefile (once per run).
fn c_quickstarts() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        if !have("make") || !have("cc") || !have("c++") {
            eprintln!("SKIPPED: the C and C++ quick starts need make, cc and c++");
            return None;
        }
        // target/<profile>/c-quickstart, next to this test's deps/ directory.
        let exe = std::env::current_exe().expect("test executable path");
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .unwrap()
            .join("c-quickstart");
        let out = Command::new("make")
            .arg("-C")
            .arg(root().join("c-examples"))
            .arg(format!("BUILD={}", dir.display()))
            .arg("CARGO_FLAGS=--quiet")
            .arg(dir.join("quickstart"))
            .arg(dir.join("quickstart_cpp"))
            .env("CARGO", testkit::cargo::cargo())
            .env_remove("MAKEFLAGS")
            .env_remove("MFLAGS")
            .env_remove("MAKELEVEL")
            .output()
            .expect("make runs");
        assert!(
            out.status.success(),
            "building the C quick starts failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Some(dir)
    })
    .as_deref()
}

#[test]
fn rust_quickstart() {
    let exe = testkit::cargo::build(&["-p", "connman", "--example", "quickstart"], "quickstart")
        .unwrap_or_else(|e| panic!("{e}"));
    check(Command::new(exe));
}

#[test]
fn c_quickstart() {
    if let Some(dir) = c_quickstarts() {
        check(Command::new(dir.join("quickstart")));
    }
}

#[test]
fn cpp_quickstart() {
    if let Some(dir) = c_quickstarts() {
        check(Command::new(dir.join("quickstart_cpp")));
    }
}

#[test]
fn python_quickstart() {
    let lib = testkit::cargo::build_lib(&["-p", "connman", "--lib"], "connman", ".so")
        .unwrap_or_else(|e| panic!("{e}"));
    let python = std::env::var("CONNMAN_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let mut cmd = Command::new(python);
    cmd.arg(root().join("bindings/python/examples/quickstart_reconnect.py"))
        .env("CONNMAN_LIBRARY", lib)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    check(cmd);
}

/// Whether a line of an excerpt stands for elided code (`/* ... */`, `// ...`, `# ...`).
fn is_elision(line: &str) -> bool {
    let t = line.trim();
    let t = t
        .strip_prefix("/*")
        .or_else(|| t.strip_prefix("//"))
        .or_else(|| t.strip_prefix('#'))
        .unwrap_or(t);
    t.trim_start().starts_with("...")
}

/// The README's excerpts are the quick starts' own lines: each code block after an
/// `<!-- excerpt: PATH -->` line, cut where a line elides code, appears in PATH piece
/// by piece, in order.
#[test]
fn readme_excerpts_are_the_quickstarts_own_lines() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut lines = readme.lines();
    let mut excerpts = 0;
    while let Some(line) = lines.next() {
        let Some(path) = line
            .strip_prefix("<!-- excerpt: ")
            .and_then(|r| r.strip_suffix(" -->"))
        else {
            continue;
        };
        let file = std::fs::read_to_string(root().join(path)).unwrap();
        assert!(lines.next().is_some_and(|l| l.starts_with("```")));
        let (mut piece, mut from) = (Vec::new(), 0);
        let mut check = |piece: &mut Vec<&str>| {
            let text = piece.join("\n");
            match file[from..].find(&text) {
                Some(at) => from += at + text.len(),
                None => panic!(
                    "README excerpt of {path} is not (or no longer) in it, in this order:\n{text}"
                ),
            }
            piece.clear();
        };
        for l in lines.by_ref() {
            if l.starts_with("```") {
                check(&mut piece);
                break;
            }
            if is_elision(l) {
                check(&mut piece);
            } else {
                piece.push(l);
            }
        }
        excerpts += 1;
    }
    assert_eq!(excerpts, 4, "one excerpt per quick start");
}
