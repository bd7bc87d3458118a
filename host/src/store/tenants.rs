//! Tenants and API tokens.
//!
//! Guarantees: a token is stored only as the SHA-256 of its text (tokens are
//! 256 random bits, so a fast hash is as good as a slow one here and keeps
//! every request's check to one indexed lookup); a revoked token never
//! authenticates again; a tenant's `revision` changes whenever anything its
//! jobs run with changes (participants, secrets, limits), which is how every
//! process knows its cached copy is stale.

use super::sql::{Row, Tx, args, statements};
use super::{Catalogue, Result, from_json, now_ms};
use serde_json::Value;

/// A tenant: the unit that owns jobs and everything in the catalogue.
#[derive(Debug, Clone)]
pub struct TenantRecord {
    /// Its id, which every row it owns carries.
    pub id: String,
    /// Its name, unique on the server.
    pub name: String,
    /// Its limits (a `services::tenancy::TenantLimits`, as JSON).
    pub limits: Value,
    /// Bumped whenever anything its jobs run with changes (see the module
    /// documentation); 1 when created.
    pub revision: i64,
    /// When it was created, in milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// An API token, without its text (only its hash is stored).
#[derive(Debug, Clone)]
pub struct TokenRecord {
    /// Its id, as the audit log names it.
    pub id: String,
    /// None for the server's admin token.
    pub tenant: Option<String>,
    /// What its holder called it.
    pub name: String,
    /// What it may do (`read`, `run`, `admin`).
    pub scopes: Vec<String>,
    /// The groups it belongs to, for approvals that name groups.
    pub groups: Vec<String>,
    /// When it was issued, in milliseconds since the Unix epoch.
    pub created_at: i64,
}

fn tenant_from_row(r: &Row) -> Result<TenantRecord> {
    Ok(TenantRecord {
        id: r.text("id")?,
        name: r.text("name")?,
        limits: from_json("tenant limits", r.str("limits")?)?,
        revision: r.int("revision")?,
        created_at: r.int("created_at")?,
    })
}

fn token_from_row(r: &Row) -> Result<TokenRecord> {
    Ok(TokenRecord {
        id: r.text("id")?,
        tenant: r.opt_text("tenant")?,
        name: r.text("name")?,
        scopes: r.str("scopes")?.split_whitespace().map(str::to_owned).collect(),
        groups: r.str("groups")?.split_whitespace().map(str::to_owned).collect(),
        created_at: r.int("created_at")?,
    })
}

/// The columns [`tenant_from_row`] and [`token_from_row`] read (macros:
/// `concat!` takes literals).
macro_rules! tenant_columns {
    () => {
        "id, name, limits, revision, created_at"
    };
}
macro_rules! token_columns {
    () => {
        "id, tenant, name, scopes, groups, created_at"
    };
}

statements! {
    BUMP_REVISION = "UPDATE tenants SET revision = revision + 1 WHERE id = $1";
    INSERT_TENANT = "INSERT INTO tenants (id, name, limits, revision, created_at) VALUES ($1, $2, $3, 1, $4)
                     ON CONFLICT (name) DO NOTHING";
    TENANTS = concat!("SELECT ", tenant_columns!(), " FROM tenants ORDER BY created_at, id");
    TENANT = concat!("SELECT ", tenant_columns!(), " FROM tenants WHERE id = $1");
    SET_TENANT_LIMITS = "UPDATE tenants SET limits = $1, revision = revision + 1 WHERE id = $2";
    TENANT_REVISION = "SELECT revision FROM tenants WHERE id = $1";
    INSERT_TOKEN = "INSERT INTO tokens (id, tenant, name, hash, scopes, groups, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
    TOKEN_BY_HASH = concat!("SELECT ", token_columns!(), " FROM tokens WHERE hash = $1 AND revoked_at IS NULL");
    TOKENS = concat!(
        "SELECT ", token_columns!(),
        " FROM tokens WHERE tenant = $1 AND revoked_at IS NULL ORDER BY created_at, id"
    );
    REVOKE_TOKEN = "UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND tenant = $3 AND revoked_at IS NULL";
    COUNT_ADMIN_TOKENS = "SELECT COUNT(*) AS n FROM tokens WHERE tenant IS NULL AND revoked_at IS NULL";
    REVOKE_OTHER_ADMIN_TOKENS =
        "UPDATE tokens SET revoked_at = $1 WHERE tenant IS NULL AND revoked_at IS NULL AND hash <> $2";
    /// Never brings back a revoked token: the caller checked the hash is new.
    INSERT_ADMIN_TOKEN = "INSERT INTO tokens (id, tenant, name, hash, scopes, created_at) VALUES ($1, NULL, 'admin', $2, 'admin', $3)
                          ON CONFLICT (hash) DO NOTHING";
    TOKEN_OWNER = "SELECT tenant, revoked_at FROM tokens WHERE hash = $1";
}

/// Marks, inside a transaction that changes it, what a tenant's jobs run
/// with as changed.
pub(super) async fn bump_revision(tx: &mut Tx, tenant: &str) -> Result<()> {
    tx.execute(&BUMP_REVISION, args![tenant]).await?;
    Ok(())
}

impl Catalogue {
    /// Stores a new tenant (at revision 1); false when the name is taken.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn create_tenant(&self, t: &TenantRecord) -> Result<bool> {
        let done = self.db.execute(&INSERT_TENANT, args![&t.id, &t.name, t.limits.to_string(), t.created_at]).await?;
        Ok(done == 1)
    }

