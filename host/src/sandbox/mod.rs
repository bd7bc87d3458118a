//! The sandbox: loads participant components and runs calls into them.
//!
//! Guarantees:
//! - A component is validated before it is accepted: it is a component (not
//!   a core module), under the size limit, imports only the participant
//!   world and WASI 0.2, and exports `describe` and `invoke` with the
//!   contract's types. Its description is read once, at load.
//! - Compiled code is cached on disk by content hash and engine
//!   compatibility, and only this host's own output is ever deserialized
//!   (see `cache`).
//! - Every call runs in a fresh store from the pooling allocator, with its
//!   own limits: memory, wall-clock deadline (epoch interruption plus a
//!   timer around host calls), wasm stack, output size and log volume. A
//!   call that hits one fails with [`ErrorKind::Limit`] naming it; the
//!   sandbox itself is unaffected and the next call starts clean.
//! - WASI offers clocks and random only; every other capability goes
//!   through [`crate::capabilities`] and its grant checks — `wasi:http`
//!   too, which is the `http` capability under another name.
//!
//! The contract's generated bindings (`bindings`) and their glue (`host`)
//! are the sandbox's: `host` converts each import's WIT values to the
//! capability's own types and back, so `capabilities` stays plain Rust
//! below this layer and never sees a wasmtime type.
//!
//! ```no_run
//! # async fn demo(wasm: &[u8]) -> anyhow::Result<()> {
//! use mastermind::sandbox::{Sandbox, SandboxConfig, CallRequest, CallEnv};
//! let sandbox = Sandbox::new(SandboxConfig::default())?;
//! let participant = sandbox.load(wasm).await?;
//! let request = CallRequest::new("echo", serde_json::json!({"message": "hi"}));
//! let outcome = sandbox.invoke(&participant, request, &CallEnv::default()).await?;
//! println!("{}", serde_json::Value::Object(outcome.updates));
//! # Ok(()) }
//! ```

pub mod bindings;
mod cache;
mod call;
mod cpu;
mod engine;
mod error;
mod host;
pub(crate) mod limits;
mod state;
mod validate;

pub use cache::{CacheBounds, digest};
pub use cpu::default_cores_per_tenant;
pub use engine::EngineConfig;
pub use error::{CallError, ErrorKind, Limit, LoadError};
pub use limits::Limits;

use crate::capabilities::{
    CallCaps, EventSink, Grants, HostConfig, HostServices, MemorySecrets, SecretStore, Stubs, clip,
};
use bindings::mastermind::participant::types as wit;
use bindings::{Participant as Bindings, ParticipantPre};
use cache::ArtifactCache;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use state::CallState;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

/// How the sandbox is sized and where it keeps compiled code.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Engine-wide sizing: instance pool, memory, stack.
    pub engine: EngineConfig,
    /// Where compiled components are cached; `None` compiles every load.
    pub cache_dir: Option<PathBuf>,
    /// How much the cache keeps (size and age).
    pub cache_bounds: CacheBounds,
    /// The CPU each tenant's guest code may use, in cores, all its calls
    /// together (see `cpu`); `None` leaves it to the runtime's scheduler.
    pub cpu_cores_per_tenant: Option<f64>,
    /// The largest component accepted, in bytes.
    pub max_component_bytes: usize,
    /// Settings of the capabilities (AWS endpoint, known-hosts file).
    pub host: HostConfig,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            engine: EngineConfig::default(),
            cache_dir: None,
            cache_bounds: CacheBounds::default(),
            cpu_cores_per_tenant: None,
            max_component_bytes: 32 << 20,
            host: HostConfig::default(),
        }
    }
}

/// What a participant says about itself (the WIT `description`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Description {
    /// The name steps use (`ec2_server` in `create_ec2_server`).
    pub name: String,
    /// The participant's own version, shown to operators.
    pub version: String,
    /// What it is for.
    pub doc: String,
    /// The action a bare step (`participant 'name'`) calls.
    pub default_action: Option<String>,
    /// Its actions; names are unique.
    pub actions: Vec<ActionSpec>,
}

/// One action a participant offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionSpec {
    /// The name steps call it by (`create`).
    pub name: String,
    /// What it does.
    pub doc: String,
    /// The params it takes.
    pub params: Vec<ParamSpec>,
}

/// One param of an action, which definition checks compare steps against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamSpec {
    /// The param's name, as a step's attribute.
    pub name: String,
    /// string, integer, number, boolean, array, object or any.
    pub kind: String,
    /// Whether a step must give it.
    pub required: bool,
    /// One line.
    pub doc: String,
}

impl Description {
    /// The action called `name`, if the participant has it.
    pub fn action(&self, name: &str) -> Option<&ActionSpec> {
        self.actions.iter().find(|a| a.name == name)
    }
}

