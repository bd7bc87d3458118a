//! Approvals: the `approval` expressions waiting in the tenant's jobs, and
//! a person's decision on one.
//!
//! Guarantees:
//! - Listed with a `read` token (or `approve`); decided with an `approve`
//!   or `admin` token, and only by a token the approval names in its
//!   `approvers:`, or one in a group it names in `groups:`, when it names
//!   any.
//! - An approval's form is checked before the decision is accepted: every
//!   field it asks for, of its type, and no other (400 otherwise).
//! - Who decided, when and why goes into the audit log and, through the
//!   workitem's `approval` field (approved) or the step's error (rejected),
//!   into the job's history and events.
//! - An approval is named by its job and its expression id, as listed;
//!   another tenant's answers 404 like a missing one.

use super::AppState;
use super::auth::Principal;
use super::error::{ApiError, ApiJson, ApiPath, ApiResult};
use super::jobs::{redact_value, tenant_job};
use super::time;
use crate::engine::{ApprovalState, form_value_has_type};
use crate::model::{Decision, Fei, Fields};
use crate::store::now_ms;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(list_approvals)).routes(routes!(approve)).routes(routes!(reject))
}

/// An approval waiting for a decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalView {
    /// Its job.
    pub job_id: String,
    pub job_name: Option<String>,
    /// `name@version` of the definition the job runs.
    pub definition: Option<String>,
    /// The approval's expression id in the job (with `job_id`, what names it).
    pub id: String,
    /// The question asked.
    pub prompt: String,
    /// The tokens that may decide; any approver when neither they nor groups are named.
    pub approvers: Vec<String>,
    /// The groups whose tokens may decide.
    pub groups: Vec<String>,
    /// The fields a decision gives, and their types.
    #[schema(value_type = Object)]
    pub form: Map<String, Value>,
    /// The definition line it was written on.
    pub line: u32,
    pub requested_at: String,
}

/// A decision.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    /// Why (kept in the audit log and the job).
    pub comment: Option<String>,
    /// The approval form's fields (approving only).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: Fields,
}

/// What a decision did.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionView {
    pub job_id: String,
    pub id: String,
    /// `approved` or `rejected`.
    pub decision: String,
    /// The token that decided.
    pub by: String,
}

fn view(
    job_id: String,
    job_name: Option<String>,
    definition: Option<String>,
    fei: &Fei,
    state: ApprovalState,
) -> ApprovalView {
    ApprovalView {
        job_id,
        job_name,
        definition,
        id: fei.0.clone(),
        prompt: state.prompt,
        approvers: state.approvers,
        groups: state.groups,
        form: state.form,
        line: state.line,
        requested_at: time(state.requested_at),
    }
}

/// The approvals waiting in the tenant's running and paused jobs, oldest
/// job first.
#[utoipa::path(get, path = "/v1/approvals", tag = "approvals",
    responses((status = 200, body = Vec<ApprovalView>), (status = 403, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn list_approvals(State(state): State<Arc<AppState>>, who: Principal) -> ApiResult<ApiJson<Vec<ApprovalView>>> {
    let tenant = who.tenant(super::auth::Scope::Read)?;
    let secrets = state.tenancy.secret_values(tenant).await?;
    let waiting = state.store.waiting_expressions(tenant, "approval").await?;
    Ok(ApiJson(
        waiting
            .into_iter()
            .filter_map(|w| {
                let approval: ApprovalState = serde_json::from_value(w.expression.state.clone()).ok()?;
                let mut v = view(w.job_id, w.job_name, w.definition, &w.expression.fei, approval);
                v.prompt = match redact_value(Value::String(v.prompt), &secrets) {
                    Value::String(s) => s,
                    _ => String::new(),
                };
                Some(v)
            })
            .collect(),
    ))
}

/// Approves: the form's fields merge into the job's workitem and the job
/// goes on.
#[utoipa::path(post, path = "/v1/approvals/{job_id}/{id}/approve", tag = "approvals",
    params(("job_id" = String, Path), ("id" = String, Path)), request_body = DecisionInput,
    responses((status = 200, body = DecisionView), (status = 400, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn approve(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiPath((job_id, id)): ApiPath<(String, String)>,
    ApiJson(input): ApiJson<DecisionInput>,
) -> ApiResult<ApiJson<DecisionView>> {
    decide(&state, &who, job_id, id, input, true).await.map(ApiJson)
}

/// Rejects: the approval fails with a `rejected` error, which the
/// definition's `on_error` handles.
#[utoipa::path(post, path = "/v1/approvals/{job_id}/{id}/reject", tag = "approvals",
    params(("job_id" = String, Path), ("id" = String, Path)), request_body = DecisionInput,
    responses((status = 200, body = DecisionView), (status = 400, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn reject(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiPath((job_id, id)): ApiPath<(String, String)>,
    ApiJson(input): ApiJson<DecisionInput>,
) -> ApiResult<ApiJson<DecisionView>> {
    decide(&state, &who, job_id, id, input, false).await.map(ApiJson)
}

async fn decide(
    state: &AppState,
    who: &Principal,
    job_id: String,
    id: String,
    input: DecisionInput,
    approved: bool,
) -> ApiResult<DecisionView> {
    let tenant = who.approver()?;
    tenant_job(state, tenant, &job_id).await?;
    let waiting = state
        .store
        .tenant_expression(tenant, &job_id, &id)
        .await?
        .filter(|e| e.kind == "approval")
        .ok_or_else(|| ApiError::not_found("approval", &format!("{job_id}/{id}")))?;
    let approval: ApprovalState = serde_json::from_value(waiting.state).unwrap_or_default();
    let by = who.token.name.clone();
    let open = approval.approvers.is_empty() && approval.groups.is_empty();
    let named = approval.approvers.contains(&by);
    let in_group = who.token.groups.iter().any(|g| approval.groups.contains(g));
    if !(open || named || in_group) {
        let mut who_may: Vec<String> = approval.approvers.clone();
        who_may.extend(approval.groups.iter().map(|g| format!("group {g}")));
        return Err(ApiError::Forbidden(format!(
            "only {} may decide this approval (this token is '{by}')",
            who_may.join(", ")
        )));
    }
    if approved {
        check_form(&approval.form, &input.fields)?;
    } else if !input.fields.is_empty() {
        return Err(ApiError::BadRequest("a rejection takes a comment, not fields".into()));
    }
    let decision = Decision { approved, by: by.clone(), comment: input.comment, fields: input.fields, at: now_ms() };
    state.engine.decide(tenant, &job_id, Fei(id.clone()), decision).await?;
    let verb = if approved { "approve" } else { "reject" };
    who.audit(verb, "approval", &format!("{job_id}/{id}")).await?;
    Ok(DecisionView { job_id, id, decision: format!("{verb}d"), by })
}

/// Every field the form asks for, of its type, and no other.
fn check_form(form: &Map<String, Value>, given: &Fields) -> ApiResult<()> {
    for (name, kind) in form {
        let kind = kind.as_str().unwrap_or("any");
        match given.get(name) {
            None => return Err(ApiError::BadRequest(format!("the form asks for '{name}' ({kind})"))),
            Some(value) if !form_value_has_type(value, kind) => {
                return Err(ApiError::BadRequest(format!("'{name}' must be of type {kind}, not {value}")));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = given.keys().find(|k| !form.contains_key(*k)) {
        return Err(ApiError::BadRequest(format!("the form has no field '{extra}'")));
    }
    Ok(())
}
