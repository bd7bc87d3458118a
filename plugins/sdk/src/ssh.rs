//! Commands over SSH through the host, which holds the keys and verifies
//! host keys.

use crate::bindings::mastermind::participant::ssh as wit;
use crate::error::{Error, Result};
use std::time::Duration;

pub use wit::ExecOutput as Output;
/// A command for its targets, as the host runs it (what a test's stub
/// answers).
pub use wit::{ExecRequest as Request, Target};

/// One command for one or many hosts.
#[derive(Debug, Clone)]
pub struct Exec(wit::ExecRequest);

impl Exec {
    /// `key_secret` names the secret holding the private key.
    pub fn new(command: &str, key_secret: &str) -> Self {
        Exec(wit::ExecRequest {
            targets: Vec::new(),
            key_secret: key_secret.into(),
            command: command.into(),
            stdin: None,
            timeout_ms: None,
            concurrency: 0,
            host_keys: Vec::new(),
        })
    }

    pub fn target(mut self, host: &str, port: u16, user: &str) -> Self {
        self.0.targets.push(Target { host: host.into(), port, user: user.into() });
        self
    }

    pub fn stdin(mut self, input: &str) -> Self {
        self.0.stdin = Some(input.into());
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.0.timeout_ms = Some(u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX));
        self
    }

    /// At most `n` hosts at once (0: all).
    pub fn concurrency(mut self, n: u32) -> Self {
        self.0.concurrency = n;
        self
    }

    /// Pins `host` (or `host:port`) to a `SHA256:...` fingerprint.
    pub fn host_key(mut self, host: &str, fingerprint: &str) -> Self {
        self.0.host_keys.push((host.into(), fingerprint.into()));
        self
    }

    /// One result per target, in the order they were added.
    pub fn run(self) -> Result<Vec<Result<Output>>> {
        let results = crate::imports::ssh_exec(&self.0)?;
        Ok(results.into_iter().map(|r| r.map_err(Error::from)).collect())
    }
}

/// Whether `s` is a host key fingerprint as OpenSSH prints it
/// (`SHA256:` and 43 base64 characters), so a participant can refuse a
/// mistyped pin as bad input before anything connects.
pub fn is_fingerprint(s: &str) -> bool {
    s.trim().strip_prefix("SHA256:").is_some_and(|b64| {
        let b64 = b64.trim_end_matches('=');
        b64.len() == 43 && b64.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    })
}

/// A host as a step may write it: a name, an IPv4 or IPv6 address
/// (bracketed or not), no user, port or spaces.
pub fn check_host(host: &str) -> std::result::Result<(), String> {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if bare.is_empty() {
        return Err("the host is empty".into());
    }
    if bare.chars().any(|c| c.is_whitespace() || c == '@' || c == '/') {
        return Err(format!("host '{host}' must be a bare name or address (no user, path or spaces)"));
    }
    if bare.contains(':') && bare.parse::<std::net::Ipv6Addr>().is_err() {
        return Err(format!("host '{host}' must not include a port; give the port separately"));
    }
    Ok(())
}

/// Splits `[user@]host[:port]` (IPv6 as `[addr]:port` or a bare address).
pub fn parse_target(spec: &str) -> std::result::Result<(Option<String>, String, Option<u16>), String> {
    let spec = spec.trim();
    let (user, rest) = match spec.rsplit_once('@') {
        Some((u, _)) if u.is_empty() || u.chars().any(char::is_whitespace) => {
            return Err(format!("'{spec}': bad user"));
        }
        Some((u, r)) => (Some(u.to_owned()), r),
        None => (None, spec),
    };
    let port_of = |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("'{spec}': bad port '{p}'"));
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (h, after) = inner.split_once(']').ok_or_else(|| format!("'{spec}': unclosed '['"))?;
        match after {
            "" => (h, None),
            p => {
                (h, Some(port_of(p.strip_prefix(':').ok_or_else(|| format!("'{spec}': expected ':PORT' after ']'"))?)?))
            }
        }
    } else {
        match rest.split_once(':') {
            Some((h, p)) if !p.contains(':') => (h, Some(port_of(p)?)),
            _ => (rest, None),
        }
    };
    check_host(host).map_err(|e| format!("'{spec}': {e}"))?;
    Ok((user, host.to_owned(), port))
}

/// The last few non-empty lines of `text` (at most `max_chars`), for error
/// messages that must say why a command failed without dumping its output.
pub fn tail(text: &str, lines: usize, max_chars: usize) -> String {
    let kept: Vec<&str> = text.lines().rev().filter(|l| !l.trim().is_empty()).take(lines).collect();
    let joined = kept.into_iter().rev().collect::<Vec<_>>().join(" | ");
    let count = joined.chars().count();
    if count <= max_chars {
        return joined;
    }
    format!("...{}", joined.chars().skip(count - max_chars).collect::<String>())
}
