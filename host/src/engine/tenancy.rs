//! What the jobs of one tenant may use: its participants (with their
//! grants), its secrets and its limits.
//!
//! The engine asks a [`Tenancy`] for a tenant's [`TenantRuntime`] when it
//! validates a launch, processes a batch and makes a call; it never mixes
//! one tenant's participants or secrets into another's job. The CLI and the
//! tests use [`SingleTenant`] (one runtime for every tenant); the server's
//! implementation reads uploads, secrets and limits from the store
//! (`crate::services::tenancy`).

use super::registry::Registry;
use crate::capabilities::SecretStore;
use crate::sandbox::Limits;
use crate::store::StoreError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// One tenant's participants, secrets and limits.
pub struct TenantRuntime {
    /// Its participants, built-in and uploaded, with their grants.
    pub registry: Arc<Registry>,
    /// Its secrets, unsealed.
    pub secrets: Arc<dyn SecretStore>,
    /// The limits each of its calls runs under (a step's `timeout` may shorten
    /// the deadline).
    pub limits: Limits,
    /// Participant calls of this tenant in flight at once, in this process.
    pub max_concurrent_calls: usize,
    /// The webhooks its jobs' ends and pending approvals are posted to.
    pub webhooks: Vec<WebhookRoute>,
}

/// A tenant's webhook, as the engine routes events to it (the URL stays in
/// the catalogue; `services::notify` delivers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookRoute {
    /// Its name: what a definition's `notify:` names.
    pub name: String,
    /// The events it is told of (`job.completed`, `approval.pending`...).
    pub events: Vec<String>,
    /// Told of every job's events, not only those of jobs naming it.
    pub every_job: bool,
}

/// What [`Tenancy::runtime`] returns: the runtime, once the store is read.
pub type RuntimeFuture<'a> = Pin<Box<dyn Future<Output = Result<Arc<TenantRuntime>, StoreError>> + Send + 'a>>;

/// Resolves a tenant to what its jobs may use.
pub trait Tenancy: Send + Sync {
    /// `tenant`'s runtime; an error only when the store cannot be read.
    fn runtime<'a>(&'a self, tenant: &'a str) -> RuntimeFuture<'a>;
}

/// The same runtime for every tenant.
pub struct SingleTenant(pub Arc<TenantRuntime>);

impl Tenancy for SingleTenant {
    fn runtime<'a>(&'a self, _tenant: &'a str) -> RuntimeFuture<'a> {
        let runtime = self.0.clone();
        Box::pin(async move { Ok(runtime) })
    }
}
