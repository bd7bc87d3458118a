//! Who the caller is (`GET /v1/me`), and the console's sign-in links
//! (`POST /v1/session`).
//!
//! Guarantees:
//! - A sign-in token (scope `signin`, alone) opens nothing but
//!   `POST /v1/session`: every other endpoint refuses it as it refuses a
//!   token lacking the scope it needs.
//! - It works once: the exchange revokes it in the statement that decides
//!   (`UPDATE ... WHERE revoked_at IS NULL`), so of two browsers opening
//!   the same link one gets a token and the other a 401.
//! - It works for [`SIGNIN_VALID_FOR`] after it was issued, and what it
//!   gives is a fresh tenant token with the `admin` scope, named after the
//!   sign-in, that the browser keeps; the exchange is in the audit log.

use super::AppState;
use super::auth::{Principal, hash_token, new_token};
use super::error::{ApiError, ApiJson, ApiResult};
use super::time;
use crate::services::TenantLimits;
use crate::store::{TokenRecord, now_ms};
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The scope of a sign-in token.
pub const SIGNIN_SCOPE: &str = "signin";

/// How long a sign-in link works after it is issued.
pub const SIGNIN_VALID_FOR: Duration = Duration::from_secs(24 * 3600);

/// The console's address that signs in with the sign-in token `token`:
/// the token travels in the fragment, which browsers never send to a
/// server, so it stays out of access logs and `Referer` headers.
pub fn signin_url(public_url: &str, token: &str) -> String {
    format!("{}/#/signin/{token}", public_url.trim_end_matches('/'))
}

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(who_am_i)).routes(routes!(sign_in))
}

/// The caller: its token and, for a tenant token, its tenant and limits.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub token: MeToken,
    /// Absent for the server's admin token.
    pub tenant: Option<MeTenant>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeToken {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeTenant {
    pub id: String,
    pub name: String,
    pub limits: TenantLimits,
}

/// A token given for a sign-in link.
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    /// The new token: shown this once.
    pub token: String,
    /// What it is, as `GET /v1/me` shows it.
    pub me: Me,
}

async fn me(state: &AppState, token: TokenRecord) -> ApiResult<Me> {
    let tenant = match &token.tenant {
        Some(id) => {
            let t = state.store.catalogue().tenant(id).await?.ok_or(ApiError::Unauthorized)?;
            Some(MeTenant { id: t.id, name: t.name, limits: serde_json::from_value(t.limits).unwrap_or_default() })
        }
        None => None,
    };
    let token = MeToken { id: token.id, name: token.name, scopes: token.scopes, created_at: time(token.created_at) };
    Ok(Me { token, tenant })
}

/// The caller's token, tenant and limits (any token but a sign-in one).
#[utoipa::path(get, path = "/v1/me", tag = "tokens",
    responses((status = 200, body = Me), (status = 401, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn who_am_i(State(state): State<Arc<AppState>>, who: Principal) -> ApiResult<ApiJson<Me>> {
    if is_signin(&who.token) {
        return Err(ApiError::Forbidden("a sign-in link's token only signs in (POST /v1/session)".into()));
    }
    Ok(ApiJson(me(&state, who.token).await?))
}

fn is_signin(token: &TokenRecord) -> bool {
    token.scopes.iter().any(|s| s == SIGNIN_SCOPE)
}

/// Exchanges a sign-in link's token (Bearer) for a tenant token with the
/// `admin` scope, once.
#[utoipa::path(post, path = "/v1/session", tag = "tokens",
    responses((status = 201, body = Session), (status = 401, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn sign_in(State(state): State<Arc<AppState>>, who: Principal) -> ApiResult<(StatusCode, ApiJson<Session>)> {
    let link = who.token.clone();
    let (Some(tenant), true) = (link.tenant.clone(), is_signin(&link)) else {
        return Err(ApiError::Forbidden("only a sign-in link's token signs in".into()));
    };
    let age = Duration::from_millis(now_ms().saturating_sub(link.created_at).max(0) as u64);
    // Revoked whether it is still valid or not: an old link is useless anyway.
    let won = state.store.catalogue().revoke_token(&tenant, &link.id).await?;
    state.tokens.forget(&link.id);
    if !won || age > SIGNIN_VALID_FOR {
        return Err(ApiError::Unauthorized);
    }
    let token = new_token();
    let record = TokenRecord {
        id: uuid::Uuid::now_v7().to_string(),
        tenant: Some(tenant),
        name: format!("signin-{}", &link.id[link.id.len().saturating_sub(8)..]),
        scopes: vec!["admin".into()],
        groups: Vec::new(),
        created_at: now_ms(),
    };
    state.store.catalogue().insert_token(&record, &hash_token(&token)).await?;
    who.audit("sign-in", "token", &record.id).await?;
    let me = me(&state, record).await?;
    Ok((StatusCode::CREATED, ApiJson(Session { token, me })))
}
