//! The audit log: who (which token) did what to which object, and when.
//!
//! Guarantees: entries are only appended; a tenant lists only its own.

use super::{Result, Store};
use sqlx::Row;

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

impl Store {
    pub async fn audit(&self, e: &AuditEntry) -> Result<()> {
        sqlx::query("INSERT INTO audit (tenant, token, action, object_kind, object_id, at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(e.tenant.clone())
            .bind(e.token.clone())
            .bind(&e.action)
            .bind(&e.object_kind)
            .bind(&e.object_id)
            .bind(e.at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A tenant's entries, newest first, older than `before` when given.
    pub async fn audit_log(&self, tenant: &str, before: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, tenant, token, action, object_kind, object_id, at FROM audit
             WHERE tenant = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(tenant)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| AuditEntry {
                id: r.get(0),
                tenant: r.get(1),
                token: r.get(2),
                action: r.get(3),
                object_kind: r.get(4),
                object_id: r.get(5),
                at: r.get(6),
            })
            .collect())
    }
}
