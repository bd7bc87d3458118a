//! The server's [`Tenancy`]: each tenant's jobs run with the built-in
//! participants, that tenant's uploads (with the grants given at upload),
//! that tenant's secrets (unsealed in memory, never elsewhere) and that
//! tenant's limits.
//!
//! A tenant's runtime is built once and kept while its revision in the
//! store is unchanged (uploads, secrets and limits bump it); the revision is
//! checked at most once per `RECHECK` (a second), so a change made through another
//! process is seen within that time.

use crate::capabilities::{Grants, MemorySecrets, Secret, SecretStore, Vault};
use crate::engine::{Registry, RuntimeFuture, Tenancy, TenantRuntime, WebhookRoute};
use crate::sandbox::{Limits, Participant, Sandbox};
use crate::store::{Store, StoreError};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use utoipa::ToSchema;

const RECHECK: Duration = Duration::from_secs(1);

/// A tenant's limits, as stored and as the API shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TenantLimits {
    /// Linear memory per participant call (all its instances together), bytes.
    pub memory_bytes: u64,
    /// Wall-clock deadline per participant call, milliseconds.
    pub deadline_ms: u64,
    /// Field updates a call may return, bytes.
    pub output_bytes: u64,
    /// Log and progress text per call, bytes.
    pub log_bytes: u64,
    /// Participant calls in flight at once, per process.
    pub max_concurrent_calls: u32,
    /// Jobs the tenant may launch per second through the API (its
    /// requests, triggers), per process; a burst of as many is allowed.
    /// Guest code is held to a CPU share, but the host's work for a job
    /// (launching it, committing its steps, storing its fields) is not:
    /// this bounds how much of it one tenant can ask for.
    pub launches_per_second: u32,
    /// The most core instances one of the tenant's uploads may create
    /// (what it takes of the instance pool on every call); at most the
    /// server's `--max-core-instances-per-component`, which holds when
    /// absent. An upload over it is refused, naming it.
    #[schema(minimum = 1)]
    pub max_core_instances_per_component: Option<u32>,
}

impl Default for TenantLimits {
    fn default() -> Self {
        let l = Limits::default();
        TenantLimits {
            memory_bytes: l.memory_bytes as u64,
            deadline_ms: l.deadline.as_millis() as u64,
            output_bytes: l.output_bytes as u64,
            log_bytes: l.log_bytes as u64,
            max_concurrent_calls: 16,
            launches_per_second: 50,
            max_core_instances_per_component: None,
        }
    }
}

impl TenantLimits {
    /// Checks the limits are within what this server allows; the server
    /// lets one component create `server_core_instances` core instances.
    ///
    /// # Errors
    /// A message naming the first limit outside the server's bounds.
    pub fn check(&self, server_core_instances: u32) -> Result<(), String> {
        if let Some(n) = self.max_core_instances_per_component
            && !(1..=server_core_instances).contains(&n)
        {
            return Err(format!(
                "max_core_instances_per_component must be between 1 and {server_core_instances} \
                 (this server's --max-core-instances-per-component)"
            ));
        }
        let max = TenantLimits::ceiling();
        if self.memory_bytes < 1 << 20 || self.memory_bytes > max.memory_bytes {
            return Err(format!("memory_bytes must be between 1 MiB and {} bytes", max.memory_bytes));
        }
        if self.deadline_ms < 10 || self.deadline_ms > max.deadline_ms {
            return Err(format!("deadline_ms must be between 10 and {}", max.deadline_ms));
        }
        if self.output_bytes < 1024 || self.output_bytes > max.output_bytes {
            return Err(format!("output_bytes must be between 1024 and {}", max.output_bytes));
        }
        if self.log_bytes > max.log_bytes {
            return Err(format!("log_bytes must be at most {}", max.log_bytes));
        }
        if self.max_concurrent_calls < 1 || self.max_concurrent_calls > max.max_concurrent_calls {
            return Err(format!("max_concurrent_calls must be between 1 and {}", max.max_concurrent_calls));
        }
        if self.launches_per_second < 1 || self.launches_per_second > max.launches_per_second {
            return Err(format!("launches_per_second must be between 1 and {}", max.launches_per_second));
        }
        Ok(())
    }

