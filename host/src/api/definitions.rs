//! Definitions: push (each push is a new version), list, show, validate.

use super::auth::{Principal, Scope};
use super::error::{ApiError, ApiJson, ApiPath, ApiResult};
use super::{AppState, time};
use crate::language::{Definition, ParseErrors};
use crate::store::{DefinitionRecord, now_ms};
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(push_definition, list_definitions))
        .routes(routes!(validate_definition))
        .routes(routes!(show_definition))
        .routes(routes!(show_version))
}

/// A definition as text in the Mastermind language (`source`) or as its
/// JSON tree (`tree`): exactly one of the two.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefinitionInput {
    /// Letters, digits, `_`, `-` and `.`; 1 to 100 characters.
    #[schema(pattern = r"^[A-Za-z0-9_.\-]{1,100}$")]
    pub name: String,
    pub source: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub tree: Option<Value>,
}

/// A pushed definition's name, when its body is its text (`text/plain`).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NameQuery {
    /// The definition's name (required with a `text/plain` body).
    pub name: Option<String>,
}

/// A pushed definition: JSON ([`DefinitionInput`]), or its text as
/// `text/plain` with its name in the query, so that `curl --data-binary
/// @deploy.mm -H 'Content-Type: text/plain' .../v1/definitions?name=deploy`
/// needs no quoting.
pub struct DefinitionBody(DefinitionInput);

