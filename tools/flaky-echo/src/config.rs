//! The command line: modes and options.

use std::net::{IpAddr, Ipv4Addr};

pub(crate) const USAGE: &str = "\
usage: flaky-echo [OPTIONS]

A deliberately unreliable TCP echo server for tests and benchmarks.
Prints `LISTENING <port>` on stdout once listening.

options:
  --host ADDR            address to bind (default 127.0.0.1; ::1 works)
  --port N               port to bind (default 0 = ephemeral)
  --port-file PATH       also write the port (decimal + newline) to PATH
  --unix PATH            listen on a Unix socket at PATH instead (@name: the
                         abstract namespace); prints `LISTENING 0`; `stop`
                         removes the socket file, `start` makes it again
  --greeting TEXT        send TEXT on accept (\\r \\n \\t \\\\ are translated)
  --mode MODE            echo | close | silent | sink | blast | noread
                         (default echo)
  --drop-after-ms N      close each connection N ms after accept (0 = never)
  --drop-jitter-ms J     add a uniform random 0..=J ms per connection
  --seed S               seed for the jitter PRNG (default: time and pid)
  --rst                  drop connections with RST instead of FIN
  --up-ms N              cycle: listen for N ms ...
  --down-ms M            ... then close listener and clients for M ms
  --lifetime-ms N        exit after N ms (0 = no limit)
  --backlog N            listen backlog (default 8192)
  --ignore-stdin         do not read commands; do not exit on stdin EOF
  --quiet                do not log per-connection events to stderr
  --help                 show this text

stdin commands (answered `OK <command>` or `ERR <message>` on stdout):
  drop | rst | stop | start | mode MODE | stats | quit
";

/// What the server does with its clients.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    /// Echo every byte back, exactly and in order.
    Echo,
    /// Accept and close at once.
    Close,
    /// Never read, never write: a stuck peer.
    Silent,
    /// Read and discard.
    Sink,
    /// Ignore (read and discard) input, write a repeating byte pattern.
    Blast,
    /// Never read (so the client's writes eventually block); queued echo
    /// output is still flushed.
    NoRead,
}

impl Mode {
    pub(crate) fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "echo" => Mode::Echo,
            "close" => Mode::Close,
            "silent" => Mode::Silent,
            "sink" => Mode::Sink,
            "blast" => Mode::Blast,
            "noread" => Mode::NoRead,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Echo => "echo",
            Mode::Close => "close",
            Mode::Silent => "silent",
            Mode::Sink => "sink",
            Mode::Blast => "blast",
            Mode::NoRead => "noread",
        }
    }

    /// Whether queued output is written in this mode.
    pub(crate) fn writes(self) -> bool {
        self != Mode::Silent
    }

    /// Whether the server reads from clients in this mode.
    pub(crate) fn reads(self) -> bool {
        matches!(self, Mode::Echo | Mode::Sink | Mode::Blast)
    }
}

/// Command-line configuration.
pub(crate) struct Config {
    pub(crate) host: IpAddr,
    pub(crate) port: u16,
    pub(crate) port_file: Option<String>,
    pub(crate) unix: Option<String>,
    pub(crate) greeting: Vec<u8>,
    pub(crate) mode: Mode,
    pub(crate) drop_after_ms: u64,
    pub(crate) drop_jitter_ms: u64,
    pub(crate) seed: Option<u64>,
    pub(crate) rst: bool,
    pub(crate) up_ms: u64,
    pub(crate) down_ms: u64,
    pub(crate) lifetime_ms: u64,
    pub(crate) backlog: i32,
    pub(crate) ignore_stdin: bool,
    pub(crate) quiet: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            port_file: None,
            unix: None,
            greeting: Vec::new(),
            mode: Mode::Echo,
            drop_after_ms: 0,
            drop_jitter_ms: 0,
            seed: None,
            rst: false,
            up_ms: 0,
            down_ms: 0,
            lifetime_ms: 0,
            backlog: 8192,
            ignore_stdin: false,
            quiet: false,
        }
    }
}

/// Translate `\r`, `\n`, `\t` and `\\` typed as backslash escapes.
fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'\\') => out.push(b'\\'),
            Some(other) => out.extend_from_slice(&[b'\\', other]),
            None => out.push(b'\\'),
        }
    }
    out
}

fn parse_host(s: &str) -> Result<IpAddr, String> {
    let s = s.trim_start_matches('[').trim_end_matches(']');
    if s == "localhost" {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    s.parse().map_err(|_| format!("bad --host {s:?}"))
}

fn parse_num<T: std::str::FromStr>(opt: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("bad value {value:?} for {opt}"))
}

/// Options that take a value.
const VALUE_OPTIONS: &[&str] = &[
    "--host",
    "--port",
    "--port-file",
    "--unix",
    "--greeting",
    "--mode",
    "--drop-after-ms",
    "--drop-jitter-ms",
    "--seed",
    "--up-ms",
    "--down-ms",
    "--lifetime-ms",
    "--backlog",
];

/// Parse the command line.  `Ok(None)` means `--help` was printed.
pub(crate) fn parse_args(args: impl Iterator<Item = String>) -> Result<Option<Config>, String> {
    let mut cfg = Config::default();
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        // Accept both `--opt value` and `--opt=value`.
        let (opt, inline) = match arg.split_once('=') {
            Some((o, v)) if o.starts_with("--") => (o.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        match opt.as_str() {
            "--help" | "-h" => {
                print!("{USAGE}");
                return Ok(None);
            }
            "--rst" => cfg.rst = true,
            "--quiet" => cfg.quiet = true,
            "--ignore-stdin" => cfg.ignore_stdin = true,
            _ if !VALUE_OPTIONS.contains(&opt.as_str()) => {
                return Err(format!("unknown option {opt}"));
            }
            _ => {
                let value = match inline {
                    Some(v) => v,
                    None => args.next().ok_or_else(|| format!("{opt} needs a value"))?,
                };
                let v = value.as_str();
                match opt.as_str() {
                    "--host" => cfg.host = parse_host(v)?,
                    "--port" => cfg.port = parse_num(&opt, v)?,
                    "--port-file" => cfg.port_file = Some(value.clone()),
                    "--unix" => cfg.unix = Some(value.clone()),
                    "--greeting" => cfg.greeting = unescape(v),
                    "--mode" => {
                        cfg.mode = Mode::parse(v).ok_or_else(|| format!("unknown mode {v:?}"))?
                    }
                    "--drop-after-ms" => cfg.drop_after_ms = parse_num(&opt, v)?,
                    "--drop-jitter-ms" => cfg.drop_jitter_ms = parse_num(&opt, v)?,
                    "--seed" => cfg.seed = Some(parse_num(&opt, v)?),
                    "--up-ms" => cfg.up_ms = parse_num(&opt, v)?,
                    "--down-ms" => cfg.down_ms = parse_num(&opt, v)?,
                    "--lifetime-ms" => cfg.lifetime_ms = parse_num(&opt, v)?,
                    "--backlog" => cfg.backlog = parse_num(&opt, v)?,
                    _ => return Err(format!("unknown option {opt}")),
                }
            }
        }
    }
    Ok(Some(cfg))
}
