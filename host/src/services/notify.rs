//! Delivers webhook notifications: the outbox rows batches store when a job
//! ends or an approval waits (`store::notifications`, `engine::notices`).
//!
//! Guarantees:
//! - Every process that runs jobs delivers, claiming rows with a lease: a
//!   row is posted by one process at a time, and again by another if that
//!   one dies first (a receiver may see a delivery twice; the body's
//!   `delivery` id tells). Nothing here is on a job's path: a slow, failing
//!   or absent receiver delays only its own deliveries.
//! - A failed post (a connection error, a timeout, any status but 2xx) is
//!   tried again after 1 s, 2 s, 4 s... (at most 10 minutes apart), eight
//!   times in all; then it is given up, with the last error kept for
//!   `GET /v1/webhooks/{name}/deliveries`.
//! - The URL obeys the `http` capability's address policy: loopback,
//!   private and link-local addresses only on a server started with
//!   `--allow-private-grants`, checked on the address connected to. No
//!   redirect is followed. A URL kept in a secret is never logged nor shown:
//!   errors are stripped of it.
//!
//! ```no_run
//! # async fn demo(store: mastermind::store::Store, tenancy: std::sync::Arc<mastermind::services::ServerTenancy>) {
//! let notifier = mastermind::services::Notifier::new(store, tenancy, "worker-1".into(), false).unwrap();
//! tokio::spawn(notifier.run(tokio_util::sync::CancellationToken::new()));
//! # }
//! ```

use super::tenancy::ServerTenancy;
use crate::capabilities::{HttpClients, Redactor, net};
use crate::engine::Tenancy;
use crate::store::{Notification, Store, now_ms};
use serde_json::Value;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Tries per notification, the first included.
pub const MAX_ATTEMPTS: i64 = 8;
/// How long one post may take.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// A claim's lease: longer than a post.
const LEASE: Duration = Duration::from_secs(30);
/// How often the outbox is looked at.
const POLL: Duration = Duration::from_millis(250);
/// Rows claimed at once.
const CLAIM: usize = 16;
/// Posts in flight at once, per process.
pub const IN_FLIGHT: usize = 64;

/// The delivery loop of one process.
pub struct Notifier {
    store: Store,
    tenancy: Arc<ServerTenancy>,
    worker_id: String,
    clients: HttpClients,
    allow_private: bool,
}

/// Why a post failed, and whether to try again.
struct Failure {
    error: String,
    retry: bool,
}

impl Notifier {
    /// A notifier claiming as `worker_id`.
    ///
    /// # Errors
    /// When the HTTP clients cannot be built (no TLS backend).
    pub fn new(
        store: Store,
        tenancy: Arc<ServerTenancy>,
        worker_id: String,
        allow_private: bool,
    ) -> anyhow::Result<Self> {
        Ok(Notifier { store, tenancy, worker_id, clients: HttpClients::new()?, allow_private })
    }

    /// Delivers until `stop`: each post on a task of its own, at most
    /// [`IN_FLIGHT`] at once, so a slow receiver delays only its own.
    pub async fn run(self, stop: CancellationToken) {
        let this = Arc::new(self);
        let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(POLL) => {}
            }
            let free = slots.available_permits().min(CLAIM);
            if free == 0 {
                continue;
            }
            let claimed = match this.store.claim_notifications(&this.worker_id, LEASE, free as i64).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming notifications failed");
                    continue;
                }
            };
            for n in claimed {
                let Ok(slot) = slots.clone().acquire_owned().await else { return };
                let this = this.clone();
                tokio::spawn(async move {
                    this.deliver(n).await;
                    drop(slot);
                });
            }
        }
    }

    async fn deliver(&self, n: Notification) {
        let outcome = self.post(&n).await;
        let stored = match outcome {
            Ok(()) => self.store.notification_delivered(n.id, &self.worker_id).await,
            Err(failure) => {
                let tried = n.attempts + 1;
                let next = (failure.retry && tried < MAX_ATTEMPTS).then(|| now_ms() + backoff_ms(tried));
                tracing::info!(tenant = %n.tenant, webhook = %n.webhook, attempt = tried, error = %failure.error,
                    "webhook delivery failed");
                self.store.notification_failed(n.id, &self.worker_id, next, &failure.error).await
            }
        };
        if let Err(e) = stored {
            tracing::warn!(error = %e, "recording a webhook delivery failed");
        }
    }

    async fn post(&self, n: &Notification) -> Result<(), Failure> {
        let fail = |error: String, retry: bool| Failure { error, retry };
        let hooks = self.store.catalogue().webhooks(&n.tenant).await.map_err(|e| fail(e.to_string(), true))?;
        let Some(hook) = hooks.into_iter().find(|h| h.name == n.webhook) else {
            return Err(fail("the webhook was removed".into(), false));
        };
        let url = match (&hook.url, &hook.url_secret) {
            (Some(url), _) => url.clone(),
            (None, Some(secret)) => {
                let runtime = self.tenancy.runtime(&n.tenant).await.map_err(|e| fail(e.to_string(), true))?;
                match runtime.secrets.get(secret) {
                    Some(value) => value.expose().trim().to_owned(),
                    None => return Err(fail(format!("the secret '{secret}' holding the URL is not set"), true)),
                }
            }
            (None, None) => return Err(fail("the webhook has no URL".into(), false)),
        };
        let parsed = reqwest::Url::parse(&url).map_err(|_| fail("the URL does not read".into(), false))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(fail("the URL is not http(s)".into(), false));
        }
        // A literal address is never resolved: check it here.
        let literal = parsed.host_str().and_then(|h| h.trim_matches(['[', ']']).parse::<IpAddr>().ok());
        if !self.allow_private && literal.is_some_and(|ip| !net::is_public(ip)) {
            return Err(fail("the URL's address is not public (see --allow-private-grants)".into(), false));
        }
        // Nothing a job shows carries a secret, and so nothing it posts may.
        let secrets = self.tenancy.secret_values(&n.tenant).await.map_err(|e| fail(e.to_string(), true))?;
        let text = Redactor::new(&secrets).redact(&n.body);
        let mut body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        body["delivery"] = Value::from(n.id);
        let response = self
            .clients
            .for_policy(self.allow_private)
            .post(parsed)
            .json(&body)
            .timeout(POST_TIMEOUT)
            .send()
            .await
            .map_err(|e| fail(e.without_url().to_string(), true))?;
        let status = response.status();
        if status.is_success() { Ok(()) } else { Err(fail(format!("the receiver answered {status}"), true)) }
    }
}

/// The wait before try `tried + 1`: 1 s, doubling, at most 10 minutes.
fn backoff_ms(tried: i64) -> i64 {
    (1_000i64 << (tried - 1).clamp(0, 20)).min(600_000)
}

#[cfg(test)]
mod tests {
    #[test]
    fn retries_back_off_to_ten_minutes() {
        let waits: Vec<i64> = (1..=12).map(super::backoff_ms).collect();
        assert_eq!(waits[..4], [1_000, 2_000, 4_000, 8_000]);
        assert_eq!(*waits.last().unwrap(), 600_000);
    }
}
