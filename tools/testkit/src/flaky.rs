//! The flaky-echo server (`tools/flaky-echo`) as a child process, steered through
//! its stdin protocol: it prints `LISTENING <port>`, then answers each command line
//! (`drop`, `rst`, `stop`, `start`, `mode M`, `stats`, `quit`) with `OK ...` or
//! `ERR ...`. It exits when its stdin closes, so it never outlives its owner.
//!
//! Its log (stderr) is kept in memory and printed only when the owner is dropped
//! while panicking (a failing test), or shown live with `CONNMAN_TEST_VERBOSE=1`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the server may take to start or to answer a command.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `CONNMAN_TEST_VERBOSE` asks for the servers' logs as they happen.
pub fn verbose() -> bool {
    std::env::var_os("CONNMAN_TEST_VERBOSE").is_some_and(|v| !v.is_empty() && v != "0")
}

/// The flaky-echo executable: `$FLAKY_ECHO` (or `$CONNMAN_FLAKY_ECHO`) if set, else
/// built by `cargo build -p flaky-echo` (once per process, with the caller's profile).
pub fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        for var in ["FLAKY_ECHO", "CONNMAN_FLAKY_ECHO"] {
            if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
                return PathBuf::from(p);
            }
        }
        crate::cargo::build(&["-p", "flaky-echo", "--bin", "flaky-echo"], "flaky-echo")
            .unwrap_or_else(|e| panic!("cannot build the flaky-echo test server: {e}"))
    })
}

/// A running flaky-echo process.
pub struct FlakyEcho {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    log: Arc<Mutex<Vec<u8>>>,
    /// The threads reading its stdout and stderr, joined on drop so that no pipe
    /// outlives the process (tests count this process's descriptors).
    readers: Vec<JoinHandle<()>>,
    /// The port it listens on.
    pub port: u16,
    /// When its `LISTENING` line was read.
    pub listening_at: Instant,
}

impl FlakyEcho {
    /// A command for the flaky-echo binary, to add arguments (or a `pre_exec`) to.
    pub fn command() -> Command {
        Command::new(binary())
    }

    /// `flaky-echo ARGS...`, started with [`FlakyEcho::spawn`].
    pub fn start(args: &[&str]) -> Result<FlakyEcho, String> {
        let mut cmd = FlakyEcho::command();
        cmd.args(args);
        FlakyEcho::spawn(cmd, verbose())
    }

    /// Runs `cmd` (a flaky-echo command line, possibly behind a wrapper such as
    /// `ip netns exec NS`) with piped stdin and stdout, and waits for its
    /// `LISTENING` line. Its stderr goes to ours when `show_log`, else it is kept.
    pub fn spawn(mut cmd: Command, show_log: bool) -> Result<FlakyEcho, String> {
        let shown = format!("{cmd:?}");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if show_log {
                Stdio::inherit()
            } else {
                Stdio::piped()
            })
            .spawn()
            .map_err(|e| format!("cannot start {shown}: {e}"))?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        if let Some(mut err) = child.stderr.take() {
            let log = log.clone();
            readers.push(std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = err.read(&mut buf) {
                    log.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend_from_slice(&buf[..n]);
                }
            }));
        }
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = mpsc::channel();
        readers.push(std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        }));
        let stdin = child.stdin.take();
        let mut s = FlakyEcho {
            child,
            stdin,
            lines,
            log,
            readers,
            port: 0,
            listening_at: Instant::now(),
        };
        let line = s
            .lines
            .recv_timeout(ANSWER_TIMEOUT)
            .map_err(|_| format!("{shown}: no LISTENING line; its log:\n{}", s.log()))?;
        s.listening_at = Instant::now();
        s.port = line
            .trim()
            .strip_prefix("LISTENING ")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("{shown}: unexpected first line {line:?}"))?;
        Ok(s)
    }

    /// Sends one command and waits for its `OK` line, which it returns trimmed.
    pub fn cmd(&mut self, c: &str) -> Result<String, String> {
        let stdin = self.stdin.as_mut().ok_or("server stdin closed")?;
        writeln!(stdin, "{c}")
            .and_then(|_| stdin.flush())
            .map_err(|e| format!("server stdin: {e}"))?;
        let end = Instant::now() + ANSWER_TIMEOUT;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with("OK") => return Ok(l.trim().to_owned()),
                Ok(l) if l.starts_with("ERR") => {
                    return Err(format!("server answered {l:?} to {c:?}"))
                }
                Ok(_) => {}
                Err(_) => return Err(format!("server did not answer {c:?}")),
            }
        }
    }

    /// The process id (for signals: SIGSTOP freezes it, SIGKILL ends it).
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// What it wrote to stderr so far (empty when it was shown live).
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for FlakyEcho {
    fn drop(&mut self) {
        self.stdin.take(); // EOF: it exits by itself
        self.kill();
        // The process is gone, so both pipes are at EOF and the readers end.
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        if std::thread::panicking() {
            let log = self.log();
            if !log.is_empty() {
                eprintln!(
                    "--- log of flaky-echo on port {}:\n{log}--- end of log",
                    self.port
                );
            }
        }
    }
}
