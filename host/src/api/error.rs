//! The API's one error type. Every failure, axum's own rejections included,
//! renders as `{"error": {"code": "...", "message": "...", "details": ...}}`
//! with the status code that goes with the code.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// Why a request failed; each kind is one `code` and one status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// A definition that does not parse or refers to unknown participants.
    #[error("{message}")]
    InvalidDefinition {
        /// How many errors the definition has.
        message: String,
        /// `diagnostics` (each with its line, column and help) and
        /// `rendered` (all of them as text, with carets).
        details: Value,
    },
    /// No token, or one the server does not know (401).
    #[error("missing or unknown API token")]
    Unauthorized,
    /// The token may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such object, or another tenant's (404).
    #[error("{0}")]
    NotFound(String),
    /// The object's state does not allow it, or the name is taken (409).
    #[error("{0}")]
    Conflict(String),
    /// The body or an upload is over its limit (413).
    #[error("{0}")]
    TooLarge(String),
    /// The tenant's rate is spent for now (429, with `retry-after`).
    #[error("rate limit exceeded: {0}")]
    RateLimited(String),
    /// The server cannot serve now, e.g. its database is down (503).
    #[error("{0}")]
    Unavailable(String),
    /// Something broke on our side: logged in full, reported vaguely.
    #[error("internal error")]
    Internal(String),
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// One error, as clients see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable: bad_request, invalid_definition, unauthorized,
    /// forbidden, not_found, conflict, too_large, rate_limited,
    /// unavailable, internal.
    pub code: String,
    /// One line for the user.
    pub message: String,
    /// More, for `invalid_definition`: the diagnostics, each located.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl ApiError {
    /// The HTTP status that goes with the error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::InvalidDefinition { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The error's `code` in responses (`not_found`).
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::InvalidDefinition { .. } => "invalid_definition",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::TooLarge(_) => "too_large",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// "no job X": the same answer whether it does not exist or belongs
    /// to another tenant.
    pub fn not_found(kind: &str, id: &str) -> Self {
        ApiError::NotFound(format!("no {kind} '{id}'"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(error = %detail, "request failed");
        }
        let status = self.status();
        let details = match &self {
            ApiError::InvalidDefinition { details, .. } => Some(details.clone()),
            _ => None,
        };
        let body =
            ErrorBody { error: ErrorDetail { code: self.code().to_owned(), message: self.to_string(), details } };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert("www-authenticate", axum::http::HeaderValue::from_static("Bearer"));
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            // Every rate here refills within a second or a minute.
            response.headers_mut().insert("retry-after", axum::http::HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<crate::engine::EngineError> for ApiError {
    fn from(e: crate::engine::EngineError) -> Self {
        use crate::engine::EngineError;
        match e {
            EngineError::Invalid(errors) => super::definitions::invalid_definition(&errors),
            EngineError::NotFound(id) => ApiError::not_found("job", &id),
            EngineError::State { .. } => ApiError::Conflict(e.to_string()),
            EngineError::Store(e) => e.into(),
        }
    }
}

impl From<crate::services::LaunchError> for ApiError {
    fn from(e: crate::services::LaunchError) -> Self {
        use crate::services::LaunchError;
        match e {
            LaunchError::NoDefinition(name) => ApiError::not_found("definition", &name),
            LaunchError::Corrupt { .. } => ApiError::Internal(e.to_string()),
            LaunchError::Engine(e) => e.into(),
            LaunchError::Store(e) => e.into(),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::BytesRejection(b) if b.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::TooLarge(format!("request body too large: {}", b.body_text()))
            }
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::BadRequest(r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::BadRequest(r.body_text())
    }
}

/// JSON bodies whose rejections are [`ApiError`]s.
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

/// Query strings whose rejections are [`ApiError`]s.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// Path parameters whose rejections are [`ApiError`]s.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// What handlers return: a response, or an [`ApiError`] rendered as one.
pub type ApiResult<T> = Result<T, ApiError>;

/// A JSON body that may be left out entirely (an empty body is the default).
///
/// # Errors
/// [`ApiError::BadRequest`] when the body is not JSON of type `T`.
pub fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("request body: {e}")))
}
