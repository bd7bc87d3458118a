//! The durable workflow engine.
//!
//! A job is a tree of live expressions that exchange messages (apply,
//! reply, cancel...), as in Ruote. Guarantees:
//! - Every state change is journaled before the next step: a batch of
//!   messages and all its effects commit in one transaction (see
//!   [`crate::store`]); a participant call is journaled as a `dispatch`
//!   message before it is made, and its result in the same transaction that
//!   removes the dispatch.
//! - A process killed at any moment loses nothing: on restart, unprocessed
//!   messages are processed, timers fire when due, and a call that was in
//!   flight is made again with the same idempotency key; a completed step
//!   never runs again.
//! - Timers (`wait`, `timeout`, retry delays) are messages with a due time:
//!   nothing holds a thread while they wait, and they survive restarts.
//! - Participant calls run concurrently (concurrence branches, iterator
//!   items, different jobs), outside any job's lease. A call withdrawn by a
//!   batch (a cancel, a concurrence reaching its count, a timeout) is never
//!   started if it was journaled by that batch, and is aborted if it is in
//!   flight in this process (`dispatcher.rs`).
//! - Job control (start, pause, resume, cancel, retry) follows one table of
//!   transitions checked by the store as it changes the state
//!   (`lifecycle.rs`): a control that loses a race answers a conflict.
//! - A job's events are stored with the batch that produced them, numbered
//!   without gaps, and published after the commit, in order.
//!
//! ```no_run
//! # async fn demo(engine: std::sync::Arc<mastermind::engine::Engine>) -> anyhow::Result<()> {
//! let definition = mastermind::language::parse("deploy.mm", "echo_echo message: 'hi'")?;
//! let job = engine.launch("local", &definition, Default::default(), None).await?;
//! let record = engine.wait_for(&job).await?;
//! # Ok(()) }
//! ```

mod backlog;
mod committer;
mod dispatcher;
mod expressions;
mod flow;
mod handlers;
mod lifecycle;
mod notices;
mod registry;
#[cfg(test)]
pub(crate) mod scripted;
mod tenancy;
mod validate;
mod worker;

pub use flow::FlowEvent;
pub use lifecycle::Control;

pub use notices::{EVENTS as NOTIFIED_EVENTS, notify_names};
pub use registry::{Registered, Registry, Resolver};
pub use tenancy::{RuntimeFuture, SingleTenant, Tenancy, TenantRuntime, WebhookRoute};
pub use validate::validate;

use crate::capabilities::{SecretStore, Stubs};
use crate::language::{Definition, ParseErrors};
use crate::model::{Decision, Fei, Fields, JobState, Message, StepError, Workitem};
use crate::sandbox::{Limits, Sandbox};
use crate::store::{Controlled, JobRecord, NewMessage, Store, StoreError, Transition, now_ms};
pub use expressions::approval::{ApprovalState, FORM_TYPES, has_type as form_value_has_type};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, broadcast};

/// Why the engine refused a launch or a control, or could not do it.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The definition does not check against the tenant's participants: every
    /// problem, each at its line.
    #[error("{0}")]
    Invalid(ParseErrors),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The tenant has no job with this id.
    #[error("no job {0}")]
    NotFound(String),
    /// The job's state does not allow the control (see `lifecycle.rs`).
    #[error("job {job} is {state}: {action} is not possible")]
    State {
        /// The job's id.
        job: String,
        /// The state it was found in.
        state: &'static str,
        /// The control refused (`pause`).
        action: &'static str,
    },
}

/// A job to store: see [`Engine::create`].
pub struct NewJob<'a> {
    /// A chosen id (a schedule's tick): creating a job whose id exists
    /// does nothing. A new UUIDv7 when None.
    pub id: Option<String>,
    /// The tenant whose participants, secrets and limits the job uses.
    pub tenant: String,
    /// What the job runs; checked before anything is stored.
    pub definition: &'a Definition,
    /// The job's initial fields.
    pub fields: Fields,
    /// A name to show for the job; the definition's name when `None`.
    pub name: Option<String>,
    /// `name@version` of the stored definition it came from.
    pub definition_ref: Option<String>,
    /// Start it now; `false` leaves it pending until [`Engine::start`].
    pub start: bool,
    /// Make it a dry run, its capability calls answered from these stubs
    /// (`capabilities::Stubs` as JSON) and nothing sent.
    pub dry_run: Option<Value>,
}

