//! What every engine-running command sets up: the sandbox, the built-in
//! participants with their grants, secrets, the store and the engine.

use crate::builtin;
use crate::capabilities::{Grants, HostConfig, MemorySecrets, Stubs};
use crate::engine::{Engine, EngineConfig, Registry};
use crate::sandbox::{EngineConfig as SandboxEngine, Sandbox, SandboxConfig};
use crate::services::Builtin;
use crate::store::{Backend, Store};
use anyhow::Context as _;
use std::path::PathBuf;
use std::sync::Arc;

/// Where the CLI keeps its state (`$XDG_DATA_HOME/mastermind`).
pub(crate) fn data_dir() -> PathBuf {
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

/// The sandbox; `cpu_cores_per_tenant` bounds each tenant's guest code
/// (a server's; `None` for the CLI's own jobs).
pub fn sandbox(cpu_cores_per_tenant: Option<f64>) -> anyhow::Result<Arc<Sandbox>> {
    sandbox_with(cpu_cores_per_tenant, SandboxEngine::default().max_core_instances_per_component, None)
}

/// [`sandbox`], with the most core instances one component may create (a
/// server's `--max-core-instances-per-component`) and, for a dry run
/// (`mastermind run --dry-run`), the stubs every capability call is
/// answered from.
pub fn sandbox_with(
    cpu_cores_per_tenant: Option<f64>,
    max_core_instances: u32,
    dry_run: Option<Arc<Stubs>>,
) -> anyhow::Result<Arc<Sandbox>> {
    let engine = SandboxEngine { max_core_instances_per_component: max_core_instances, ..SandboxEngine::default() };
    let host = HostConfig {
        aws_endpoint_url: std::env::var("AWS_ENDPOINT_URL").ok(),
        // SSH host keys trusted on first use must outlive one CLI run.
        known_hosts_file: Some(data_dir().join("known_hosts.json")),
        dry_run,
    };
    Ok(Arc::new(Sandbox::new(SandboxConfig {
        cache_dir: super::cache_dir(),
        host,
        cpu_cores_per_tenant,
        engine,
        ..SandboxConfig::default()
    })?))
}

/// The built-in participants, each with its default grants (see
/// docs/participants.md) plus `extra` grants given as `PARTICIPANT:SPEC`,
/// and its settings from the environment.
pub async fn builtins(sandbox: &Sandbox, extra: &[String]) -> anyhow::Result<Vec<Builtin>> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mut out = Vec::new();
    for (name, bytes) in builtin::BUILTINS {
        let participant = sandbox.load(bytes).await.with_context(|| format!("loading built-in participant {name}"))?;
        let (mut grants, settings) = defaults(&participant.description().name, &env)?;
        for spec in extra {
            let (target, grant) = spec.split_once(':').with_context(|| {
                format!("--grant '{spec}': expected PARTICIPANT:KIND=VALUE, e.g. http:http=api.example.com")
            })?;
            if target == participant.description().name {
                grants.add(grant)?;
            }
        }
        out.push(Builtin { participant, grants, settings });
    }
    for spec in extra {
        let target = spec.split_once(':').map(|(t, _)| t).unwrap_or(spec);
        if !out.iter().any(|b| b.participant.description().name == target) {
            anyhow::bail!("--grant '{spec}': no built-in participant '{target}'");
        }
    }
    Ok(out)
}

/// The built-in participants as one registry: each with its default
/// grants (see docs/participants.md) plus `extra` grants given as
/// `PARTICIPANT:SPEC`, and its settings from the environment.
///
/// # Errors
/// When a built-in does not load, a grant does not read, or `extra` names
/// no built-in.
pub async fn builtin_registry(sandbox: &Sandbox, extra: &[String]) -> anyhow::Result<Registry> {
    let mut registry = Registry::new();
    for b in builtins(sandbox, extra).await? {
        registry.insert(b.participant, b.grants, b.settings);
    }
    Ok(registry)
}

/// The built-ins and the author's own components (`--participant`: files,
/// or directories whose `*.wasm` files are taken), as one registry: what
/// `mastermind run` and `check` call. Grants (`PARTICIPANT:SPEC`) go to
/// the built-in or component named; a component gets nothing else, as an
/// upload gets nothing but its grants on a server.
///
/// # Errors
/// When a component does not load or is named like a built-in or another
/// component, a grant does not read, or one names no participant.
pub async fn local_registry(sandbox: &Sandbox, grants: &[String], own: &[PathBuf]) -> anyhow::Result<Registry> {
    let mut components = Vec::new();
    for path in component_files(own)? {
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let participant = sandbox.load(&bytes).await.with_context(|| format!("loading {}", path.display()))?;
        components.push((path, participant));
    }
    let names: Vec<String> = components.iter().map(|(_, p)| p.description().name.clone()).collect();
    let target = |spec: &str| spec.split_once(':').map(|(t, _)| t.to_owned());
    let (own_grants, builtin_grants): (Vec<&String>, Vec<&String>) =
        grants.iter().partition(|spec| target(spec).is_some_and(|t| names.contains(&t)));
    let builtin_grants: Vec<String> = builtin_grants.into_iter().cloned().collect();
    let mut registry = Registry::new();
    for b in builtins(sandbox, &builtin_grants).await? {
        registry.insert(b.participant, b.grants, b.settings);
    }
    for (i, (path, p)) in components.iter().enumerate() {
        let name = &p.description().name;
        let again = names[..i].contains(name);
        anyhow::ensure!(
            !again && registry.get(name).is_none(),
            "{}: a participant named '{name}' is {}",
            path.display(),
            if again { "given twice" } else { "built in" }
        );
    }
    for (_, participant) in components {
        let name = participant.description().name.clone();
        let mut granted = Grants::default();
        for spec in own_grants.iter().filter(|spec| target(spec).as_deref() == Some(&name)) {
            let (_, grant) = spec.split_once(':').unwrap_or_default();
            granted.add(grant).with_context(|| format!("--grant '{spec}'"))?;
        }
        registry.insert(participant, granted, Vec::new());
    }
    Ok(registry)
}

