//! What operators and load balancers ask: liveness, readiness, Prometheus
//! metrics, and the OpenAPI document.

use super::AppState;
use super::auth::hash_token;
use super::error::{ApiError, ApiResult};
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(readyz)).routes(routes!(metrics))
}

/// The router of a separate metrics address (`--metrics-listen`): only
/// `/metrics`, unauthenticated, for a network only the scraper reaches.
pub fn metrics_router(state: Arc<AppState>) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(|State(state): State<Arc<AppState>>| async move { render(&state).await }))
        .fallback(|| async { ApiError::NotFound("only /metrics is served here".into()) })
        .with_state(state)
}

/// Who may read `/metrics` on the API's own address.
#[derive(Debug, Clone, Default)]
pub enum MetricsAccess {
    /// The server's admin token, or the metrics token if one is set (its
    /// SHA-256, as tokens are kept). The default: the metrics show every
    /// tenant's job counts.
    #[default]
    AdminOrToken,
    /// The server's admin token or this metrics token (`--metrics-token`),
    /// given as its SHA-256 in hex ([`hash_token`]).
    Token(String),
    /// Only on the separate metrics address; the API's `/metrics` is 404.
    Elsewhere,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = String)))]
async fn healthz() -> &'static str {
    "ok"
}

/// The process can serve: its database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = String), (status = 503, body = super::error::ErrorBody)))]
async fn readyz(State(state): State<Arc<AppState>>) -> ApiResult<&'static str> {
    match state.store.ping().await {
        Ok(()) => Ok("ready"),
        Err(e) => Err(ApiError::Unavailable(format!("database: {e}"))),
    }
}

/// Prometheus text format: jobs by state, step durations, participant
/// errors by kind, jobs created. It covers every tenant, so it takes the
/// server's admin token or the metrics token (`--metrics-token`), or is
/// served on a separate address only (`--metrics-listen`).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, body = String, content_type = "text/plain"), (status = 401, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> ApiResult<impl IntoResponse> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(|t| hash_token(t.trim()));
    match &state.config.metrics {
        MetricsAccess::Elsewhere => {
            return Err(ApiError::NotFound("metrics are served on the server's metrics address".into()));
        }
        MetricsAccess::Token(hash) if bearer.as_deref() == Some(hash.as_str()) => {}
        MetricsAccess::Token(_) | MetricsAccess::AdminOrToken => {
            let Some(bearer) = bearer else { return Err(ApiError::Unauthorized) };
            let record = state.store.catalogue().token_by_hash(&bearer).await?.ok_or(ApiError::Unauthorized)?;
            if record.tenant.is_some() {
                return Err(ApiError::Forbidden(
                    "the metrics cover every tenant: use the admin token or the metrics token".into(),
                ));
            }
        }
    }
    render(&state).await
}

async fn render(state: &AppState) -> ApiResult<impl IntoResponse + use<>> {
    let counts = state.store.job_counts().await?;
    let text = state.metrics.render(&counts);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text))
}
