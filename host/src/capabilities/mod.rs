//! Capabilities: what a participant can ask the host to do, and the checks
//! that stand in front of each.
//!
//! This layer is plain Rust, below the sandbox: each capability is a method
//! on [`CallCaps`] taking and returning its own types, failing with a
//! [`CapabilityError`] (the participant's to handle) or, for the log and
//! the timer, a [`LimitReached`] (the end of the call). The sandbox's host
//! glue (`sandbox::host`) turns the WIT contract's values into these and
//! back, so a change to the contract's plumbing never reaches the checks.
//!
//! Guarantees:
//! - Deny by default: a call is checked against the participant's
//!   [`Grants`] before anything leaves the machine; a refusal is a `denied`
//!   error naming the capability and the target.
//! - Secrets are resolved here, after the grant check, and only used inside
//!   the host; their values are redacted from whatever flows back.
//! - Every host call is bounded by what remains of the call's deadline.

pub mod chef;
pub mod dry_run;
pub mod ec2;
pub mod grants;
pub mod http;
pub mod known_hosts;
pub mod log;
pub mod net;
pub mod outcome;
mod scope;
pub mod secrets;
pub mod ssh;
mod ssh_host_keys;
mod ssh_slots;
pub mod vault;

pub use dry_run::Stubs;
pub use grants::{Access, GrantError, Grants};
pub use http::HttpClients;
pub use known_hosts::{FileKnownHosts, KnownHosts, MemoryKnownHosts};
pub(crate) use scope::{Ledger, Scope};
pub use secrets::{MemorySecrets, Redactor, Secret, SecretStore};
pub use vault::{Vault, VaultError};

use crate::model::Limit;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use ssh_slots::{
    MAX_CONNECTIONS_PER_CALL, MAX_CONNECTIONS_PER_PROCESS, MAX_CONNECTIONS_PER_TENANT, MAX_TARGETS_PER_CALL,
};

/// Why a capability request failed. It goes back to the participant, which
/// may handle it; its kind tells the engine what may help if it does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapabilityError {
    /// What may help: the engine's default handling follows it.
    pub kind: CapabilityErrorKind,
    /// One line for the operator; never holds a secret's value.
    pub message: String,
}

/// The contract's four kinds of failure. Not [`crate::model::ErrorKind`]:
/// that one also has `limit` and `crashed`, which only the sandbox decides
/// and which a participant could not be handed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapabilityErrorKind {
    /// Transient: the same request may succeed later.
    Retryable,
    /// Permanent: retrying will not help.
    Fatal,
    /// Refused by the grants or the address policy.
    Denied,
    /// The request is malformed.
    BadInput,
}

impl CapabilityError {
    /// A refusal by the grants or the address policy.
    pub fn denied(message: impl Into<String>) -> Self {
        CapabilityError { kind: CapabilityErrorKind::Denied, message: message.into() }
    }
    /// A malformed request.
    pub fn bad_input(message: impl Into<String>) -> Self {
        CapabilityError { kind: CapabilityErrorKind::BadInput, message: message.into() }
    }
    /// A failure retrying will not fix.
    pub fn fatal(message: impl Into<String>) -> Self {
        CapabilityError { kind: CapabilityErrorKind::Fatal, message: message.into() }
    }
    /// A transient failure: the same request may succeed later.
    pub fn retryable(message: impl Into<String>) -> Self {
        CapabilityError { kind: CapabilityErrorKind::Retryable, message: message.into() }
    }
}

/// A limit of the whole call reached inside a capability (the log budget
/// spent, the deadline passed while sleeping). Unlike a [`CapabilityError`]
/// the participant never sees it: the sandbox ends the call with it, as it
/// would for any other limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitReached {
    /// Which limit: the call's error names it.
    pub limit: Limit,
    /// One line for the operator.
    pub message: String,
}

impl LimitReached {
    /// The limit reached, and what reached it.
    pub fn new(limit: Limit, message: impl Into<String>) -> Self {
        LimitReached { limit, message: message.into() }
    }
}

/// Something a participant reported while it ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ParticipantEvent {
    /// A log line.
    Log {
        /// `trace`, `debug`, `info`, `warn` or `error`.
        level: String,
        /// The line, redacted of the call's secrets.
        message: String,
    },
    /// A progress report.
    Progress {
        /// What the participant is doing, redacted.
        message: String,
        /// How far along, 0 to 100, when it knows.
        percent: Option<u8>,
    },
    /// A dry run's capability call: what would have been sent.
    Planned {
        /// `http`, `ssh`, `ec2` or `chef`.
        capability: String,
        /// Its method and URL, hosts and command, region and instances.
        call: serde_json::Value,
    },
}

/// Receives a call's log lines and progress reports as they happen.
pub trait EventSink: Send + Sync {
    /// Takes one event; called from the call's task, so it must not block.
    fn emit(&self, event: ParticipantEvent);
}

/// Host-wide services shared by every call (HTTP clients, the EC2 endpoint,
/// the SSH host keys recorded on first use, the SSH connection slots).
pub struct HostServices {
    pub(crate) http: HttpClients,
    pub(crate) ec2: ec2::Ec2Clients,
    pub(crate) known_hosts: Arc<dyn KnownHosts>,
    pub(crate) ssh_slots: ssh_slots::ConnectionSlots,
    /// A dry run's answers: no capability call leaves the process.
    pub(crate) dry_run: Option<Arc<Stubs>>,
}

