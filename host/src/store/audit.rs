//! The audit log: who (which token) did what to which object, and when.
//!
//! Guarantees: entries are only appended; a tenant lists only its own.

use super::sql::{args, statements};
use super::{Catalogue, Result};

/// One change made through the API: who made it, to what, when.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// Its row id, increasing: the cursor [`Catalogue::audit_log`] pages
    /// by (ignored when appending).
    pub id: i64,
    /// The tenant whose log it is in; None for the server's own (changes
    /// made with the admin token outside any tenant).
    pub tenant: Option<String>,
    /// The id of the token that made the change; None when no token did (a
    /// trigger's launch).
    pub token: Option<String>,
    /// What was done (`"create"`, `"delete"`, `"launch"`...).
    pub action: String,
    /// What kind of object (`"job"`, `"secret"`...).
    pub object_kind: String,
    /// Which one (an id, a name, `name@version`).
    pub object_id: String,
    /// When, in milliseconds since the Unix epoch.
    pub at: i64,
}

statements! {
    INSERT_AUDIT =
        "INSERT INTO audit (tenant, token, action, object_kind, object_id, at) VALUES ($1, $2, $3, $4, $5, $6)";
    AUDIT_LOG = "SELECT id, tenant, token, action, object_kind, object_id, at FROM audit
                 WHERE tenant = $1 AND id < $2 ORDER BY id DESC LIMIT $3";
}

impl Catalogue {
    /// Appends `e` to the log (its `id` is assigned by the database).
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn audit(&self, e: &AuditEntry) -> Result<()> {
        self.db
            .execute(
                &INSERT_AUDIT,
                args![e.tenant.clone(), e.token.clone(), &e.action, &e.object_kind, &e.object_id, e.at],
            )
            .await?;
        Ok(())
    }

    /// A tenant's entries, newest first, older than `before` (an entry's
    /// id) when given, at most `limit`.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn audit_log(&self, tenant: &str, before: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = self.db.fetch_all(&AUDIT_LOG, args![tenant, before.unwrap_or(i64::MAX), limit]).await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.int("id")?,
                    tenant: r.opt_text("tenant")?,
                    token: r.opt_text("token")?,
                    action: r.text("action")?,
                    object_kind: r.text("object_kind")?,
                    object_id: r.text("object_id")?,
                    at: r.int("at")?,
                })
            })
            .collect()
    }
}
