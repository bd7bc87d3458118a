//! Each tenant's share of the CPU for guest code.
//!
//! Guest code yields to the async runtime at every epoch tick (5 ms), but a
//! yield only lets other tasks in turn: one tenant with 16 calls spinning
//! at once still held every core, and another tenant's 3-step jobs went
//! from a 22 ms p99 to 2 s (docs/benchmarks.md). With a share, every tick of
//! guest code is charged to its call's tenant, against a rate of `cores`
//! cores' worth of ticks per second (with 200 ms of burst); a call whose
//! tenant is past its share waits, without a thread, until the tenant is
//! back within it. Host calls (sleeping, waiting on the network) run no
//! guest code and cost nothing.
//!
//! governor (already the triggers' rate limiter) is the token bucket.

use super::engine::EPOCH_TICK;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

pub(crate) struct CpuShares {
    quota: Quota,
    tenants: Mutex<HashMap<String, Arc<DefaultDirectRateLimiter>>>,
}

impl CpuShares {
    /// `cores` per tenant; `None` when it is not a positive number.
    pub fn new(cores: f64) -> Option<Self> {
        if !(cores.is_finite() && cores > 0.0) {
            return None;
        }
        let per_second = (cores * 1000.0 / EPOCH_TICK.as_millis() as f64).round().clamp(1.0, u32::MAX as f64) as u32;
        let burst = (per_second / 5).max(1);
        let quota = Quota::per_second(NonZeroU32::new(per_second)?).allow_burst(NonZeroU32::new(burst)?);
        Some(CpuShares { quota, tenants: Mutex::default() })
    }

    /// The tenant's bucket, shared by all its calls.
    pub fn tenant(&self, tenant: &str) -> Arc<DefaultDirectRateLimiter> {
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        if tenants.len() > 1024 {
            // Forget tenants with no call in flight.
            tenants.retain(|_, l| Arc::strong_count(l) > 1);
        }
        tenants.entry(tenant.to_owned()).or_insert_with(|| Arc::new(RateLimiter::direct(self.quota))).clone()
    }
}

/// The default share on a server: half the machine's cores, at least one,
/// so one tenant can never take the cores the API and other tenants need.
pub fn default_cores_per_tenant() -> f64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores as f64 / 2.0).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_is_a_rate_of_ticks_with_a_short_burst() {
        assert!(CpuShares::new(0.0).is_none() && CpuShares::new(f64::NAN).is_none());
        let shares = CpuShares::new(1.0).unwrap();
        let a = shares.tenant("a");
        // One core is 200 ticks of 5 ms per second; 40 of them at once.
        let allowed = (0..1000).take_while(|_| a.check().is_ok()).count();
        assert_eq!(allowed, 40);
        assert!(shares.tenant("b").check().is_ok(), "another tenant has its own share");
        assert!(default_cores_per_tenant() >= 1.0);
    }
}
