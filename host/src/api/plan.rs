//! A job's plan: each participant step in order, with its params and the
//! capability calls it made — for a dry run (`"dry_run": true` on
//! `POST /v1/jobs`), the calls it would have made, none of them sent.
//!
//! Guarantees: read with `read`; another tenant's job is a 404; secret
//! values are redacted from params and calls like everywhere else.

use super::AppState;
use super::auth::{Principal, Scope};
use super::error::{ApiJson, ApiPath, ApiResult};
use super::jobs::{redact_value, tenant_job};
use crate::services::plan::job_plan;
use axum::extract::State;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(show_plan))
}

/// What a job did, or for a dry run would have done.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanView {
    pub job_id: String,
    /// Whether the job is a dry run (its calls were answered by the host).
    pub dry_run: bool,
    pub steps: Vec<PlanStepView>,
}

/// A participant step of the plan.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanStepView {
    /// The step's expression id.
    pub path: String,
    pub line: Option<u32>,
    pub participant: String,
    pub action: String,
    #[schema(value_type = Object)]
    pub params: Value,
    pub ok: bool,
    /// Its capability calls: `{"capability": "http", "call": {"method": "GET", "url": "..."}}`.
    #[schema(value_type = Vec<Object>)]
    pub calls: Vec<Value>,
}

/// The job's steps and the capability calls they made (or, for a dry run,
/// would have made).
#[utoipa::path(get, path = "/v1/jobs/{id}/plan", tag = "jobs", params(("id" = String, Path)),
    responses((status = 200, body = PlanView), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
async fn show_plan(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<PlanView>> {
    let tenant = who.tenant(Scope::Read)?;
    let job = tenant_job(&state, tenant, &id).await?;
    let secrets = state.tenancy.secret_values(tenant).await?;
    let steps = job_plan(&state.store, &id)
        .await?
        .into_iter()
        .map(|s| PlanStepView {
            path: s.fei,
            line: s.line,
            participant: s.participant,
            action: s.action,
            params: redact_value(s.params, &secrets),
            ok: s.ok,
            calls: s
                .calls
                .into_iter()
                .map(|c| redact_value(serde_json::json!({ "capability": c.capability, "call": c.call }), &secrets))
                .collect(),
        })
        .collect();
    Ok(ApiJson(PlanView { job_id: id, dry_run: job.dry_run.is_some(), steps }))
}
