//! Schedules: launch a stored definition on a cron expression in a time
//! zone. The loop that fires them is a service
//! ([`crate::services::schedules`]), run by every process.

use super::auth::{Principal, Scope};
use super::error::{ApiError, ApiJson, ApiPath, ApiResult};
use super::{AppState, time};
use crate::model::Fields;
use crate::services::load_definition;
use crate::services::schedules::next_tick;
use crate::store::{ScheduleRecord, now_ms};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(create_schedule, list_schedules)).routes(routes!(delete_schedule))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    pub definition: String,
    /// Five fields (minute hour day month weekday) or six (seconds first).
    pub cron: String,
    /// An IANA time zone, e.g. `Europe/Paris`; `UTC` when absent.
    #[serde(default = "utc")]
    pub time_zone: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: Fields,
}

fn utc() -> String {
    "UTC".into()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleView {
    pub id: String,
    pub definition: String,
    pub cron: String,
    pub time_zone: String,
    #[schema(value_type = Object)]
    pub fields: Value,
    pub next_at: String,
    pub last_job: Option<String>,
    pub created_at: String,
}

fn view(s: ScheduleRecord) -> ScheduleView {
    ScheduleView {
        id: s.id,
        definition: s.definition,
        cron: s.cron,
        time_zone: s.time_zone,
        fields: s.fields,
        next_at: time(s.next_at),
        last_job: s.last_job,
        created_at: time(s.created_at),
    }
}

#[utoipa::path(post, path = "/v1/schedules", tag = "schedules", request_body = ScheduleInput,
    responses((status = 201, body = ScheduleView), (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn create_schedule(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiJson(input): ApiJson<ScheduleInput>,
) -> ApiResult<(StatusCode, ApiJson<ScheduleView>)> {
    let tenant = who.tenant(Scope::Admin)?;
    let now = now_ms();
    let next_at = next_tick(&input.cron, &input.time_zone, now).map_err(ApiError::BadRequest)?;
    load_definition(&state.store, tenant, &input.definition, None).await?;
    let record = ScheduleRecord {
        id: uuid::Uuid::now_v7().to_string(),
        tenant: tenant.to_owned(),
        definition: input.definition,
        cron: input.cron,
        time_zone: input.time_zone,
        fields: Value::Object(input.fields),
        next_at,
        last_job: None,
        created_at: now,
    };
    state.store.catalogue().create_schedule(&record).await?;
    who.audit("create", "schedule", &record.id).await?;
    Ok((StatusCode::CREATED, ApiJson(view(record))))
}

#[utoipa::path(get, path = "/v1/schedules", tag = "schedules", responses((status = 200, body = Vec<ScheduleView>)), security(("bearer" = [])))]
async fn list_schedules(State(state): State<Arc<AppState>>, who: Principal) -> ApiResult<ApiJson<Vec<ScheduleView>>> {
    let tenant = who.tenant(Scope::Read)?;
    Ok(ApiJson(state.store.catalogue().schedules(tenant).await?.into_iter().map(view).collect()))
}

#[utoipa::path(delete, path = "/v1/schedules/{id}", tag = "schedules", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
async fn delete_schedule(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let tenant = who.tenant(Scope::Admin)?;
    if !state.store.catalogue().delete_schedule(tenant, &id).await? {
        return Err(ApiError::not_found("schedule", &id));
    }
    who.audit("delete", "schedule", &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
