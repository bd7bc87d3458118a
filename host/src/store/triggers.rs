//! Webhook triggers: a secret URL that launches a stored definition.
//!
//! Guarantees: the URL's secret is stored only as its SHA-256; a trigger is
//! found by that hash alone (the URL carries no tenant), and always launches
//! in its own tenant.

use super::sql::{Row, args, statements};
use super::{Result, Store, from_json};
use serde_json::Value;

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

/// The columns [`from_row`] reads (a macro: `concat!` takes literals).
macro_rules! columns {
    () => {
        "id, tenant, definition, field, fields, per_minute, created_at"
    };
}

statements! {
    INSERT_TRIGGER = "INSERT INTO triggers (id, tenant, definition, hash, field, fields, per_minute, created_at)
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    TRIGGERS = concat!("SELECT ", columns!(), " FROM triggers WHERE tenant = $1 ORDER BY created_at, id");
    TRIGGER = concat!("SELECT ", columns!(), " FROM triggers WHERE tenant = $1 AND id = $2");
    TRIGGER_BY_HASH = concat!("SELECT ", columns!(), " FROM triggers WHERE hash = $1");
    DELETE_TRIGGER = "DELETE FROM triggers WHERE tenant = $1 AND id = $2";
}

fn from_row(r: &Row) -> Result<TriggerRecord> {
    Ok(TriggerRecord {
        id: r.text("id")?,
        tenant: r.text("tenant")?,
        definition: r.text("definition")?,
        field: r.text("field")?,
        fields: from_json("trigger fields", r.str("fields")?)?,
        per_minute: r.int("per_minute")?,
        created_at: r.int("created_at")?,
    })
}

impl Store {
    pub async fn create_trigger(&self, t: &TriggerRecord, hash: &str) -> Result<()> {
        self.db
            .execute(
                &INSERT_TRIGGER,
                args![
                    &t.id,
                    &t.tenant,
                    &t.definition,
                    hash,
                    &t.field,
                    t.fields.to_string(),
                    t.per_minute,
                    t.created_at
                ],
            )
            .await?;
        Ok(())
    }

    pub async fn triggers(&self, tenant: &str) -> Result<Vec<TriggerRecord>> {
        self.db.fetch_all(&TRIGGERS, args![tenant]).await?.iter().map(from_row).collect()
    }

    pub async fn trigger(&self, tenant: &str, id: &str) -> Result<Option<TriggerRecord>> {
        self.db.fetch_optional(&TRIGGER, args![tenant, id]).await?.as_ref().map(from_row).transpose()
    }

    pub async fn trigger_by_hash(&self, hash: &str) -> Result<Option<TriggerRecord>> {
        self.db.fetch_optional(&TRIGGER_BY_HASH, args![hash]).await?.as_ref().map(from_row).transpose()
    }

    pub async fn delete_trigger(&self, tenant: &str, id: &str) -> Result<bool> {
        Ok(self.db.execute(&DELETE_TRIGGER, args![tenant, id]).await? == 1)
    }
}
