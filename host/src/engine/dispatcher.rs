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
//!   claimed (or stored by a batch) until its result is taken into a
//!   committer's group, or its task ends without one or is aborted: the
//!   claim loop never takes more of a tenant's calls than it may run, and
//!   a call that ends at once still holds its place while its result waits
//!   to be stored ([`Claimed`] travels with the result).
//!
//! - On a shared database a process starts (leases to itself) only its
//!   share of a tenant's calls: the tenant's `max_concurrent_calls` divided
//!   between the live processes ([`Share`]), so the limit holds across the
//!   cluster. A call it may not start now is left unleased, for whichever
//!   process has room ([`Dispatcher::reserve`]). Because results waiting
//!   for the committers count, a process whose committers lag behind its
//!   calls leaves the tenant's next calls to the others: work spreads even
//!   when every call ends at once.
//!
//! A call leased to another process (PostgreSQL) cannot be aborted from
//! here: its dispatch row is deleted with the batch that withdrew it, and
//! its result is discarded when it ends (see `WorkTx::finish_dispatch`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
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
    /// The process's call slots in all (what `slots` started with).
    capacity: usize,
    tenants: Mutex<HashMap<String, TenantSlots>>,
    /// Calls were left unleased (or released) for want of room here: the
    /// claim loop is woken ([`Dispatcher::freed`]) when a call ends.
    backlog: AtomicBool,
    freed: Notify,
}

/// This process's place among the live processes sharing the database:
/// what part of a tenant's call limit it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Share {
    /// Processes heartbeating (this one included; at least 1).
    pub live: usize,
    /// This process's position among them, by worker id (0-based).
    pub rank: usize,
}

impl Share {
    /// A process alone with its database.
    pub const ALONE: Share = Share { live: 1, rank: 0 };

    /// The calls of a tenant limited to `limit` that this process may run
    /// at once: an even split, the remainder to the first processes by
    /// rank, so the shares add up to the limit exactly (and a process's
    /// share may be 0 when the limit is below the number of processes).
    pub fn of(self, limit: usize) -> usize {
        let live = self.live.max(1);
        limit / live + usize::from(self.rank < limit % live)
    }
}

/// Participant calls of one tenant in this process: how many are claimed
/// and how many may run at once. A tenant with as many calls claimed as it
/// may run gets no more claims until one ends, so a tenant flooding the
/// server with jobs cannot fill the process's call slots and starve others
/// (the claim query also takes every tenant's oldest calls first).
struct TenantSlots {
    claimed: usize,
    /// What its semaphore was sized to.
    limit: usize,
    /// This process's share of its calls, as last reserved with (unknown:
    /// `usize::MAX`).
    share: usize,
    semaphore: Arc<Semaphore>,
}

impl TenantSlots {
    fn new(limit: usize) -> Self {
        TenantSlots { claimed: 0, limit, share: usize::MAX, semaphore: Arc::new(Semaphore::new(limit)) }
    }
}

/// The slots a running call holds, released when dropped.
pub(crate) struct Permits {
    _tenant: OwnedSemaphorePermit,
    _process: OwnedSemaphorePermit,
}

