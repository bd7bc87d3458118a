//! What every engine-running command sets up: the sandbox, the built-in
//! participants with their grants, secrets, the store and the engine.

use crate::builtin;
use crate::capabilities::{Grants, HostConfig, MemorySecrets};
use crate::engine::{Engine, EngineConfig, Registry};
use crate::sandbox::{Sandbox, SandboxConfig};
use crate::store::{Backend, Store};
use anyhow::Context as _;
use std::path::PathBuf;
use std::sync::Arc;

/// Where the CLI keeps its state (`$XDG_DATA_HOME/mastermind`).
fn data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("share")))
        .unwrap_or_else(|| PathBuf::from("."));
    let dir = base.join("mastermind");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Where `mastermind run` keeps its jobs unless told otherwise.
pub fn default_db_url() -> String {
    format!("sqlite:{}", data_dir().join("mastermind.db").display())
}

pub fn sandbox() -> anyhow::Result<Arc<Sandbox>> {
    let host = HostConfig {
        aws_endpoint_url: std::env::var("AWS_ENDPOINT_URL").ok(),
        // SSH host keys trusted on first use must outlive one CLI run.
        known_hosts_file: Some(data_dir().join("known_hosts.json")),
    };
    Ok(Arc::new(Sandbox::new(SandboxConfig { cache_dir: super::cache_dir(), host, ..SandboxConfig::default() })?))
}

/// The built-in participants with their default grants.
pub async fn builtin_registry(sandbox: &Sandbox) -> anyhow::Result<Registry> {
    let mut registry = Registry::new();
    for (name, bytes) in builtin::BUILTINS {
        let participant = sandbox.load(bytes).await.with_context(|| format!("loading built-in participant {name}"))?;
        registry.insert(participant, Grants::default(), Vec::new());
    }
    Ok(registry)
}

/// Secrets from `--secret NAME=VALUE` / `NAME=@FILE`.
pub fn secrets(specs: &[String]) -> anyhow::Result<MemorySecrets> {
    let mut secrets = MemorySecrets::new();
    for spec in specs {
        let (name, value) = super::parse_secret(spec)?;
        secrets.insert(name, value);
    }
    Ok(secrets)
}

pub struct Runtime {
    pub engine: Arc<Engine>,
}

pub async fn start(db: &str, secret_specs: &[String]) -> anyhow::Result<Runtime> {
    let sandbox = sandbox()?;
    let registry = Arc::new(builtin_registry(&sandbox).await?);
    let secrets = Arc::new(secrets(secret_specs)?);
    let store = Store::open(db).await.with_context(|| format!("opening the database {db}"))?;
    let exclusive = store.backend() == Backend::Sqlite;
    let engine = Engine::new(store, sandbox, registry, secrets, EngineConfig { exclusive, ..EngineConfig::default() });
    Ok(Runtime { engine })
}