    /// The most any tenant may be given (the sandbox's pool is sized for it).
    fn ceiling() -> TenantLimits {
        TenantLimits {
            memory_bytes: 1 << 30,
            deadline_ms: 24 * 3600 * 1000,
            output_bytes: 16 << 20,
            log_bytes: 16 << 20,
            max_concurrent_calls: 1024,
            launches_per_second: 10_000,
            max_core_instances_per_component: None,
        }
    }

    fn to_limits(&self) -> Limits {
        Limits {
            memory_bytes: self.memory_bytes as usize,
            deadline: Duration::from_millis(self.deadline_ms),
            output_bytes: self.output_bytes as usize,
            log_bytes: self.log_bytes as usize,
        }
    }
}

/// A built-in participant as every tenant gets it.
pub struct Builtin {
    /// The loaded participant.
    pub participant: Participant,
    /// What it may use, in every tenant.
    pub grants: Grants,
    /// Non-secret configuration passed to each of its calls.
    pub settings: Vec<(String, String)>,
}

struct Cached {
    revision: i64,
    checked: Instant,
    runtime: Arc<TenantRuntime>,
    /// The tenant's secret values, to redact from API output.
    secret_values: Arc<Vec<Secret>>,
    /// Its launches per second (`None`: not limited, a local tenant).
    launches: Option<(u32, Arc<DefaultDirectRateLimiter>)>,
}

/// The server's tenancy: each tenant's runtime built from the store and
/// cached by revision (see the module docs).
pub struct ServerTenancy {
    store: Store,
    sandbox: Arc<Sandbox>,
    vault: Arc<Vault>,
    builtins: Vec<Builtin>,
    cache: Mutex<HashMap<String, Cached>>,
    /// Hold uploads to public addresses when they connect (the server was
    /// not started with `--allow-private-grants`).
    public_only_uploads: bool,
    /// What jobs of a tenant unknown to the API run with (jobs started by
    /// `mastermind run` or a client of the library: the operator's own,
    /// with the operator's environment secrets).
    local: Option<Arc<TenantRuntime>>,
}

impl ServerTenancy {
    /// A tenancy over `store`. `public_only_uploads` holds uploaded
    /// participants to public addresses; `local` is what jobs of a tenant
    /// unknown to the store run with (`None`: the built-ins and default
    /// limits).
    pub fn new(
        store: Store,
        sandbox: Arc<Sandbox>,
        vault: Arc<Vault>,
        builtins: Vec<Builtin>,
        public_only_uploads: bool,
        local: Option<Arc<TenantRuntime>>,
    ) -> Self {
        ServerTenancy { store, sandbox, vault, builtins, cache: Mutex::new(HashMap::new()), public_only_uploads, local }
    }

    /// The built-in participants every tenant has.
    pub fn builtins(&self) -> &[Builtin] {
        &self.builtins
    }

    /// Whether `name` is a built-in participant's (an upload may not take it).
    pub fn is_builtin(&self, name: &str) -> bool {
        self.builtins.iter().any(|b| b.participant.description().name == name)
    }

    /// The tenant's secret values (for redaction of API output).
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn secret_values(&self, tenant: &str) -> Result<Arc<Vec<Secret>>, StoreError> {
        self.load(tenant).await?;
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        Ok(cache.get(tenant).map(|c| c.secret_values.clone()).unwrap_or_default())
    }

    /// Takes one of the tenant's launches per second, or says it has none
    /// left: the error names the limit.
    ///
    /// # Errors
    /// The outer error when the store cannot be read.
    pub async fn admit_launch(&self, tenant: &str) -> Result<Result<(), String>, StoreError> {
        self.load(tenant).await?;
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        Ok(match cache.get(tenant).and_then(|c| c.launches.as_ref()) {
            Some((per_second, limiter)) if limiter.check().is_err() => {
                Err(format!("tenant '{tenant}' may launch {per_second} jobs per second (launches_per_second)"))
            }
            _ => Ok(()),
        })
    }

