//! Commands over SSH through the host, which holds the keys and verifies
//! host keys.

use crate::bindings::mastermind::participant::ssh::{self as wit, Target};
use crate::error::{Error, Result};
use std::time::Duration;

pub use wit::ExecOutput as Output;

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
        let results = wit::exec(&self.0)?;
        Ok(results.into_iter().map(|r| r.map_err(Error::from)).collect())
    }
}
