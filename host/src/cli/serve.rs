//! `mastermind serve` (HTTP API, workers and schedules in one process) and
//! `mastermind worker` (workers only), both on the server's tenancy: each
//! tenant's jobs run with its own uploads, secrets and limits.

use super::runtime;
use crate::api::{self, ApiConfig, AppState, ServerTenancy};
use crate::capabilities::{SecretStore, Vault};
use crate::engine::{Engine, EngineConfig, TenantRuntime};
use crate::sandbox::Limits;
use crate::store::{Backend, Store};
use anyhow::{Context as _, bail};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Where to listen.
    #[arg(long, env = "MASTERMIND_LISTEN", default_value_t = SocketAddr::from(([127, 0, 0, 1], api::DEFAULT_PORT)))]
    listen: SocketAddr,
    /// sqlite:PATH or postgres://...; an SQLite file in the data directory when absent.
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
    #[command(flatten)]
    common: ServerArgs,
}

#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// The database the jobs are in: sqlite:PATH or postgres://...
    #[arg(long, env = "MASTERMIND_DB")]
    db: String,
    #[command(flatten)]
    common: ServerArgs,
}

/// What `serve` and `worker` share.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// The file holding the key that seals secrets (32 bytes, base64). The
    /// MASTERMIND_SECRET_KEY variable gives the key itself. With SQLite and
    /// neither, a key is generated beside the database on first start.
    #[arg(long, env = "MASTERMIND_SECRET_KEY_FILE")]
    secret_key_file: Option<PathBuf>,
    /// Let tenants grant their uploads loopback and private addresses
    /// (for a server on a private network; off by default).
    #[arg(long)]
    allow_private_grants: bool,
    /// Extra grants for a built-in participant, for every tenant.
    #[arg(long = "grant", value_name = "PARTICIPANT:SPEC")]
    grants: Vec<String>,
    /// Secrets for jobs outside any API tenant (`mastermind run` jobs in
    /// the same database), as for `mastermind run`.
    #[arg(long = "secret", value_name = "NAME=VALUE")]
    secrets: Vec<String>,
    /// The CPU one tenant's participant code may use, in cores, all its
    /// calls together; half the machine's cores (at least 1) when absent.
    #[arg(long, env = "MASTERMIND_CPU_CORES_PER_TENANT")]
    cpu_cores_per_tenant: Option<f64>,
    /// Events kept per job (streams replay them); older ones are dropped.
    #[arg(long, env = "MASTERMIND_EVENTS_PER_JOB", default_value_t = EngineConfig::default().events_per_job)]
    events_per_job: usize,
}

struct Server {
    store: Store,
    engine: Arc<Engine>,
    sandbox: Arc<crate::sandbox::Sandbox>,
    tenancy: Arc<ServerTenancy>,
    vault: Arc<Vault>,
}

fn vault(db: &str, backend: Backend, key_file: Option<&Path>) -> anyhow::Result<Vault> {
    if let Ok(key) = std::env::var("MASTERMIND_SECRET_KEY") {
        return Vault::from_base64(&key).context("MASTERMIND_SECRET_KEY");
    }
    if let Some(path) = key_file {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading the secret key file {}", path.display()))?;
        return Vault::from_base64(&text).with_context(|| format!("the secret key in {}", path.display()));
    }
    if backend == Backend::Postgres {
        bail!(
            "several processes share a PostgreSQL database: give them one secret key (MASTERMIND_SECRET_KEY or --secret-key-file)"
        );
    }

    let db_path = db.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = PathBuf::from(format!("{}.key", db_path.split('?').next().unwrap_or(db_path)));
    Ok(Vault::from_file_or_create(&path)?)
}

/// What a process needs the secret key for: sealing (a server) or only
/// opening what is stored (a worker).
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyUse {
    Seal,
    Open,
}

