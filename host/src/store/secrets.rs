//! Tenants' secrets, stored sealed.
//!
//! Guarantees: only sealed values (see `capabilities::vault`) reach the
//! database; names can be listed, values only unsealed by the host for a
//! call. Every change bumps the tenant's revision.

use super::{Result, Store};
use sqlx::Row;

impl Store {
    pub async fn put_secret(&self, tenant: &str, name: &str, sealed: &str, at: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO secrets (tenant, name, sealed, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant, name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
        )
        .bind(tenant)
        .bind(name)
        .bind(sealed)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        super::tenants::bump_revision(&mut tx, tenant).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a secret; false when there is none of that name.
    pub async fn delete_secret(&self, tenant: &str, name: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM secrets WHERE tenant = $1 AND name = $2").bind(tenant).bind(name).execute(&mut *tx).await?;
        super::tenants::bump_revision(&mut tx, tenant).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Names and update times.
    pub async fn secret_names(&self, tenant: &str) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT name, updated_at FROM secrets WHERE tenant = $1 ORDER BY name").bind(tenant).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Names and sealed values, for the host to unseal.
    pub async fn sealed_secrets(&self, tenant: &str) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT name, sealed FROM secrets WHERE tenant = $1").bind(tenant).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Whether any tenant has a secret.
    pub async fn has_secrets(&self) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) FROM secrets").fetch_one(&self.pool).await?;
        Ok(row.get::<i64, _>(0) > 0)
    }
}
