//! What a capability request needs from its call once it has left the
//! call's store: the redactor, the deadline, the memory bound, and the
//! [`Ledger`] where refusals and received bytes are recorded.
//!
//! Most requests run while the participant waits inside the host call, so
//! they could borrow the call's state; a `wasi:http` request runs on a task
//! of its own while the guest polls for it. Both go through a [`Scope`], so
//! one request path (checks, address policy, bounded reading, redaction)
//! serves both and the call's budget is charged either way.

use super::Access;
use super::{CapabilityError, MAX_CALL_RESPONSE_BYTES, MAX_DENIALS, MAX_ECHO_CHARS, Redactor, clip, http, net};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What a call's capabilities record as they go, shared with the requests
/// that finish on a task of their own.
#[derive(Debug)]
pub(crate) struct Ledger {
    /// Refused capability calls, reported with the call's outcome (at most
    /// [`MAX_DENIALS`], each at most [`MAX_ECHO_CHARS`]-ish long).
    denials: Mutex<Vec<String>>,
    /// Response bytes the call may still receive, all responses together;
    /// see [`MAX_CALL_RESPONSE_BYTES`].
    response_budget: AtomicUsize,
    /// The first `wasi:http` request refused by the grants: its guest only
    /// sees `HTTP-request-denied` (JavaScript's `fetch` a bare
    /// `TypeError`), so a call that then fails is reported as this denial.
    wasi_http_denial: OnceLock<String>,
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger {
            denials: Mutex::new(Vec::new()),
            response_budget: AtomicUsize::new(MAX_CALL_RESPONSE_BYTES),
            wasi_http_denial: OnceLock::new(),
        }
    }
}

impl Ledger {
    fn record_denial(&self, message: &str) {
        let mut denials = self.denials.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if denials.len() < MAX_DENIALS {
            denials.push(message.to_owned());
        }
    }

    /// The refusals so far, oldest first.
    pub(crate) fn denials(&self) -> Vec<String> {
        self.denials.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Response bytes the call may still receive.
    pub(crate) fn response_budget(&self) -> usize {
        self.response_budget.load(Ordering::Relaxed)
    }

    /// Takes `bytes` off the response budget (never below zero).
    pub(crate) fn charge(&self, bytes: usize) {
        let _ = self
            .response_budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| Some(left.saturating_sub(bytes)));
    }

    /// Remembers a `wasi:http` refusal (the first one only).
    pub(crate) fn note_wasi_http_denial(&self, message: &str) {
        let _ = self.wasi_http_denial.set(message.to_owned());
    }

    /// The first `wasi:http` refusal of the call, if any.
    pub(crate) fn wasi_http_denial(&self) -> Option<&str> {
        self.wasi_http_denial.get().map(String::as_str)
    }
}

/// The parts of a call a request needs after it leaves the call's store.
#[derive(Clone)]
pub(crate) struct Scope {
    pub(crate) redactor: Redactor,
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) deadline: Instant,
    pub(crate) memory_bytes: usize,
}

impl Scope {
    pub(crate) fn redact(&self, text: &str) -> String {
        self.redactor.redact(text)
    }

    /// Records and returns a denial.
    pub(crate) fn deny(&self, capability: &str, target: &str, hint: &str) -> CapabilityError {
        // Redacted before it is cut, so no cut can leave part of a secret.
        let (target, hint) = (self.redact(target), self.redact(hint));
        let (target, hint) = (clip(&target, MAX_ECHO_CHARS), clip(&hint, MAX_ECHO_CHARS));
        let message = format!("{capability}: {target} is not granted to this participant ({hint})");
        tracing::warn!(%message, "capability denied");
        self.ledger.record_denial(&message);
        CapabilityError::denied(message)
    }

    /// What remains of the call's deadline, capped by `requested` if given.
    pub(crate) fn time_left(&self, requested_ms: Option<u32>) -> Duration {
        time_left(self.deadline, requested_ms)
    }

    /// The most the next response may hold: 16 MiB, the call's memory, and
    /// what is left of the call's response budget.
    pub(crate) fn response_cap(&self) -> usize {
        response_cap(self.memory_bytes, &self.ledger)
    }

