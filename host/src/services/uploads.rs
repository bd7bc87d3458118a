//! The compile queue: uploads become participants off the request path.
//!
//! Cranelift takes tens of seconds and hundreds of megabytes for an 18 MB
//! componentize-py component. An upload is refused on the checks that take
//! milliseconds (`Sandbox::precheck`) in its request, stored `compiling`,
//! and compiled here, at most `concurrency` at a time, so that neither the
//! request nor the server's memory waits on how many tenants upload at
//! once. Each ends `ready` (a new participant version, its compiled code
//! in the sandbox's cache, so the tenant's runtime loads it from there) or
//! `failed` with the same message a refused upload gave before.
//!
//! Guarantees: uploads left `compiling` by a stopped server are compiled
//! again when one starts ([`Compiler::resume`]); the name is checked (not a
//! built-in's, the one asked for) before the compiled code is cached, so a
//! refused upload leaves nothing behind.

use super::ServerTenancy;
use crate::sandbox::Sandbox;
use crate::store::{Store, StoreError, now_ms};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// How long a failed upload stays listed with its error.
pub const FAILED_KEPT_MS: i64 = 24 * 3600 * 1000;

/// Compiles stored uploads, a bounded number at a time.
pub struct Compiler {
    store: Store,
    sandbox: Arc<Sandbox>,
    tenancy: Arc<ServerTenancy>,
    permits: Semaphore,
}

impl Compiler {
    /// A queue compiling at most `concurrency` (at least 1) uploads at once.
    pub fn new(store: Store, sandbox: Arc<Sandbox>, tenancy: Arc<ServerTenancy>, concurrency: usize) -> Arc<Self> {
        Arc::new(Compiler { store, sandbox, tenancy, permits: Semaphore::new(concurrency.max(1)) })
    }

    /// The sandbox uploads are compiled into.
    pub fn sandbox(&self) -> &Arc<Sandbox> {
        &self.sandbox
    }

    /// Queues every upload left `compiling` (by this server before it
    /// stopped, or by another that stopped); returns how many.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn resume(self: &Arc<Self>) -> Result<usize, StoreError> {
        let ids = self.store.catalogue().compiling_uploads().await?;
        for id in &ids {
            self.submit(id.clone());
        }
        Ok(ids.len())
    }

    /// Queues a stored upload; it compiles when a slot is free.
    pub fn submit(self: &Arc<Self>, id: String) {
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.compile(&id).await {
                // Left `compiling`: the next start resumes it.
                tracing::error!(upload = %id, error = %e, "could not record a compiled upload");
            }
        });
    }

    async fn compile(&self, id: &str) -> Result<(), StoreError> {
        let Ok(_permit) = self.permits.acquire().await else { return Ok(()) };
        let catalogue = self.store.catalogue();
        // Read once a slot is free: at most `concurrency` uploads' bytes
        // are in memory, however many wait.
        let Some((upload, wasm)) = catalogue.compiling_upload(id).await? else { return Ok(()) };
        let started = std::time::Instant::now();
        let loaded = self
            .sandbox
            .load_checked(&wasm, |d| {
                if self.tenancy.is_builtin(&d.name) {
                    return Err(format!("'{}' is a built-in participant: give your component another name", d.name));
                }
                match &upload.name {
                    Some(asked) if *asked != d.name => Err(format!(
                        "the component describes itself as '{}', not '{asked}': upload it under its own name",
                        d.name
                    )),
                    _ => Ok(()),
                }
            })
            .await;
        drop(wasm);
        let now = now_ms();
        let outcome = match loaded {
            Ok(Ok(participant)) => {
                let d = participant.description();
                let description = serde_json::to_value(d).unwrap_or_default();
                match catalogue.finish_upload(id, &d.name, &description, now).await? {
                    Some(version) => Ok(format!("{}@{version}", d.name)),
                    None => return Ok(()),
                }
            }
            Ok(Err(refused)) => Err(refused),
            Err(e) => Err(format!("component refused: {e}")),
        };
        if let Err(error) = &outcome {
            catalogue.fail_upload(&upload.tenant, id, error, now, now - FAILED_KEPT_MS).await?;
        }
        self.tenancy.invalidate(&upload.tenant);
        let seconds = started.elapsed().as_secs_f64();
        match outcome {
            Ok(participant) => tracing::info!(upload = %id, %participant, seconds, "upload compiled"),
            Err(error) => tracing::info!(upload = %id, %error, seconds, "upload refused"),
        }
        Ok(())
    }
}
