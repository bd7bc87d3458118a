//! The audit log: who (which token) did what to which object, and when.
//!
//! Guarantees: entries are only appended; a tenant lists only its own.

use super::sql::{args, statements};
use super::{Result, Store};

#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub id: i64,
    pub tenant: Option<String>,
    pub token: Option<String>,
    pub action: String,
    pub object_kind: String,
    pub object_id: String,
    pub at: i64,
}

statements! {
    INSERT_AUDIT =
        "INSERT INTO audit (tenant, token, action, object_kind, object_id, at) VALUES ($1, $2, $3, $4, $5, $6)";
    AUDIT_LOG = "SELECT id, tenant, token, action, object_kind, object_id, at FROM audit
                 WHERE tenant = $1 AND id < $2 ORDER BY id DESC LIMIT $3";
}

impl Store {
    pub async fn audit(&self, e: &AuditEntry) -> Result<()> {
        self.db
            .execute(
                &INSERT_AUDIT,
                args![e.tenant.clone(), e.token.clone(), &e.action, &e.object_kind, &e.object_id, e.at],
            )
            .await?;
        Ok(())
    }

    /// A tenant's entries, newest first, older than `before` when given.
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
