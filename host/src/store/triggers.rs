//! Webhook triggers: a secret URL that launches a stored definition.
//!
//! Guarantees: the URL's secret is stored only as its SHA-256; a trigger is
//! found by that hash alone (the URL carries no tenant), and always launches
//! in its own tenant.

use super::sql::{Row, args, statements};
use super::{Catalogue, Result, from_json};
use serde_json::Value;

/// A webhook trigger (its secret's hash is stored beside it, never read
/// back).
#[derive(Debug, Clone)]
pub struct TriggerRecord {
    /// A UUIDv7.
    pub id: String,
    /// The tenant it launches in.
    pub tenant: String,
    /// The stored definition's name (its latest version at each call).
    pub definition: String,
    /// The field the posted payload goes under.
    pub field: String,
    /// The fields each launch starts from.
    pub fields: Value,
    /// Launches per minute at most (enforced per process by the API).
    pub per_minute: i64,
    /// When it was created, in milliseconds since the Unix epoch.
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

impl Catalogue {
    /// Stores a new trigger, found later by `hash`, its secret's SHA-256.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
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

    /// The tenant's triggers, oldest first.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn triggers(&self, tenant: &str) -> Result<Vec<TriggerRecord>> {
        self.db.fetch_all(&TRIGGERS, args![tenant]).await?.iter().map(from_row).collect()
    }

    /// One of the tenant's triggers; None when it has none of that id.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn trigger(&self, tenant: &str, id: &str) -> Result<Option<TriggerRecord>> {
        self.db.fetch_optional(&TRIGGER, args![tenant, id]).await?.as_ref().map(from_row).transpose()
    }

    /// The trigger whose secret hashes to `hash`, of whichever tenant: how
    /// a call to its URL finds it.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn trigger_by_hash(&self, hash: &str) -> Result<Option<TriggerRecord>> {
        self.db.fetch_optional(&TRIGGER_BY_HASH, args![hash]).await?.as_ref().map(from_row).transpose()
    }

    /// Deletes one of the tenant's triggers; false when it has none of
    /// that id.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn delete_trigger(&self, tenant: &str, id: &str) -> Result<bool> {
        Ok(self.db.execute(&DELETE_TRIGGER, args![tenant, id]).await? == 1)
    }
}
