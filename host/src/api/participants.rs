//! Participants: upload a component with its grants (the quick checks in
//! the request, then compiled off it: `compiling`, then `ready` or
//! `failed`), list (built-ins and uploads still compiling included),
//! describe, delete (refused while an unfinished job uses it).

use super::auth::{Principal, Scope};
use super::error::{ApiError, ApiJson, ApiPath, ApiResult};
use super::{AppState, time};
use crate::capabilities::{Grants, clip};
use crate::services::TenantLimits;
use crate::services::uploads::FAILED_KEPT_MS;
use crate::store::{COMPILING, ParticipantRecord, READY, UploadRecord, now_ms};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
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
        .routes(routes!(show_upload))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadInput {
    /// The component (wasm32-wasip2, the participant world), base64.
    pub wasm: String,
    /// What it may do, e.g. `http=api.example.com`, `secret=api_token`.
    #[serde(default)]
    pub grants: Vec<String>,
    /// The name the component describes itself by, if known: the upload
    /// is listed under it while it compiles, and fails if the component
    /// says another.
    #[schema(pattern = r"^[a-z0-9_]{1,64}$")]
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantView {
    /// Absent only for an upload given no name that is not described yet.
    pub name: Option<String>,
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
    /// The latest upload's: `compiling` (jobs run the previous version, if
    /// any), `ready` or `failed`.
    pub state: String,
    /// Why the latest upload failed.
    pub error: Option<String>,
    /// The latest upload's id (`GET /v1/participants/uploads/{id}`).
    pub upload: Option<String>,
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
        name: Some(p.name),
        kind: "uploaded".into(),
        version: Some(p.version),
        sha256: Some(p.sha256),
        grants: p.grants,
        description: p.description,
        created_at: Some(time(p.created_at)),
        state: READY.into(),
        error: None,
        upload: None,
        versions: None,
    }
}

/// An upload as it stands: no description until it is ready.
fn upload_view(u: UploadRecord) -> ParticipantView {
    ParticipantView {
        name: u.name,
        kind: "uploaded".into(),
        version: u.version,
        sha256: Some(u.sha256),
        grants: u.grants,
        description: Value::Null,
        created_at: Some(time(u.created_at)),
        state: u.state,
        error: u.error,
        upload: Some(u.id),
        versions: None,
    }
}

/// A participant's view, telling of a later upload of it that is still
/// compiling or failed (jobs run the version shown meanwhile).
fn with_later_upload(mut view: ParticipantView, p_created_at: i64, latest: Option<UploadRecord>) -> ParticipantView {
    if let Some(u) = latest
        && u.state != READY
        && u.created_at > p_created_at
    {
        (view.state, view.error, view.upload) = (u.state, u.error, Some(u.id));
    }
    view
}

