//! Webhooks: where the tenant's job ends and pending approvals are posted
//! (Slack-compatible JSON; `services::notify` delivers, retrying).
//!
//! Guarantees:
//! - Listed with `read`, set and removed with `admin`; audited.
//! - A URL is never shown whole: its path may be a credential (a Slack
//!   webhook's is), so the list shows its scheme and host only; a URL kept
//!   in a secret (`url_secret`) is not even read here.
//! - A webhook is told of a job's events only when it says `every_job`,
//!   or the job's definition names it (`define 'x', notify: 'ops' do`).

use super::auth::{Principal, Scope};
use super::error::{ApiError, ApiJson, ApiPath, ApiResult};
use super::{AppState, time};
use crate::engine::NOTIFIED_EVENTS;
use crate::store::{DeliveryRecord, WebhookRecord, now_ms};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Deliveries listed per webhook.
const DELIVERIES_SHOWN: i64 = 50;

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks))
        .routes(routes!(put_webhook, delete_webhook))
        .routes(routes!(list_deliveries))
}

/// A webhook to set: its URL (or the secret holding it) and its events.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    /// The URL to post to (`http` or `https`).
    pub url: Option<String>,
    /// Or the name of the tenant's secret holding the URL.
    pub url_secret: Option<String>,
    /// The events it is told of; all of them when absent.
    pub events: Option<Vec<String>>,
    /// Told of every job's events (else only of jobs whose definition names it).
    #[serde(default)]
    pub every_job: bool,
}

/// A webhook, as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub name: String,
    /// Its scheme and host (the path is not shown), when given in clear.
    pub url: Option<String>,
    /// The secret holding its URL, when it is kept in one.
    pub url_secret: Option<String>,
    pub events: Vec<String>,
    pub every_job: bool,
    pub updated_at: String,
}

/// One delivery of a webhook's.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    pub job_id: String,
    pub event: String,
    /// `delivered`, `pending` (to be tried, again or for the first time) or `failed` (given up).
    pub status: String,
    pub attempts: i64,
    pub created_at: String,
    pub delivered_at: Option<String>,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
}

fn view(w: WebhookRecord) -> WebhookView {
    let shown = w.url.as_deref().and_then(|u| reqwest::Url::parse(u).ok()).map(|u| {
        let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
        format!("{}://{}{port}/…", u.scheme(), u.host_str().unwrap_or_default())
    });
    WebhookView {
        name: w.name,
        url: shown,
        url_secret: w.url_secret,
        events: w.events,
        every_job: w.every_job,
        updated_at: time(w.created_at),
    }
}

fn delivery(d: DeliveryRecord) -> DeliveryView {
    let status = match (d.delivered_at, d.next_at) {
        (Some(_), _) => "delivered",
        (None, Some(_)) => "pending",
        (None, None) => "failed",
    };
    DeliveryView {
        id: d.id,
        job_id: d.job_id,
        event: d.event,
        status: status.into(),
        attempts: d.attempts,
        created_at: time(d.created_at),
        delivered_at: d.delivered_at.map(time),
        next_attempt_at: d.next_at.map(time),
        last_error: d.last_error,
    }
}

/// The tenant's webhooks.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", responses((status = 200, body = Vec<WebhookView>)),
    security(("bearer" = [])))]
async fn list_webhooks(State(state): State<Arc<AppState>>, who: Principal) -> ApiResult<ApiJson<Vec<WebhookView>>> {
    let tenant = who.tenant(Scope::Read)?;
    Ok(ApiJson(state.store.catalogue().webhooks(tenant).await?.into_iter().map(view).collect()))
}

/// Sets a webhook (creating or replacing it).
#[utoipa::path(put, path = "/v1/webhooks/{name}", tag = "webhooks", params(("name" = String, Path)),
    request_body = WebhookInput, responses((status = 200, body = WebhookView), (status = 400, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn put_webhook(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiPath(name): ApiPath<String>,
    ApiJson(input): ApiJson<WebhookInput>,
) -> ApiResult<ApiJson<WebhookView>> {
    let tenant = who.tenant(Scope::Admin)?;
    super::definitions::check_name("webhook", &name)?;
    match (&input.url, &input.url_secret) {
        (Some(url), None) => {
            let parsed = reqwest::Url::parse(url).map_err(|e| ApiError::BadRequest(format!("url: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(ApiError::BadRequest("url: an http or https URL with a host".into()));
            }
        }
        (None, Some(secret)) => super::definitions::check_name("secret", secret)?,
        _ => {
            return Err(ApiError::BadRequest(
                "give the URL as url, or the name of a secret holding it as url_secret".into(),
            ));
        }
    }
    let events = input.events.unwrap_or_else(|| NOTIFIED_EVENTS.iter().map(|e| e.to_string()).collect());
    if events.is_empty() {
        return Err(ApiError::BadRequest(format!("events: one or more of {}", NOTIFIED_EVENTS.join(", "))));
    }
    if let Some(unknown) = events.iter().find(|e| !NOTIFIED_EVENTS.contains(&e.as_str())) {
        return Err(ApiError::BadRequest(format!("events: {unknown} is not one of {}", NOTIFIED_EVENTS.join(", "))));
    }
    let record = WebhookRecord {
        name: name.clone(),
        url: input.url,
        url_secret: input.url_secret,
        events,
        every_job: input.every_job,
        created_at: now_ms(),
    };
    state.store.catalogue().put_webhook(tenant, &record).await?;
    state.tenancy.invalidate(tenant);
    who.audit("put", "webhook", &name).await?;
    Ok(ApiJson(view(record)))
}

#[utoipa::path(delete, path = "/v1/webhooks/{name}", tag = "webhooks", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
async fn delete_webhook(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let tenant = who.tenant(Scope::Admin)?;
    if !state.store.catalogue().delete_webhook(tenant, &name).await? {
        return Err(ApiError::not_found("webhook", &name));
    }
    state.tenancy.invalidate(tenant);
    who.audit("delete", "webhook", &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The webhook's latest deliveries, newest first: delivered, pending or
/// given up, with the last error.
#[utoipa::path(get, path = "/v1/webhooks/{name}/deliveries", tag = "webhooks", params(("name" = String, Path)),
    responses((status = 200, body = Vec<DeliveryView>), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn list_deliveries(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<ApiJson<Vec<DeliveryView>>> {
    let tenant = who.tenant(Scope::Read)?;
    if !state.store.catalogue().webhooks(tenant).await?.iter().any(|w| w.name == name) {
        return Err(ApiError::not_found("webhook", &name));
    }
    let list = state.store.deliveries(tenant, &name, DELIVERIES_SHOWN).await?;
    Ok(ApiJson(list.into_iter().map(delivery).collect()))
}