/// A validated, compiled and pre-instantiated participant.
#[derive(Clone)]
pub struct Participant {
    digest: String,
    pre: ParticipantPre<CallState>,
    description: Arc<Description>,
}

impl Participant {
    /// The SHA-256 of the component's bytes.
    pub fn digest(&self) -> &str {
        &self.digest
    }
    /// What the component said about itself when it was loaded.
    pub fn description(&self) -> &Description {
        &self.description
    }
}

/// Where a call comes from (the WIT `context`).
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    /// The job making the call.
    pub job_id: String,
    /// The step's expression path in the definition (`0_2_1`).
    pub step_id: String,
    /// 1 on the first try, incremented on each retry of the same step.
    pub attempt: u32,
    /// Stable across retries of the step and restarts: for remote APIs that
    /// deduplicate requests.
    pub idempotency_key: String,
    /// The tenant whose job it is.
    pub tenant: String,
    /// Non-secret configuration the operator gave the participant.
    pub settings: Vec<(String, String)>,
}

/// One call: an action with its params, the job's fields and the context.
#[derive(Debug, Clone)]
pub struct CallRequest {
    /// The action to invoke; must be one the participant describes.
    pub action: String,
    /// The step's params (a JSON object, dollar notation resolved).
    pub params: Value,
    /// The job's fields (a JSON object).
    pub fields: Value,
    /// Where the call comes from.
    pub context: CallContext,
}

impl CallRequest {
    /// A first attempt at `action` with `params`, no fields and an empty context.
    pub fn new(action: &str, params: Value) -> Self {
        CallRequest {
            action: action.to_owned(),
            params,
            fields: Value::Object(Map::new()),
            context: CallContext { attempt: 1, ..CallContext::default() },
        }
    }
}

/// What a call may use and how far it may go.
#[derive(Clone)]
pub struct CallEnv {
    /// The capabilities the participant may use.
    pub grants: Arc<Grants>,
    /// The tenant's secrets, which grants may name.
    pub secrets: Arc<dyn SecretStore>,
    /// The limits the call runs under.
    pub limits: Limits,
    /// Where the call's log lines and progress go; `None` drops them.
    pub events: Option<Arc<dyn EventSink>>,
    /// A dry run's stubs: every capability call is answered from them (or
    /// synthetically) and nothing is sent. The host's own, when `None`.
    pub dry_run: Option<Arc<Stubs>>,
}

impl Default for CallEnv {
    /// Nothing granted, no secrets, default limits.
    fn default() -> Self {
        CallEnv {
            grants: Arc::new(Grants::default()),
            secrets: Arc::new(MemorySecrets::new()),
            limits: Limits::default(),
            events: None,
            dry_run: None,
        }
    }
}

/// A successful call.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Field updates: each key replaces that field (`null` removes it).
    pub updates: Map<String, Value>,
    /// Capability calls the host refused along the way.
    pub denials: Vec<String>,
    /// How long the call took, wall clock.
    pub elapsed: Duration,
}

/// Loads and runs participants. Cheap to share behind an `Arc`.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<CallState>,
    cache: Option<Arc<ArtifactCache>>,
    calls: call::Calls,
    config: SandboxConfig,
    _ticker: engine::EpochTicker,
}

const STDERR_CAPTURE: usize = 16 << 10;