/// Host-wide settings for the capabilities.
#[derive(Debug, Clone, Default)]
pub struct HostConfig {
    /// Overrides the AWS endpoint (AWS_ENDPOINT_URL), e.g. for moto.
    pub aws_endpoint_url: Option<String>,
    /// Where SSH host keys trusted on first use are kept; `None` keeps them
    /// in memory, so trust lasts only as long as the process.
    pub known_hosts_file: Option<std::path::PathBuf>,
    /// Answer every capability call in the host, from these stubs or
    /// synthetic answers, and send nothing (`mastermind run --dry-run`).
    pub dry_run: Option<Arc<Stubs>>,
}

impl HostServices {
    /// The services for `config`.
    ///
    /// # Errors
    /// When the known-hosts file cannot be read or created, or the HTTP
    /// clients cannot be built.
    pub fn new(config: &HostConfig) -> anyhow::Result<Self> {
        let known_hosts: Arc<dyn KnownHosts> = match &config.known_hosts_file {
            Some(path) => Arc::new(FileKnownHosts::open(path)?),
            None => Arc::new(MemoryKnownHosts::new()),
        };
        Ok(HostServices {
            http: HttpClients::new()?,
            ec2: ec2::Ec2Clients::new(config.aws_endpoint_url.clone()),
            known_hosts,
            ssh_slots: ssh_slots::ConnectionSlots::default(),
            dry_run: config.dry_run.clone(),
        })
    }
}

/// What one call may use: its grants, its tenant's secrets, its budget.
pub struct CallCaps {
    pub(crate) grants: Arc<Grants>,
    pub(crate) secrets: Arc<dyn SecretStore>,
    pub(crate) services: Arc<HostServices>,
    pub(crate) events: Option<Arc<dyn EventSink>>,
    /// A dry run's stubs (the job's, else the host's): the call sends nothing.
    pub(crate) dry_run: Option<Arc<Stubs>>,
    /// Whose call this is: SSH host keys are trusted per tenant.
    pub(crate) tenant: String,
    pub(crate) deadline: Instant,
    pub(crate) log_budget: usize,
    /// The call's refusals and response budget, shared with its requests
    /// that run on tasks of their own (`wasi:http`'s).
    pub(crate) ledger: Arc<Ledger>,
    /// The call's memory limit: no single response may be larger, since
    /// the participant could not hold it anyway.
    pub(crate) memory_bytes: usize,
    /// The secret values this call used (and the encodings the host gave
    /// them), to redact from what flows back.
    pub(crate) redactor: Redactor,
    /// Field updates the participant keeps even if it fails (`outcome.keep`).
    pub(crate) kept: outcome::Kept,
    /// The call's output limit, which also bounds what it keeps.
    pub(crate) output_limit: usize,
}

/// Response bytes one call may receive from capabilities in total. Each
/// response is also bounded (16 MiB, and the call's memory limit), but a
/// participant looping over requests must not make the host buffer and
/// redact without end.
pub const MAX_CALL_RESPONSE_BYTES: usize = 64 << 20;

/// Refusals kept per call; one participant retrying a denied request in a
/// loop must not grow the outcome without end.
pub const MAX_DENIALS: usize = 32;

/// The most of a participant-supplied value (a URL, a host, a name) echoed
/// into an error message: an 8 MiB URL must not come back in its error.
pub const MAX_ECHO_CHARS: usize = 256;

/// `text`, cut to at most `max` bytes at a character boundary, with a note
/// of how much was dropped.
pub fn clip(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}…[{} more bytes]", &text[..end], text.len() - end))
}

impl CallCaps {
    /// What a request of this call needs once it leaves the call's store.
    pub(crate) fn scope(&self) -> Scope {
        Scope {
            redactor: self.redactor.clone(),
            ledger: self.ledger.clone(),
            deadline: self.deadline,
            memory_bytes: self.memory_bytes,
        }
    }

    /// Records and returns a denial.
    pub(crate) fn deny(&mut self, capability: &str, target: &str, hint: &str) -> CapabilityError {
        self.scope().deny(capability, target, hint)
    }

    /// The value of secret `name`, if granted and set.
    pub(crate) fn secret(&mut self, capability: &str, name: &str) -> Result<Secret, CapabilityError> {
        if !self.grants.allows_secret(name) {
            return Err(self.deny(capability, &format!("secret '{name}'"), &format!("grant it with secret={name}")));
        }
        let secret = self
            .secrets
            .get(name)
            .ok_or_else(|| CapabilityError::fatal(format!("{capability}: secret '{name}' is granted but not set")))?;
        self.redactor.add_secret(&secret);
        Ok(secret)
    }

    /// What remains of the call's deadline, capped by `requested` if given.
    pub(crate) fn time_left(&self, requested_ms: Option<u32>) -> Duration {
        scope::time_left(self.deadline, requested_ms)
    }

    pub(crate) fn redact(&self, text: &str) -> String {
        self.redactor.redact(text)
    }

    /// The most the next response may hold (see [`scope::response_cap`]).
    pub(crate) fn response_cap(&self) -> usize {
        scope::response_cap(self.memory_bytes, &self.ledger)
    }
}