impl<S: Send + Sync> FromRequest<S> for DefinitionBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let text = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/plain"));
        if !text {
            let ApiJson(input) = ApiJson::<DefinitionInput>::from_request(request, state).await?;
            return Ok(DefinitionBody(input));
        }
        let query = Query::<NameQuery>::try_from_uri(request.uri()).map_err(|e| ApiError::BadRequest(e.body_text()))?;
        let Some(name) = query.0.name else {
            return Err(ApiError::BadRequest(
                "a text/plain definition takes its name in the query: POST /v1/definitions?name=NAME".into(),
            ));
        };
        let source = String::from_request(request, state).await.map_err(|e| ApiError::BadRequest(e.body_text()))?;
        Ok(DefinitionBody(DefinitionInput { name, source: Some(source), tree: None }))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateInput {
    pub source: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub tree: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DefinitionVersion {
    pub name: String,
    pub version: i64,
    /// `mastermind` (text) or `json`.
    pub format: String,
    pub source: String,
    #[schema(value_type = Object)]
    pub tree: Value,
    pub created_at: String,
    pub created_by: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DefinitionSummary {
    pub name: String,
    pub latest_version: i64,
    pub updated_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DefinitionDetail {
    pub name: String,
    pub latest: DefinitionVersion,
    /// Every version, oldest first (without their source).
    pub versions: Vec<VersionEntry>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionEntry {
    pub version: i64,
    pub created_at: String,
    pub created_by: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Validation {
    pub valid: bool,
    /// Each problem with its line and column.
    #[schema(value_type = Vec<Object>)]
    pub diagnostics: Vec<Value>,
    /// The problems as the CLI prints them, with a caret under each.
    pub rendered: String,
}

/// Names are path segments (`/v1/secrets/{name}`) and file-like: `.` and
/// `..` (any name of dots only) would be resolved away by a client or a
/// proxy before it reaches the server, so they are refused.
pub fn check_name(kind: &str, name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        && !name.chars().all(|c| c == '.');
    if !ok {
        return Err(ApiError::BadRequest(format!(
            "{kind} name '{}': use 1 to 100 letters, digits, '_', '-' or '.' (not only dots)",
            crate::capabilities::clip(name, 100)
        )));
    }
    Ok(())
}

/// The 422 a bad definition gets: every problem, with line and column.
pub fn invalid_definition(errors: &ParseErrors) -> ApiError {
    let (diagnostics, rendered) = diagnostics(errors);
    ApiError::InvalidDefinition {
        message: format!("the definition has {} error(s)", errors.diagnostics.len().max(1)),
        details: json!({ "diagnostics": diagnostics, "rendered": rendered }),
    }
}

fn diagnostics(errors: &ParseErrors) -> (Vec<Value>, String) {
    let list = errors
        .diagnostics
        .iter()
        .map(|d| json!({ "line": d.span.line, "column": d.span.column, "message": d.message, "help": d.help }))
        .collect();
    (list, errors.to_string())
}

/// Parses text or a JSON tree and checks its steps against what the
/// tenant's jobs can call.
async fn parse(
    state: &AppState,
    tenant: &str,
    name: &str,
    source: Option<String>,
    tree: Option<Value>,
) -> ApiResult<(Definition, String, String)> {
    let file = format!("{name}.mm");
    let (definition, format, text) = match (source, tree) {
        (Some(text), None) => match crate::language::parse(&file, &text) {
            Ok(d) => (d, "mastermind", text),
            Err(errors) => return Err(invalid_definition(&errors)),
        },
        (None, Some(tree)) => match crate::language::json::definition_from_json(&tree) {
            Ok(d) => (d, "json", tree.to_string()),
            Err(e) => {
                return Err(ApiError::InvalidDefinition {
                    message: format!("the definition tree is invalid at '{}': {}", e.path, e.message),
                    details: json!({ "diagnostics": [{ "path": e.path, "message": e.message }], "rendered": e.to_string() }),
                });
            }
        },
        _ => {
            return Err(ApiError::BadRequest(
                "give the definition as `source` (text) or `tree` (JSON), one of the two".into(),
            ));
        }
    };
    let runtime = state.engine.runtime(tenant).await?;
    let problems = crate::engine::validate(&definition, &*runtime.registry);
    if !problems.is_empty() {
        let mut errors = ParseErrors::new(file, if format == "mastermind" { text.clone() } else { String::new() });
        errors.diagnostics = problems;
        return Err(invalid_definition(&errors));
    }
    Ok((definition, format.to_owned(), text))
}

fn version_view(d: DefinitionRecord) -> DefinitionVersion {
    DefinitionVersion {
        name: d.name,
        version: d.version,
        format: d.format,
        source: d.source,
        tree: d.tree,
        created_at: time(d.created_at),
        created_by: d.created_by,
    }
}

/// Pushes a definition: the first version of a new name, or the next one.
#[utoipa::path(post, path = "/v1/definitions", tag = "definitions",
    request_body(content((DefinitionInput = "application/json"), (String = "text/plain")),
                 description = "JSON, or the definition's text as text/plain with its name in the query"),
    params(NameQuery),
    responses((status = 201, body = DefinitionVersion), (status = 400, body = super::error::ErrorBody),
              (status = 422, description = "errors with line and column", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn push_definition(
    State(state): State<Arc<AppState>>,
    who: Principal,
    DefinitionBody(input): DefinitionBody,
) -> ApiResult<(StatusCode, ApiJson<DefinitionVersion>)> {
    let tenant = who.tenant(Scope::Admin)?;
    check_name("definition", &input.name)?;
    let (definition, format, source) = parse(&state, tenant, &input.name, input.source, input.tree).await?;
    let mut record = DefinitionRecord {
        tenant: tenant.to_owned(),
        name: input.name,
        version: 0,
        format,
        source,
        tree: crate::language::json::definition_to_json(&definition),
        created_at: now_ms(),
        created_by: Some(who.token.id.clone()),
    };
    record.version = state.store.catalogue().push_definition(&record).await?;
    who.audit("push", "definition", &format!("{}@{}", record.name, record.version)).await?;
    Ok((StatusCode::CREATED, ApiJson(version_view(record))))
}

#[utoipa::path(get, path = "/v1/definitions", tag = "definitions",
    responses((status = 200, body = Vec<DefinitionSummary>)), security(("bearer" = [])))]
async fn list_definitions(
    State(state): State<Arc<AppState>>,
    who: Principal,
) -> ApiResult<ApiJson<Vec<DefinitionSummary>>> {
    let tenant = who.tenant(Scope::Read)?;
    let list = state.store.catalogue().definitions(tenant).await?;
    Ok(ApiJson(
        list.into_iter()
            .map(|d| DefinitionSummary { name: d.name, latest_version: d.latest, updated_at: time(d.updated_at) })
            .collect(),
    ))
}

/// The latest version and the list of all versions.
#[utoipa::path(get, path = "/v1/definitions/{name}", tag = "definitions", params(("name" = String, Path)),
    responses((status = 200, body = DefinitionDetail), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn show_definition(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<ApiJson<DefinitionDetail>> {
    let tenant = who.tenant(Scope::Read)?;
    let mut versions = state.store.catalogue().definition_versions(tenant, &name).await?;
    let Some(latest) = versions.pop() else { return Err(ApiError::not_found("definition", &name)) };
    let mut entries: Vec<VersionEntry> = versions
        .into_iter()
        .map(|v| VersionEntry { version: v.version, created_at: time(v.created_at), created_by: v.created_by })
        .collect();
    entries.push(VersionEntry {
        version: latest.version,
        created_at: time(latest.created_at),
        created_by: latest.created_by.clone(),
    });
    Ok(ApiJson(DefinitionDetail { name, latest: version_view(latest), versions: entries }))
}

#[utoipa::path(get, path = "/v1/definitions/{name}/versions/{version}", tag = "definitions",
    params(("name" = String, Path), ("version" = i64, Path)),
    responses((status = 200, body = DefinitionVersion), (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn show_version(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiPath((name, version)): ApiPath<(String, i64)>,
) -> ApiResult<ApiJson<DefinitionVersion>> {
    let tenant = who.tenant(Scope::Read)?;
    let d = state
        .store
        .catalogue()
        .definition(tenant, &name, Some(version))
        .await?
        .ok_or_else(|| ApiError::not_found("definition version", &format!("{name}@{version}")))?;
    Ok(ApiJson(version_view(d)))
}

/// Checks a definition without storing it.
#[utoipa::path(post, path = "/v1/definitions/validate", tag = "definitions", request_body = ValidateInput,
    responses((status = 200, body = Validation), (status = 400, body = super::error::ErrorBody)), security(("bearer" = [])))]
async fn validate_definition(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiJson(input): ApiJson<ValidateInput>,
) -> ApiResult<ApiJson<Validation>> {
    let tenant = who.tenant(Scope::Read)?;
    match parse(&state, tenant, "definition", input.source, input.tree).await {
        Ok(_) => Ok(ApiJson(Validation { valid: true, diagnostics: Vec::new(), rendered: String::new() })),
        Err(ApiError::InvalidDefinition { details, .. }) => Ok(ApiJson(Validation {
            valid: false,
            diagnostics: details["diagnostics"].as_array().cloned().unwrap_or_default(),
            rendered: details["rendered"].as_str().unwrap_or_default().to_owned(),
        })),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_of_dots_only_are_refused() {
        for bad in [".", "..", "...", "", "a/b", "a b"] {
            assert!(super::check_name("secret", bad).is_err(), "{bad:?}");
        }
        for good in ["a", "a.b", ".hidden", "v1..2", "deploy-web_1"] {
            assert!(super::check_name("secret", good).is_ok(), "{good:?}");
        }
    }
}
