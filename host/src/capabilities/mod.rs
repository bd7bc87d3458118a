//! Capabilities: what a participant can ask the host to do, and the checks
//! that stand in front of each.
//!
//! Guarantees:
//! - Deny by default: a call is checked against the participant's
//!   [`Grants`] before anything leaves the machine; a refusal is a `denied`
//!   error naming the capability and the target.
//! - Secrets are resolved here, after the grant check, and only used inside
//!   the host; their values are redacted from whatever flows back.
//! - Every host call is bounded by what remains of the call's deadline.

mod chef;
mod ec2;
pub mod grants;
mod http;
pub mod known_hosts;
mod log;
pub mod net;
mod outcome;
pub mod secrets;
mod ssh;
pub mod vault;

pub use grants::{Access, GrantError, Grants};
pub use http::HttpClients;
pub use known_hosts::{FileKnownHosts, KnownHosts, MemoryKnownHosts};
pub use secrets::{MemorySecrets, Secret, SecretStore};
pub use vault::{Vault, VaultError};

use crate::sandbox::bindings::WitError;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Something a participant reported while it ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ParticipantEvent {
    Log { level: String, message: String },
    Progress { message: String, percent: Option<u8> },
}

/// Receives a call's log lines and progress reports as they happen.
pub trait EventSink: Send + Sync {
    fn emit(&self, event: ParticipantEvent);
}

/// Host-wide services shared by every call (HTTP clients, the EC2 endpoint,
/// the SSH host keys recorded on first use).
pub struct HostServices {
    pub(crate) http: HttpClients,
    pub(crate) ec2: ec2::Ec2Clients,
    pub(crate) known_hosts: Arc<dyn KnownHosts>,
}

/// Host-wide settings for the capabilities.
#[derive(Debug, Clone, Default)]
pub struct HostConfig {
    /// Overrides the AWS endpoint (AWS_ENDPOINT_URL), e.g. for moto.
    pub aws_endpoint_url: Option<String>,
    /// Where SSH host keys trusted on first use are kept; `None` keeps them
    /// in memory, so trust lasts only as long as the process.
    pub known_hosts_file: Option<std::path::PathBuf>,
}

impl HostServices {
    pub fn new(config: &HostConfig) -> anyhow::Result<Self> {
        let known_hosts: Arc<dyn KnownHosts> = match &config.known_hosts_file {
            Some(path) => Arc::new(FileKnownHosts::open(path)?),
            None => Arc::new(MemoryKnownHosts::new()),
        };
        Ok(HostServices {
            http: HttpClients::new()?,
            ec2: ec2::Ec2Clients::new(config.aws_endpoint_url.clone()),
            known_hosts,
        })
    }
}

/// What one call may use: its grants, its tenant's secrets, its budget.
pub struct CallCaps {
    pub(crate) grants: Arc<Grants>,
    pub(crate) secrets: Arc<dyn SecretStore>,
    pub(crate) services: Arc<HostServices>,
    pub(crate) events: Option<Arc<dyn EventSink>>,
    /// Whose call this is: SSH host keys are trusted per tenant.
    pub(crate) tenant: String,
    pub(crate) deadline: Instant,
    pub(crate) log_budget: usize,
    /// Secret values this call used, to redact from what flows back.
    pub(crate) used_secrets: Vec<Secret>,
    /// Refused capability calls, reported with the call's outcome.
    pub(crate) denials: Vec<String>,
    /// Field updates the participant keeps even if it fails (`outcome.keep`).
    pub(crate) kept: outcome::Kept,
    /// The call's output limit, which also bounds what it keeps.
    pub(crate) output_limit: usize,
}

impl CallCaps {
    /// Records and returns a denial.
    pub(crate) fn deny(&mut self, capability: &str, target: &str, hint: &str) -> WitError {
        let message = format!("{capability}: {target} is not granted to this participant ({hint})");
        tracing::warn!(%message, "capability denied");
        self.denials.push(message.clone());
        WitError::denied(message)
    }

    /// The value of secret `name`, if granted and set.
    pub(crate) fn secret(&mut self, capability: &str, name: &str) -> Result<Secret, WitError> {
        if !self.grants.allows_secret(name) {
            return Err(self.deny(capability, &format!("secret '{name}'"), &format!("grant it with secret={name}")));
        }
        let secret = self
            .secrets
            .get(name)
            .ok_or_else(|| WitError::fatal(format!("{capability}: secret '{name}' is granted but not set")))?;
        if !self.used_secrets.contains(&secret) {
            self.used_secrets.push(secret.clone());
        }
        Ok(secret)
    }

    /// What remains of the call's deadline, capped by `requested` if given.
    pub(crate) fn time_left(&self, requested_ms: Option<u32>) -> Duration {
        let left = self.deadline.saturating_duration_since(Instant::now());
        match requested_ms {
            Some(ms) => left.min(Duration::from_millis(ms.into())),
            None => left,
        }
    }

    pub(crate) fn redact(&self, text: &str) -> String {
        secrets::redact(text, &self.used_secrets)
    }
}

impl crate::sandbox::bindings::mastermind::participant::types::Host for CallCaps {}