    /// Every tenant, oldest first.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn tenants(&self) -> Result<Vec<TenantRecord>> {
        self.db.fetch_all(&TENANTS, args![]).await?.iter().map(tenant_from_row).collect()
    }

    /// One tenant; None when there is none of that id.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn tenant(&self, id: &str) -> Result<Option<TenantRecord>> {
        self.db.fetch_optional(&TENANT, args![id]).await?.as_ref().map(tenant_from_row).transpose()
    }

    /// Replaces a tenant's limits and bumps its revision; false when there
    /// is no such tenant.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn set_tenant_limits(&self, id: &str, limits: &Value) -> Result<bool> {
        let done = self.db.execute(&SET_TENANT_LIMITS, args![limits.to_string(), id]).await?;
        Ok(done == 1)
    }

    /// A tenant's current revision (cheaper than [`Catalogue::tenant`]: a
    /// process checks it to know whether its cached copy is stale); None
    /// when there is no such tenant.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn tenant_revision(&self, id: &str) -> Result<Option<i64>> {
        self.db.fetch_optional(&TENANT_REVISION, args![id]).await?.map(|r| r.int("revision")).transpose()
    }

    /// Stores a token by `hash`, the SHA-256 of its text (the text itself
    /// is never stored).
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn insert_token(&self, token: &TokenRecord, hash: &str) -> Result<()> {
        self.db
            .execute(
                &INSERT_TOKEN,
                args![
                    &token.id,
                    token.tenant.clone(),
                    &token.name,
                    hash,
                    token.scopes.join(" "),
                    token.groups.join(" "),
                    token.created_at
                ],
            )
            .await?;
        Ok(())
    }

    /// The live (not revoked) token whose hash is `hash`: how a request
    /// is authenticated.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>> {
        self.db.fetch_optional(&TOKEN_BY_HASH, args![hash]).await?.as_ref().map(token_from_row).transpose()
    }

    /// The live tokens of a tenant, oldest first (never their text: it is
    /// not stored).
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn tokens(&self, tenant: &str) -> Result<Vec<TokenRecord>> {
        self.db.fetch_all(&TOKENS, args![tenant]).await?.iter().map(token_from_row).collect()
    }

    /// Revokes a tenant's token for good; false when it has no such live
    /// token.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn revoke_token(&self, tenant: &str, id: &str) -> Result<bool> {
        let done = self.db.execute(&REVOKE_TOKEN, args![now_ms(), id, tenant]).await?;
        Ok(done == 1)
    }

    /// Whether the server has an admin token yet.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn has_admin_token(&self) -> Result<bool> {
        let row = self.db.fetch_one(&COUNT_ADMIN_TOKENS, args![]).await?;
        Ok(row.int("n")? > 0)
    }

    /// Makes `hash` the one admin token, revoking any other, in one
    /// transaction; refuses (changing nothing) a token that was revoked or
    /// is a tenant's. Says what it did, for the operator to be told.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn set_admin_token(&self, hash: &str) -> Result<AdminTokenChange> {
        let mut tx = self.db.begin().await?;
        let now = now_ms();
        let known = match tx.fetch_optional(&TOKEN_OWNER, args![hash]).await? {
            Some(row) if row.opt_text("tenant")?.is_some() => return Ok(AdminTokenChange::TenantToken),
            Some(row) if row.opt_int("revoked_at")?.is_some() => return Ok(AdminTokenChange::Revoked),
            Some(_) => true,
            None => false,
        };
        let revoked = tx.execute(&REVOKE_OTHER_ADMIN_TOKENS, args![now, hash]).await?;
        if !known {
            tx.execute(&INSERT_ADMIN_TOKEN, args![uuid::Uuid::now_v7().to_string(), hash, now]).await?;
        }
        tx.commit().await?;
        Ok(match (known, revoked) {
            (_, 1..) => AdminTokenChange::Replaced,
            (true, 0) => AdminTokenChange::Kept,
            (false, 0) => AdminTokenChange::Stored,
        })
    }
}

/// What [`Catalogue::set_admin_token`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminTokenChange {
    /// It was the admin token already.
    Kept,
    /// It is the first admin token.
    Stored,
    /// It replaced another admin token, now revoked.
    Replaced,
    /// Refused: it was an admin token once and was revoked (a revoked token
    /// never authenticates again).
    Revoked,
    /// Refused: it is a tenant's token.
    TenantToken,
}
