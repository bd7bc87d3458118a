//! Webhook triggers: `POST /v1/triggers` gives a secret URL; a POST of JSON
//! to it launches the trigger's definition with the payload under a field.
//! This is the "point your monitoring service at Mastermind" use case.
//!
//! The URL's secret is shown once and stored hashed; each trigger is
//! rate-limited (per process) to its `per_minute`.

use super::auth::{Principal, Scope, hash_token, new_token};
use super::error::{ApiError, ApiJson, ApiPath, ApiResult};
use super::jobs::JobInput;
use super::{AppState, time};
use crate::model::Fields;
use crate::store::{TriggerRecord, now_ms};
use axum::extract::State;
use axum::http::StatusCode;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(create_trigger, list_triggers))
        .routes(routes!(delete_trigger))
        .routes(routes!(fire_trigger))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerInput {
    /// The stored definition it launches (its latest version at each call).
    pub definition: String,
    /// The field the posted payload goes under; `payload` when absent.
    #[serde(default = "payload")]
    pub field: String,
    /// Fields every launch starts from.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: Fields,
    /// Launches per minute at most; 60 when absent (1 to 6000).
    #[serde(default = "sixty")]
    pub per_minute: u32,
}

fn payload() -> String {
    "payload".into()
}
fn sixty() -> u32 {
    60
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TriggerView {
    pub id: String,
    pub definition: String,
    pub field: String,
    #[schema(value_type = Object)]
    pub fields: Value,
    pub per_minute: i64,
    pub created_at: String,
    /// The secret URL: shown only when the trigger is created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Fired {
    pub job_id: String,
}

fn view(t: TriggerRecord, url: Option<String>) -> TriggerView {
    TriggerView {
        id: t.id,
        definition: t.definition,
        field: t.field,
        fields: t.fields,
        per_minute: t.per_minute,
        created_at: time(t.created_at),
        url,
    }
}

/// One rate limiter per trigger, created on first use.
#[derive(Default)]
pub struct TriggerLimits(Mutex<HashMap<String, Arc<DefaultDirectRateLimiter>>>);

impl TriggerLimits {
    fn check(&self, trigger: &TriggerRecord) -> bool {
        let per_minute = NonZeroU32::new(trigger.per_minute.clamp(1, 6000) as u32).unwrap_or(NonZeroU32::MIN);
        let limiter = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(trigger.id.clone())
            .or_insert_with(|| Arc::new(RateLimiter::direct(Quota::per_minute(per_minute))))
            .clone();
        limiter.check().is_ok()
    }
}

#[utoipa::path(post, path = "/v1/triggers", tag = "triggers", request_body = TriggerInput,
    responses((status = 201, body = TriggerView), (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn create_trigger(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiJson(input): ApiJson<TriggerInput>,
) -> ApiResult<(StatusCode, ApiJson<TriggerView>)> {
    let tenant = who.tenant(Scope::Admin)?;
    if !(1..=6000).contains(&input.per_minute) {
        return Err(ApiError::BadRequest("per_minute must be between 1 and 6000".into()));
    }
    if input.field.is_empty() {
        return Err(ApiError::BadRequest("field must not be empty".into()));
    }
    crate::services::load_definition(&state.store, tenant, &input.definition, None).await?;
    let secret = new_token();
    let record = TriggerRecord {
        id: uuid::Uuid::now_v7().to_string(),
        tenant: tenant.to_owned(),
        definition: input.definition,
        field: input.field,
        fields: Value::Object(input.fields),
        per_minute: input.per_minute as i64,
        created_at: now_ms(),
    };
    state.store.catalogue().create_trigger(&record, &hash_token(&secret)).await?;
    who.audit("create", "trigger", &record.id).await?;
    let url = format!("{}/hooks/{secret}", state.config.public_url.trim_end_matches('/'));
    Ok((StatusCode::CREATED, ApiJson(view(record, Some(url)))))
}

#[utoipa::path(get, path = "/v1/triggers", tag = "triggers", responses((status = 200, body = Vec<TriggerView>)), security(("bearer" = [])))]
async fn list_triggers(State(state): State<Arc<AppState>>, who: Principal) -> ApiResult<ApiJson<Vec<TriggerView>>> {
    let tenant = who.tenant(Scope::Read)?;
    Ok(ApiJson(state.store.catalogue().triggers(tenant).await?.into_iter().map(|t| view(t, None)).collect()))
}

#[utoipa::path(delete, path = "/v1/triggers/{id}", tag = "triggers", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
async fn delete_trigger(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let tenant = who.tenant(Scope::Admin)?;
    if !state.store.catalogue().delete_trigger(tenant, &id).await? {
        return Err(ApiError::not_found("trigger", &id));
    }
    who.audit("delete", "trigger", &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Launches the trigger's job with the posted JSON under its field. The
/// secret in the URL is the only credential.
#[utoipa::path(post, path = "/hooks/{secret}", tag = "triggers", params(("secret" = String, Path)),
    request_body(content = Object, description = "any JSON value"),
    responses((status = 202, body = Fired), (status = 400, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody), (status = 429, body = super::error::ErrorBody)))]
async fn fire_trigger(
    State(state): State<Arc<AppState>>,
    ApiPath(secret): ApiPath<String>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, ApiJson<Fired>)> {
    let trigger = state
        .store
        .catalogue()
        .trigger_by_hash(&hash_token(&secret))
        .await?
        .ok_or_else(|| ApiError::NotFound("no such trigger".into()))?;
    let payload: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("the payload is not JSON: {e}")))?
    };
    if !state.triggers.check(&trigger) {
        return Err(ApiError::RateLimited(format!("this trigger allows {} launches per minute", trigger.per_minute)));
    }
    let mut fields = match trigger.fields {
        Value::Object(m) => m,
        _ => Fields::new(),
    };
    fields.insert(trigger.field.clone(), payload);
    super::jobs::admit_launch(&state, &trigger.tenant).await?;
    let input = JobInput {
        definition: trigger.definition.clone(),
        version: None,
        fields,
        launch: true,
        dry_run: false,
        stubs: None,
    };
    let job_id = super::jobs::create(&state, &trigger.tenant, input, None).await?;
    state
        .store
        .catalogue()
        .audit(&crate::store::AuditEntry {
            id: 0,
            tenant: Some(trigger.tenant.clone()),
            token: None,
            action: "launch".into(),
            object_kind: "job".into(),
            object_id: format!("{job_id} (trigger {})", trigger.id),
            at: now_ms(),
        })
        .await?;
    state.metrics.job_created();
    Ok((StatusCode::ACCEPTED, ApiJson(Fired { job_id })))
}
