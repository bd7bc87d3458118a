//! The `ssh` capability: runs one command on many hosts with russh.
//!
//! The request is refused as a whole, before any connection, when a target
//! is not granted, a target granted only by wildcard resolves to a
//! non-public address, or the key secret is not granted: a participant must
//! not learn anything about hosts it may not reach. Everything that can go
//! wrong on one host (refused, timed out, key rejected, host key changed)
//! is that host's own error, so one dead machine never hides the others'
//! results.
//!
//! Host keys are verified before authenticating (the private key is never
//! offered to an unverified server): against the step's pins if it gave
//! any, otherwise against the fingerprint recorded for the tenant on first
//! use (see `ssh_host_keys` and [`super::known_hosts`]).

use super::grants::normalize_host;
use super::known_hosts::KnownHosts;
use super::ssh_host_keys::{GuardError, HostKeyGuard, parse_pins};
use super::ssh_slots::{
    MAX_CONNECTIONS_PER_CALL, MAX_CONNECTIONS_PER_PROCESS, MAX_CONNECTIONS_PER_TENANT, MAX_TARGETS_PER_CALL,
};
use super::{Access, CallCaps, CapabilityError, MAX_ECHO_CHARS, Redactor, Secret, clip, net};
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg};
use russh::{ChannelMsg, client};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// One result per target, in the request's order.
pub type ExecResults = Vec<Result<ExecOutput, CapabilityError>>;

/// The most of each stream kept per host; a chatty command must not
/// exhaust the participant's memory.
const MAX_STREAM_BYTES: usize = 1 << 20;

/// One command to run on every target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRequest {
    /// The hosts to run on, at most [`MAX_TARGETS_PER_CALL`]; each must be granted.
    pub targets: Vec<ExecTarget>,
    /// Name of the secret holding the private key (OpenSSH PEM).
    pub key_secret: String,
    /// The command line, run by the remote user's shell.
    pub command: String,
    /// Sent to the command's standard input, then closed.
    pub stdin: Option<String>,
    /// Per target; defaults to, and is capped by, the call's deadline.
    pub timeout_ms: Option<u32>,
    /// How many targets run at once (0: all at once).
    pub concurrency: u32,
    /// Pinned host keys as (`host[:port]`, `SHA256:...` fingerprint).
    pub host_keys: Vec<(String, String)>,
}

/// A host to run on, as the participant named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecTarget {
    /// Host name or address.
    pub host: String,
    /// The SSH port (22 unless given).
    pub port: u16,
    /// The remote user to log in as.
    pub user: String,
}

/// What the command did on one target, its streams redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// Standard output, at most 1 MiB (less when the call's response budget
    /// is shared over many hosts).
    pub stdout: String,
    /// Standard error, cut the same way.
    pub stderr: String,
    /// None when the command was killed by a signal.
    pub exit_status: Option<u32>,
    /// The signal that killed the command (`KILL`), if one did.
    pub exit_signal: Option<String>,
    /// How long the command ran on this host, connection included.
    pub duration_ms: u64,
}

/// One target, checked and ready to be run on its own task.
struct Target {
    /// `user@host:port`, as errors name it.
    label: String,
    user: String,
    host: String,
    port: u16,
    /// The known-hosts key, `host:port`.
    host_id: String,
    pin: Option<String>,
    /// Addresses already resolved and checked (wildcard grants); `None`
    /// resolves at connect time (exact grants may reach any address).
    addrs: Option<Vec<SocketAddr>>,
}

/// What every target's task shares.
struct Shared {
    key: Arc<PrivateKey>,
    key_name: String,
    command: String,
    stdin: Option<String>,
    tenant: String,
    known_hosts: Arc<dyn KnownHosts>,
    deadline: Instant,
    per_target: Option<Duration>,
    config: Arc<client::Config>,
    tenant_slots: Arc<Semaphore>,
    process_slots: Arc<Semaphore>,
    /// Bytes kept of each stream of each host: the call's response
    /// allowance shared over every stream (never more than 1 MiB), since
    /// the participant must hold all of it at once.
    stream_cap: usize,
}

