//! `mastermind serve`: the HTTP API, workers and schedules in one process,
//! on the server's tenancy: each tenant's jobs run with its own uploads,
//! secrets and limits.

use super::runtime;
use super::server::{KeyUse, ServerArgs, start, stop_on_signal};
use crate::api::{self, ApiConfig, AppState};
use crate::services::{Compiler, TenantLimits};
use crate::store::{AdminTokenChange, Store, TenantRecord, TokenRecord, now_ms};
use anyhow::Context as _;
use std::net::SocketAddr;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Where to listen.
    #[arg(long, env = "MASTERMIND_LISTEN", default_value_t = SocketAddr::from(([127, 0, 0, 1], api::DEFAULT_PORT)))]
    listen: SocketAddr,
    /// sqlite:PATH or postgres://...; an SQLite file in the data directory when absent.
    /// `?durability=normal|full`: what a commit survives (see the README).
    #[arg(long, env = "MASTERMIND_DB")]
    db: Option<String>,
    /// How clients reach this server, for the webhook URLs it hands out
    /// (http://LISTEN when absent).
    #[arg(long, env = "MASTERMIND_PUBLIC_URL")]
    public_url: Option<String>,
    /// A token a Prometheus scraper presents (Bearer) for /metrics; without
    /// it, /metrics takes the admin token. The metrics cover every tenant.
    #[arg(long, env = "MASTERMIND_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// Serve /metrics on this address instead (unauthenticated: bind it to
    /// a network only the scraper reaches); the API's /metrics is then 404.
    #[arg(long, env = "MASTERMIND_METRICS_LISTEN", conflicts_with = "metrics_token")]
    metrics_listen: Option<SocketAddr>,
    /// Uploads compiled at once. Compiling a Python component takes
    /// Cranelift tens of seconds and a few hundred MB; more wait their
    /// turn (their upload says `compiling`) rather than share the memory.
    #[arg(long, env = "MASTERMIND_COMPILE_CONCURRENCY", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    compile_concurrency: u16,
    #[command(flatten)]
    common: ServerArgs,
}

/// The shortest admin token accepted: a guessable one opens every tenant.
const MIN_ADMIN_TOKEN_CHARS: usize = 32;

/// Makes sure there is an admin token: MASTERMIND_ADMIN_TOKEN's, or one
/// generated on the first start and printed once. A token that replaces
/// the stored one is said so (the old one stops working); a short, revoked
/// or tenant's token stops the start. True on the first start of a server
/// given no configuration (it generated the admin token).
async fn bootstrap_admin(store: &Store) -> anyhow::Result<bool> {
    if let Ok(token) = std::env::var("MASTERMIND_ADMIN_TOKEN")
        && !token.trim().is_empty()
    {
        let token = token.trim();
        anyhow::ensure!(
            token.chars().count() >= MIN_ADMIN_TOKEN_CHARS,
            "MASTERMIND_ADMIN_TOKEN is {} characters long; use at least {MIN_ADMIN_TOKEN_CHARS} \
             (for example: export MASTERMIND_ADMIN_TOKEN=mm_$(openssl rand -hex 24))",
            token.chars().count()
        );
        match store.catalogue().set_admin_token(&api::hash_token(token)).await? {
            AdminTokenChange::Kept | AdminTokenChange::Stored => {}
            AdminTokenChange::Replaced => eprintln!(
                "MASTERMIND_ADMIN_TOKEN differs from the admin token stored in the database: \
                 the stored one is revoked, MASTERMIND_ADMIN_TOKEN's is the admin token from now on"
            ),
            AdminTokenChange::Revoked => anyhow::bail!(
                "MASTERMIND_ADMIN_TOKEN was this server's admin token and has been replaced since; \
                 a revoked token never works again: choose a new one"
            ),
            AdminTokenChange::TenantToken => {
                anyhow::bail!("MASTERMIND_ADMIN_TOKEN is a tenant's token: choose a token of its own")
            }
        }
        return Ok(false);
    }
    if store.catalogue().has_admin_token().await? {
        return Ok(false);
    }
    let token = api::new_token();
    store.catalogue().set_admin_token(&api::hash_token(&token)).await?;
    println!("admin token (shown once, keep it): {token}");
    Ok(true)
}

/// The tenant a server given no configuration starts with, so that its
/// first user signs in to the console without creating one.
const DEFAULT_TENANT: &str = "default";

