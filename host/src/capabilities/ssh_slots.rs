//! How many SSH connections the host holds: per call, per tenant, per
//! process. One call once opened 19,000 connections at once, and 1,500
//! targets at the usual 1,024-descriptor limit broke the API's accept loop.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Targets one request may name. One call once opened 19,000 connections;
/// more hosts than this is a job for several steps (or `ssh_multi` batches).
pub const MAX_TARGETS_PER_CALL: usize = 256;
/// Connections one call holds at once, whatever `concurrency` asks.
pub const MAX_CONNECTIONS_PER_CALL: usize = 32;
/// Connections one tenant's calls hold at once in this process.
pub const MAX_CONNECTIONS_PER_TENANT: usize = 64;
/// Connections all calls hold at once in this process. Kept well under the
/// usual 1,024 descriptors, so the API's listener, the database and the
/// other capabilities always find one.
pub const MAX_CONNECTIONS_PER_PROCESS: usize = 256;

/// The process's SSH connection slots: one semaphore for the process and
/// one per tenant. A target waits for a slot of each (always tenant first,
/// then process, so waiters never deadlock) within the call's deadline.
pub(crate) struct ConnectionSlots {
    pub(super) process: Arc<Semaphore>,
    tenants: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Default for ConnectionSlots {
    fn default() -> Self {
        ConnectionSlots { process: Arc::new(Semaphore::new(MAX_CONNECTIONS_PER_PROCESS)), tenants: Mutex::default() }
    }
}

impl ConnectionSlots {
    pub(super) fn tenant(&self, tenant: &str) -> Arc<Semaphore> {
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        if tenants.len() > 1024 {
            // Forget tenants with no call holding their semaphore.
            tenants.retain(|_, s| Arc::strong_count(s) > 1);
        }
        tenants.entry(tenant.to_owned()).or_insert_with(|| Arc::new(Semaphore::new(MAX_CONNECTIONS_PER_TENANT))).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_tenant_cannot_take_another_tenants_slots_nor_the_whole_process() {
        let slots = ConnectionSlots::default();
        let a = slots.tenant("a");
        let held: Vec<_> = (0..MAX_CONNECTIONS_PER_TENANT).map(|_| a.clone().try_acquire_owned().unwrap()).collect();
        assert!(slots.tenant("a").try_acquire_owned().is_err(), "tenant a is at its limit");
        assert!(slots.tenant("b").try_acquire_owned().is_ok(), "tenant b is not");
        drop(held);
        assert!(slots.tenant("a").try_acquire_owned().is_ok());
        let process: Vec<_> =
            (0..MAX_CONNECTIONS_PER_PROCESS).map(|_| slots.process.clone().try_acquire_owned().unwrap()).collect();
        assert!(slots.process.clone().try_acquire_owned().is_err());
        drop(process);
    }
}