impl Dispatcher {
    /// A dispatcher making at most `max_calls` calls at once.
    pub fn new(max_calls: usize) -> Self {
        let capacity = max_calls.clamp(1, Semaphore::MAX_PERMITS);
        Dispatcher {
            calls: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(capacity)),
            capacity,
            tenants: Mutex::new(HashMap::new()),
            backlog: AtomicBool::new(false),
            freed: Notify::new(),
        }
    }

    fn calls(&self) -> MutexGuard<'_, HashMap<i64, Entry>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn tenants(&self) -> MutexGuard<'_, HashMap<String, TenantSlots>> {
        self.tenants.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a call of `tenant` against its limit from now on (until the
    /// returned value, or the task it is spawned with, is dropped).
    pub fn claim(self: &Arc<Self>, tenant: &str) -> Claimed {
        Claimed::new(self.clone(), tenant)
    }

    /// Like [`Dispatcher::claim`], but only while `tenant` has fewer than
    /// `share` calls claimed here and the process has a slot for it
    /// (counting calls claimed and not yet started): None when the call
    /// should be left for another process (or for later).
    pub fn reserve(self: &Arc<Self>, tenant: &str, share: usize) -> Option<Claimed> {
        let room = {
            let mut map = self.tenants();
            let total: usize = map.values().map(|s| s.claimed).sum();
            let slots = map.entry(tenant.to_owned()).or_insert_with(|| TenantSlots::new(Semaphore::MAX_PERMITS));
            slots.share = share;
            // Counted under the lock that checked it: two reservations
            // never both take the last place.
            let room = slots.claimed < share && total < self.capacity;
            slots.claimed += usize::from(room);
            room
        };
        if room {
            Some(Claimed { dispatcher: self.clone(), tenant: tenant.to_owned() })
        } else {
            self.backlog.store(true, Ordering::Relaxed);
            None
        }
    }

    /// Calls this process may still claim (its slots less the calls
    /// claimed, running or waiting for a slot).
    pub fn room(&self) -> usize {
        let claimed: usize = self.tenants().values().map(|s| s.claimed).sum();
        self.capacity.saturating_sub(claimed)
    }

    /// Remembers whether calls may be waiting unleased for room here: a
    /// claim that took as many as it asked for says yes, one that took
    /// fewer says no.
    pub fn set_backlog(&self, waiting: bool) {
        self.backlog.store(waiting, Ordering::Relaxed);
    }

    /// Completes when a claimed call ends while calls wait for room.
    pub async fn freed(&self) {
        self.freed.notified().await
    }

    /// Runs `call(claimed)`, the participant call of dispatch `id`, in a
    /// task of its own, counted against its tenant by `claimed` as long as
    /// the call keeps it. Does nothing when that call is already in flight.
    pub fn spawn<F>(self: &Arc<Self>, id: i64, claimed: Claimed, call: impl FnOnce(Claimed) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        {
            let mut calls = self.calls();
            if calls.contains_key(&id) {
                return;
            }
            calls.insert(id, Entry::Starting { abort: false });
        }
        // Dropped with the task, however it ends (the claim too, unless
        // the call handed it on).
        let registered = Registered { dispatcher: self.clone(), id };
        let call = call(claimed);
        // Spawned without the lock held: a task spawned while the runtime
        // shuts down is dropped at once, here, and unregisters itself.
        let handle = tokio::spawn(async move {
            let _registered = registered;
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
        let slots = map.entry(tenant.to_owned()).or_insert_with(|| TenantSlots::new(limit));
        if slots.limit != limit {
            slots.limit = limit;
            slots.semaphore = Arc::new(Semaphore::new(limit));
        }
        slots.semaphore.clone()
    }

    /// Tenants with as many calls claimed as they may run here.
    pub fn saturated(&self) -> Vec<String> {
        self.tenants().iter().filter(|(_, s)| s.claimed >= s.limit.min(s.share)).map(|(t, _)| t.clone()).collect()
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
pub(crate) struct Claimed {
    dispatcher: Arc<Dispatcher>,
    tenant: String,
}

impl Claimed {
    fn new(dispatcher: Arc<Dispatcher>, tenant: &str) -> Self {
        {
            let mut map = dispatcher.tenants();
            // Its limit is unknown until its first call asks for a slot.
            let slots = map.entry(tenant.to_owned()).or_insert_with(|| TenantSlots::new(Semaphore::MAX_PERMITS));
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
        if self.dispatcher.backlog.load(Ordering::Relaxed) {
            self.dispatcher.freed.notify_one();
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
            d.spawn(id, d.claim("t"), |claimed| async move {
                let _claimed = claimed;
                tokio::time::sleep(Duration::from_secs(30)).await;
                let _ = tx.send(id);
            });
        }
        // A call that ends before its spawner registers its handle.
        d.spawn(3, d.claim("t"), |_| async {});
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
        d.spawn(1, d.claim("t"), |claimed| async move {
            let _claimed = claimed;
            std::future::pending::<()>().await
        });
        assert_eq!(d.saturated(), vec!["t".to_owned()]);
        assert!(tokio::time::timeout(Duration::from_millis(50), d.slots("t", 1)).await.is_err());
        drop(permits);
        d.abort(&[1]);
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(d.saturated().is_empty());
    }

    #[test]
    fn shares_add_up_to_the_limit() {
        for live in 1..=5 {
            for limit in 0..=20 {
                let shares: Vec<usize> = (0..live).map(|rank| Share { live, rank }.of(limit)).collect();
                assert_eq!(shares.iter().sum::<usize>(), limit, "{limit} over {live}: {shares:?}");
                assert!(shares.iter().max().unwrap() - shares.iter().min().unwrap() <= 1, "{shares:?}");
            }
        }
        assert_eq!(Share::ALONE.of(16), 16);
        assert_eq!(Share { live: 3, rank: 2 }.of(1), 0, "a limit below the processes leaves some none");
    }

    #[tokio::test]
    async fn reservations_stop_at_the_share_and_the_process_slots() {
        let d = Arc::new(Dispatcher::new(3));
        let a = [d.reserve("a", 2), d.reserve("a", 2), d.reserve("a", 2)];
        assert_eq!(a.iter().filter(|r| r.is_some()).count(), 2, "tenant a's share is 2");
        assert!(d.backlog.load(Ordering::Relaxed), "a call was left for later");
        let b = d.reserve("b", 5);
        assert!(b.is_some());
        assert!(d.reserve("b", 5).is_none(), "the process's 3 slots are claimed");
        assert_eq!(d.room(), 0);
        drop(a);
        assert_eq!(d.room(), 2);
        // The claim loop is woken when room frees while calls wait.
        assert!(tokio::time::timeout(Duration::from_millis(50), d.freed()).await.is_ok());
    }
}
