//! The loop that fires due schedules. Every process that runs jobs runs it
//! (`serve` and `worker` alike), each checking twice a second.
//!
//! Guarantees: exactly one job per tick, whatever the number of processes:
//! the job of a tick has an id derived from the schedule and the tick
//! (creating it twice does nothing), and the tick advances by
//! compare-and-set (see `store::schedules`). A tick missed while no process
//! ran fires once when one starts; the ones in between are skipped.
//!
//! ```no_run
//! # async fn demo(store: mastermind::store::Store, engine: std::sync::Arc<mastermind::engine::Engine>) {
//! use mastermind::services::{Metrics, Scheduler};
//! let stop = tokio_util::sync::CancellationToken::new();
//! let scheduler = Scheduler::new(store, engine, std::sync::Arc::new(Metrics::new()));
//! tokio::spawn(scheduler.run(stop.clone()));
//! # }
//! ```

use super::launch::{Launch, launch_stored};
use super::metrics::Metrics;
use crate::engine::Engine;
use crate::model::Fields;
use crate::store::{Store, StoreError, now_ms};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often due schedules are looked for.
const TICK: Duration = Duration::from_millis(500);
/// Schedules fired per look at most.
const PER_LOOK: i64 = 100;

/// The first tick of `cron` in `time_zone` strictly after `after_ms`.
///
/// # Errors
/// The cron line or the time zone, described.
pub fn next_tick(cron: &str, time_zone: &str, after_ms: i64) -> Result<i64, String> {
    crate::language::schedule::next_tick(&crate::language::schedule::cron(cron)?, time_zone, after_ms)
}

/// The id of the job a tick launches: the same in every process.
fn tick_job_id(schedule: &str, tick: i64) -> String {
    let digest = Sha256::digest(format!("{schedule}/{tick}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid().to_string()
}

/// Fires every tenant's due schedules.
pub struct Scheduler {
    store: Store,
    engine: Arc<Engine>,
    metrics: Arc<Metrics>,
}

impl Scheduler {
    /// A scheduler launching jobs on `engine`, counting them in `metrics`.
    pub fn new(store: Store, engine: Arc<Engine>, metrics: Arc<Metrics>) -> Self {
        Scheduler { store, engine, metrics }
    }

    /// Fires due schedules until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        while !stop.is_cancelled() {
            if let Err(e) = self.fire_due().await {
                tracing::warn!(error = %e, "firing schedules failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = stop.cancelled() => {}
            }
        }
    }

    async fn fire_due(&self) -> Result<(), StoreError> {
        let now = now_ms();
        for s in self.store.catalogue().due_schedules(now, PER_LOOK).await? {
            let job_id = tick_job_id(&s.id, s.next_at);
            let fields = match &s.fields {
                Value::Object(m) => m.clone(),
                _ => Fields::new(),
            };
            let launch = Launch {
                tenant: s.tenant.clone(),
                definition: s.definition.clone(),
                version: None,
                fields,
                start: true,
                id: Some(job_id),
                dry_run: None,
            };
            let launched = match launch_stored(&self.store, &self.engine, launch).await {
                Ok(id) => Some(id),
                Err(e) => {
                    tracing::warn!(schedule = %s.id, error = %e, "a scheduled launch failed");
                    None
                }
            };
            let next = next_tick(&s.cron, &s.time_zone, now.max(s.next_at)).unwrap_or(i64::MAX);
            if self.store.catalogue().advance_schedule(&s.id, s.next_at, next, launched.as_deref()).await?
                && launched.is_some()
            {
                self.metrics.job_created();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_follow_the_time_zone() {
        // 2026-01-15T00:00:00Z; 09:00 in Paris is 08:00 UTC in winter.
        let start = 1_768_435_200_000;
        let next = next_tick("0 9 * * *", "Europe/Paris", start).unwrap();
        assert_eq!(next, start + 8 * 3600 * 1000);
        assert_eq!(next_tick("0 9 * * *", "UTC", start).unwrap(), start + 9 * 3600 * 1000);
        assert!(next_tick("0 9 * *", "UTC", start).is_err());
        assert!(next_tick("0 9 * * *", "Mars/Olympus", start).unwrap_err().contains("time zone"));
    }

    #[test]
    fn a_tick_has_one_job_id() {
        assert_eq!(tick_job_id("s1", 1000), tick_job_id("s1", 1000));
        assert_ne!(tick_job_id("s1", 1000), tick_job_id("s1", 2000));
    }
}
