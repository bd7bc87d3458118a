//! Participants uploaded by tenants, versioned.
//!
//! Guarantees: only components the sandbox validated are stored (the API
//! checks before it calls [`Catalogue::put_participant`]); an upload of an
//! existing name stores the next version and jobs use the latest live one;
//! a deleted participant keeps its rows (history may name it) but is no
//! longer listed or run.

use super::sql::{Row, args, statements};
use super::{Catalogue, Result, from_json};
use serde_json::Value;

/// One uploaded version of a tenant's participant (its component's bytes
/// are stored beside it, read only to run it).
#[derive(Debug, Clone)]
pub struct ParticipantRecord {
    /// The tenant that uploaded it; only its jobs run it.
    pub tenant: String,
    /// The name definitions call it by.
    pub name: String,
    /// From 1, one more for each upload of the name (assigned by
    /// [`Catalogue::put_participant`]).
    pub version: i64,
    /// The hex SHA-256 of the component's bytes.
    pub sha256: String,
    /// The capabilities the tenant granted it.
    pub grants: Vec<String>,
    /// What the component says of itself (its actions and their
    /// parameters).
    pub description: Value,
    /// When it was uploaded, in milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// The columns [`from_row`] reads (a macro: `concat!` takes literals).
macro_rules! columns {
    () => {
        "tenant, name, version, sha256, grants, description, created_at"
    };
}

fn from_row(r: &Row) -> Result<ParticipantRecord> {
    Ok(ParticipantRecord {
        tenant: r.text("tenant")?,
        name: r.text("name")?,
        version: r.int("version")?,
        sha256: r.text("sha256")?,
        grants: from_json("participant grants", r.str("grants")?)?,
        description: from_json("participant description", r.str("description")?)?,
        created_at: r.int("created_at")?,
    })
}

/// The latest live version of each name.
macro_rules! latest {
    () => {
        "deleted_at IS NULL AND version = (SELECT MAX(p2.version) FROM participants p2
         WHERE p2.tenant = participants.tenant AND p2.name = participants.name)"
    };
}

statements! {
    NEXT_VERSION = "SELECT COALESCE(MAX(version), 0) + 1 AS next FROM participants WHERE tenant = $1 AND name = $2";
    INSERT_PARTICIPANT = "INSERT INTO participants (tenant, name, version, wasm, sha256, grants, description, created_at)
                          VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    PARTICIPANTS = concat!("SELECT ", columns!(), " FROM participants WHERE tenant = $1 AND ", latest!(), " ORDER BY name");
    PARTICIPANT_VERSIONS = concat!(
        "SELECT ", columns!(),
        " FROM participants WHERE tenant = $1 AND name = $2 AND deleted_at IS NULL ORDER BY version"
    );
    PARTICIPANT_COMPONENTS =
        concat!("SELECT ", columns!(), ", wasm FROM participants WHERE tenant = $1 AND ", latest!(), " ORDER BY name");
    DELETE_PARTICIPANT =
        "UPDATE participants SET deleted_at = $1 WHERE tenant = $2 AND name = $3 AND deleted_at IS NULL";
}

impl Catalogue {
    /// Stores an upload as the next version of its name (`p.version` is
    /// ignored) and bumps the tenant's revision; returns the version.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn put_participant(&self, p: &ParticipantRecord, wasm: &[u8]) -> Result<i64> {
        let mut tx = self.db.begin().await?;
        let next = tx.fetch_one(&NEXT_VERSION, args![&p.tenant, &p.name]).await?.int("next")?;
        let grants = serde_json::to_string(&p.grants).unwrap_or_else(|_| "[]".into());
        tx.execute(
            &INSERT_PARTICIPANT,
            args![&p.tenant, &p.name, next, wasm.to_vec(), &p.sha256, grants, p.description.to_string(), p.created_at],
        )
        .await?;
        super::tenants::bump_revision(&mut tx, &p.tenant).await?;
        tx.commit().await?;
        Ok(next)
    }

    /// The tenant's live participants, latest versions, by name.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn participants(&self, tenant: &str) -> Result<Vec<ParticipantRecord>> {
        self.db.fetch_all(&PARTICIPANTS, args![tenant]).await?.iter().map(from_row).collect()
    }

    /// Every live version of one participant, oldest first (none once it
    /// is deleted).
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn participant_versions(&self, tenant: &str, name: &str) -> Result<Vec<ParticipantRecord>> {
        self.db.fetch_all(&PARTICIPANT_VERSIONS, args![tenant, name]).await?.iter().map(from_row).collect()
    }

    /// The component bytes of the tenant's live participants (latest versions).
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn participant_components(&self, tenant: &str) -> Result<Vec<(ParticipantRecord, Vec<u8>)>> {
        let rows = self.db.fetch_all(&PARTICIPANT_COMPONENTS, args![tenant]).await?;
        rows.iter().map(|r| Ok((from_row(r)?, r.blob("wasm")?))).collect()
    }

    /// Deletes every version of a participant (their rows stay, marked
    /// deleted at `at`) and bumps the tenant's revision; false when there
    /// is none.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn delete_participant(&self, tenant: &str, name: &str, at: i64) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let done = tx.execute(&DELETE_PARTICIPANT, args![at, tenant, name]).await?;
        super::tenants::bump_revision(&mut tx, tenant).await?;
        tx.commit().await?;
        Ok(done > 0)
    }
}
