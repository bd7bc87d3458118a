//! Participants: upload a component with its grants (validated before it is
//! accepted), list (built-ins included), describe, delete (refused while an
//! unfinished job uses it).

use super::auth::{Principal, Scope};
use super::error::{ApiError, ApiJson, ApiPath, ApiResult};
use super::{AppState, time};
use crate::capabilities::{Grants, clip};
use crate::store::{ParticipantRecord, now_ms};
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The largest component accepted, in bytes: the sandbox's own limit
/// (`SandboxConfig::max_component_bytes`), checked here before the upload
/// is decoded further and by the CLI before it is sent. 32 MiB holds a
/// componentize-py component (18 MB: CPython and its standard library)
/// with room for the participant's own Python packages; a Rust one is
/// well under 1 MB.
pub const MAX_COMPONENT_BYTES: usize = 32 << 20;

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(upload_participant, list_participants))
        .routes(routes!(show_participant, delete_participant))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadInput {
    /// The component (wasm32-wasip2, the participant world), base64.
    pub wasm: String,
    /// What it may do, e.g. `http=api.example.com`, `secret=api_token`.
    #[serde(default)]
    pub grants: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantView {
    pub name: String,
    /// `builtin` or `uploaded`.
    pub kind: String,
    /// The upload's version (uploads only).
    pub version: Option<i64>,
    pub sha256: Option<String>,
    pub grants: Vec<String>,
    /// What the component declares: its actions and their params.
    #[schema(value_type = Object)]
    pub description: Value,
    pub created_at: Option<String>,
    /// Every upload of this name, oldest first (describe only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<UploadVersion>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadVersion {
    pub version: i64,
    pub sha256: String,
    pub created_at: String,
}

fn uploaded_view(p: ParticipantRecord) -> ParticipantView {
    ParticipantView {
        name: p.name,
        kind: "uploaded".into(),
        version: Some(p.version),
        sha256: Some(p.sha256),
        grants: p.grants,
        description: p.description,
        created_at: Some(time(p.created_at)),
        versions: None,
    }
}

fn builtin_views(state: &AppState) -> impl Iterator<Item = ParticipantView> + '_ {
    state.tenancy.builtins().iter().map(|b| ParticipantView {
        name: b.participant.description().name.clone(),
        kind: "builtin".into(),
        version: None,
        sha256: Some(b.participant.digest().to_owned()),
        grants: b.grants.specs(),
        description: serde_json::to_value(b.participant.description()).unwrap_or(Value::Null),
        created_at: None,
        versions: None,
    })
}

/// Refuses grants a tenant may not give on this server: any grant that
/// opens a connection (HTTP, SSH, Chef) to a loopback, private or
/// link-local host, however the address is spelled or a name resolves,
/// unless the server allows them. The same policy holds again on the
/// addresses each connection actually reaches (`Grants::public_only`).
async fn check_grants(state: &AppState, specs: &[String]) -> ApiResult<()> {
    if specs.len() > MAX_GRANTS {
        return Err(ApiError::BadRequest(format!("at most {MAX_GRANTS} grants per upload")));
    }
    let grants = Grants::parse(specs).map_err(|e| ApiError::BadRequest(clip(&e.to_string(), 512).into_owned()))?;
    if state.config.allow_private_grants {
        return Ok(());
    }
    for host in grants.exact_hosts() {
        if let Some(why) = crate::capabilities::net::non_public_grant(&host).await {
            return Err(ApiError::BadRequest(format!(
                "grant for '{}': {why}; {PRIVATE_GRANTS_REFUSED}",
                clip(&host, 256)
            )));
        }
    }
    Ok(())
}

/// The end of the message refusing a grant of a non-public host, which
/// `mastermind participants upload` recognises to name the server's flag.
pub const PRIVATE_GRANTS_REFUSED: &str = "uploads may not be granted loopback or private addresses on this server";

/// Grants per upload: each is checked (and a name resolved) at upload.
const MAX_GRANTS: usize = 64;