/// The message that starts a job: apply the root expression.
fn first_message(fields: Fields, now: i64) -> NewMessage {
    let message = Message::Apply {
        fei: Fei::root(),
        parent: None,
        tree: crate::model::TreeRef::Path(Vec::new()),
        workitem: Workitem { fields },
        variables: None,
        retries: 0,
    };
    NewMessage { message, due_at: now }
}

/// Merges `overlay` into `base`: objects key by key, recursively; anything
/// else in `overlay` replaces what `base` had.
pub fn deep_merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (k, v) in overlay {
                match base.get_mut(&k) {
                    Some(existing) => deep_merge(existing, v),
                    None => {
                        base.insert(k, v);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

/// Something that happened in a job, for live displays and event streams,
/// published once the transaction that stored it committed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobEvent {
    /// The job it happened in.
    pub job_id: String,
    /// Its place in the job's events: 1, 2, ... without gaps, in the order
    /// they happened (see `crate::store::WorkTx::append_events`).
    pub seq: i64,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// What happened in a job: calls starting and finishing, what they
/// reported, and the flow's own events. Serialized as the event streams
/// show it (`type` names the variant).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A participant call is starting.
    StepStarted {
        /// The participant expression making the call.
        fei: String,
        /// The step's definition line (0 when unknown).
        line: u32,
        /// The participant called.
        participant: String,
        /// The action called.
        action: String,
        /// Which attempt (1 for the first).
        attempt: u32,
    },
    /// A participant call ended, well or not.
    StepFinished {
        /// The participant expression that made the call.
        fei: String,
        /// The step's definition line (0 when unknown).
        line: u32,
        /// The participant called.
        participant: String,
        /// The action called.
        action: String,
        /// How long the call took.
        elapsed_ms: u64,
        /// Why it failed; `None` when it succeeded.
        error: Option<StepError>,
    },
    /// A log line of a participant call, redacted.
    Log {
        /// The participant expression whose call logged it.
        fei: String,
        /// `trace`, `debug`, `info`, `warn` or `error`.
        level: String,
        /// The line.
        message: String,
    },
    /// A participant call's progress report, redacted.
    Progress {
        /// The participant expression whose call reported it.
        fei: String,
        /// What the call is doing.
        message: String,
        /// How far along, 0 to 100, when the call says.
        percent: Option<u8>,
    },
    /// A dry run's capability call: what the step would have sent.
    Planned {
        /// The participant expression whose call it is.
        fei: String,
        /// `http`, `ssh`, `ec2` or `chef`.
        capability: String,
        /// Its method and URL, hosts and command, region and instances.
        call: Value,
    },
    /// An event of the flow itself (an echo, a failed step, the end).
    Flow(FlowEvent),
}

impl Event {
    /// Its name in event streams.
    pub fn name(&self) -> &'static str {
        match self {
            Event::StepStarted { .. } => "step_started",
            Event::StepFinished { .. } => "step_finished",
            Event::Log { .. } => "log",
            Event::Progress { .. } => "progress",
            Event::Planned { .. } => "planned",
            Event::Flow(FlowEvent::Echo { .. }) => "echo",
            Event::Flow(FlowEvent::StepFailed { .. }) => "step_failed",
            Event::Flow(FlowEvent::Finished { .. }) => "finished",
            Event::Flow(FlowEvent::ApprovalRequested { .. }) => "approval_requested",
        }
    }

    /// Its data in event streams.
    pub fn data(&self) -> Value {
        match self {
            Event::Flow(FlowEvent::Finished { state }) => serde_json::json!({ "state": state.as_str() }),
            _ => serde_json::to_value(self).unwrap_or(Value::Null),
        }
    }

    /// As the store keeps it.
    pub(crate) fn stored(&self) -> crate::store::NewEvent {
        // Serialized straight to text: a step stores two events, and going
        // through a `Value` first was a tenth of their cost.
        let body = match self {
            Event::Flow(FlowEvent::Finished { .. }) => self.data().to_string(),
            _ => serde_json::to_string(self).unwrap_or_else(|_| "null".into()),
        };
        crate::store::NewEvent { kind: self.name(), body }
    }
}

/// How an engine runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Participant calls in flight at once, across all jobs.
    pub max_concurrent_calls: usize,
    /// Limits for every call (a step's `timeout` shortens the deadline).
    pub limits: Limits,
    /// This process owns the database alone (embedded SQLite): leases
    /// left by a previous process are cleared at start.
    pub exclusive: bool,
    /// Events kept per job: older ones are dropped as new ones are stored
    /// (a stream then starts at the oldest kept).
    pub events_per_job: usize,
    /// A process whose heartbeat is older than this is taken for dead: the
    /// others take over its jobs and calls. Each process heartbeats five
    /// times as often. Between [`TAKEOVER_RANGE`]'s bounds.
    pub takeover_after: Duration,
}

