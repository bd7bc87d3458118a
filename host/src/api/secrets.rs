//! Secrets: put, delete, list names. Values are sealed before they are
//! stored and never returned.

use super::auth::{Principal, Scope};
use super::error::{ApiError, ApiJson, ApiPath, ApiResult};
use super::{AppState, time};
use crate::store::now_ms;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The longest secret value accepted, in bytes (an SSH key fits many times).
const MAX_SECRET_BYTES: usize = 64 << 10;

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(list_secrets)).routes(routes!(put_secret, delete_secret))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretInput {
    pub value: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecretName {
    pub name: String,
    pub updated_at: String,
}

/// Sets a secret (creating or replacing it).
#[utoipa::path(put, path = "/v1/secrets/{name}", tag = "secrets", params(("name" = String, Path)), request_body = SecretInput,
    responses((status = 204), (status = 400, body = super::error::ErrorBody)), security(("bearer" = [])))]
async fn put_secret(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiPath(name): ApiPath<String>,
    ApiJson(input): ApiJson<SecretInput>,
) -> ApiResult<StatusCode> {
    let tenant = who.tenant(Scope::Admin)?;
    super::definitions::check_name("secret", &name)?;
    if input.value.is_empty() || input.value.len() > MAX_SECRET_BYTES {
        return Err(ApiError::BadRequest(format!("a secret value is 1 to {MAX_SECRET_BYTES} bytes")));
    }
    let sealed = state.vault.seal(tenant, &name, &input.value);
    state.store.catalogue().put_secret(tenant, &name, &sealed, now_ms()).await?;
    state.tenancy.invalidate(tenant);
    who.audit("put", "secret", &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/v1/secrets/{name}", tag = "secrets", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
async fn delete_secret(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let tenant = who.tenant(Scope::Admin)?;
    if !state.store.catalogue().delete_secret(tenant, &name).await? {
        return Err(ApiError::not_found("secret", &name));
    }
    state.tenancy.invalidate(tenant);
    who.audit("delete", "secret", &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Secret names (values are never returned).
#[utoipa::path(get, path = "/v1/secrets", tag = "secrets", responses((status = 200, body = Vec<SecretName>)), security(("bearer" = [])))]
async fn list_secrets(State(state): State<Arc<AppState>>, who: Principal) -> ApiResult<ApiJson<Vec<SecretName>>> {
    let tenant = who.tenant(Scope::Read)?;
    let names = state.store.catalogue().secret_names(tenant).await?;
    Ok(ApiJson(names.into_iter().map(|(name, at)| SecretName { name, updated_at: time(at) }).collect()))
}
