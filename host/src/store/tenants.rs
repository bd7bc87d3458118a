//! Tenants and API tokens.
//!
//! Guarantees: a token is stored only as the SHA-256 of its text (tokens are
//! 256 random bits, so a fast hash is as good as a slow one here and keeps
//! every request's check to one indexed lookup); a revoked token never
//! authenticates again; a tenant's `revision` changes whenever anything its
//! jobs run with changes (participants, secrets, limits), which is how every
//! process knows its cached copy is stale.

use super::{Result, Store, corrupt, now_ms};
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone)]
pub struct TenantRecord {
    pub id: String,
    pub name: String,
    pub limits: Value,
    pub revision: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub id: String,
    /// None for the server's admin token.
    pub tenant: Option<String>,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
}

fn tenant_from_row(r: &AnyRow) -> Result<TenantRecord> {
    let limits: String = r.get(2);
    Ok(TenantRecord {
        id: r.get(0),
        name: r.get(1),
        limits: serde_json::from_str(&limits).map_err(|e| corrupt("tenant limits", e))?,
        revision: r.get(3),
        created_at: r.get(4),
    })
}

fn token_from_row(r: &AnyRow) -> TokenRecord {
    let scopes: String = r.get(3);
    TokenRecord {
        id: r.get(0),
        tenant: r.get(1),
        name: r.get(2),
        scopes: scopes.split_whitespace().map(str::to_owned).collect(),
        created_at: r.get(4),
    }
}

/// Marks, inside a transaction that changes it, what a tenant's jobs run
/// with as changed.
pub(super) async fn bump_revision(tx: &mut sqlx::Transaction<'_, sqlx::Any>, tenant: &str) -> Result<()> {
    sqlx::query("UPDATE tenants SET revision = revision + 1 WHERE id = $1").bind(tenant).execute(&mut **tx).await?;
    Ok(())
}

const TENANT_COLUMNS: &str = "id, name, limits, revision, created_at";
const TOKEN_COLUMNS: &str = "id, tenant, name, scopes, created_at";

impl Store {
    /// Stores a new tenant; false when the name is taken.
    pub async fn create_tenant(&self, t: &TenantRecord) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO tenants (id, name, limits, revision, created_at) VALUES ($1, $2, $3, 1, $4)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(&t.id)
        .bind(&t.name)
        .bind(t.limits.to_string())
        .bind(t.created_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn tenants(&self) -> Result<Vec<TenantRecord>> {
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY created_at, id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
        rows.iter().map(tenant_from_row).collect()
    }

    pub async fn tenant(&self, id: &str) -> Result<Option<TenantRecord>> {
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    /// Replaces a tenant's limits; false when there is no such tenant.
    pub async fn set_tenant_limits(&self, id: &str, limits: &Value) -> Result<bool> {
        let done = sqlx::query("UPDATE tenants SET limits = $1, revision = revision + 1 WHERE id = $2")
            .bind(limits.to_string())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn tenant_revision(&self, id: &str) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT revision FROM tenants WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.get(0)))
    }

    pub async fn insert_token(&self, token: &TokenRecord, hash: &str) -> Result<()> {
        sqlx::query("INSERT INTO tokens (id, tenant, name, hash, scopes, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&token.id)
            .bind(token.tenant.clone())
            .bind(&token.name)
            .bind(hash)
            .bind(token.scopes.join(" "))
            .bind(token.created_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The live token whose hash is `hash`.
    pub async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = $1 AND revoked_at IS NULL");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(hash).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(token_from_row))
    }

    /// The live tokens of a tenant (never their text: it is not stored).
    pub async fn tokens(&self, tenant: &str) -> Result<Vec<TokenRecord>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE tenant = $1 AND revoked_at IS NULL ORDER BY created_at, id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(token_from_row).collect())
    }

    /// Revokes a tenant's token; false when it has no such live token.
    pub async fn revoke_token(&self, tenant: &str, id: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND tenant = $3 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(id)
            .bind(tenant)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether the server has an admin token yet.
    pub async fn has_admin_token(&self) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) FROM tokens WHERE tenant IS NULL AND revoked_at IS NULL").fetch_one(&self.pool).await?;
        Ok(row.get::<i64, _>(0) > 0)
    }

    /// Makes `hash` the one admin token (revoking any other).
    pub async fn set_admin_token(&self, hash: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let now = now_ms();
        sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE tenant IS NULL AND revoked_at IS NULL AND hash <> $2")
            .bind(now)
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO tokens (id, tenant, name, hash, scopes, created_at) VALUES ($1, NULL, 'admin', $2, 'admin', $3)
             ON CONFLICT (hash) DO UPDATE SET revoked_at = NULL",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