impl CallCaps {
    /// Runs the command on every target. Fails as a whole only when the
    /// request is refused before any connection; each target's own failure
    /// is in its result.
    ///
    /// # Errors
    /// `bad-input` for no targets, too many, an empty command, a malformed
    /// target, pin or key; `denied` when a target, its address or the key
    /// secret is not granted; `fatal` when the key secret is unset.
    pub async fn ssh_exec(&mut self, request: ExecRequest) -> Result<ExecResults, CapabilityError> {
        if request.targets.is_empty() {
            return Err(CapabilityError::bad_input("ssh: no targets"));
        }
        if request.targets.len() > MAX_TARGETS_PER_CALL {
            return Err(CapabilityError::bad_input(format!(
                "ssh: {} targets in one request, at most {MAX_TARGETS_PER_CALL}: split them over several steps",
                request.targets.len()
            )));
        }
        if request.command.trim().is_empty() {
            return Err(CapabilityError::bad_input("ssh: the command is empty"));
        }
        let pins = parse_pins(&request.host_keys)?;

        let mut checked = Vec::with_capacity(request.targets.len());
        for t in &request.targets {
            let host = normalize_host(t.host.trim());
            let label = format!("{}@{}", clip(&t.user, 64), clip(&host_port(&host, t.port), MAX_ECHO_CHARS));
            if host.is_empty() || t.user.is_empty() || t.port == 0 || t.host.chars().any(char::is_whitespace) {
                return Err(CapabilityError::bad_input(format!(
                    "ssh: target '{label}' is malformed (need a user, a host without spaces and a port 1-65535)"
                )));
            }
            let Some(access) = self.grants.ssh_access(&t.user, &host, t.port) else {
                return Err(self.deny("ssh", &label, &format!("grant it with ssh={label}")));
            };
            checked.push((t, host, label, access));
        }
        let secret = self.secret("ssh", &request.key_secret)?;
        let key = parse_key(&request.key_secret, secret.expose())?;
        if self.dry_run().is_some() {
            // Checked as a real one; nothing resolved or connected.
            return Ok(self.dry_ssh(&request));
        }

        let mut targets = Vec::with_capacity(checked.len());
        let mut early: Vec<Option<CapabilityError>> = Vec::with_capacity(checked.len());
        for (t, host, label, access) in checked {
            let host_id = host_port(&host, t.port);
            let mut addrs = None;
            let mut failed = None;
            if access == Access::Wildcard {
                match self.public_addresses(&host, t.port, &label).await? {
                    Ok(found) => addrs = Some(found),
                    Err(e) => failed = Some(e),
                }
            }
            let pin = pins
                .iter()
                .find(|(h, p, _)| *h == host && *p == Some(t.port))
                .or_else(|| pins.iter().find(|(h, p, _)| *h == host && p.is_none()));
            targets.push(Target {
                label,
                user: t.user.clone(),
                host,
                port: t.port,
                host_id,
                pin: pin.map(|(_, _, fp)| fp.clone()),
                addrs,
            });
            early.push(failed);
        }

        let shared = Arc::new(Shared {
            key: Arc::new(key),
            key_name: request.key_secret.clone(),
            command: request.command,
            stdin: request.stdin,
            tenant: self.tenant.clone(),
            known_hosts: self.services.known_hosts.clone(),
            deadline: self.deadline,
            per_target: request.timeout_ms.map(|ms| Duration::from_millis(ms.into())),
            config: Arc::new(client::Config {
                // Keep-alives notice a host that vanished mid-command.
                keepalive_interval: Some(Duration::from_secs(15)),
                keepalive_max: 3,
                ..client::Config::default()
            }),
            stream_cap: MAX_STREAM_BYTES.min(self.response_cap() / (2 * targets.len())).max(4 << 10),
            tenant_slots: self.services.ssh_slots.tenant(&self.tenant),
            process_slots: self.services.ssh_slots.process.clone(),
        });
        let width = match request.concurrency as usize {
            0 => targets.len(),
            n => n.min(targets.len()),
        }
        .min(MAX_CONNECTIONS_PER_CALL);
        let permits = Arc::new(tokio::sync::Semaphore::new(width));
        let mut tasks = tokio::task::JoinSet::new();
        let mut results: Vec<Option<Result<ExecOutput, CapabilityError>>> = Vec::new();
        for (index, (target, failed)) in targets.into_iter().zip(early).enumerate() {
            if let Some(e) = failed {
                results.push(Some(Err(e)));
                continue;
            }
            results.push(None);
            let (shared, permits) = (shared.clone(), permits.clone());
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                (index, run_target(&shared, &target).await)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((index, result)) => results[index] = Some(result),
                Err(e) => tracing::error!(error = %e, "ssh target task failed"),
            }
        }