    /// Forgets a tenant's runtime (this process changed it).
    pub fn invalidate(&self, tenant: &str) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).remove(tenant);
    }

    async fn load(&self, tenant: &str) -> Result<Arc<TenantRuntime>, StoreError> {
        let known = {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache.get(tenant).map(|c| (c.revision, c.checked, c.runtime.clone()))
        };
        if let Some((_, checked, runtime)) = &known
            && checked.elapsed() < RECHECK
        {
            return Ok(runtime.clone());
        }
        let Some(revision) = self.store.catalogue().tenant_revision(tenant).await? else {
            if let Some(local) = &self.local {
                return Ok(local.clone());
            }
            return self.build_cached(tenant, 0).await;
        };
        if let Some((known_revision, _, runtime)) = known
            && known_revision == revision
        {
            if let Some(c) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get_mut(tenant) {
                c.checked = Instant::now();
            }
            return Ok(runtime);
        }
        self.build_cached(tenant, revision).await
    }

    async fn build_cached(&self, tenant: &str, revision: i64) -> Result<Arc<TenantRuntime>, StoreError> {
        let (runtime, secret_values, limits) = self.build(tenant).await?;
        let runtime = Arc::new(runtime);
        let per_second = limits.launches_per_second.max(1);
        let quota = Quota::per_second(NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN));
        let launches = Some((per_second, Arc::new(RateLimiter::direct(quota))));
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(
            tenant.to_owned(),
            Cached {
                revision,
                checked: Instant::now(),
                runtime: runtime.clone(),
                secret_values: Arc::new(secret_values),
                launches,
            },
        );
        Ok(runtime)
    }

    async fn build(&self, tenant: &str) -> Result<(TenantRuntime, Vec<Secret>, TenantLimits), StoreError> {
        let mut registry = Registry::new();
        for b in &self.builtins {
            registry.insert(b.participant.clone(), b.grants.clone(), b.settings.clone());
        }
        for (record, wasm) in self.store.catalogue().participant_components(tenant).await? {
            // Validated at upload; a component that no longer loads (a
            // changed host) is left out and its steps fail as unknown.
            match self.sandbox.load(&wasm).await {
                Ok(participant) => {
                    let mut grants = Grants::parse(&record.grants).unwrap_or_default();
                    grants.public_only = self.public_only_uploads;
                    registry.insert(participant, grants, Vec::new());
                }
                Err(e) => {
                    tracing::error!(tenant, participant = %record.name, error = %e, "uploaded participant does not load")
                }
            }
        }
        // Failed uploads since the end of time: those still compiling.
        for upload in self.store.catalogue().unfinished_uploads(tenant, i64::MAX).await? {
            registry.note_compiling(upload.name);
        }
        let mut secrets = MemorySecrets::new();
        let mut values = Vec::new();
        for (name, sealed) in self.store.catalogue().sealed_secrets(tenant).await? {
            match self.vault.open(tenant, &name, &sealed) {
                Ok(value) => {
                    values.push(Secret::new(value.clone()));
                    secrets.insert(name, value);
                }
                Err(e) => tracing::error!(tenant, secret = %name, error = %e, "secret does not open"),
            }
        }
        let limits = match self.store.catalogue().tenant(tenant).await? {
            Some(t) => serde_json::from_value::<TenantLimits>(t.limits).unwrap_or_default(),
            None => TenantLimits::default(),
        };
        let webhooks = self.store.catalogue().webhooks(tenant).await?;
        let runtime = TenantRuntime {
            registry: Arc::new(registry),
            secrets: Arc::new(secrets) as Arc<dyn SecretStore>,
            limits: limits.to_limits(),
            max_concurrent_calls: limits.max_concurrent_calls as usize,
            webhooks: webhooks
                .into_iter()
                .map(|w| WebhookRoute { name: w.name, events: w.events, every_job: w.every_job })
                .collect(),
        };
        Ok((runtime, values, limits))
    }
}

impl Tenancy for ServerTenancy {
    fn runtime<'a>(&'a self, tenant: &'a str) -> RuntimeFuture<'a> {
        Box::pin(self.load(tenant))
    }
}
