//! Who is calling: the bearer token, resolved to a [`Principal`].
//!
//! Tokens are `mm_` followed by 43 base64url characters (256 random bits)
//! and stored as their SHA-256 only. The server's admin token (no tenant)
//! manages tenants and their tokens and nothing else; a tenant token sees
//! only its tenant and carries scopes: `read` (every GET), `run` (create,
//! launch and control jobs), `admin` (definitions, participants, secrets,
//! triggers, schedules, tokens, audit). `admin` implies the others, `run`
//! implies `read`. `approve` decides approvals (so does `admin`) and
//! implies `read`.

use super::AppState;
use super::error::ApiError;
use crate::store::{AuditEntry, TokenRecord, now_ms};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Read,
    Run,
    Admin,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "run" => Some(Scope::Run),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Run => "run",
            Scope::Admin => "admin",
        }
    }
}

/// The scope of tokens that decide approvals (and may read).
pub const APPROVE_SCOPE: &str = "approve";

/// A new random token.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("mm_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// How tokens are kept and compared: the SHA-256 of the token, hex.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The caller of a request.
#[derive(Clone)]
pub struct Principal {
    pub token: TokenRecord,
    state: Arc<AppState>,
}

impl Principal {
    /// The caller's tenant, after checking it holds `scope` there.
    pub fn tenant(&self, scope: Scope) -> Result<&str, ApiError> {
        let Some(tenant) = self.token.tenant.as_deref() else {
            return Err(ApiError::Forbidden(
                "the admin token manages tenants and tokens; use a tenant token for this".into(),
            ));
        };
        // `approve` lets its holder read what it decides on.
        let read_for_approvers = |s: &String| (s == APPROVE_SCOPE).then_some(Scope::Read);
        let highest = self.token.scopes.iter().filter_map(|s| Scope::parse(s).or_else(|| read_for_approvers(s))).max();
        if highest.is_none_or(|h| h < scope) {
            return Err(ApiError::Forbidden(format!("this token lacks the '{}' scope", scope.as_str())));
        }
        Ok(tenant)
    }

    /// The caller's tenant, after checking it may decide approvals there:
    /// its token holds the `approve` or the `admin` scope.
    pub fn approver(&self) -> Result<&str, ApiError> {
        let tenant = self.tenant(Scope::Read)?;
        if !self.token.scopes.iter().any(|s| s == APPROVE_SCOPE || s == Scope::Admin.as_str()) {
            return Err(ApiError::Forbidden(format!("this token lacks the '{APPROVE_SCOPE}' scope")));
        }
        Ok(tenant)
    }

    /// Checks that this is the server's admin token.
    pub fn server_admin(&self) -> Result<(), ApiError> {
        if self.token.tenant.is_some() {
            return Err(ApiError::Forbidden("only the server's admin token manages tenants".into()));
        }
        Ok(())
    }

    /// Records in the audit log that this caller did `action` to an object.
    pub async fn audit(&self, action: &str, kind: &str, id: &str) -> Result<(), ApiError> {
        let entry = AuditEntry {
            id: 0,
            tenant: self.token.tenant.clone(),
            token: Some(self.token.id.clone()),
            action: action.to_owned(),
            object_kind: kind.to_owned(),
            object_id: id.to_owned(),
            at: now_ms(),
        };
        self.state.store.catalogue().audit(&entry).await?;
        Ok(())
    }
}

impl FromRequestParts<Arc<AppState>> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")).map(str::trim) else {
            return Err(ApiError::Unauthorized);
        };
        let record = state.tokens.lookup(&state.store, &hash_token(token)).await?.ok_or(ApiError::Unauthorized)?;
        Ok(Principal { token: record, state: state.clone() })
    }
}

/// Token lookups, remembered for a few seconds: a request costs no
/// database round trip for its token. A token revoked here is forgotten at
/// once; one revoked by another process stops working within [`TOKEN_TTL`].
#[derive(Default)]
pub struct TokenCache(std::sync::Mutex<std::collections::HashMap<String, (TokenRecord, std::time::Instant)>>);

const TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(5);

impl TokenCache {
    async fn lookup(&self, store: &crate::store::Store, hash: &str) -> Result<Option<TokenRecord>, ApiError> {
        if let Some((record, at)) = self.0.lock().unwrap_or_else(|p| p.into_inner()).get(hash)
            && at.elapsed() < TOKEN_TTL
        {
            return Ok(Some(record.clone()));
        }
        let record = store.catalogue().token_by_hash(hash).await?;
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.clear();
        }
        match &record {
            Some(r) => {
                cache.insert(hash.to_owned(), (r.clone(), std::time::Instant::now()));
            }
            None => {
                cache.remove(hash);
            }
        }
        Ok(record)
    }

    /// Forgets a revoked token.
    pub fn forget(&self, token_id: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, (r, _)| r.id != token_id);
    }
}
