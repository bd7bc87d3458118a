//! `mastermind serve`: the HTTP JSON API (axum) over the engine and store.
//!
//! Guarantees:
//! - Every object belongs to a tenant, and every query is scoped to the
//!   caller's tenant: another tenant's object answers 404, exactly as a
//!   missing one does.
//! - Secrets go in and never come out: values are sealed at rest
//!   (`capabilities::vault`), unsealed only into a tenant's runtime, and
//!   redacted from fields, history and events shown here.
//! - Every failure is one JSON shape, `{"error": {"code", "message"}}`
//!   (see [`error`]); the OpenAPI document at `/openapi.json` is generated
//!   from the handlers themselves.
//! - Handlers are thin: they check the caller, call the engine or the
//!   store, write the audit log, and render.
//!
//! ```no_run
//! # async fn demo(state: std::sync::Arc<mastermind::api::AppState>) -> anyhow::Result<()> {
//! let (router, openapi) = mastermind::api::router(state);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, router).await?;
//! # Ok(()) }
//! ```

mod approvals;
mod auth;
mod console;
mod definitions;
pub mod error;
mod events;
mod jobs;
mod locks;
mod ops;
mod participants;
mod plan;
mod schedules;
mod secrets;
mod session;
mod tenants;
mod triggers;
mod webhooks;

pub use auth::{hash_token, new_token};
pub use ops::{MetricsAccess, metrics_router};
pub(crate) use participants::{MAX_COMPONENT_BYTES, PRIVATE_GRANTS_REFUSED};
pub use session::{SIGNIN_SCOPE, signin_url};

use crate::capabilities::Vault;
use crate::engine::{Engine, Registry};
use crate::language::{Definition, Node};
use crate::sandbox::Sandbox;
use crate::services::{Compiler, Metrics, ServerTenancy};
use crate::store::Store;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use error::ApiError;
use std::sync::Arc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

/// The default port of `mastermind serve`.
pub const DEFAULT_PORT: u16 = 7464;

/// Settings the handlers read.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// How clients reach this server (for the trigger URLs it hands out).
    pub public_url: String,
    /// Whether tenants may grant their uploads loopback and private hosts.
    pub allow_private_grants: bool,
    /// Who may read `/metrics` here.
    pub metrics: MetricsAccess,
}

/// What every handler shares.
pub struct AppState {
    /// Tenants, tokens, definitions, jobs and the audit log.
    pub store: Store,
    /// Launches and controls jobs.
    pub engine: Arc<Engine>,
    /// Loads uploaded participants to check them.
    pub sandbox: Arc<Sandbox>,
    /// Each tenant's runtime, launch rate and secret values.
    pub tenancy: Arc<ServerTenancy>,
    /// Seals secrets as they are set.
    pub vault: Arc<Vault>,
    /// What `/metrics` shows.
    pub metrics: Arc<Metrics>,
    /// Compiles uploads off the request path.
    pub compiler: Arc<Compiler>,
    /// The handlers' settings.
    pub config: ApiConfig,
    tokens: auth::TokenCache,
    triggers: triggers::TriggerLimits,
}

impl AppState {
    /// The state for a server of these parts; the sandbox is the one the
    /// compiler loads uploads into, so the quick checks at upload and the
    /// compile apply the same limits.
    pub fn new(
        store: Store,
        engine: Arc<Engine>,
        tenancy: Arc<ServerTenancy>,
        vault: Arc<Vault>,
        metrics: Arc<Metrics>,
        compiler: Arc<Compiler>,
        config: ApiConfig,
    ) -> Arc<Self> {
        Arc::new(AppState {
            store,
            engine,
            sandbox: compiler.sandbox().clone(),
            tenancy,
            vault,
            metrics,
            compiler,
            config,
            tokens: Default::default(),
            triggers: Default::default(),
        })
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Mastermind", description = "Infrastructure workflows whose steps are sandboxed WebAssembly participants."),
    modifiers(&BearerAuth),
    components(schemas(error::ErrorBody, error::ErrorDetail))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The largest request body outside uploads (JSON fields, payloads).
const MAX_BODY_BYTES: usize = 1 << 20;

/// The API's router and its OpenAPI document.
pub fn router(state: Arc<AppState>) -> (Router, utoipa::openapi::OpenApi) {
    // base64 makes an upload a third larger than the component.
    let uploads = participants::routes().layer(DefaultBodyLimit::max(participants::MAX_COMPONENT_BYTES * 4 / 3 + 4096));
    let (router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(ops::routes())
        .merge(tenants::routes())
        .merge(definitions::routes())
        .merge(jobs::routes().layer(DefaultBodyLimit::max(MAX_BODY_BYTES)))
        .merge(events::routes())
        .merge(uploads)
        .merge(secrets::routes().layer(DefaultBodyLimit::max(MAX_BODY_BYTES)))
        .merge(triggers::routes().layer(DefaultBodyLimit::max(MAX_BODY_BYTES)))
        .merge(schedules::routes())
        .merge(session::routes())
        .merge(approvals::routes().layer(DefaultBodyLimit::max(MAX_BODY_BYTES)))
        .merge(locks::routes())
        .merge(plan::routes())
        .merge(webhooks::routes().layer(DefaultBodyLimit::max(MAX_BODY_BYTES)))
        .split_for_parts();
    let document = openapi.clone();
    let router = router
        .route("/openapi.json", axum::routing::get(move || async move { axum::Json(document) }))
        .merge(console::routes())
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .method_not_allowed_fallback(|| async {
            let mut response =
                axum::response::IntoResponse::into_response(ApiError::BadRequest("method not allowed here".into()));
            *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            response
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state);
    (router, openapi)
}

/// RFC 3339 text of a time in milliseconds since the epoch.
pub(crate) fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Whether any step of `definition` calls the participant `name`.
pub(crate) fn uses_participant(definition: &Definition, registry: &Registry, name: &str) -> bool {
    fn walk(node: &Node, registry: &Registry, name: &str) -> bool {
        if let Ok((participant, _)) = registry.resolve_step(&node.name, node)
            && participant == name
        {
            return true;
        }
        node.children.iter().any(|c| walk(c, registry, name))
    }
    walk(&definition.root, registry, name)
}