/// On the first start of a server given no configuration (and no tenant
/// yet): creates the default tenant and prints, once, a tenant token and a
/// one-time sign-in link to the console.
async fn bootstrap_default_tenant(store: &Store, public_url: &str) -> anyhow::Result<()> {
    let catalogue = store.catalogue();
    if !catalogue.tenants().await?.is_empty() {
        return Ok(());
    }
    let tenant = TenantRecord {
        id: uuid::Uuid::now_v7().to_string(),
        name: DEFAULT_TENANT.into(),
        limits: serde_json::to_value(TenantLimits::default())?,
        revision: 1,
        created_at: now_ms(),
    };
    catalogue.create_tenant(&tenant).await?;
    let issue = async |name: &str, scope: &str| -> anyhow::Result<String> {
        let token = api::new_token();
        let record = TokenRecord {
            id: uuid::Uuid::now_v7().to_string(),
            tenant: Some(tenant.id.clone()),
            name: name.into(),
            scopes: vec![scope.into()],
            groups: Vec::new(),
            created_at: now_ms(),
        };
        catalogue.insert_token(&record, &api::hash_token(&token)).await?;
        Ok(token)
    };
    let token = issue("first-start", "admin").await?;
    let link = issue("first-start-signin", api::SIGNIN_SCOPE).await?;
    println!("tenant '{DEFAULT_TENANT}' token, admin scope (shown once, keep it): {token}");
    println!("sign in to the console (the link works once, for 24 hours): {}", api::signin_url(public_url, &link));
    Ok(())
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let db = args.db.clone().unwrap_or_else(runtime::default_db_url);
    let server = start(&db, &args.common, KeyUse::Seal).await?;
    let first_start = bootstrap_admin(&server.store).await?;
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr()?;
    let metrics_listener = match args.metrics_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listening for metrics on {addr}"))?,
        ),
        None => None,
    };
    let metrics = match (&metrics_listener, &args.metrics_token) {
        (Some(_), _) => api::MetricsAccess::Elsewhere,
        (None, Some(token)) if !token.trim().is_empty() => api::MetricsAccess::Token(api::hash_token(token.trim())),
        (None, _) => api::MetricsAccess::AdminOrToken,
    };
    let stop = stop_on_signal();
    let public_url = args.public_url.clone().unwrap_or_else(|| format!("http://{address}"));
    let config =
        ApiConfig { public_url: public_url.clone(), allow_private_grants: args.common.allow_private_grants, metrics };
    if first_start {
        bootstrap_default_tenant(&server.store, &config.public_url).await?;
    }
    let scheduler = server.spawn_services(stop.clone())?;
    let compiler = Compiler::new(
        server.store.clone(),
        server.sandbox.clone(),
        server.tenancy.clone(),
        args.compile_concurrency.into(),
    );
    let resumed = compiler.resume().await?;
    if resumed > 0 {
        eprintln!("mastermind serve: compiling {resumed} upload(s) left compiling when the server stopped");
    }
    let state = AppState::new(
        server.store.clone(),
        server.engine.clone(),
        server.tenancy,
        server.vault,
        server.metrics,
        compiler,
        config,
    );
    let (router, _) = api::router(state.clone());
    let workers = {
        let engine = server.engine.clone();
        let stop = stop.clone();
        tokio::spawn(async move { engine.run(stop).await })
    };
    if let Some(listener) = metrics_listener {
        let (router, shutdown) = (api::metrics_router(state.clone()), stop.clone());
        eprintln!("mastermind serve: metrics on http://{}/metrics", listener.local_addr()?);
        tokio::spawn(async move {
            let served =
                axum::serve(listener, router).with_graceful_shutdown(async move { shutdown.cancelled().await });
            if let Err(e) = served.await {
                tracing::error!(error = %e, "the metrics listener failed");
            }
        });
    }
    eprintln!("mastermind serve: listening on http://{address} (database {})", server.database);
    eprintln!("mastermind serve: the console is at {}/", public_url.trim_end_matches('/'));
    let shutdown = stop.clone();
    axum::serve(listener, router).with_graceful_shutdown(async move { shutdown.cancelled().await }).await?;
    stop.cancel();
    scheduler.await.ok();
    workers.await.context("worker task")??;
    Ok(ExitCode::SUCCESS)
}
