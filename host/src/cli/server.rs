//! What `mastermind serve` and `mastermind worker` share: the server's
//! settings, opening its database and secret key, its tenancy, engine,
//! metrics and schedules. Nothing here serves HTTP.

use super::runtime;
use crate::capabilities::{SecretStore, Vault};
use crate::engine::{Engine, EngineConfig, TenantRuntime};
use crate::sandbox::Limits;
use crate::services::{Metrics, Notifier, Scheduler, ServerTenancy};
use crate::store::{Backend, Store};
use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

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
    pub(super) allow_private_grants: bool,
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
    /// The most core instances one component may create; an upload over it
    /// is refused, naming this limit. The default admits Python
    /// (componentize-py: 14) and JavaScript (componentize-js: 4) components.
    #[arg(long, env = "MASTERMIND_MAX_CORE_INSTANCES_PER_COMPONENT",
          default_value_t = crate::sandbox::EngineConfig::default().max_core_instances_per_component)]
    max_core_instances_per_component: u32,
    /// Events kept per job (streams replay them); older ones are dropped.
    #[arg(long, env = "MASTERMIND_EVENTS_PER_JOB", default_value_t = EngineConfig::default().events_per_job)]
    events_per_job: usize,
    /// How long a process that stopped heartbeating (killed, hung, cut off)
    /// keeps its jobs and calls before the others take them over: 1s to
    /// 30s. Every process of a database should use the same.
    #[arg(long, env = "MASTERMIND_TAKEOVER_AFTER", default_value = "10s", value_parser = takeover)]
    takeover_after: std::time::Duration,
}

fn takeover(text: &str) -> Result<std::time::Duration, String> {
    let after = crate::language::attributes::parse_duration(text).map_err(|e| e.to_string())?;
    let range = crate::engine::TAKEOVER_RANGE;
    if !range.contains(&after) {
        return Err(format!("{text}: between {:?} and {:?}", range.start(), range.end()));
    }
    Ok(after)
}

pub(super) struct Server {
    pub(super) store: Store,
    pub(super) engine: Arc<Engine>,
    pub(super) sandbox: Arc<crate::sandbox::Sandbox>,
    pub(super) tenancy: Arc<ServerTenancy>,
    pub(super) vault: Arc<Vault>,
    pub(super) metrics: Arc<Metrics>,
    /// Webhooks may reach private addresses (`--allow-private-grants`).
    allow_private: bool,
    /// The database's URL (no password) and durability, to print.
    pub(super) database: String,
}

impl Server {
    /// Fires due schedules and posts webhook notifications until `stop`
    /// (every process that runs jobs does).
    pub(super) fn spawn_services(&self, stop: CancellationToken) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        let scheduler = Scheduler::new(self.store.clone(), self.engine.clone(), self.metrics.clone());
        let worker = format!("notifier-{}", uuid::Uuid::now_v7());
        let notifier = Notifier::new(self.store.clone(), self.tenancy.clone(), worker, self.allow_private)?;
        Ok(tokio::spawn(async move {
            tokio::join!(scheduler.run(stop.clone()), notifier.run(stop));
        }))
    }
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
pub(super) enum KeyUse {
    Seal,
    Open,
}

pub(super) async fn start(db: &str, args: &ServerArgs, key_use: KeyUse) -> anyhow::Result<Server> {
    let cores = args.cpu_cores_per_tenant.unwrap_or_else(crate::sandbox::default_cores_per_tenant);
    if !(cores.is_finite() && cores > 0.0) {
        bail!("--cpu-cores-per-tenant must be a positive number of cores, got {cores}");
    }
    let sandbox = runtime::sandbox_with(Some(cores), args.max_core_instances_per_component, None)?;
    let builtins = runtime::builtins(&sandbox, &args.grants).await?;
    let shown = crate::store::redacted_url(db);
    let store = Store::open(db).await.with_context(|| format!("opening the database {shown}"))?;
    // What a commit survives, as the database itself says (README, "Durability").
    let durability = store.durability().await.context("reading the database's durability")?;
    let database = format!("{shown}, durability {}", durability.as_str());
    let vault = match vault(db, store.backend(), args.secret_key_file.as_deref()) {
        Ok(vault) => vault,
        // A worker on a database that holds no secrets yet (jobs started
        // with `mastermind run`) needs no key; one that holds some does.
        Err(e) if key_use == KeyUse::Open && !store.catalogue().has_secrets().await? => {
            tracing::info!("no secret key ({e:#}); this worker runs no tenant's secrets");
            Vault::ephemeral()
        }
        Err(e) => return Err(e),
    };
    let vault = Arc::new(vault);
    let config = EngineConfig {
        exclusive: store.backend() == Backend::Sqlite,
        events_per_job: args.events_per_job,
        takeover_after: args.takeover_after,
        ..EngineConfig::default()
    };
    let local = TenantRuntime {
        registry: Arc::new(runtime::builtin_registry(&sandbox, &args.grants).await?),
        secrets: Arc::new(runtime::secrets(&args.secrets)?) as Arc<dyn SecretStore>,
        limits: Limits::default(),
        max_concurrent_calls: config.max_concurrent_calls,
        webhooks: Vec::new(),
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
    let metrics = Arc::new(Metrics::new());
    tokio::spawn(metrics.clone().follow(engine.subscribe()));
    let allow_private = args.allow_private_grants;
    Ok(Server { store, engine, sandbox, tenancy, vault, metrics, allow_private, database })
}

/// Cancelled on Ctrl-C or SIGTERM.
pub(super) fn stop_on_signal() -> CancellationToken {
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
