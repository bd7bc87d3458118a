//! Webhooks a tenant names: where its jobs' notifications go.
//!
//! Guarantees: a webhook belongs to one tenant and is found only through
//! it; its URL is stored in clear only when given in clear, else as the
//! name of one of the tenant's secrets (sealed with the others). Every
//! change bumps the tenant's revision, so every process's runtime of the
//! tenant routes its jobs' events to the webhooks as they are now.

use super::sql::{Row, args, statements};
use super::{Catalogue, Result};

/// A webhook, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    /// Its name, per tenant (what a definition's `notify:` names).
    pub name: String,
    /// The URL posted to, when given in clear.
    pub url: Option<String>,
    /// Else the name of the tenant's secret holding the URL.
    pub url_secret: Option<String>,
    /// The events it is called for (`job.completed`, `approval.pending`...).
    pub events: Vec<String>,
    /// Called for every job of the tenant, not only those naming it.
    pub every_job: bool,
    /// When it was set, in milliseconds since the Unix epoch.
    pub created_at: i64,
}

statements! {
    PUT_WEBHOOK = "INSERT INTO webhooks (tenant, name, url, url_secret, events, every_job, created_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7)
                   ON CONFLICT (tenant, name) DO UPDATE SET url = excluded.url, url_secret = excluded.url_secret,
                       events = excluded.events, every_job = excluded.every_job, created_at = excluded.created_at";
    WEBHOOKS = "SELECT name, url, url_secret, events, every_job, created_at FROM webhooks WHERE tenant = $1 ORDER BY name";
    DELETE_WEBHOOK = "DELETE FROM webhooks WHERE tenant = $1 AND name = $2";
}

fn from_row(r: &Row) -> Result<WebhookRecord> {
    Ok(WebhookRecord {
        name: r.text("name")?,
        url: r.opt_text("url")?,
        url_secret: r.opt_text("url_secret")?,
        events: r.str("events")?.split_whitespace().map(str::to_owned).collect(),
        every_job: r.int("every_job")? != 0,
        created_at: r.int("created_at")?,
    })
}

impl Catalogue {
    /// Creates or replaces the tenant's webhook of that name.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn put_webhook(&self, tenant: &str, webhook: &WebhookRecord) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let row = args![
            tenant,
            &webhook.name,
            webhook.url.as_deref(),
            webhook.url_secret.as_deref(),
            webhook.events.join(" "),
            i64::from(webhook.every_job),
            webhook.created_at,
        ];
        tx.execute(&PUT_WEBHOOK, row).await?;
        super::tenants::bump_revision(&mut tx, tenant).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The tenant's webhooks, by name.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// row cannot be read.
    pub async fn webhooks(&self, tenant: &str) -> Result<Vec<WebhookRecord>> {
        self.db.fetch_all(&WEBHOOKS, args![tenant]).await?.iter().map(from_row).collect()
    }

    /// Deletes a webhook (its pending deliveries are given up when
    /// claimed); false when the tenant has none of that name.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn delete_webhook(&self, tenant: &str, name: &str) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let done = tx.execute(&DELETE_WEBHOOK, args![tenant, name]).await?;
        super::tenants::bump_revision(&mut tx, tenant).await?;
        tx.commit().await?;
        Ok(done == 1)
    }
}
