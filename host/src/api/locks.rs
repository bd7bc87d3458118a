//! Locks: who holds each of the tenant's keys (`lock 'deploy-prod' do`),
//! and who waits for it, in the order they will get in.
//!
//! Guarantees:
//! - Read with a `read` token; a tenant sees only its own keys and jobs.
//! - `?job=ID` narrows the list to the keys that job holds or waits for;
//!   another tenant's job answers 404 like a missing one.
//! - Read-only: a lock is let go of by its block, by cancelling the job
//!   that holds it, or by its job's end (`POST /v1/jobs/{id}/cancel`).

use super::AppState;
use super::auth::{Principal, Scope};
use super::error::{ApiJson, ApiQuery, ApiResult};
use super::jobs::tenant_job;
use super::time;
use crate::store::LockEntry;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(list_locks))
}

/// One key: its holders and its waiters.
#[derive(Debug, Serialize, ToSchema)]
pub struct LockView {
    pub key: String,
    /// Those inside their `lock` block now.
    pub holders: Vec<LockPlace>,
    /// Those waiting, next first.
    pub waiting: Vec<LockPlace>,
}

/// A job's `lock` expression holding or waiting for a key.
#[derive(Debug, Serialize, ToSchema)]
pub struct LockPlace {
    pub job_id: String,
    /// The `lock` expression's id in the job.
    pub id: String,
    /// Its definition line.
    pub line: i64,
    /// How many may hold the key at once, as this `lock` says.
    pub limit: i64,
    /// When it asked.
    pub requested_at: String,
    /// When it got in (holders).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_since: Option<String>,
    /// Its place in the queue, 1 being next (waiters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LocksQuery {
    /// Only the keys this job holds or waits for.
    pub job: Option<String>,
}

/// The tenant's keys that someone holds or waits for, by key.
#[utoipa::path(get, path = "/v1/locks", tag = "locks", params(LocksQuery),
    responses((status = 200, body = Vec<LockView>), (status = 403, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn list_locks(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiQuery(query): ApiQuery<LocksQuery>,
) -> ApiResult<ApiJson<Vec<LockView>>> {
    let tenant = who.tenant(Scope::Read)?;
    if let Some(job) = &query.job {
        tenant_job(&state, tenant, job).await?;
    }
    let entries = state.store.locks(tenant, query.job.as_deref()).await?;
    let mut views: Vec<LockView> = Vec::new();
    for entry in entries {
        if views.last().is_none_or(|v| v.key != entry.key) {
            views.push(LockView { key: entry.key.clone(), holders: Vec::new(), waiting: Vec::new() });
        }
        let Some(view) = views.last_mut() else { continue };
        let holding = entry.held_at.is_some();
        let place = place(entry);
        if holding { view.holders.push(place) } else { view.waiting.push(place) }
    }
    Ok(ApiJson(views))
}

fn place(entry: LockEntry) -> LockPlace {
    LockPlace {
        job_id: entry.job_id,
        id: entry.fei,
        line: entry.line,
        limit: entry.limit,
        requested_at: time(entry.requested_at),
        held_since: entry.held_at.map(time),
        position: entry.position,
    }
}