async fn start(db: &str, args: &ServerArgs, key_use: KeyUse) -> anyhow::Result<Server> {
    let cores = args.cpu_cores_per_tenant.unwrap_or_else(crate::sandbox::default_cores_per_tenant);
    if !(cores.is_finite() && cores > 0.0) {
        bail!("--cpu-cores-per-tenant must be a positive number of cores, got {cores}");
    }
    let sandbox = runtime::sandbox(Some(cores))?;
    let builtins = runtime::builtins(&sandbox, &args.grants).await?;
    let store = Store::open(db).await.with_context(|| format!("opening the database {db}"))?;
    let vault = match vault(db, store.backend(), args.secret_key_file.as_deref()) {
        Ok(vault) => vault,
        // A worker on a database that holds no secrets yet (jobs started
        // with `mastermind run`) needs no key; one that holds some does.
        Err(e) if key_use == KeyUse::Open && !store.has_secrets().await? => {
            tracing::info!("no secret key ({e:#}); this worker runs no tenant's secrets");
            Vault::ephemeral()
        }
        Err(e) => return Err(e),
    };
    let vault = Arc::new(vault);
    let config = EngineConfig {
        exclusive: store.backend() == Backend::Sqlite,
        events_per_job: args.events_per_job,
        ..EngineConfig::default()
    };
    let local = TenantRuntime {
        registry: Arc::new(runtime::builtin_registry(&sandbox, &args.grants).await?),
        secrets: Arc::new(runtime::secrets(&args.secrets)?) as Arc<dyn SecretStore>,
        limits: Limits::default(),
        max_concurrent_calls: config.max_concurrent_calls,
    };
    let public_only = !args.allow_private_grants;
    let tenancy = Arc::new(ServerTenancy::new(
        store.clone(),
        sandbox.clone(),
        vault.clone(),
        builtins,
        public_only,
        Some(Arc::new(local)),
    ));
    let engine = Engine::with_tenancy(store.clone(), sandbox.clone(), tenancy.clone(), config);
    Ok(Server { store, engine, sandbox, tenancy, vault })
}

/// Cancelled on Ctrl-C or SIGTERM.
fn stop_on_signal() -> CancellationToken {
    let stop = CancellationToken::new();
    let signal = stop.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            let term = async move {
                match term.as_mut() {
                    Some(t) => {
                        t.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! { _ = ctrl_c => {}, _ = term => {} }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        signal.cancel();
    });
    stop
}

/// Makes sure there is an admin token: MASTERMIND_ADMIN_TOKEN's, or one
/// generated on the first start and printed once.
async fn bootstrap_admin(store: &Store) -> anyhow::Result<()> {
    if let Ok(token) = std::env::var("MASTERMIND_ADMIN_TOKEN")
        && !token.trim().is_empty()
    {
        store.set_admin_token(&api::hash_token(token.trim())).await?;
        return Ok(());
    }
    if !store.has_admin_token().await? {
        let token = api::new_token();
        store.set_admin_token(&api::hash_token(&token)).await?;
        println!("admin token (shown once, keep it): {token}");
    }
    Ok(())
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let db = args.db.clone().unwrap_or_else(runtime::default_db_url);
    let server = start(&db, &args.common, KeyUse::Seal).await?;
    bootstrap_admin(&server.store).await?;
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
    let config = ApiConfig {
        public_url: args.public_url.clone().unwrap_or_else(|| format!("http://{address}")),
        allow_private_grants: args.common.allow_private_grants,
        metrics,
    };
    let state = AppState::new(
        server.store.clone(),
        server.engine.clone(),
        server.sandbox,
        server.tenancy,
        server.vault,
        config,
    );
    let (router, _) = api::router(state.clone());
    let stop = stop_on_signal();
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
    let scheduler = api::spawn_scheduler(state, stop.clone());
    eprintln!("mastermind serve: listening on http://{address} (database {db})");
    let shutdown = stop.clone();
    axum::serve(listener, router).with_graceful_shutdown(async move { shutdown.cancelled().await }).await?;
    stop.cancel();
    scheduler.await.ok();
    workers.await.context("worker task")??;
    Ok(ExitCode::SUCCESS)
}

pub async fn worker(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let server = start(&args.db, &args.common, KeyUse::Open).await?;
    let stop = stop_on_signal();
    eprintln!("mastermind worker: processing jobs in {}", args.db);
    server.engine.run(stop).await?;
    Ok(ExitCode::SUCCESS)
}