/// The takeover times a deployment may choose: under a second, a busy
/// database's pause would pass for a death; a job's lease (30 s) bounds it
/// above.
pub const TAKEOVER_RANGE: std::ops::RangeInclusive<Duration> = Duration::from_secs(1)..=worker::JOB_LEASE;

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_concurrent_calls: 256,
            limits: Limits::default(),
            exclusive: true,
            events_per_job: 10_000,
            takeover_after: Duration::from_secs(10),
        }
    }
}

/// The engine: launches and controls jobs, and (once [`Engine::run`] is
/// called) works on them. Shared as an `Arc`.
pub struct Engine {
    store: Store,
    sandbox: Arc<Sandbox>,
    tenancy: Arc<dyn Tenancy>,
    config: EngineConfig,
    worker_id: String,
    wake: Notify,
    events: broadcast::Sender<JobEvent>,
    definitions: Mutex<HashMap<String, Arc<Definition>>>,
    /// Each job's dry-run stubs (`None`: a real job), read with its definition.
    dry_runs: Mutex<HashMap<String, Option<Arc<Stubs>>>>,
    dispatcher: Arc<dispatcher::Dispatcher>,
    /// This process's place among those sharing the database (`worker.rs`).
    share: Mutex<dispatcher::Share>,
    job_ends: JobEnds,
    committers: committer::Committers,
}

impl Engine {
    /// An engine whose jobs all use `registry`, `secrets` and the
    /// configured limits, whatever their tenant (the CLI, tests).
    pub fn new(
        store: Store,
        sandbox: Arc<Sandbox>,
        registry: Arc<Registry>,
        secrets: Arc<dyn SecretStore>,
        config: EngineConfig,
    ) -> Arc<Self> {
        let runtime = TenantRuntime {
            registry,
            secrets,
            limits: config.limits.clone(),
            max_concurrent_calls: config.max_concurrent_calls,
            webhooks: Vec::new(),
        };
        Self::with_tenancy(store, sandbox, Arc::new(SingleTenant(Arc::new(runtime))), config)
    }

    /// An engine that runs each tenant's jobs with that tenant's
    /// participants, secrets and limits.
    pub fn with_tenancy(
        store: Store,
        sandbox: Arc<Sandbox>,
        tenancy: Arc<dyn Tenancy>,
        config: EngineConfig,
    ) -> Arc<Self> {
        let (events, _) = broadcast::channel(4096);
        Arc::new(Engine {
            store,
            sandbox,
            tenancy,
            job_ends: Default::default(),
            committers: Default::default(),
            dispatcher: Arc::new(dispatcher::Dispatcher::new(config.max_concurrent_calls)),
            share: Mutex::new(dispatcher::Share::ALONE),
            config,
            worker_id: format!("worker-{}", uuid::Uuid::now_v7()),
            wake: Notify::new(),
            events,
            definitions: Mutex::new(HashMap::new()),
            dry_runs: Mutex::new(HashMap::new()),
        })
    }

    /// The store the engine's jobs are in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Participant calls this process is making (or waiting to make) now.
    pub fn calls_in_flight(&self) -> usize {
        self.dispatcher.in_flight()
    }

    /// What `tenant`'s jobs may use.
    ///
    /// # Errors
    /// When the tenancy cannot read the tenant from the store.
    pub async fn runtime(&self, tenant: &str) -> Result<Arc<TenantRuntime>, StoreError> {
        self.tenancy.runtime(tenant).await
    }