    /// Applies the address policy before anything is sent. Returns whether
    /// the connection must use the public-only client: a host granted by
    /// wildcard, or any host under a server's public-only policy. Such a
    /// host given as an address literal is checked here (no resolver runs
    /// for it); a name is checked here for a clear refusal and again by the
    /// client's resolver on the addresses actually connected.
    pub(crate) async fn address_policy(
        &self,
        capability: &str,
        host: &str,
        target: &str,
        access: Access,
    ) -> Result<bool, CapabilityError> {
        if access == Access::Exact {
            return Ok(false);
        }
        let hint = "private, loopback and link-local addresses need the exact host in a grant";
        if let Ok(ip) = host.parse::<IpAddr>() {
            if !net::is_public(ip) {
                return Err(self.deny(capability, &format!("{target} (non-public address)"), hint));
            }
            return Ok(true);
        }
        match resolve(host).await {
            Ok(addrs) if addrs.iter().any(|a| net::is_public(a.ip())) => Ok(true),
            Ok(addrs) if !addrs.is_empty() => {
                Err(self.deny(capability, &format!("{target} (resolves to non-public {})", addrs[0].ip()), hint))
            }
            Ok(_) | Err(_) => {
                Err(CapabilityError::retryable(format!("{capability}: cannot resolve {}", clip(host, MAX_ECHO_CHARS))))
            }
        }
    }

    /// Reads a response body within the call's bounds, charges it to the
    /// call's response budget and redacts it.
    pub(crate) async fn read_response(
        &self,
        capability: &str,
        target: &str,
        response: reqwest::Response,
    ) -> Result<Vec<u8>, CapabilityError> {
        let budget = self.ledger.response_budget();
        let cap = self.response_cap();
        let body = http::read_body(response, cap).await.map_err(|e| self.transport_error(capability, target, &e))?;
        let body = body.map_err(|()| {
            let why = if cap == budget {
                format!("the call has received {} MiB of responses, its limit", MAX_CALL_RESPONSE_BYTES >> 20)
            } else {
                format!("the limit is {} KiB per response", cap >> 10)
            };
            CapabilityError::fatal(format!(
                "{capability}: response from {} is too large: {why}",
                clip(target, MAX_ECHO_CHARS)
            ))
        })?;
        self.ledger.charge(body.len());
        self.redact_body(capability, body).await
    }

    /// Redacts a response body off the async workers (it is CPU work in
    /// proportion to the body) and within what remains of the deadline.
    pub(crate) async fn redact_body(&self, capability: &str, body: Vec<u8>) -> Result<Vec<u8>, CapabilityError> {
        /// Below this, a pass costs less than handing it to another thread.
        const INLINE: usize = 64 << 10;
        if self.redactor.is_empty() || body.len() <= INLINE {
            return Ok(self.redactor.redact_bytes(body));
        }
        let redactor = self.redactor.clone();
        let work = tokio::task::spawn_blocking(move || redactor.redact_bytes(body));
        match tokio::time::timeout(self.time_left(None), work).await {
            Ok(Ok(body)) => Ok(body),
            Ok(Err(e)) => Err(CapabilityError::fatal(format!("{capability}: redacting the response failed: {e}"))),
            Err(_) => Err(CapabilityError::retryable(format!("{capability}: no time left to redact the response"))),
        }
    }

    /// Transport failures are retryable, except a connection the address
    /// policy refused, which no retry will change.
    pub(crate) fn transport_error(&self, capability: &str, target: &str, e: &reqwest::Error) -> CapabilityError {
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            detail = format!("{detail}: {s}");
            source = s.source();
        }
        let detail = self.redact(&detail);
        let detail = clip(&detail, 4 * MAX_ECHO_CHARS);
        let target = self.redact(target);
        let target = clip(&target, MAX_ECHO_CHARS);
        if detail.contains("non-public addresses") {
            let message = format!("{capability}: {target}: {detail}");
            self.ledger.record_denial(&message);
            CapabilityError::denied(message)
        } else if e.is_timeout() {
            CapabilityError::retryable(format!("{capability}: {target}: timed out"))
        } else {
            CapabilityError::retryable(format!("{capability}: {target}: {detail}"))
        }
    }
}

/// What remains until `deadline`, capped by `requested_ms` if given.
pub(crate) fn time_left(deadline: Instant, requested_ms: Option<u32>) -> Duration {
    let left = deadline.saturating_duration_since(Instant::now());
    match requested_ms {
        Some(ms) => left.min(Duration::from_millis(ms.into())),
        None => left,
    }
}

/// The most one response may hold: 16 MiB, the call's memory, and what is
/// left of the call's response budget.
pub(crate) fn response_cap(memory_bytes: usize, ledger: &Ledger) -> usize {
    http::MAX_RESPONSE_BYTES.min(memory_bytes).min(ledger.response_budget())
}

pub(crate) async fn resolve(host: &str) -> std::io::Result<Vec<SocketAddr>> {
    Ok(tokio::net::lookup_host((host, 0)).await?.collect())
}
