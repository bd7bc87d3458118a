//! What this process counts for `/metrics`: step durations and participant
//! errors (from the engine's events) and jobs created here; the job counts
//! by state are read from the store at each scrape, so every process
//! reports the whole database.

use crate::engine::{Event, JobEvent};
use crate::model::JobState;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use tokio::sync::broadcast;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

/// The server's metrics. Job counts are read from the store at each scrape
/// (every process reports the whole database); step figures are this
/// process's own.
pub struct Metrics {
    registry: Registry,
    jobs: Family<StateLabel, Gauge>,
    steps: Histogram,
    errors: Family<KindLabel, Counter>,
    created: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// The metrics, registered and at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let jobs = Family::<StateLabel, Gauge>::default();
        let steps = Histogram::new(exponential_buckets(0.0005, 2.0, 20));
        let errors = Family::<KindLabel, Counter>::default();
        let created = Counter::default();
        registry.register("mastermind_jobs", "Jobs in the database by state", jobs.clone());
        registry.register("mastermind_step_duration_seconds", "Participant call durations", steps.clone());
        registry.register("mastermind_participant_errors", "Participant call errors by kind", errors.clone());
        registry.register("mastermind_jobs_created", "Jobs created by this process", created.clone());
        Metrics { registry, jobs, steps, errors, created }
    }

    /// Counts one job created by this process.
    pub fn job_created(&self) {
        self.created.inc();
    }

    /// The Prometheus text of these metrics, with the job counts given.
    pub fn render(&self, counts: &[(String, i64)]) -> String {
        for state in JobState::ALL.map(JobState::as_str) {
            let n = counts.iter().find(|(s, _)| s == state).map(|(_, n)| *n).unwrap_or(0);
            self.jobs.get_or_create(&StateLabel { state: state.into() }).set(n);
        }
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        out
    }

    /// Counts steps from the engine's events until the engine goes away.
    pub async fn follow(self: Arc<Self>, mut events: broadcast::Receiver<JobEvent>) {
        loop {
            match events.recv().await {
                Ok(JobEvent { event: Event::StepFinished { elapsed_ms, error, .. }, .. }) => {
                    self.steps.observe(elapsed_ms as f64 / 1000.0);
                    if let Some(e) = error {
                        self.errors.get_or_create(&KindLabel { kind: e.kind.to_string() }).inc();
                    }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}
