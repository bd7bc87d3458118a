//! Webhook triggers: a secret URL that launches a stored definition.
//!
//! Guarantees: the URL's secret is stored only as its SHA-256; a trigger is
//! found by that hash alone (the URL carries no tenant), and always launches
//! in its own tenant.

use super::{Result, Store, corrupt};
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone)]
pub struct TriggerRecord {
    pub id: String,
    pub tenant: String,
    pub definition: String,
    pub field: String,
    pub fields: Value,
    pub per_minute: i64,
    pub created_at: i64,
}

const COLUMNS: &str = "id, tenant, definition, field, fields, per_minute, created_at";

fn from_row(r: &AnyRow) -> Result<TriggerRecord> {
    let fields: String = r.get(4);
    Ok(TriggerRecord {
        id: r.get(0),
        tenant: r.get(1),
        definition: r.get(2),
        field: r.get(3),
        fields: serde_json::from_str(&fields).map_err(|e| corrupt("trigger fields", e))?,
        per_minute: r.get(5),
        created_at: r.get(6),
    })
}

impl Store {
    pub async fn create_trigger(&self, t: &TriggerRecord, hash: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO triggers (id, tenant, definition, hash, field, fields, per_minute, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&t.id)
        .bind(&t.tenant)
        .bind(&t.definition)
        .bind(hash)
        .bind(&t.field)
        .bind(t.fields.to_string())
        .bind(t.per_minute)
        .bind(t.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn triggers(&self, tenant: &str) -> Result<Vec<TriggerRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM triggers WHERE tenant = $1 ORDER BY created_at, id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant).fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn trigger(&self, tenant: &str, id: &str) -> Result<Option<TriggerRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM triggers WHERE tenant = $1 AND id = $2");
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant).bind(id).fetch_optional(&self.pool).await?.as_ref().map(from_row).transpose()
    }

    pub async fn trigger_by_hash(&self, hash: &str) -> Result<Option<TriggerRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM triggers WHERE hash = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(hash).fetch_optional(&self.pool).await?.as_ref().map(from_row).transpose()
    }

    pub async fn delete_trigger(&self, tenant: &str, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM triggers WHERE tenant = $1 AND id = $2").bind(tenant).bind(id).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }
}
