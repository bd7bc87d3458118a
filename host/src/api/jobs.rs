//! Jobs: create (pending or started), launch with override fields, list,
//! show with step history, cancel, pause, resume, retry; live events are in
//! `events.rs`. Secret values of the tenant are redacted from everything a
//! job shows, on top of the sandbox's own redaction.

use super::auth::{Principal, Scope};
use super::error::optional_json;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use super::{AppState, time};
use crate::capabilities::{Secret, secrets::redact};
use crate::model::{Fields, JobState};
use crate::services::{Launch, launch_stored};
use crate::store::{HistoryEntry, JobFilter, JobRecord, RunningStep};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(create_job, list_jobs))
        .routes(routes!(show_job))
        .routes(routes!(launch_job))
        .routes(routes!(cancel_job))
        .routes(routes!(pause_job))
        .routes(routes!(resume_job))
        .routes(routes!(retry_job))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobInput {
    /// The stored definition's name.
    pub definition: String,
    /// A version of it; the latest when absent.
    pub version: Option<i64>,
    /// Input fields.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: Fields,
    /// Start at once (default) or leave the job pending until launched.
    #[serde(default = "yes")]
    pub launch: bool,
    /// A dry run: the job runs in full but every capability call (HTTP,
    /// SSH, EC2, Chef) is answered by the host and nothing is sent.
    #[serde(default)]
    pub dry_run: bool,
    /// A dry run's answers (see docs/language.md, "Dry runs"); synthetic
    /// answers for what they do not match.
    #[schema(value_type = Option<Object>)]
    pub stubs: Option<Value>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LaunchInput {
    /// Deep-merged into the job's fields.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub fields: Option<Fields>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryInput {
    /// Replace these fields of the failed step's workitem before it runs again.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub fields: Option<Fields>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CreateQuery {
    /// Answer only when the job is over (completed, failed or canceled),
    /// or after this many seconds (at most 300), whichever comes first.
    pub wait: Option<u64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// pending, running, paused, failed, completed or canceled.
    pub state: Option<String>,
    /// The definition's name.
    pub definition: Option<String>,
    /// Only jobs older than this job id (the previous page's `next`).
    pub before: Option<String>,
    /// 1 to 500; 50 when absent.
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    pub id: String,
    pub name: Option<String>,
    /// `name@version` of the stored definition it runs.
    pub definition: Option<String>,
    pub state: String,
    #[schema(value_type = Object)]
    pub fields: Value,
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
    pub created_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
    /// A dry run: its capability calls were answered by the host, nothing was sent.
    pub dry_run: bool,
    /// Steps, in the order they started (only when one job is shown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<StepView>>,
    /// Participant calls in flight (only when one job is shown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<Vec<RunningView>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunningView {
    /// Where in the definition tree the step is.
    pub path: String,
    pub line: Option<u32>,
    pub participant: String,
    pub action: String,
    pub attempt: u32,
    pub since: String,
}

impl JobView {
    /// Adds the calls in flight (shown with the history).
    pub fn with_running(mut self, steps: Vec<RunningStep>) -> Self {
        let view = |s: RunningStep| RunningView {
            path: s.fei,
            line: s.line,
            participant: s.participant,
            action: s.action,
            attempt: s.attempt,
            since: time(s.since),
        };
        self.running = Some(steps.into_iter().map(view).collect());
        self
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StepView {
    /// Where in the definition tree the step is.
    pub path: String,
    pub line: Option<u32>,
    pub participant: String,
    pub action: String,
    #[schema(value_type = Object)]
    pub params: Value,
    pub attempt: u32,
    pub started_at: String,
    pub ended_at: String,
    pub ok: bool,
    /// Field updates when ok, the error otherwise.
    #[schema(value_type = Object)]
    pub result: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobPage {
    pub jobs: Vec<JobView>,
    /// Pass as `before` for the next page; absent on the last.
    pub next: Option<String>,
}

/// Replaces secret values in every string of a JSON value.
pub fn redact_value(value: Value, secrets: &[Secret]) -> Value {
    if secrets.is_empty() {
        return value;
    }
    match value {
        Value::String(s) => Value::String(redact(&s, secrets)),
        Value::Array(a) => Value::Array(a.into_iter().map(|v| redact_value(v, secrets)).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, redact_value(v, secrets))).collect()),
        other => other,
    }
}

pub fn job_view(job: JobRecord, history: Option<Vec<HistoryEntry>>, secrets: &[Secret]) -> JobView {
    JobView {
        id: job.id,
        name: job.name,
        definition: job.definition_ref,
        state: job.state.as_str().to_owned(),
        fields: redact_value(Value::Object(job.fields), secrets),
        error: job.error.map(|e| redact_value(serde_json::to_value(e).unwrap_or(Value::Null), secrets)),
        created_at: time(job.created_at),
        updated_at: time(job.updated_at),
        finished_at: job.finished_at.map(time),
        dry_run: job.dry_run.is_some(),
        running: None,
        history: history.map(|h| {
            h.into_iter()
                .map(|s| StepView {
                    path: s.fei,
                    line: s.line,
                    participant: s.participant,
                    action: s.action,
                    params: redact_value(s.params, secrets),
                    attempt: s.attempt,
                    started_at: time(s.started_at),
                    ended_at: time(s.ended_at),
                    ok: s.ok,
                    result: redact_value(s.result, secrets),
                })
                .collect()
        }),
    }
}

/// The tenant's job `id`, or 404 (also for another tenant's job).
pub async fn tenant_job(state: &AppState, tenant: &str, id: &str) -> ApiResult<JobRecord> {
    match state.store.job(id).await? {
        Some(job) if job.tenant == tenant => Ok(job),
        _ => Err(ApiError::not_found("job", id)),
    }
}

/// Takes one of the tenant's launches per second (429 when none is left).
pub async fn admit_launch(state: &AppState, tenant: &str) -> ApiResult<()> {
    state.tenancy.admit_launch(tenant).await?.map_err(ApiError::RateLimited)
}

/// The stubs a dry run is stored with (checked here: a bad one is a 400),
/// or `None` for a real job.
fn dry_run_stubs(dry_run: bool, stubs: Option<Value>) -> ApiResult<Option<Value>> {
    match (dry_run, stubs) {
        (false, None) => Ok(None),
        (false, Some(_)) => Err(ApiError::BadRequest("stubs are for a dry run: add \"dry_run\": true".into())),
        (true, None) => Ok(Some(serde_json::json!({}))),
        (true, Some(stubs)) => match serde_json::from_value::<crate::capabilities::Stubs>(stubs.clone()) {
            Ok(_) => Ok(Some(stubs)),
            Err(e) => Err(ApiError::BadRequest(format!("stubs: {e}"))),
        },
    }
}

/// Creates a job of the tenant's stored definition (`services::launch`).
pub async fn create(state: &AppState, tenant: &str, input: JobInput, id: Option<String>) -> ApiResult<String> {
    let launch = Launch {
        tenant: tenant.to_owned(),
        definition: input.definition,
        version: input.version,
        fields: input.fields,
        start: input.launch,
        id,
        dry_run: dry_run_stubs(input.dry_run, input.stubs)?,
    };
    Ok(launch_stored(&state.store, &state.engine, launch).await?)
}

async fn show(state: &AppState, tenant: &str, id: &str, with_history: bool) -> ApiResult<JobView> {
    let job = tenant_job(state, tenant, id).await?;
    let secrets = state.tenancy.secret_values(tenant).await?;
    if !with_history {
        return Ok(job_view(job, None, &secrets));
    }
    let (history, running) = (state.store.history(id).await?, state.store.running_steps(id).await?);
    Ok(job_view(job, Some(history), &secrets).with_running(running))
}

#[utoipa::path(post, path = "/v1/jobs", tag = "jobs", request_body = JobInput, params(CreateQuery),
    responses((status = 201, body = JobView), (status = 400, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn create_job(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiQuery(query): ApiQuery<CreateQuery>,
    ApiJson(input): ApiJson<JobInput>,
) -> ApiResult<(StatusCode, ApiJson<JobView>)> {
    let tenant = who.tenant(Scope::Run)?;
    if query.wait.is_some_and(|w| w > 300) {
        return Err(ApiError::BadRequest("wait is at most 300 seconds".into()));
    }
    let launched = input.launch;
    if launched {
        admit_launch(&state, tenant).await?;
    }
    let id = create(&state, tenant, input, None).await?;
    who.audit(if launched { "launch" } else { "create" }, "job", &id).await?;
    state.metrics.job_created();
    if let Some(seconds) = query.wait.filter(|_| launched) {
        // Over or not, the answer says where the job is.
        if let Ok(ended) =
            tokio::time::timeout(std::time::Duration::from_secs(seconds), state.engine.wait_for(&id)).await
        {
            let secrets = state.tenancy.secret_values(tenant).await?;
            return Ok((StatusCode::CREATED, ApiJson(job_view(ended?, None, &secrets))));
        }
    }
    Ok((StatusCode::CREATED, ApiJson(show(&state, tenant, &id, false).await?)))
}

#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", params(JobQuery),
    responses((status = 200, body = JobPage), (status = 400, body = super::error::ErrorBody)), security(("bearer" = [])))]
async fn list_jobs(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiQuery(q): ApiQuery<JobQuery>,
) -> ApiResult<ApiJson<JobPage>> {
    let tenant = who.tenant(Scope::Read)?;
    let state_filter = match q.state.as_deref() {
        Some(s) => Some(JobState::parse(s).ok_or_else(|| {
            ApiError::BadRequest(format!("unknown state '{s}' (pending, running, paused, failed, completed, canceled)"))
        })?),
        None => None,
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 500".into()));
    }
    let filter = JobFilter { state: state_filter, name: q.definition, before: q.before, limit: limit + 1 };
    let mut jobs = state.store.list_jobs(tenant, &filter).await?;
    let more = jobs.len() as i64 > limit;
    jobs.truncate(limit as usize);
    let next = if more { jobs.last().map(|j| j.id.clone()) } else { None };
    let secrets = state.tenancy.secret_values(tenant).await?;
    Ok(ApiJson(JobPage { jobs: jobs.into_iter().map(|j| job_view(j, None, &secrets)).collect(), next }))
}

/// State, current fields and step history.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs", params(("id" = String, Path)),
    responses((status = 200, body = JobView), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
async fn show_job(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<JobView>> {
    let tenant = who.tenant(Scope::Read)?;
    Ok(ApiJson(show(&state, tenant, &id, true).await?))
}

/// Starts a pending job, its fields deep-merged with the given ones.
#[utoipa::path(post, path = "/v1/jobs/{id}/launch", tag = "jobs", params(("id" = String, Path)), request_body = LaunchInput,
    responses((status = 200, body = JobView), (status = 400, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn launch_job(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
    body: Bytes,
) -> ApiResult<ApiJson<JobView>> {
    let tenant = who.tenant(Scope::Run)?;
    tenant_job(&state, tenant, &id).await?;
    let input: LaunchInput = optional_json(&body)?;
    admit_launch(&state, tenant).await?;
    state.engine.start(tenant, &id, input.fields).await?;
    who.audit("launch", "job", &id).await?;
    Ok(ApiJson(show(&state, tenant, &id, false).await?))
}

macro_rules! control {
    ($name:ident, $path:literal, $verb:literal, $doc:literal, $call:ident) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "jobs", params(("id" = String, Path)),
            responses((status = 200, body = JobView), (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)),
            security(("bearer" = [])))]
        async fn $name(State(state): State<Arc<AppState>>, who: Principal, ApiPath(id): ApiPath<String>) -> ApiResult<ApiJson<JobView>> {
            let tenant = who.tenant(Scope::Run)?;
            // Another tenant's job is not found, like a missing one.
            state.engine.$call(tenant, &id).await?;
            who.audit($verb, "job", &id).await?;
            Ok(ApiJson(show(&state, tenant, &id, false).await?))
        }
    };
}

control!(
    cancel_job,
    "/v1/jobs/{id}/cancel",
    "cancel",
    "Cancels a job; participant calls in flight are aborted.",
    cancel
);
control!(pause_job, "/v1/jobs/{id}/pause", "pause", "Pauses a running job: nothing new starts.", pause);
control!(resume_job, "/v1/jobs/{id}/resume", "resume", "Resumes a paused job.", resume);

/// Runs a failed job's failed step again, optionally with edited fields.
#[utoipa::path(post, path = "/v1/jobs/{id}/retry", tag = "jobs", params(("id" = String, Path)), request_body = RetryInput,
    responses((status = 200, body = JobView), (status = 400, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn retry_job(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
    body: Bytes,
) -> ApiResult<ApiJson<JobView>> {
    let tenant = who.tenant(Scope::Run)?;
    tenant_job(&state, tenant, &id).await?;
    let input: RetryInput = optional_json(&body)?;
    state.engine.retry(tenant, &id, input.fields).await?;
    who.audit("retry", "job", &id).await?;
    Ok(ApiJson(show(&state, tenant, &id, false).await?))
}