fn builtin_views(state: &AppState) -> impl Iterator<Item = ParticipantView> + '_ {
    state.tenancy.builtins().iter().map(|b| ParticipantView {
        name: Some(b.participant.description().name.clone()),
        kind: "builtin".into(),
        version: None,
        sha256: Some(b.participant.digest().to_owned()),
        grants: b.grants.specs(),
        description: serde_json::to_value(b.participant.description()).unwrap_or(Value::Null),
        created_at: None,
        state: READY.into(),
        error: None,
        upload: None,
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

/// Uploads a participant (a new version when its name exists). The quick
/// checks answer here; the component then compiles off the request (see
/// `services::uploads`): the answer says `compiling`, and
/// `GET /v1/participants/uploads/{id}` (its `Location`) says when it is
/// `ready` or why it `failed`.
#[utoipa::path(post, path = "/v1/participants", tag = "participants", request_body = UploadInput,
    responses((status = 202, body = ParticipantView, headers(("Location" = String))),
              (status = 400, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody), (status = 413, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn upload_participant(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiJson(input): ApiJson<UploadInput>,
) -> ApiResult<(StatusCode, HeaderMap, ApiJson<ParticipantView>)> {
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
    if let Some(name) = &input.name {
        let ok = (1..=64).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(ApiError::BadRequest(format!(
                "name '{}': participant names are 1 to 64 lower-case letters, digits and '_'",
                clip(name, 64)
            )));
        }
        if state.tenancy.is_builtin(name) {
            return Err(ApiError::Conflict(format!(
                "'{name}' is a built-in participant: give your component another name"
            )));
        }
    }
    check_grants(&state, &input.grants).await?;
    let sandbox = state.sandbox.clone();
    let (wasm, checked) = tokio::task::spawn_blocking(move || {
        let checked = sandbox.precheck(&wasm).map(|count| (count, crate::sandbox::digest(&wasm)));
        (wasm, checked)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("checking the upload: {e}")))?;
    let (count, sha256) = checked.map_err(|e| ApiError::BadRequest(format!("component refused: {e}")))?;
    let limits = match state.store.catalogue().tenant(tenant).await? {
        Some(t) => serde_json::from_value::<TenantLimits>(t.limits).unwrap_or_default(),
        None => TenantLimits::default(),
    };
    if let Some(max) = limits.max_core_instances_per_component
        && count > max
    {
        return Err(ApiError::BadRequest(format!(
            "component refused: component creates {count} core instances when instantiated, over this tenant's \
             limit of {max} per component (its limits' max_core_instances_per_component)"
        )));
    }
    let record = UploadRecord {
        id: uuid::Uuid::now_v7().to_string(),
        tenant: tenant.to_owned(),
        name: input.name,
        sha256,
        grants: input.grants,
        state: COMPILING.into(),
        error: None,
        version: None,
        created_at: now_ms(),
        finished_at: None,
    };
    state.store.catalogue().insert_upload(&record, &wasm).await?;
    drop(wasm);
    state.tenancy.invalidate(tenant);
    state.compiler.submit(record.id.clone());
    who.audit("upload", "participant", record.name.as_deref().unwrap_or(&record.id)).await?;
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/participants/uploads/{}", record.id)) {
        headers.insert(header::LOCATION, location);
    }
    Ok((StatusCode::ACCEPTED, headers, ApiJson(upload_view(record))))
}

/// Where an upload is: `compiling`, `ready` (with its version and
/// description) or `failed` (with why). A failed upload is kept a day.
#[utoipa::path(get, path = "/v1/participants/uploads/{id}", tag = "participants", params(("id" = String, Path)),
    responses((status = 200, body = ParticipantView), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn show_upload(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<ParticipantView>> {
    let tenant = who.tenant(Scope::Read)?;
    let Some(upload) = state.store.catalogue().upload(tenant, &id).await? else {
        return Err(ApiError::not_found("upload", &id));
    };
    let ready = match (&upload.name, upload.version) {
        (Some(name), Some(version)) => {
            let versions = state.store.catalogue().participant_versions(tenant, name).await?;
            versions.into_iter().find(|p| p.version == version)
        }
        _ => None,
    };
    let mut view = upload_view(upload);
    if let Some(p) = ready {
        view.description = p.description;
    }
    Ok(ApiJson(view))
}

/// The built-in participants and the tenant's uploads.
#[utoipa::path(get, path = "/v1/participants", tag = "participants",
    responses((status = 200, body = Vec<ParticipantView>)), security(("bearer" = [])))]
async fn list_participants(
    State(state): State<Arc<AppState>>,
    who: Principal,
) -> ApiResult<ApiJson<Vec<ParticipantView>>> {
    let tenant = who.tenant(Scope::Read)?;
    let catalogue = state.store.catalogue();
    let mut list: Vec<ParticipantView> = builtin_views(&state).collect();
    // Newest first: each name shows its latest unfinished upload once.
    let mut unfinished = catalogue.unfinished_uploads(tenant, now_ms() - FAILED_KEPT_MS).await?;
    unfinished.reverse();
    let mut shown = std::collections::HashSet::new();
    for p in catalogue.participants(tenant).await? {
        let latest = unfinished.iter().find(|u| u.name.as_deref() == Some(p.name.as_str())).cloned();
        shown.insert(p.name.clone());
        let created = p.created_at;
        list.push(with_later_upload(uploaded_view(p), created, latest));
    }
    for u in unfinished {
        if u.name.as_ref().is_none_or(|name| shown.insert(name.clone())) {
            list.push(upload_view(u));
        }
    }
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
    if let Some(view) = builtin_views(&state).find(|v| v.name.as_deref() == Some(name.as_str())) {
        return Ok(ApiJson(view));
    }
    let mut versions = state.store.catalogue().participant_versions(tenant, &name).await?;
    let list: Vec<UploadVersion> = versions
        .iter()
        .map(|v| UploadVersion { version: v.version, sha256: v.sha256.clone(), created_at: time(v.created_at) })
        .collect();
    let upload = state.store.catalogue().latest_upload_named(tenant, &name).await?;
    let Some(latest) = versions.pop() else {
        // Not a participant yet: its first upload, compiling or failed.
        return match upload {
            Some(u) if u.state != READY => Ok(ApiJson(ParticipantView { versions: Some(list), ..upload_view(u) })),
            _ => Err(ApiError::not_found("participant", &name)),
        };
    };
    let created = latest.created_at;
    Ok(ApiJson(ParticipantView { versions: Some(list), ..with_later_upload(uploaded_view(latest), created, upload) }))
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
