//! Participants uploaded by tenants, versioned.
//!
//! Guarantees: only components the sandbox validated are stored (the API
//! checks before it calls [`Store::put_participant`]); an upload of an
//! existing name stores the next version and jobs use the latest live one;
//! a deleted participant keeps its rows (history may name it) but is no
//! longer listed or run.

use super::{Result, Store, corrupt};
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone)]
pub struct ParticipantRecord {
    pub tenant: String,
    pub name: String,
    pub version: i64,
    pub sha256: String,
    pub grants: Vec<String>,
    pub description: Value,
    pub created_at: i64,
}

const COLUMNS: &str = "tenant, name, version, sha256, grants, description, created_at";

fn from_row(r: &AnyRow) -> Result<ParticipantRecord> {
    let grants: String = r.get(4);
    let description: String = r.get(5);
    Ok(ParticipantRecord {
        tenant: r.get(0),
        name: r.get(1),
        version: r.get(2),
        sha256: r.get(3),
        grants: serde_json::from_str(&grants).map_err(|e| corrupt("participant grants", e))?,
        description: serde_json::from_str(&description).map_err(|e| corrupt("participant description", e))?,
        created_at: r.get(6),
    })
}

/// The latest live version of each name.
const LATEST: &str = "deleted_at IS NULL AND version = (SELECT MAX(p2.version) FROM participants p2
                      WHERE p2.tenant = participants.tenant AND p2.name = participants.name)";

impl Store {
    /// Stores an upload as the next version of its name; returns the version.
    pub async fn put_participant(&self, p: &ParticipantRecord, wasm: &[u8]) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        let next: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) + 1 FROM participants WHERE tenant = $1 AND name = $2")
            .bind(&p.tenant)
            .bind(&p.name)
            .fetch_one(&mut *tx)
            .await?
            .get(0);
        sqlx::query(
            "INSERT INTO participants (tenant, name, version, wasm, sha256, grants, description, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&p.tenant)
        .bind(&p.name)
        .bind(next)
        .bind(wasm.to_vec())
        .bind(&p.sha256)
        .bind(serde_json::to_string(&p.grants).unwrap_or_else(|_| "[]".into()))
        .bind(p.description.to_string())
        .bind(p.created_at)
        .execute(&mut *tx)
        .await?;
        super::tenants::bump_revision(&mut tx, &p.tenant).await?;
        tx.commit().await?;
        Ok(next)
    }

    /// The tenant's live participants, latest versions, by name.
    pub async fn participants(&self, tenant: &str) -> Result<Vec<ParticipantRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM participants WHERE tenant = $1 AND {LATEST} ORDER BY name");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant).fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    /// Every version of one participant (deleted ones included), oldest first.
    pub async fn participant_versions(&self, tenant: &str, name: &str) -> Result<Vec<ParticipantRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM participants WHERE tenant = $1 AND name = $2 AND deleted_at IS NULL ORDER BY version");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant).bind(name).fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    /// The component bytes of the tenant's live participants (latest versions).
    pub async fn participant_components(&self, tenant: &str) -> Result<Vec<(ParticipantRecord, Vec<u8>)>> {
        let sql = format!("SELECT {COLUMNS}, wasm FROM participants WHERE tenant = $1 AND {LATEST} ORDER BY name");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((from_row(r)?, r.get::<Vec<u8>, _>(7)))).collect()
    }

    /// Deletes every version of a participant; false when there is none.
    pub async fn delete_participant(&self, tenant: &str, name: &str, at: i64) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE participants SET deleted_at = $1 WHERE tenant = $2 AND name = $3 AND deleted_at IS NULL")
            .bind(at)
            .bind(tenant)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        super::tenants::bump_revision(&mut tx, tenant).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }
}
