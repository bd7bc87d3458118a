//! The participant calls this process makes: the dispatcher, sole owner of
//! their bookkeeping (which calls are in flight, the process's call slots,
//! each tenant's claimed calls and slots).
//!
//! Guarantees:
//! - A call is known by its dispatch's row id, unique in the database.
//!   Expression ids repeat across jobs (a tree position and a 32-bit
//!   random suffix), so aborting one job's call never touches another's.
//! - A call is registered before its task can end and unregistered when
//!   its task ends or is dropped, however the two interleave: no entry
//!   outlives its task, and an abort that arrives while the task is being
//!   spawned still aborts it.
//! - An aborted call's task is dropped at its next await point (a guest
//!   yields at every epoch tick, 5 ms, and in every host call): its Wasm
//!   store, its network connections and its call slots go with it.
//! - A tenant's call counts against its limit from the moment it is
//!   claimed (or stored by a batch) until its task ends or is aborted, so
//!   the claim loop never takes more of a tenant's calls than it may run.
//!
//! A call leased to another process (PostgreSQL) cannot be aborted from
//! here: its dispatch row is deleted with the batch that withdrew it, and
//! its result is discarded when it ends (see `WorkTx::finish_dispatch`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::AbortHandle;

/// A call in the registry.
enum Entry {
    /// Registered, its task being spawned; `abort` says an abort arrived
    /// meanwhile (the spawner aborts the task once it has its handle).
    Starting {
        abort: bool,
    },
    Running(AbortHandle),
}

/// See the module documentation.
pub(crate) struct Dispatcher {
    calls: Mutex<HashMap<i64, Entry>>,
    /// This process's call slots, across tenants.
    slots: Arc<Semaphore>,
    tenants: Mutex<HashMap<String, TenantSlots>>,
}

/// Participant calls of one tenant in this process: how many are claimed
/// and how many may run at once. A tenant with as many calls claimed as it
/// may run gets no more claims until one ends, so a tenant flooding the
/// server with jobs cannot fill the process's call slots and starve others
/// (the claim query also takes every tenant's oldest calls first).
struct TenantSlots {
    claimed: usize,
    limit: usize,
    semaphore: Arc<Semaphore>,
}

/// The slots a running call holds, released when dropped.
pub(crate) struct Permits {
    _tenant: OwnedSemaphorePermit,
    _process: OwnedSemaphorePermit,
}

impl Dispatcher {
    /// A dispatcher making at most `max_calls` calls at once.
    pub fn new(max_calls: usize) -> Self {
        Dispatcher {
            calls: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(max_calls.clamp(1, Semaphore::MAX_PERMITS))),
            tenants: Mutex::new(HashMap::new()),
        }
    }

    fn calls(&self) -> MutexGuard<'_, HashMap<i64, Entry>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn tenants(&self) -> MutexGuard<'_, HashMap<String, TenantSlots>> {
        self.tenants.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `call`, the participant call of dispatch `id` of `tenant`, in a
    /// task of its own. Does nothing when that call is already in flight.
    pub fn spawn(self: &Arc<Self>, id: i64, tenant: &str, call: impl Future<Output = ()> + Send + 'static) {
        {
            let mut calls = self.calls();
            if calls.contains_key(&id) {
                return;
            }
            calls.insert(id, Entry::Starting { abort: false });
        }
        // Both dropped with the task, however it ends.
        let registered = Registered { dispatcher: self.clone(), id };
        let claimed = Claimed::new(self.clone(), tenant);
        // Spawned without the lock held: a task spawned while the runtime
        // shuts down is dropped at once, here, and unregisters itself.
        let handle = tokio::spawn(async move {
            let _registered = registered;
            let _claimed = claimed;
            call.await;
        });
        let abort = {
            let mut calls = self.calls();
            match calls.get_mut(&id) {
                Some(Entry::Starting { abort: true }) => {
                    calls.remove(&id);
                    true
                }
                Some(entry) => {
                    *entry = Entry::Running(handle.abort_handle());
                    false
                }
                // It ended already.
                None => false,
            }
        };
        if abort {
            handle.abort();
        }
    }

    /// Aborts the calls of these dispatches that are in flight here.
    pub fn abort(&self, ids: &[i64]) {
        let mut handles = Vec::new();
        {
            let mut calls = self.calls();
            for id in ids {
                match calls.get_mut(id) {
                    Some(Entry::Starting { abort }) => *abort = true,
                    Some(Entry::Running(_)) => {
                        if let Some(Entry::Running(handle)) = calls.remove(id) {
                            handles.push(handle);
                        }
                    }
                    None => {}
                }
            }
        }
        // Outside the lock: a dropped task unregisters itself.
        for handle in handles {
            handle.abort();
        }
    }

    /// Calls in flight (running or waiting for a slot).
    pub fn in_flight(&self) -> usize {
        self.calls().len()
    }

    /// Process call slots free now.
    pub fn free_slots(&self) -> usize {
        self.slots.available_permits()
    }

    /// Waits for one of `tenant`'s slots (at most `limit` of its calls run at
    /// once), then one of the process's: a tenant at its limit waits without
    /// holding a slot another tenant could use. None when closed.
    pub async fn slots(&self, tenant: &str, limit: usize) -> Option<Permits> {
        let semaphore = self.tenant_semaphore(tenant, limit);
        let tenant = semaphore.acquire_owned().await.ok()?;
        let process = self.slots.clone().acquire_owned().await.ok()?;
        Some(Permits { _tenant: tenant, _process: process })
    }

    /// The tenant's semaphore, sized to `limit` (a changed limit takes a
    /// new semaphore; calls holding the old one finish under it).
    fn tenant_semaphore(&self, tenant: &str, limit: usize) -> Arc<Semaphore> {
        let limit = limit.clamp(1, Semaphore::MAX_PERMITS);
        let mut map = self.tenants();
        let slots = map.entry(tenant.to_owned()).or_insert_with(|| TenantSlots {
            claimed: 0,
            limit,
            semaphore: Arc::new(Semaphore::new(limit)),
        });
        if slots.limit != limit {
            slots.limit = limit;
            slots.semaphore = Arc::new(Semaphore::new(limit));
        }
        slots.semaphore.clone()
    }

    /// Tenants with as many calls claimed as they may run.
    pub fn saturated(&self) -> Vec<String> {
        self.tenants().iter().filter(|(_, s)| s.claimed >= s.limit).map(|(t, _)| t.clone()).collect()
    }
}

