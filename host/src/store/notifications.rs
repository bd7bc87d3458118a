//! The outbox of webhook deliveries: one row per event and webhook.
//!
//! Guarantees:
//! - A notification is stored by the transaction of the batch that
//!   produced its event ([`WorkTx::notify`]): a job's end is notified if
//!   and only if it committed, however the process fares afterwards.
//! - It is delivered by whichever process claims it ([`Store::claim_notifications`]):
//!   a claim is a lease; one that expires (its process died) is claimed
//!   again, so a notification may be delivered twice, never lost. Its body
//!   carries its id for receivers that care.
//! - A failed delivery is tried again later ([`Store::notification_failed`]
//!   with the time of the next try), until the caller gives up (no next
//!   time). Nothing of it ever waits in a job's path.

use super::sql::{Statement, args, statements};
use super::{Backend, Result, Store, WorkTx, now_ms};
use serde::Serialize;

/// An event for a webhook, as a batch stores it.
#[derive(Debug, Clone)]
pub struct NewNotification {
    /// The webhook's name.
    pub webhook: String,
    /// `job.completed`, `approval.pending`...
    pub event: String,
    /// The JSON to post.
    pub body: String,
}

/// A claimed notification, to deliver.
#[derive(Debug, Clone)]
pub struct Notification {
    /// Its row id.
    pub id: i64,
    /// Its tenant.
    pub tenant: String,
    /// The webhook's name.
    pub webhook: String,
    /// The job it tells of.
    pub job_id: String,
    /// The event.
    pub event: String,
    /// The JSON to post.
    pub body: String,
    /// Deliveries tried so far.
    pub attempts: i64,
}

/// A delivery, as the tenant may see it.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRecord {
    /// Its row id.
    pub id: i64,
    /// The job it tells of.
    pub job_id: String,
    /// The event.
    pub event: String,
    /// When the event happened, in milliseconds since the Unix epoch.
    pub created_at: i64,
    /// Deliveries tried.
    pub attempts: i64,
    /// When it was delivered.
    pub delivered_at: Option<i64>,
    /// When it is tried next (none once delivered or given up).
    pub next_at: Option<i64>,
    /// Why the last try failed.
    pub last_error: Option<String>,
}

statements! {
    INSERT_NOTIFICATION = "INSERT INTO notifications (tenant, webhook, job_id, event, body, created_at, attempts, next_at)
                           VALUES ($1, $2, $3, $4, $5, $6, 0, $6)";
    DELIVERED = "UPDATE notifications SET delivered_at = $1, next_at = NULL, attempts = attempts + 1, last_error = NULL,
                     lease_owner = NULL, lease_until = NULL
                 WHERE id = $2 AND lease_owner = $3";
    FAILED = "UPDATE notifications SET attempts = attempts + 1, next_at = $1, last_error = $2,
                  lease_owner = NULL, lease_until = NULL
              WHERE id = $3 AND lease_owner = $4";
    DELIVERIES = "SELECT id, job_id, event, created_at, attempts, delivered_at, next_at, last_error FROM notifications
                  WHERE tenant = $1 AND webhook = $2 ORDER BY id DESC LIMIT $3";
}

/// [`Store::claim_notifications`]'s UPDATE (the row lock spliced: a constant).
pub(super) fn claim_statement(backend: Backend) -> Statement {
    let lock = if backend == Backend::Postgres { "FOR UPDATE SKIP LOCKED" } else { "" };
    Statement::built(
        "store::notifications::claim_statement",
        format!(
            "UPDATE notifications SET lease_owner = $1, lease_until = $2 WHERE id IN (
                SELECT id FROM notifications
                WHERE next_at <= $3 AND (lease_owner IS NULL OR lease_until < $3)
                ORDER BY next_at LIMIT $4 {lock})
             RETURNING id, tenant, webhook, job_id, event, body, attempts"
        ),
    )
}

impl WorkTx {
    /// Stores the job's notifications with the batch: due at once.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn notify(&mut self, job_id: &str, tenant: &str, notifications: &[NewNotification]) -> Result<()> {
        let now = now_ms();
        for n in notifications {
            let row = args![tenant, &n.webhook, job_id, &n.event, &n.body, now];
            self.tx.execute(&INSERT_NOTIFICATION, row).await?;
        }
        Ok(())
    }
}

impl Store {
    /// Leases up to `limit` notifications due for delivery to `worker`
    /// for `lease`.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn claim_notifications(
        &self,
        worker: &str,
        lease: std::time::Duration,
        limit: i64,
    ) -> Result<Vec<Notification>> {
        let now = now_ms();
        let sql = claim_statement(self.backend);
        let rows = self.db.fetch_all(&sql, args![worker, now + lease.as_millis() as i64, now, limit]).await?;
        rows.iter()
            .map(|r| {
                Ok(Notification {
                    id: r.int("id")?,
                    tenant: r.text("tenant")?,
                    webhook: r.text("webhook")?,
                    job_id: r.text("job_id")?,
                    event: r.text("event")?,
                    body: r.text("body")?,
                    attempts: r.int("attempts")?,
                })
            })
            .collect()
    }

    /// Records a delivery (if `worker` still holds the lease).
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn notification_delivered(&self, id: i64, worker: &str) -> Result<()> {
        self.db.execute(&DELIVERED, args![now_ms(), id, worker]).await?;
        Ok(())
    }

    /// Records a failed try: tried again at `next_at`, or never when `None`.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn notification_failed(&self, id: i64, worker: &str, next_at: Option<i64>, error: &str) -> Result<()> {
        self.db.execute(&FAILED, args![next_at, error, id, worker]).await?;
        Ok(())
    }

    /// The webhook's latest `limit` deliveries, newest first.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn deliveries(&self, tenant: &str, webhook: &str, limit: i64) -> Result<Vec<DeliveryRecord>> {
        let rows = self.db.fetch_all(&DELIVERIES, args![tenant, webhook, limit]).await?;
        rows.iter()
            .map(|r| {
                Ok(DeliveryRecord {
                    id: r.int("id")?,
                    job_id: r.text("job_id")?,
                    event: r.text("event")?,
                    created_at: r.int("created_at")?,
                    attempts: r.int("attempts")?,
                    delivered_at: r.opt_int("delivered_at")?,
                    next_at: r.opt_int("next_at")?,
                    last_error: r.opt_text("last_error")?,
                })
            })
            .collect()
    }
}
