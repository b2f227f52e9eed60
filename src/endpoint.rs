//! Where a connection goes: a TCP host and port, or a Unix socket path. The
//! reactor only ever sees the [`Addr`]es an endpoint resolves to, so every policy
//! (stable descriptor, backoff, connect slots, flap guard) is the same for both.

use crate::error::{Error, Result};
use crate::sys::{self, Addr, UnixAddr};

/// Longest host name accepted (the DNS limit).
pub const MAX_HOST_LEN: usize = 253;
/// Longest Unix socket path accepted, in bytes (`sun_path` less its NUL); an
/// abstract name (`@name`) may have as many bytes after its `@`.
pub const MAX_UNIX_PATH: usize = sys::MAX_UNIX_PATH;

/// A validated destination.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Endpoint {
    Tcp {
        /// As the application gave it (the key of `get_connection`).
        host: String,
        port: u16,
        /// Set when `host` is a numeric address: no resolver needed.
        numeric: Option<std::net::SocketAddr>,
    },
    Unix {
        /// As the application gave it (`@name` for the abstract namespace).
        path: String,
        addr: UnixAddr,
    },
}

impl Endpoint {
    /// A TCP endpoint; the message of a failure names what is wrong.
    pub fn tcp(host: &str, port: u16) -> Result<Endpoint> {
        if port == 0 {
            return Err(Error::invalid(format_args!(
                "port must be 1 to 65535, got 0"
            )));
        }
        if host.is_empty() {
            return Err(Error::invalid(format_args!("host must not be empty")));
        }
        if host.len() > MAX_HOST_LEN {
            return Err(Error::invalid(format_args!(
                "host must be at most {MAX_HOST_LEN} bytes, got {}",
                host.len()
            )));
        }
        if host.contains('\0') {
            return Err(Error::invalid(format_args!(
                "host must not contain a NUL byte"
            )));
        }
        Ok(Endpoint::Tcp {
            host: host.to_owned(),
            port,
            numeric: sys::parse_numeric(host, port),
        })
    }

    /// A Unix socket endpoint: a path, or `@name` for the abstract namespace.
    pub fn unix(path: &str) -> Result<Endpoint> {
        if path.is_empty() {
            return Err(Error::invalid(format_args!("path must not be empty")));
        }
        if path.contains('\0') {
            return Err(Error::invalid(format_args!(
                "path must not contain a NUL byte"
            )));
        }
        let addr = UnixAddr::parse(path).ok_or_else(|| {
            Error::invalid(format_args!(
                "path must be at most {MAX_UNIX_PATH} bytes (after the '@' of an abstract \
                 name), got {}",
                path.len()
            ))
        })?;
        Ok(Endpoint::Unix {
            path: path.to_owned(),
            addr,
        })
    }

    /// The addresses known without asking the resolver (a numeric host, a path).
    pub fn known_addrs(&self) -> Option<Vec<Addr>> {
        match self {
            Endpoint::Tcp { numeric, .. } => numeric.map(|a| vec![Addr::Ip(a)]),
            Endpoint::Unix { addr, .. } => Some(vec![Addr::Unix(*addr)]),
        }
    }

    /// Resolves the endpoint (on the calling thread): the addresses to try, in
    /// order, or getaddrinfo's EAI_* code.
    pub fn resolve(&self) -> std::result::Result<Vec<Addr>, i32> {
        if let Some(addrs) = self.known_addrs() {
            return Ok(addrs);
        }
        match self {
            Endpoint::Tcp { host, port, .. } => {
                sys::resolve(host, *port).map(|v| v.into_iter().map(Addr::Ip).collect())
            }
            Endpoint::Unix { .. } => unreachable!("known above"),
        }
    }

    /// Resolves on the calling thread; a failure is [`Error::Resolve`] whose message
    /// names the host and the resolver's reason.
    pub fn resolve_now(&self) -> Result<Vec<Addr>> {
        self.resolve().map_err(|code| {
            Error::Resolve.because(format_args!("{self}: {}", sys::resolve_error_text(code)))
        })
    }

    pub fn is_unix(&self) -> bool {
        matches!(self, Endpoint::Unix { .. })
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Tcp { host, port, .. } if host.contains(':') && !host.starts_with('[') => {
                write!(f, "[{host}]:{port}")
            }
            Endpoint::Tcp { host, port, .. } => write!(f, "{host}:{port}"),
            Endpoint::Unix { path, .. } => write!(f, "unix:{path}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_paths_filesystem_and_abstract() {
        assert!(Endpoint::unix("/tmp/x.sock").is_ok());
        assert!(Endpoint::unix("@name").is_ok());
        assert!(Endpoint::unix(&"a".repeat(MAX_UNIX_PATH)).is_ok());
        assert!(Endpoint::unix(&"a".repeat(MAX_UNIX_PATH + 1)).is_err());
        assert!(Endpoint::unix(&format!("@{}", "a".repeat(MAX_UNIX_PATH))).is_ok());
        assert!(Endpoint::unix("").is_err());
        assert!(Endpoint::unix("a\0b").is_err());
        let Endpoint::Unix { addr, .. } = Endpoint::unix("@x").unwrap() else {
            unreachable!()
        };
        assert_eq!(addr.to_string(), "unix:@x");
    }

    #[test]
    fn tcp_checks_name_the_culprit() {
        assert!(Endpoint::tcp("localhost", 1).is_ok());
        assert_eq!(Endpoint::tcp("h", 0), Err(Error::InvalidArgument));
        assert!(crate::error::last_error_message().contains("port"));
        assert_eq!(Endpoint::tcp("", 1), Err(Error::InvalidArgument));
        assert!(crate::error::last_error_message().contains("host"));
        assert_eq!(Endpoint::tcp("::1", 7).unwrap().to_string(), "[::1]:7");
    }
}