/// The `.wasm` files `paths` name: files as given, directories' `*.wasm`
/// in name order.
fn component_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("reading the directory {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "wasm") && p.is_file())
                .collect();
            anyhow::ensure!(!found.is_empty(), "{}: no .wasm file in this directory", path.display());
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

type Settings = Vec<(String, String)>;

/// The narrowest grants each built-in needs for its job, and the settings
/// it reads.
fn defaults(participant: &str, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<(Grants, Settings)> {
    let settings =
        |names: &[&str]| -> Settings { names.iter().filter_map(|n| env(n).map(|v| ((*n).to_owned(), v))).collect() };
    Ok(match participant {
        "ec2_server" => (Grants::parse(&["ec2=*", "secret=aws"])?, settings(&["AWS_REGION"])),
        "campfire" => {
            let mut specs = vec!["secret=campfire_token".to_owned()];
            let url =
                env("CAMPFIRE_URL").or_else(|| env("CAMPFIRE_ACCOUNT").map(|a| format!("https://{a}.campfirenow.com")));
            if let Some(url) = url.as_deref().and_then(|u| url::Url::parse(u).ok())
                && let Some(host) = url.host_str()
            {
                let port = url.port_or_known_default().unwrap_or(443);
                specs.push(format!("http={host}:{port}"));
            }
            (Grants::parse(&specs)?, settings(&["CAMPFIRE_ACCOUNT", "CAMPFIRE_ROOM", "CAMPFIRE_URL", "CAMPFIRE_API"]))
        }
        "chef_node" | "chef_client" => {
            let mut specs = vec!["secret=chef_client_key".to_owned()];
            if let Some(url) = env("CHEF_SERVER_URL") {
                specs.push(format!("chef={url}"));
            }
            (Grants::parse(&specs)?, settings(&["CHEF_SERVER_URL", "CHEF_CLIENT_NAME"]))
        }
        "ssh" | "ssh_multi" => (Grants::parse(&["secret=ssh_key"])?, Vec::new()),
        "http" => (Grants::default(), settings(&["HTTP_IDEMPOTENCY_HEADER"])),
        _ => (Grants::default(), Vec::new()),
    })
}

/// Secrets from the environment (as the old Mastermind read them) and from
/// `--secret NAME=VALUE` / `NAME=@FILE`, which win.
pub fn secrets(specs: &[String]) -> anyhow::Result<MemorySecrets> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mut secrets = MemorySecrets::new();
    if let (Some(id), Some(key)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        let mut creds = serde_json::json!({ "access_key_id": id, "secret_access_key": key });
        if let Some(token) = env("AWS_SESSION_TOKEN") {
            creds["session_token"] = token.into();
        }
        secrets.insert("aws", creds.to_string());
    }
    for (var, name) in [("CAMPFIRE_TOKEN", "campfire_token"), ("CHEF_CLIENT_KEY", "chef_client_key")] {
        if let Some(v) = env(var) {
            secrets.insert(name, v);
        }
    }
    for spec in specs {
        let (name, value) = super::parse_secret(spec)?;
        secrets.insert(name, value);
    }
    Ok(secrets)
}

pub struct Runtime {
    pub engine: Arc<Engine>,
}

pub async fn start(
    db: &str,
    secret_specs: &[String],
    grants: &[String],
    own: &[PathBuf],
    dry_run: Option<Arc<Stubs>>,
) -> anyhow::Result<Runtime> {
    let sandbox = sandbox_with(None, SandboxEngine::default().max_core_instances_per_component, dry_run)?;
    let registry = Arc::new(local_registry(&sandbox, grants, own).await?);
    let secrets = Arc::new(secrets(secret_specs)?);
    let store =
        Store::open(db).await.with_context(|| format!("opening the database {}", crate::store::redacted_url(db)))?;
    let exclusive = store.backend() == Backend::Sqlite;
    let engine = Engine::new(store, sandbox, registry, secrets, EngineConfig { exclusive, ..EngineConfig::default() });
    Ok(Runtime { engine })
}