        let received: usize = results.iter().flatten().flatten().map(|out| out.stdout.len() + out.stderr.len()).sum();
        self.ledger.charge(received);
        let redactor = self.key_redactions(&secret);
        let redact = |text: &str| redactor.redact(text);
        Ok(results
            .into_iter()
            .map(|r| match r {
                Some(Ok(out)) => Ok(ExecOutput { stdout: redact(&out.stdout), stderr: redact(&out.stderr), ..out }),
                Some(Err(e)) => Err(CapabilityError { kind: e.kind, message: redact(&e.message) }),
                None => Err(CapabilityError::fatal("ssh: internal error: the target's task ended without a result")),
            })
            .collect())
    }

    /// A host granted only by wildcard must resolve to public addresses.
    /// The outer error refuses the whole request (nothing connected yet);
    /// the inner one is this target's (a name that does not resolve).
    async fn public_addresses(
        &mut self,
        host: &str,
        port: u16,
        label: &str,
    ) -> Result<Result<Vec<SocketAddr>, CapabilityError>, CapabilityError> {
        let hint = "private, loopback and link-local addresses need the exact host in a grant";
        let addrs = match resolve(host, port).await {
            Ok(addrs) => addrs,
            Err(e) => return Ok(Err(e.in_context(label))),
        };
        let public: Vec<SocketAddr> = addrs.iter().copied().filter(|a| net::is_public(a.ip())).collect();
        if public.is_empty() {
            let ip = addrs.first().map(|a| a.ip().to_string()).unwrap_or_default();
            return Err(self.deny("ssh", &format!("{label} (non-public address {ip})"), hint));
        }
        Ok(Ok(public))
    }

    /// The key secret, whole and line by line: a command that prints part
    /// of a key file (`head -3 id_ed25519`) must not leak it either.
    fn key_redactions(&self, secret: &Secret) -> Redactor {
        let mut redactor = self.redactor.clone();
        for line in secret.expose().lines().map(str::trim).filter(|l| l.len() >= 16 && !l.starts_with("-----")) {
            redactor.add(line);
        }
        redactor
    }
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

fn parse_key(name: &str, text: &str) -> Result<PrivateKey, CapabilityError> {
    russh::keys::decode_secret_key(text, None).map_err(|e| {
        let why = match e {
            russh::keys::Error::KeyIsEncrypted => {
                "it is encrypted with a passphrase; store an unencrypted key".to_owned()
            }
            other => format!("{other}; store the private key file's text (OpenSSH or PEM)"),
        };
        CapabilityError::fatal(format!("ssh: secret '{name}' is not a usable private key: {why}"))
    })
}

/// A per-target failure before the host is known to a message.
struct Failure {
    retryable: bool,
    message: String,
}

impl Failure {
    fn in_context(self, label: &str) -> CapabilityError {
        let message = format!("ssh: {label}: {}", self.message);
        if self.retryable { CapabilityError::retryable(message) } else { CapabilityError::fatal(message) }
    }
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, Failure> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    match tokio::net::lookup_host((host, port)).await {
        Ok(addrs) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                Err(Failure { retryable: true, message: format!("{host} has no addresses") })
            } else {
                Ok(addrs)
            }
        }
        Err(e) => Err(Failure { retryable: true, message: format!("cannot resolve {host}: {e}") }),
    }
}

/// Where a target's run stood, so a timeout can say what it was waiting on.
#[derive(Clone, Copy)]
enum Phase {
    Connecting,
    Handshake,
    Authenticating,
    Running,
}

impl Phase {
    fn doing(self) -> &'static str {
        match self {
            Phase::Connecting => "while connecting",
            Phase::Handshake => "during the SSH handshake",
            Phase::Authenticating => "while authenticating",
            Phase::Running => "while the command ran",
        }
    }
}