/// Uploads a participant (a new version when its name exists).
#[utoipa::path(post, path = "/v1/participants", tag = "participants", request_body = UploadInput,
    responses((status = 201, body = ParticipantView), (status = 400, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody), (status = 413, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn upload_participant(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiJson(input): ApiJson<UploadInput>,
) -> ApiResult<(StatusCode, ApiJson<ParticipantView>)> {
    let tenant = who.tenant(Scope::Admin)?;
    let wasm = base64::engine::general_purpose::STANDARD
        .decode(input.wasm.trim())
        .map_err(|e| ApiError::BadRequest(format!("wasm: not base64: {e}")))?;
    if wasm.len() > MAX_COMPONENT_BYTES {
        return Err(ApiError::TooLarge(format!(
            "component is {} bytes, over the {MAX_COMPONENT_BYTES}-byte limit",
            wasm.len()
        )));
    }
    check_grants(&state, &input.grants).await?;
    // The name is checked before the compiled code is cached: a refused
    // upload leaves nothing behind.
    let participant = state
        .sandbox
        .load_checked(&wasm, |description| {
            super::definitions::check_name("participant", &description.name)?;
            if state.tenancy.is_builtin(&description.name) {
                return Err(ApiError::Conflict(format!(
                    "'{}' is a built-in participant: give your component another name",
                    description.name
                )));
            }
            Ok(())
        })
        .await
        .map_err(|e| ApiError::BadRequest(format!("component refused: {e}")))??;
    let description = participant.description().clone();
    let mut record = ParticipantRecord {
        tenant: tenant.to_owned(),
        name: description.name.clone(),
        version: 0,
        sha256: participant.digest().to_owned(),
        grants: input.grants,
        description: serde_json::to_value(&description).unwrap_or(Value::Null),
        created_at: now_ms(),
    };
    record.version = state.store.catalogue().put_participant(&record, &wasm).await?;
    state.tenancy.invalidate(tenant);
    who.audit("upload", "participant", &format!("{}@{}", record.name, record.version)).await?;
    Ok((StatusCode::CREATED, ApiJson(uploaded_view(record))))
}

/// The built-in participants and the tenant's uploads.
#[utoipa::path(get, path = "/v1/participants", tag = "participants",
    responses((status = 200, body = Vec<ParticipantView>)), security(("bearer" = [])))]
async fn list_participants(
    State(state): State<Arc<AppState>>,
    who: Principal,
) -> ApiResult<ApiJson<Vec<ParticipantView>>> {
    let tenant = who.tenant(Scope::Read)?;
    let mut list: Vec<ParticipantView> = builtin_views(&state).collect();
    list.extend(state.store.catalogue().participants(tenant).await?.into_iter().map(uploaded_view));
    Ok(ApiJson(list))
}

/// What a participant declares (its actions and params), its grants and versions.
#[utoipa::path(get, path = "/v1/participants/{name}", tag = "participants", params(("name" = String, Path)),
    responses((status = 200, body = ParticipantView), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
async fn show_participant(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<ApiJson<ParticipantView>> {
    let tenant = who.tenant(Scope::Read)?;
    if let Some(view) = builtin_views(&state).find(|v| v.name == name) {
        return Ok(ApiJson(view));
    }
    let mut versions = state.store.catalogue().participant_versions(tenant, &name).await?;
    let list: Vec<UploadVersion> = versions
        .iter()
        .map(|v| UploadVersion { version: v.version, sha256: v.sha256.clone(), created_at: time(v.created_at) })
        .collect();
    let Some(latest) = versions.pop() else { return Err(ApiError::not_found("participant", &name)) };
    Ok(ApiJson(ParticipantView { versions: Some(list), ..uploaded_view(latest) }))
}

/// Deletes an upload; refused while a job that is not over uses it.
#[utoipa::path(delete, path = "/v1/participants/{name}", tag = "participants", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn delete_participant(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let tenant = who.tenant(Scope::Admin)?;
    if state.tenancy.is_builtin(&name) {
        return Err(ApiError::Conflict(format!("'{name}' is a built-in participant and cannot be deleted")));
    }
    if state.store.catalogue().participant_versions(tenant, &name).await?.is_empty() {
        return Err(ApiError::not_found("participant", &name));
    }
    let runtime = state.engine.runtime(tenant).await?;
    for (job, tree) in state.store.unfinished_jobs(tenant).await? {
        let Ok(definition) = crate::language::json::definition_from_json(&tree) else { continue };
        if super::uses_participant(&definition, &runtime.registry, &name) {
            return Err(ApiError::Conflict(format!(
                "participant '{name}' is used by job {job}, which is not over: cancel it or wait"
            )));
        }
    }
    state.store.catalogue().delete_participant(tenant, &name, now_ms()).await?;
    state.tenancy.invalidate(tenant);
    who.audit("delete", "participant", &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