impl Sandbox {
    /// A sandbox sized by `config`, with its epoch ticker thread started.
    ///
    /// # Errors
    /// When the engine cannot be built for `config`, the cache directory or
    /// known-hosts file cannot be opened, or the ticker thread not started.
    pub fn new(config: SandboxConfig) -> anyhow::Result<Self> {
        let engine = engine::build(&config.engine).map_err(|e| anyhow::anyhow!("wasmtime engine: {e}"))?;
        let mut linker: Linker<CallState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| anyhow::anyhow!("linking WASI: {e}"))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| anyhow::anyhow!("linking wasi:http: {e}"))?;
        Bindings::add_to_linker::<_, wasmtime::component::HasSelf<CallCaps>>(&mut linker, |s| &mut s.caps)
            .map_err(|e| anyhow::anyhow!("linking the participant world: {e}"))?;
        let cache = match &config.cache_dir {
            Some(dir) => Some(Arc::new(ArtifactCache::open(dir, &engine, config.cache_bounds)?)),
            None => None,
        };
        let calls = call::Calls {
            engine: engine.clone(),
            services: Arc::new(HostServices::new(&config.host)?),
            cpu: config.cpu_cores_per_tenant.and_then(cpu::CpuShares::new),
            max_memory_bytes: config.engine.max_memory_bytes,
        };
        let ticker = engine::EpochTicker::start(&engine)?;
        Ok(Sandbox { engine, linker, cache, calls, config, _ticker: ticker })
    }

    /// Validates, compiles (or fetches from the cache), links and describes
    /// a component.
    ///
    /// # Errors
    /// A [`LoadError`] naming why the bytes are not an acceptable participant:
    /// not a component, too large, foreign imports, the wrong world, or a
    /// failing or invalid `describe`.
    pub async fn load(&self, bytes: &[u8]) -> Result<Participant, LoadError> {
        self.load_checked(bytes, |_| Ok::<(), std::convert::Infallible>(())).await.map(|loaded| match loaded {
            Ok(participant) => participant,
        })
    }

    /// [`Sandbox::load`], with the caller's own check of the description
    /// (an upload's name) run before the compiled code is cached, so that a
    /// component the caller refuses leaves nothing behind either.
    ///
    /// # Errors
    /// As [`Sandbox::load`]; the caller's refusal is the inner `Err`.
    pub async fn load_checked<E>(
        &self,
        bytes: &[u8],
        check: impl FnOnce(&Description) -> Result<(), E>,
    ) -> Result<Result<Participant, E>, LoadError> {
        self.precheck(bytes)?;
        let digest = cache::digest(bytes);
        let (component, cached) = self.compile(bytes, &digest).await?;
        validate::check_imports(&self.engine, &component)?;
        let instance_pre = self.linker.instantiate_pre(&component).map_err(|e| LoadError::Link(clip_load(&e)))?;
        let pre = ParticipantPre::new(instance_pre).map_err(|e| LoadError::WrongWorld(clip_load(&e)))?;
        let description = self.describe(&pre).await.map_err(LoadError::Describe)?;
        if let Err(refused) = check(&description) {
            return Ok(Err(refused));
        }
        // Only a component that loaded is kept: a refused upload must leave
        // nothing behind (its compiled code is many times its size).
        if !cached && let Some(cache) = &self.cache {
            let (cache, key) = (cache.clone(), digest.clone());
            let put = tokio::task::spawn_blocking(move || cache.put(&key, &component));
            match put.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "could not cache compiled component"),
                Err(e) => tracing::warn!(error = %e, "caching task failed"),
            }
        }
        Ok(Ok(Participant { digest, pre, description: Arc::new(description) }))
    }

    /// The checks of [`Sandbox::load`] that take milliseconds rather than
    /// a compile: the bytes are a component under the size limit, create
    /// no more core instances than one component may, import nothing
    /// outside the participant world and export `describe` and `invoke`
    /// by name (their types are checked when it loads). An upload is
    /// refused on these before it is queued for compiling. Returns the
    /// component's core instances, for a tenant's own limit.
    ///
    /// # Errors
    /// The [`LoadError`] [`Sandbox::load`] would give for these.
    pub fn precheck(&self, bytes: &[u8]) -> Result<u32, LoadError> {
        validate::check_bytes(bytes, self.config.max_component_bytes)?;
        let max = self.max_core_instances_per_component();
        let count = validate::count_core_instances(bytes)?;
        if count > max {
            return Err(LoadError::TooManyCoreInstances { count, max });
        }
        validate::check_declared_world(bytes)?;
        Ok(count)
    }

    /// The most core instances one component may create on this sandbox.
    pub fn max_core_instances_per_component(&self) -> u32 {
        self.config.engine.max_core_instances_per_component.max(1)
    }

    /// The compiled component, and whether it came from the cache.
    async fn compile(&self, bytes: &[u8], digest: &str) -> Result<(Component, bool), LoadError> {
        if let Some(cache) = &self.cache
            && let Some(component) = cache.get(&self.engine, digest)
        {
            return Ok((component, true));
        }
        let engine = self.engine.clone();
        let owned = bytes.to_vec();
        let component = tokio::task::spawn_blocking(move || Component::new(&engine, &owned))
            .await
            .map_err(|e| LoadError::Invalid(format!("compiler task failed: {e}")))?
            .map_err(|e| LoadError::Invalid(clip_load(&e)))?;
        Ok((component, false))
    }

    async fn describe(&self, pre: &ParticipantPre<CallState>) -> Result<Description, CallError> {
        let env =
            CallEnv { limits: Limits { deadline: Duration::from_secs(10), ..Limits::default() }, ..CallEnv::default() };
        let mut store = self.calls.store(&env, "");
        let raw = call::run_bounded(&mut store, &env.limits, async |store| {
            let instance = pre.instantiate_async(&mut *store).await?;
            instance.call_describe(&mut *store).await
        })
        .await?;
        description_from_wit(raw)
    }

    /// Runs one call. Denied capabilities, limits and crashes all come back
    /// as a [`CallError`]; the sandbox stays usable.
    ///
    /// # Errors
    /// A [`CallError`]: the participant's own, a denied capability, a limit
    /// hit, or a crash.
    pub async fn invoke(
        &self,
        participant: &Participant,
        request: CallRequest,
        env: &CallEnv,
    ) -> Result<Outcome, CallError> {
        // An error is stored (the job's error, its history) and shown like
        // output, so it is bounded like output: an 8 MiB message, or an 8
        // MiB URL echoed into one, is cut to the output limit.
        let output_bytes = env.limits.output_bytes;
        let result = self.calls.invoke_unbounded(participant, request, env).await;
        result.map_err(|mut e| {
            if e.message.len() > output_bytes {
                e.message = clip(&e.message, output_bytes.saturating_sub(64)).into_owned();
            }
            e
        })
    }
}