/// A call's registration, removed when its task ends or is dropped.
struct Registered {
    dispatcher: Arc<Dispatcher>,
    id: i64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.dispatcher.calls().remove(&self.id);
    }
}

/// A claimed call, counted against its tenant while it lives.
struct Claimed {
    dispatcher: Arc<Dispatcher>,
    tenant: String,
}

impl Claimed {
    fn new(dispatcher: Arc<Dispatcher>, tenant: &str) -> Self {
        {
            let mut map = dispatcher.tenants();
            let slots = map.entry(tenant.to_owned()).or_insert_with(|| TenantSlots {
                claimed: 0,
                // Unknown until its first call asks for a slot.
                limit: usize::MAX,
                semaphore: Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
            });
            slots.claimed += 1;
        }
        Claimed { dispatcher, tenant: tenant.to_owned() }
    }
}

impl Drop for Claimed {
    fn drop(&mut self) {
        if let Some(slots) = self.dispatcher.tenants().get_mut(&self.tenant) {
            slots.claimed = slots.claimed.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_are_keyed_by_dispatch_and_leave_no_entry() {
        let d = Arc::new(Dispatcher::new(4));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for id in [1, 2] {
            let tx = tx.clone();
            d.spawn(id, "t", async move {
                tokio::time::sleep(Duration::from_secs(30)).await;
                let _ = tx.send(id);
            });
        }
        // A call that ends before its spawner registers its handle.
        d.spawn(3, "t", async {});
        assert_eq!(d.saturated(), Vec::<String>::new());
        d.abort(&[1]);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(d.in_flight(), 1, "call 2 runs on, 1 and 3 left nothing behind");
        d.abort(&[2, 99]);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(d.in_flight(), 0);
        assert!(rx.try_recv().is_err(), "aborted calls never finish");
        assert_eq!(d.tenants().get("t").map(|s| s.claimed), Some(0));
    }

    #[tokio::test]
    async fn a_tenant_at_its_limit_is_saturated() {
        let d = Arc::new(Dispatcher::new(4));
        let permits = d.slots("t", 1).await.unwrap();
        d.spawn(1, "t", std::future::pending());
        assert_eq!(d.saturated(), vec!["t".to_owned()]);
        assert!(tokio::time::timeout(Duration::from_millis(50), d.slots("t", 1)).await.is_err());
        drop(permits);
        d.abort(&[1]);
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(d.saturated().is_empty());
    }
}
