//! Tenants (the server's admin token) and API tokens (the admin token for
//! a tenant's first tokens, a tenant's own admin-scoped tokens after that).

use super::auth::{APPROVE_SCOPE, Principal, Scope, hash_token, new_token};
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use super::session::{SIGNIN_SCOPE, signin_url};
use super::{AppState, time};
use crate::services::TenantLimits;
use crate::store::{AuditEntry, TenantRecord, TokenRecord, now_ms};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(create_tenant, list_tenants))
        .routes(routes!(show_tenant, update_tenant))
        .routes(routes!(create_tenant_token))
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(revoke_token))
        .routes(routes!(audit_log))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantInput {
    #[schema(pattern = r"^[A-Za-z0-9_.\-]{1,100}$")]
    pub name: String,
    pub limits: Option<TenantLimits>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantUpdate {
    pub limits: TenantLimits,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    pub id: String,
    pub name: String,
    pub limits: TenantLimits,
    pub created_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenInput {
    /// What the token is for, e.g. `ci` or `alice`.
    #[schema(pattern = r"^[A-Za-z0-9_.\-]{1,100}$")]
    pub name: String,
    /// Any of `read`, `run`, `admin`, `approve`; or `signin` alone, for a one-time
    /// console sign-in link.
    pub scopes: Vec<String>,
    /// The groups it belongs to: an `approval` naming one (`groups: ['ops']`)
    /// may be decided by an approver token in it.
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub tenant: Option<String>,
    pub name: String,
    pub scopes: Vec<String>,
    pub groups: Vec<String>,
    pub created_at: String,
    /// The token itself: shown only when it is created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// For a `signin` token, when it is created: the console's one-time
    /// sign-in link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signin_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub id: i64,
    /// The token that did it; absent for a webhook trigger.
    pub token: Option<String>,
    pub action: String,
    pub object_kind: String,
    pub object_id: String,
    pub at: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries older than this id (the previous page's last).
    pub before: Option<i64>,
    /// 1 to 500; 100 when absent.
    pub limit: Option<i64>,
}

fn tenant_view(t: TenantRecord) -> TenantView {
    TenantView {
        id: t.id,
        name: t.name,
        limits: serde_json::from_value(t.limits).unwrap_or_default(),
        created_at: time(t.created_at),
    }
}

fn token_view(t: TokenRecord, token: Option<String>) -> TokenView {
    TokenView {
        id: t.id,
        tenant: t.tenant,
        name: t.name,
        scopes: t.scopes,
        groups: t.groups,
        created_at: time(t.created_at),
        token,
        signin_url: None,
    }
}

fn check_limits(state: &AppState, limits: &TenantLimits) -> ApiResult<()> {
    limits
        .check(state.sandbox.max_core_instances_per_component())
        .map_err(|e| ApiError::BadRequest(format!("limits: {e}")))
}

#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", request_body = TenantInput,
    responses((status = 201, body = TenantView), (status = 400, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn create_tenant(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiJson(input): ApiJson<TenantInput>,
) -> ApiResult<(StatusCode, ApiJson<TenantView>)> {
    who.server_admin()?;
    super::definitions::check_name("tenant", &input.name)?;
    let limits = input.limits.unwrap_or_default();
    check_limits(&state, &limits)?;
    let record = TenantRecord {
        id: uuid::Uuid::now_v7().to_string(),
        name: input.name,
        limits: serde_json::to_value(&limits).unwrap_or_default(),
        revision: 1,
        created_at: now_ms(),
    };
    if !state.store.catalogue().create_tenant(&record).await? {
        return Err(ApiError::Conflict(format!("a tenant named '{}' exists", record.name)));
    }
    who.audit("create", "tenant", &record.id).await?;
    Ok((StatusCode::CREATED, ApiJson(tenant_view(record))))
}

#[utoipa::path(get, path = "/v1/tenants", tag = "tenants", responses((status = 200, body = Vec<TenantView>), (status = 403, body = super::error::ErrorBody)), security(("bearer" = [])))]
async fn list_tenants(State(state): State<Arc<AppState>>, who: Principal) -> ApiResult<ApiJson<Vec<TenantView>>> {
    who.server_admin()?;
    Ok(ApiJson(state.store.catalogue().tenants().await?.into_iter().map(tenant_view).collect()))
}

#[utoipa::path(get, path = "/v1/tenants/{id}", tag = "tenants", params(("id" = String, Path)),
    responses((status = 200, body = TenantView), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn show_tenant(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<TenantView>> {
    who.server_admin()?;
    let t = state.store.catalogue().tenant(&id).await?.ok_or_else(|| ApiError::not_found("tenant", &id))?;
    Ok(ApiJson(tenant_view(t)))
}

/// Sets a tenant's limits.
#[utoipa::path(patch, path = "/v1/tenants/{id}", tag = "tenants", params(("id" = String, Path)), request_body = TenantUpdate,
    responses((status = 200, body = TenantView), (status = 400, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn update_tenant(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<TenantUpdate>,
) -> ApiResult<ApiJson<TenantView>> {
    who.server_admin()?;
    check_limits(&state, &input.limits)?;
    if !state.store.catalogue().set_tenant_limits(&id, &serde_json::to_value(&input.limits).unwrap_or_default()).await?
    {
        return Err(ApiError::not_found("tenant", &id));
    }
    state.tenancy.invalidate(&id);
    who.audit("update", "tenant", &id).await?;
    let t = state.store.catalogue().tenant(&id).await?.ok_or_else(|| ApiError::not_found("tenant", &id))?;
    Ok(ApiJson(tenant_view(t)))
}

async fn issue_token(state: &AppState, tenant: &str, input: TokenInput) -> ApiResult<TokenView> {
    super::definitions::check_name("token", &input.name)?;
    if input.scopes.is_empty() {
        return Err(ApiError::BadRequest("give at least one scope: read, run or admin".into()));
    }
    let signin = input.scopes.iter().any(|s| s == SIGNIN_SCOPE);
    if signin && input.scopes.len() > 1 {
        return Err(ApiError::BadRequest(format!("the '{SIGNIN_SCOPE}' scope (a one-time sign-in link) goes alone")));
    }
    if let Some(bad) =
        input.scopes.iter().find(|s| Scope::parse(s).is_none() && *s != SIGNIN_SCOPE && *s != APPROVE_SCOPE)
    {
        return Err(ApiError::BadRequest(format!(
            "unknown scope '{bad}' (read, run, admin, approve, or signin alone)"
        )));
    }
    for group in &input.groups {
        super::definitions::check_name("group", group)?;
    }
    let token = new_token();
    let record = TokenRecord {
        id: uuid::Uuid::now_v7().to_string(),
        tenant: Some(tenant.to_owned()),
        name: input.name,
        scopes: input.scopes,
        groups: input.groups,
        created_at: now_ms(),
    };
    state.store.catalogue().insert_token(&record, &hash_token(&token)).await?;
    let signin_url = signin.then(|| signin_url(&state.config.public_url, &token));
    Ok(TokenView { signin_url, ..token_view(record, Some(token)) })
}

/// Issues a token for a tenant (the server's admin token).
#[utoipa::path(post, path = "/v1/tenants/{id}/tokens", tag = "tenants", params(("id" = String, Path)), request_body = TokenInput,
    responses((status = 201, body = TokenView), (status = 400, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn create_tenant_token(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<TokenInput>,
) -> ApiResult<(StatusCode, ApiJson<TokenView>)> {
    who.server_admin()?;
    if state.store.catalogue().tenant(&id).await?.is_none() {
        return Err(ApiError::not_found("tenant", &id));
    }
    let view = issue_token(&state, &id, input).await?;
    // Recorded in the tenant's log, so its members see who made the token.
    state
        .store
        .catalogue()
        .audit(&AuditEntry {
            id: 0,
            tenant: Some(id.clone()),
            token: Some(who.token.id.clone()),
            action: "create".into(),
            object_kind: "token".into(),
            object_id: view.id.clone(),
            at: now_ms(),
        })
        .await?;
    Ok((StatusCode::CREATED, ApiJson(view)))
}

/// Issues another token in the caller's tenant.
#[utoipa::path(post, path = "/v1/tokens", tag = "tokens", request_body = TokenInput,
    responses((status = 201, body = TokenView), (status = 400, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn create_token(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiJson(input): ApiJson<TokenInput>,
) -> ApiResult<(StatusCode, ApiJson<TokenView>)> {
    let tenant = who.tenant(Scope::Admin)?;
    let view = issue_token(&state, tenant, input).await?;
    who.audit("create", "token", &view.id).await?;
    Ok((StatusCode::CREATED, ApiJson(view)))
}

#[utoipa::path(get, path = "/v1/tokens", tag = "tokens", responses((status = 200, body = Vec<TokenView>), (status = 403, body = super::error::ErrorBody)), security(("bearer" = [])))]
async fn list_tokens(State(state): State<Arc<AppState>>, who: Principal) -> ApiResult<ApiJson<Vec<TokenView>>> {
    let tenant = who.tenant(Scope::Admin)?;
    Ok(ApiJson(state.store.catalogue().tokens(tenant).await?.into_iter().map(|t| token_view(t, None)).collect()))
}

#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "tokens", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn revoke_token(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let tenant = who.tenant(Scope::Admin)?;
    if !state.store.catalogue().revoke_token(tenant, &id).await? {
        return Err(ApiError::not_found("token", &id));
    }
    state.tokens.forget(&id);
    who.audit("revoke", "token", &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who did what in this tenant, newest first.
#[utoipa::path(get, path = "/v1/audit", tag = "tokens", params(AuditQuery),
    responses((status = 200, body = Vec<AuditView>), (status = 400, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn audit_log(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<ApiJson<Vec<AuditView>>> {
    let tenant = who.tenant(Scope::Admin)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 500".into()));
    }
    let entries = state.store.catalogue().audit_log(tenant, q.before, limit).await?;
    Ok(ApiJson(
        entries
            .into_iter()
            .map(|e| AuditView {
                id: e.id,
                token: e.token,
                action: e.action,
                object_kind: e.object_kind,
                object_id: e.object_id,
                at: time(e.at),
            })
            .collect(),
    ))
}
