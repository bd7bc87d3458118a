//! Schedules: launch a stored definition on a cron expression in a time
//! zone; and the loop, run by every serving process, that fires them.
//!
//! Exactly one job per tick, whatever the number of processes: the job of
//! a tick has an id derived from the schedule and the tick (creating it
//! twice does nothing), and the tick advances by compare-and-set (see
//! `store::schedules`). A tick missed while no process ran fires once when
//! one starts; the ones in between are skipped.

use super::auth::{Principal, Scope};
use super::error::{ApiError, ApiJson, ApiPath, ApiResult};
use super::jobs::JobInput;
use super::{AppState, time};
use crate::engine::Fields;
use crate::store::{ScheduleRecord, now_ms};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
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

/// The first tick strictly after `after_ms`.
fn next_tick(cron: &str, time_zone: &str, after_ms: i64) -> Result<i64, String> {
    crate::language::schedule::next_tick(&crate::language::schedule::cron(cron)?, time_zone, after_ms)
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
    super::definitions::load(&state, tenant, &input.definition, None).await?;
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
    state.store.create_schedule(&record).await?;
    who.audit("create", "schedule", &record.id).await?;
    Ok((StatusCode::CREATED, ApiJson(view(record))))
}

#[utoipa::path(get, path = "/v1/schedules", tag = "schedules", responses((status = 200, body = Vec<ScheduleView>)), security(("bearer" = [])))]
async fn list_schedules(State(state): State<Arc<AppState>>, who: Principal) -> ApiResult<ApiJson<Vec<ScheduleView>>> {
    let tenant = who.tenant(Scope::Read)?;
    Ok(ApiJson(state.store.schedules(tenant).await?.into_iter().map(view).collect()))
}

#[utoipa::path(delete, path = "/v1/schedules/{id}", tag = "schedules", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
async fn delete_schedule(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let tenant = who.tenant(Scope::Admin)?;
    if !state.store.delete_schedule(tenant, &id).await? {
        return Err(ApiError::not_found("schedule", &id));
    }
    who.audit("delete", "schedule", &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The id of the job a tick launches: the same in every process.
fn tick_job_id(schedule: &str, tick: i64) -> String {
    let digest = Sha256::digest(format!("{schedule}/{tick}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid().to_string()
}

/// Fires due schedules until `stop`.
pub async fn run(state: Arc<AppState>, stop: CancellationToken) {
    while !stop.is_cancelled() {
        if let Err(e) = fire_due(&state).await {
            tracing::warn!(error = %e, "firing schedules failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stop.cancelled() => {}
        }
    }
}

async fn fire_due(state: &AppState) -> Result<(), ApiError> {
    let now = now_ms();
    for s in state.store.due_schedules(now, 100).await? {
        let job_id = tick_job_id(&s.id, s.next_at);
        let fields = match &s.fields {
            Value::Object(m) => m.clone(),
            _ => Fields::new(),
        };
        let input = JobInput { definition: s.definition.clone(), version: None, fields, launch: true };
        let launched = match super::jobs::create(state, &s.tenant, input, Some(job_id.clone())).await {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::warn!(schedule = %s.id, error = %e, "a scheduled launch failed");
                None
            }
        };
        let next = next_tick(&s.cron, &s.time_zone, now.max(s.next_at)).unwrap_or(i64::MAX);
        if state.store.advance_schedule(&s.id, s.next_at, next, launched.as_deref()).await? && launched.is_some() {
            state.metrics.job_created();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_follow_the_time_zone() {
        // 2026-01-15T00:00:00Z; 09:00 in Paris is 08:00 UTC in winter.
        let start = 1_768_435_200_000;
        let next = next_tick("0 9 * * *", "Europe/Paris", start).unwrap();
        assert_eq!(next, start + 8 * 3600 * 1000);
        assert_eq!(next_tick("0 9 * * *", "UTC", start).unwrap(), start + 9 * 3600 * 1000);
        assert!(next_tick("0 9 * *", "UTC", start).is_err());
        assert!(next_tick("0 9 * * *", "Mars/Olympus", start).unwrap_err().contains("time zone"));
    }

    #[test]
    fn a_tick_has_one_job_id() {
        assert_eq!(tick_job_id("s1", 1000), tick_job_id("s1", 1000));
        assert_ne!(tick_job_id("s1", 1000), tick_job_id("s1", 2000));
    }
}
