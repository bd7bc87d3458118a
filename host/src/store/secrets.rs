//! Tenants' secrets, stored sealed.
//!
//! Guarantees: only sealed values (see `capabilities::vault`) reach the
//! database; names can be listed, values only unsealed by the host for a
//! call. Every change bumps the tenant's revision.

use super::sql::{args, statements};
use super::{Catalogue, Result};

statements! {
    PUT_SECRET = "INSERT INTO secrets (tenant, name, sealed, updated_at) VALUES ($1, $2, $3, $4)
                  ON CONFLICT (tenant, name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at";
    DELETE_SECRET = "DELETE FROM secrets WHERE tenant = $1 AND name = $2";
    SECRET_NAMES = "SELECT name, updated_at FROM secrets WHERE tenant = $1 ORDER BY name";
    SEALED_SECRETS = "SELECT name, sealed FROM secrets WHERE tenant = $1";
    COUNT_SECRETS = "SELECT COUNT(*) AS n FROM secrets";
}

impl Catalogue {
    /// Stores a sealed value under `name`, replacing any, and bumps the
    /// tenant's revision.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn put_secret(&self, tenant: &str, name: &str, sealed: &str, at: i64) -> Result<()> {
        let mut tx = self.db.begin().await?;
        tx.execute(&PUT_SECRET, args![tenant, name, sealed, at]).await?;
        super::tenants::bump_revision(&mut tx, tenant).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a secret and bumps the tenant's revision; false when there
    /// is none of that name.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn delete_secret(&self, tenant: &str, name: &str) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let done = tx.execute(&DELETE_SECRET, args![tenant, name]).await?;
        super::tenants::bump_revision(&mut tx, tenant).await?;
        tx.commit().await?;
        Ok(done == 1)
    }

    /// The tenant's secrets' names and update times, by name (never their
    /// values).
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn secret_names(&self, tenant: &str) -> Result<Vec<(String, i64)>> {
        let rows = self.db.fetch_all(&SECRET_NAMES, args![tenant]).await?;
        rows.iter().map(|r| Ok((r.text("name")?, r.int("updated_at")?))).collect()
    }

    /// The tenant's secrets' names and sealed values, for the host to
    /// unseal.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn sealed_secrets(&self, tenant: &str) -> Result<Vec<(String, String)>> {
        let rows = self.db.fetch_all(&SEALED_SECRETS, args![tenant]).await?;
        rows.iter().map(|r| Ok((r.text("name")?, r.text("sealed")?))).collect()
    }

    /// Whether any tenant has a secret (the server then needs its sealing
    /// key).
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn has_secrets(&self) -> Result<bool> {
        Ok(self.db.fetch_one(&COUNT_SECRETS, args![]).await?.int("n")? > 0)
    }
}