async fn run_target(shared: &Shared, target: &Target) -> Result<ExecOutput, CapabilityError> {
    // A connection slot of the tenant's and of the process's, waited for
    // within the call's deadline (not the target's own timeout).
    let slots = async {
        let tenant = shared.tenant_slots.clone().acquire_owned().await;
        let process = shared.process_slots.clone().acquire_owned().await;
        (tenant, process)
    };
    let _slots = match tokio::time::timeout_at(shared.deadline.into(), slots).await {
        Ok((Ok(t), Ok(p))) => (t, p),
        _ => {
            return Err(CapabilityError::retryable(format!(
                "ssh: {}: no SSH connection slot free before the call's deadline ({MAX_CONNECTIONS_PER_TENANT} per tenant, {MAX_CONNECTIONS_PER_PROCESS} per process)",
                target.label
            )));
        }
    };
    let started = Instant::now();
    let left = shared.deadline.saturating_duration_since(started);
    let budget = shared.per_target.map_or(left, |t| t.min(left));
    if budget.is_zero() {
        return Err(CapabilityError::retryable(format!(
            "ssh: {}: no time left before the call's deadline",
            target.label
        )));
    }
    let mut phase = Phase::Connecting;
    match tokio::time::timeout(budget, session(shared, target, &mut phase)).await {
        Ok(result) => result.map(|mut out| {
            out.duration_ms = started.elapsed().as_millis().try_into().unwrap_or(u64::MAX);
            out
        }),
        Err(_) => Err(CapabilityError::retryable(format!(
            "ssh: {}: timed out after {:.1}s {}",
            target.label,
            budget.as_secs_f64(),
            phase.doing()
        ))),
    }
}

async fn session(shared: &Shared, target: &Target, phase: &mut Phase) -> Result<ExecOutput, CapabilityError> {
    let label = target.label.as_str();
    *phase = Phase::Connecting;
    let addrs = match &target.addrs {
        Some(addrs) => addrs.clone(),
        None => resolve(&target.host, target.port).await.map_err(|f| f.in_context(label))?,
    };
    let stream = tokio::net::TcpStream::connect(&addrs[..]).await.map_err(|e| connect_error(label, &e))?;
    let _ = stream.set_nodelay(true);

    *phase = Phase::Handshake;
    let guard = HostKeyGuard {
        label: target.label.clone(),
        host_id: target.host_id.clone(),
        tenant: shared.tenant.clone(),
        pin: target.pin.clone(),
        known_hosts: shared.known_hosts.clone(),
    };
    let mut handle = match client::connect_stream(shared.config.clone(), stream, guard).await {
        Ok(handle) => handle,
        Err(GuardError::HostKey(e)) => return Err(e),
        Err(GuardError::Ssh(e)) => return Err(protocol_error(label, "handshake", e)),
    };

    *phase = Phase::Authenticating;
    let hash = if shared.key.algorithm().is_rsa() {
        handle.best_supported_rsa_hash().await.map_err(|e| protocol_error(label, "authentication", e))?.flatten()
    } else {
        None
    };
    let auth = handle
        .authenticate_publickey(target.user.clone(), PrivateKeyWithHashAlg::new(shared.key.clone(), hash))
        .await
        .map_err(|e| protocol_error(label, "authentication", e))?;
    if !auth.success() {
        let fingerprint = shared.key.public_key().fingerprint(HashAlg::Sha256);
        return Err(CapabilityError::fatal(format!(
            "ssh: {label}: public key authentication as '{}' failed: the server does not accept key '{}' ({fingerprint}); add its public key to {}'s authorized_keys on that host",
            target.user, shared.key_name, target.user
        )));
    }

    *phase = Phase::Running;
    let output = run_command(shared, &handle).await.map_err(|e| protocol_error(label, "running the command", e))?;
    let _ = handle.disconnect(russh::Disconnect::ByApplication, "", "en").await;
    output.map_err(|why| CapabilityError::retryable(format!("ssh: {label}: {why}")))
}