    /// Live events of every job this process works on.
    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.events.subscribe()
    }

    /// Checks a definition and starts a job with `fields`. Returns its id.
    ///
    /// # Errors
    /// As [`Engine::create`].
    pub async fn launch(
        &self,
        tenant: &str,
        definition: &Definition,
        fields: Fields,
        name: Option<String>,
    ) -> Result<String, EngineError> {
        let job = NewJob {
            id: None,
            tenant: tenant.to_owned(),
            definition,
            fields,
            name,
            definition_ref: None,
            start: true,
            dry_run: None,
        };
        self.create(job).await
    }

    /// Checks a definition against the tenant's participants and stores a
    /// job: running at once when `start`, pending (see [`Engine::start`])
    /// otherwise. Returns its id.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] with every problem when the definition does
    /// not check; [`EngineError::Store`] when the store fails.
    pub async fn create(&self, job: NewJob<'_>) -> Result<String, EngineError> {
        let definition = job.definition;
        let runtime = self.runtime(&job.tenant).await?;
        let problems = validate(definition, &*runtime.registry);
        if !problems.is_empty() {
            let mut errors = ParseErrors::new(definition.name.clone().unwrap_or_else(|| "definition".into()), "");
            errors.diagnostics = problems;
            return Err(EngineError::Invalid(errors));
        }
        let id = job.id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let now = now_ms();
        let record = JobRecord {
            id: id.clone(),
            tenant: job.tenant,
            name: job.name.or_else(|| definition.name.clone()),
            definition: crate::language::json::definition_to_json(definition),
            definition_ref: job.definition_ref,
            state: if job.start { JobState::Running } else { JobState::Pending },
            fields: job.fields.clone(),
            error: None,
            created_at: now,
            updated_at: now,
            finished_at: None,
            dry_run: job.dry_run,
        };
        let first = job.start.then(|| first_message(job.fields, now));
        let tenant = record.tenant.clone();
        let lease = self.launch_lease();
        let created = self.store.create_job(&record, first.as_ref(), lease.as_ref()).await?;
        if created && job.start {
            self.launched(id.clone(), tenant, lease.is_some()).await;
        }
        Ok(id)
    }

    /// Starts `tenant`'s pending job, its fields deep-merged with `overrides`.
    ///
    /// # Errors
    /// [`EngineError::NotFound`] when `tenant` has no such job;
    /// [`EngineError::State`] when it is not pending.
    pub async fn start(&self, tenant: &str, job_id: &str, overrides: Option<Fields>) -> Result<(), EngineError> {
        let job = match self.store.job(job_id).await? {
            Some(job) if job.tenant == tenant => job,
            _ => return Err(EngineError::NotFound(job_id.to_owned())),
        };
        let mut fields = Value::Object(job.fields);
        if let Some(overrides) = overrides {
            deep_merge(&mut fields, Value::Object(overrides));
        }
        let fields = match fields {
            Value::Object(fields) => fields,
            _ => Fields::new(), // merging two objects gives an object
        };
        let first = first_message(fields.clone(), now_ms());
        let lease = self.launch_lease();
        self.control(tenant, job_id, Control::Start, Some(first), Some(&fields), lease, None).await?;
        self.launched(job_id.to_owned(), job.tenant, lease.is_some()).await;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    /// Makes the first of `control`'s rules (`lifecycle.rs`) that the job's
    /// state allows, queueing `message` with it if the rule queues one.
    /// Returns the state the job is in now.
    async fn control(
        &self,
        tenant: &str,
        job_id: &str,
        control: Control,
        message: Option<NewMessage>,
        fields: Option<&Fields>,
        lease: Option<crate::store::JobLease<'_>>,
        ended: Option<Event>,
    ) -> Result<JobState, EngineError> {
        let rules: Vec<&lifecycle::Rule> = lifecycle::rules(control).collect();
        let transitions: Vec<Transition> = rules
            .iter()
            .map(|r| Transition {
                from: r.from,
                to: r.to,
                message: if r.queues { message.clone() } else { None },
                fields: if r.queues { fields } else { None },
                clears_error: r.clears_error,
                lease: if r.queues { lease } else { None },
                // Stored with a change that ends the job.
                event: ended.as_ref().filter(|_| r.to.is_final()).map(Event::stored),
                keep_events: self.config.events_per_job,
            })
            .collect();
        match self.store.control_job(job_id, tenant, &transitions).await? {
            Controlled::Made(i, seq) => {
                if let (Some(seq), Some(event)) = (seq, ended) {
                    self.publish(job_id, seq, event);
                }
                Ok(rules[i].to)
            }
            Controlled::NotFound => Err(EngineError::NotFound(job_id.to_owned())),
            Controlled::Conflict(state) => {
                Err(EngineError::State { job: job_id.to_owned(), state: state.as_str(), action: control.as_str() })
            }
        }
    }

    /// The lease a job launched here is stored with when this engine is
    /// running: its committer takes the job at once (see `launched`).
    fn launch_lease(&self) -> Option<crate::store::JobLease<'_>> {
        self.committing().then(|| crate::store::JobLease {
            worker: &self.worker_id,
            until: now_ms() + worker::JOB_LEASE.as_millis() as i64,
        })
    }

    /// A job just started here: its committer takes its first message at
    /// once, or (when this engine is not running) whichever worker claims it.
    async fn launched(&self, job_id: String, tenant: String, leased: bool) {
        let Err(work) = self.hand_over(committer::Work::Launched { job_id, tenant }) else { return };
        if leased {
            // The committers stopped in between: give the lease back.
            if let Err(e) = self.store.release_job(work.job_id(), &self.worker_id).await {
                tracing::warn!(job = %work.job_id(), error = %e, "releasing a launched job failed");
            }
        }
        self.wake.notify_one();
    }

    /// Waits until the job completes, is canceled or fails.
    ///
    /// # Errors
    /// [`EngineError::NotFound`] when there is no such job (any tenant's).
    pub async fn wait_for(&self, job_id: &str) -> Result<JobRecord, EngineError> {
        loop {
            // Armed before the state is read, so an end in between still wakes us.
            let over = self.job_ends.watch(job_id);
            let notified = over.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let job = self.store.job(job_id).await?.ok_or_else(|| EngineError::NotFound(job_id.to_owned()))?;
            if job.state.is_final() || job.state == JobState::Failed {
                self.job_ends.forget(job_id, &over);
                return Ok(job);
            }
            // Woken when this process ends the job, or re-check now and
            // then (another process may be running it).
            let _ = tokio::time::timeout(std::time::Duration::from_millis(500), notified).await;
        }
    }

    /// Cancels `tenant`'s job: a pending job ends canceled at once; any
    /// other (paused and failed ones too) gets a cancel, which withdraws its
    /// calls (aborting those in flight here) and ends it canceled.
    ///
    /// # Errors
    /// [`EngineError::NotFound`] when `tenant` has no such job;
    /// [`EngineError::State`] when it has already ended.
    pub async fn cancel(&self, tenant: &str, job_id: &str) -> Result<(), EngineError> {
        let message = NewMessage { message: Message::Cancel { fei: Fei::root(), kill: false }, due_at: now_ms() };
        let ended = Event::Flow(FlowEvent::Finished { state: JobState::Canceled });
        if self.control(tenant, job_id, Control::Cancel, Some(message), None, None, Some(ended)).await?
            != JobState::Canceled
        {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Pauses `tenant`'s running job: nothing new starts (calls in flight
    /// finish; their results wait for the resume).
    ///
    /// # Errors
    /// [`EngineError::NotFound`] when `tenant` has no such job;
    /// [`EngineError::State`] when it is not running.
    pub async fn pause(&self, tenant: &str, job_id: &str) -> Result<(), EngineError> {
        self.control(tenant, job_id, Control::Pause, None, None, None, None).await?;
        Ok(())
    }

    /// Resumes `tenant`'s paused job.
    ///
    /// # Errors
    /// [`EngineError::NotFound`] when `tenant` has no such job;
    /// [`EngineError::State`] when it is not paused.
    pub async fn resume(&self, tenant: &str, job_id: &str) -> Result<(), EngineError> {
        self.control(tenant, job_id, Control::Resume, None, None, None, None).await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Runs `tenant`'s failed job's failed steps again; `fields`, when
    /// given, replace those of the steps' workitems (Ruote's replay at error).
    ///
    /// # Errors
    /// [`EngineError::NotFound`] when `tenant` has no such job;
    /// [`EngineError::State`] when it has not failed.
    pub async fn retry(&self, tenant: &str, job_id: &str, fields: Option<Fields>) -> Result<(), EngineError> {
        let message = NewMessage { message: Message::Retry { fields }, due_at: now_ms() };
        self.control(tenant, job_id, Control::Retry, Some(message), None, None, None).await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Delivers a person's decision to the approval `fei` of `tenant`'s
    /// job (see `expressions/approval.rs`); one that arrives after the
    /// approval ended changes nothing.
    ///
    /// # Errors
    /// [`EngineError::NotFound`] when `tenant` has no such job;
    /// [`EngineError::State`] when it is neither running nor paused.
    pub async fn decide(&self, tenant: &str, job_id: &str, fei: Fei, decision: Decision) -> Result<(), EngineError> {
        let message = NewMessage { message: Message::Decision { fei, decision }, due_at: now_ms() };
        self.control(tenant, job_id, Control::Decide, Some(message), None, None, None).await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Publishes a stored event; a job's end wakes its waiters after it is
    /// published, so a waiter that subscribed first has seen it.
    fn publish(&self, job_id: &str, seq: i64, event: Event) {
        let ends = matches!(event, Event::Flow(FlowEvent::Finished { .. } | FlowEvent::StepFailed { .. }));
        let _ = self.events.send(JobEvent { job_id: job_id.to_owned(), seq, event });
        if ends {
            self.job_ends.ended(job_id);
        }
    }

    /// The job's definition, read and parsed once per process.
    async fn definition(&self, job_id: &str) -> Result<Arc<Definition>, StoreError> {
        if let Some(d) = self.definitions.lock().unwrap_or_else(|p| p.into_inner()).get(job_id) {
            return Ok(d.clone());
        }
        let (stored, dry_run) = self
            .store
            .job_definition(job_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt { what: "job definition", detail: format!("job {job_id} has none") })?;
        let d = Arc::new(
            crate::language::json::definition_from_json(&stored)
                .map_err(|e| StoreError::Corrupt { what: "job definition", detail: e.to_string() })?,
        );
        let stubs = match dry_run {
            Some(v) => Some(Arc::new(
                serde_json::from_value::<Stubs>(v)
                    .map_err(|e| StoreError::Corrupt { what: "dry run stubs", detail: e.to_string() })?,
            )),
            None => None,
        };
        {
            let mut dry_runs = self.dry_runs.lock().unwrap_or_else(|p| p.into_inner());
            if dry_runs.len() > 10_000 {
                dry_runs.clear();
            }
            dry_runs.insert(job_id.to_owned(), stubs);
        }
        let mut cache = self.definitions.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(job_id.to_owned(), d.clone());
        Ok(d)
    }

    /// The job's dry-run stubs, `None` for a real job (read with its
    /// definition, and kept with it).
    async fn dry_run(&self, job_id: &str) -> Result<Option<Arc<Stubs>>, StoreError> {
        if let Some(known) = self.dry_runs.lock().unwrap_or_else(|p| p.into_inner()).get(job_id) {
            return Ok(known.clone());
        }
        self.definitions.lock().unwrap_or_else(|p| p.into_inner()).remove(job_id);
        self.definition(job_id).await?;
        Ok(self.dry_runs.lock().unwrap_or_else(|p| p.into_inner()).get(job_id).cloned().flatten())
    }
}

/// Who waits for which job to end, so that the end of a job wakes its
/// waiters only (a broadcast of every event to every waiter costs
/// waiters × events when many launches wait at once).
#[derive(Default)]
struct JobEnds(Mutex<HashMap<String, Arc<Notify>>>);

impl JobEnds {
    fn watch(&self, job_id: &str) -> Arc<Notify> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            // Waiters that went away (a client hung up) left their entry.
            map.retain(|_, n| Arc::strong_count(n) > 1);
        }
        map.entry(job_id.to_owned()).or_default().clone()
    }

    fn forget(&self, job_id: &str, mine: &Arc<Notify>) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // Ours and the map's: no one else waits.
        if Arc::strong_count(mine) == 2 {
            map.remove(job_id);
        }
    }

    fn ended(&self, job_id: &str) {
        if let Some(n) = self.0.lock().unwrap_or_else(|p| p.into_inner()).get(job_id) {
            n.notify_waiters();
        }
    }
}