/// A load error's text, bounded: it names parts of the upload.
fn clip_load(e: &wasmtime::Error) -> String {
    clip(&format!("{e:#}"), 4096).into_owned()
}

/// The most text a description may hold (names, docs, every action and
/// param): it is stored with each upload and returned on every participant
/// list, so a 19.5 MB `describe` would be sent to every client each time.
pub const MAX_DESCRIPTION_BYTES: usize = 64 << 10;

fn description_size(d: &wit::Description) -> usize {
    let params = |a: &wit::ActionSpec| a.params.iter().map(|p| p.name.len() + p.doc.len() + 16).sum::<usize>();
    d.name.len()
        + d.version.len()
        + d.doc.len()
        + d.default_action.as_ref().map_or(0, String::len)
        + d.actions.iter().map(|a| a.name.len() + a.doc.len() + 16 + params(a)).sum::<usize>()
}

fn description_from_wit(d: wit::Description) -> Result<Description, CallError> {
    let bad = |m: String| CallError::new(ErrorKind::Crashed, format!("invalid description: {m}"));
    let size = description_size(&d);
    if size > MAX_DESCRIPTION_BYTES {
        return Err(bad(format!(
            "it is {} KiB, the limit is {} KiB (names, docs, actions and params together)",
            size.div_ceil(1024),
            MAX_DESCRIPTION_BYTES >> 10
        )));
    }
    let is_name = |s: &str| {
        !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    if !is_name(&d.name) {
        return Err(bad(format!(
            "participant name '{}' must be lower-case letters, digits and '_'",
            clip(&d.name, 64)
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for a in &d.actions {
        if !is_name(&a.name) {
            return Err(bad(format!("action name '{}' must be lower-case letters, digits and '_'", clip(&a.name, 64))));
        }
        if !seen.insert(a.name.as_str()) {
            return Err(bad(format!("action '{}' is declared twice", a.name)));
        }
    }
    if let Some(default) = &d.default_action
        && !seen.contains(default.as_str())
    {
        return Err(bad(format!("default action '{}' is not declared", clip(default, 64))));
    }
    Ok(Description {
        name: d.name,
        version: d.version,
        doc: d.doc,
        default_action: d.default_action,
        actions: d
            .actions
            .into_iter()
            .map(|a| ActionSpec {
                name: a.name,
                doc: a.doc,
                params: a
                    .params
                    .into_iter()
                    .map(|p| ParamSpec {
                        name: p.name,
                        kind: param_kind(p.kind).to_owned(),
                        required: p.required,
                        doc: p.doc,
                    })
                    .collect(),
            })
            .collect(),
    })
}

fn param_kind(kind: wit::ParamKind) -> &'static str {
    match kind {
        wit::ParamKind::String => "string",
        wit::ParamKind::Integer => "integer",
        wit::ParamKind::Number => "number",
        wit::ParamKind::Boolean => "boolean",
        wit::ParamKind::Array => "array",
        wit::ParamKind::Object => "object",
        wit::ParamKind::Any => "any",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn description(doc: String, actions: usize) -> wit::Description {
        wit::Description {
            name: "big".into(),
            version: "1".into(),
            doc,
            default_action: None,
            actions: (0..actions)
                .map(|i| wit::ActionSpec { name: format!("a{i}"), doc: "x".repeat(100), params: Vec::new() })
                .collect(),
        }
    }

    #[test]
    fn descriptions_are_bounded() {
        assert!(description_from_wit(description("fine".into(), 10)).is_ok());
        for too_big in [description("d".repeat(MAX_DESCRIPTION_BYTES + 1), 0), description(String::new(), 1000)] {
            let e = description_from_wit(too_big).unwrap_err();
            assert!(e.message.contains("the limit is 64 KiB"), "{}", e.message);
        }
    }
}