/// Runs the command, feeding stdin while reading its output (a command
/// that writes before it reads must not deadlock against us), then closes
/// stdin so commands that read to the end finish.
async fn run_command(
    shared: &Shared,
    handle: &client::Handle<HostKeyGuard>,
) -> Result<Result<ExecOutput, String>, russh::Error> {
    let channel = handle.channel_open_session().await?;
    channel.exec(true, shared.command.as_bytes()).await?;
    let (mut read, write) = channel.split();
    let writer = async {
        if let Some(input) = &shared.stdin
            && let Err(e) = write.data(input.as_bytes()).await
        {
            // The command may exit without reading its input; its exit
            // status tells what happened.
            tracing::debug!(error = %e, "ssh: stdin not fully written");
        }
        let _ = write.eof().await;
    };
    let reader = async {
        let (mut stdout, mut stderr) = (Capped::new(shared.stream_cap), Capped::new(shared.stream_cap));
        let (mut status, mut signal, mut refused) = (None, None, false);
        while let Some(msg) = read.wait().await {
            match msg {
                ChannelMsg::Data { data } => stdout.push(&data),
                ChannelMsg::ExtendedData { data, ext: 1 } => stderr.push(&data),
                ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                ChannelMsg::ExitSignal { signal_name, .. } => signal = Some(signal_text(signal_name)),
                ChannelMsg::Failure => refused = true,
                ChannelMsg::Close => break,
                _ => {}
            }
        }
        if refused && status.is_none() && signal.is_none() {
            return Err("the server refused to run the command".to_owned());
        }
        if status.is_none() && signal.is_none() {
            return Err("the connection closed before the command reported an exit status".to_owned());
        }
        Ok(ExecOutput {
            stdout: stdout.finish("stdout"),
            stderr: stderr.finish("stderr"),
            exit_status: status,
            exit_signal: signal,
            duration_ms: 0,
        })
    };
    let ((), output) = tokio::join!(writer, reader);
    Ok(output)
}

fn signal_text(sig: russh::Sig) -> String {
    match sig {
        russh::Sig::Custom(name) => name,
        other => format!("{other:?}"),
    }
}

/// One output stream, kept up to its cap (at most [`MAX_STREAM_BYTES`]).
struct Capped {
    bytes: Vec<u8>,
    dropped: u64,
    cap: usize,
}

impl Capped {
    fn new(cap: usize) -> Self {
        Capped { bytes: Vec::new(), dropped: 0, cap }
    }

    fn push(&mut self, data: &[u8]) {
        let room = self.cap.saturating_sub(self.bytes.len());
        let kept = data.len().min(room);
        self.bytes.extend_from_slice(&data[..kept]);
        self.dropped += (data.len() - kept) as u64;
    }

    fn finish(self, stream: &str) -> String {
        let mut text = String::from_utf8_lossy(&self.bytes).into_owned();
        if self.dropped > 0 {
            text.push_str(&format!(
                "\n[mastermind: {stream} truncated: {} more bytes were dropped; at most {} KiB is kept]\n",
                self.dropped,
                self.cap >> 10
            ));
        }
        text
    }
}

fn connect_error(label: &str, e: &std::io::Error) -> CapabilityError {
    let why = match e.kind() {
        std::io::ErrorKind::ConnectionRefused => {
            "connection refused (is sshd running and listening on that port?)".to_owned()
        }
        std::io::ErrorKind::TimedOut => "connection timed out".to_owned(),
        _ => format!("cannot connect: {e}"),
    };
    CapabilityError::retryable(format!("ssh: {label}: {why}"))
}

fn protocol_error(label: &str, during: &str, e: russh::Error) -> CapabilityError {
    use russh::Error as E;
    let message = format!("ssh: {label}: {during} failed: {e}");
    match e {
        E::IO(_)
        | E::Disconnect
        | E::HUP
        | E::ConnectionTimeout
        | E::KeepaliveTimeout
        | E::InactivityTimeout
        | E::SendError
        | E::RecvError
        | E::Elapsed(_)
        | E::Join(_)
        | E::ChannelOpenFailure(_) => CapabilityError::retryable(message),
        _ => CapabilityError::fatal(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_each_stream_with_a_note() {
        let mut c = Capped::new(MAX_STREAM_BYTES);
        c.push(&vec![b'a'; MAX_STREAM_BYTES - 1]);
        c.push(b"bcd");
        let text = c.finish("stdout");
        assert!(
            text.starts_with("aaa") && text.contains("ab\n[mastermind: stdout truncated: 2 more bytes"),
            "{}",
            &text[text.len() - 120..]
        );
    }

    #[test]
    fn refuses_unusable_keys_with_advice() {
        let e = parse_key("ssh_key", "not a key").unwrap_err();
        assert!(e.message.contains("secret 'ssh_key' is not a usable private key"), "{}", e.message);
        assert!(!e.message.contains("not a key"));
    }
}
