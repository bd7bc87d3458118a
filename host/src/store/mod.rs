//! Durable storage of jobs, live expressions, messages and step history,
//! on SQLite (embedded default) or PostgreSQL (several processes sharing
//! one database), through one SQL dialect-neutral implementation (every
//! statement is written once, and named; `sql.rs` runs it on either
//! database; [`statements()`] lists them all, so a test prepares each on
//! both).
//!
//! Guarantees:
//! - A job batch is one transaction ([`WorkTx`]): the messages it consumed
//!   are deleted in the same transaction that stores their effects, so a
//!   process killed at any point either left the messages to be processed
//!   again or left all of their effects.
//! - A job is processed by one worker at a time: `claim_jobs` leases it to
//!   its caller, a batch commits only while that lease is held, and a
//!   participant's result is processed at once only when no other live
//!   worker holds the lease (see `work.rs`).
//! - A participant call (`dispatch` message) is leased to one worker; the
//!   lease lapses when that worker stops heartbeating, and the call is then
//!   made again by another worker with the same idempotency key. Its result
//!   is stored, and the dispatch deleted, in one transaction — the one that
//!   also processes the result when the job is free.
//! - A job's state changes from outside its batches only through
//!   [`Store::control_job`], whose UPDATE checks the state it changes from;
//!   a CHECK constraint keeps the column to the lifecycle's states.
//! - A job's events are stored by the transaction that produced them,
//!   numbered without gaps in commit order ([`WorkTx::append_events`]).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let store = mastermind::store::Store::open("sqlite:///tmp/mm.db").await?;
//! let running = store.jobs_in_state(mastermind::model::JobState::Running).await?;
//! # Ok(()) }
//! ```

mod audit;
mod definitions;
mod events;
mod jobs;
mod listing;
mod participants;
mod schedules;
mod secrets;
pub(crate) mod sql;
mod statements;
mod tenants;
mod triggers;

pub use audit::AuditEntry;
pub use definitions::{DefinitionRecord, DefinitionSummary};
pub use listing::JobFilter;
pub use participants::ParticipantRecord;
pub use schedules::ScheduleRecord;
pub use sql::Statement;
pub use statements::statements;
pub use tenants::{TenantRecord, TokenRecord};
pub use triggers::TriggerRecord;

use crate::model::{Expression, Fields, JobState, Message, StepError};
use serde_json::Value;
use sql::{Db, Tx, args, statements};
use sqlx::any::AnyPoolOptions;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt {what} in the store: {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("unsupported database URL '{0}': use sqlite:PATH or postgres://...")]
    BadUrl(String),
    #[error("embedded database: {0}")]
    Embedded(String),
    #[error("job {0} is leased to another worker")]
    LeaseLost(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

statements! {
    /// Wakes other processes' workers (see [`Store::listen`]).
    NOTIFY (Postgres) = "SELECT pg_notify($1, $2)";
    INSERT_JOB = "INSERT INTO jobs (id, tenant, name, definition, definition_ref, state, fields, error, created_at, updated_at,
                                    lease_owner, lease_until)
                  VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, $8, $9, $10) ON CONFLICT (id) DO NOTHING";
    HEARTBEAT = "INSERT INTO workers (id, heartbeat_at) VALUES ($1, $2)
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at";
    CLEAR_JOB_LEASES = "UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL";
    CLEAR_MESSAGE_LEASES = "UPDATE messages SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL";
    DELETE_WORKERS = "DELETE FROM workers";
    NEXT_DUE = "SELECT MIN(due_at) AS due FROM messages WHERE due_at > $1";
    INSERT_MESSAGE = "INSERT INTO messages (job_id, tenant, kind, fei, body, due_at, lease_owner)
                      VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A job as stored.
#[derive(Debug, Clone)]
pub struct JobRecord {
    pub id: String,
    pub tenant: String,
    pub name: Option<String>,
    pub definition: Value,
    pub definition_ref: Option<String>,
    pub state: JobState,
    pub fields: Fields,
    pub error: Option<StepError>,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

/// A message as stored, with its row id and job.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub id: i64,
    pub job_id: String,
    pub tenant: String,
    pub message: Message,
}

/// A message to store, due at a time.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub message: Message,
    pub due_at: i64,
}

/// One row of a job's step history.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HistoryEntry {
    pub fei: String,
    pub line: Option<u32>,
    pub participant: String,
    pub action: String,
    pub params: Value,
    pub attempt: u32,
    pub started_at: i64,
    pub ended_at: i64,
    pub ok: bool,
    /// Field updates on success, the error otherwise.
    pub result: Value,
}

/// A participant call in flight, as journaled.
#[derive(Debug, Clone)]
pub struct RunningStep {
    pub fei: String,
    pub line: Option<u32>,
    pub participant: String,
    pub action: String,
    pub attempt: u32,
    /// When the call was journaled (it starts then, or when a call slot frees).
    pub since: i64,
}

/// A lease a new job is stored with: the worker that launched it takes it
/// directly ([`WorkTx::take_claimed`]), and no claim query spends time on it
/// meanwhile. Lapses like any lease if that worker dies first.
#[derive(Debug, Clone, Copy)]
pub struct JobLease<'a> {
    pub worker: &'a str,
    pub until: i64,
}

/// One change of a job's state made from outside its batches, as
/// [`Store::control_job`] makes it: from one of `from` to `to`.
#[derive(Debug, Clone)]
pub struct Transition<'a> {
    pub from: &'a [JobState],
    pub to: JobState,
    /// Queued in the same transaction (a cancel, a retry, a first apply).
    pub message: Option<NewMessage>,
    /// Replaces the job's fields (a started job's, with their overrides).
    pub fields: Option<&'a Fields>,
    /// Clears the job's error (it runs again).
    pub clears_error: bool,
    /// Leases the job to a worker of this process (see [`JobLease`]).
    pub lease: Option<JobLease<'a>>,
    /// Appended to the job's events (a pending job cancelled: its end).
    pub event: Option<NewEvent>,
    /// Events kept per job (see [`WorkTx::append_events`]).
    pub keep_events: usize,
}

/// An event to store: its name and its data, as streamed.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: &'static str,
    /// Its data as JSON text.
    pub body: String,
}

/// An event as stored, with its place in the job's sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub seq: i64,
    pub kind: String,
    pub data: Value,
}

/// What [`Store::control_job`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controlled {
    /// The transition at this index was made (its event, if any, got
    /// this number).
    Made(usize, Option<i64>),
    /// No job of this id for this tenant.
    NotFound,
    /// The job is in this state, which none of the transitions starts from.
    Conflict(JobState),
}

/// Everything one batch of a job changed, written in one transaction.
#[derive(Debug, Default)]
pub struct BatchChanges {
    pub consumed: Vec<i64>,
    pub upserts: Vec<Expression>,
    pub removals: Vec<String>,
    pub messages: Vec<NewMessage>,
    /// Feis whose pending dispatch must be withdrawn (their step was cancelled).
    pub withdrawn_dispatches: Vec<String>,
    /// Feis whose pending timers are deleted (their expression is gone).
    pub withdrawn_timers: Vec<String>,
    pub job_state: Option<JobState>,
    pub job_fields: Option<Fields>,
    /// `Some(None)` clears the error.
    pub job_error: Option<Option<StepError>>,
}

/// The database behind the engine.
#[derive(Clone)]
pub struct Store {
    /// Where statements run (see `sql.rs`).
    db: Db,
    backend: Backend,
    url: String,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn corrupt(what: &'static str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt { what, detail: e.to_string() }
}

fn from_json<T: serde::de::DeserializeOwned>(what: &'static str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `url`:
    /// `sqlite:PATH` / `sqlite://PATH` / a bare file path, or `postgres://...`.
    pub async fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let (backend, url) = normalize_url(url)?;
        let db = match backend {
            Backend::Sqlite => {
                // sqlx runs the migrations (its table records which ran),
                // then the store's own connection takes over (see sql.rs).
                let pool = AnyPoolOptions::new().max_connections(1).connect(&url).await?;
                let migrated = sqlx::migrate!("../migrations/sqlite").run(&pool).await;
                pool.close().await;
                migrated?;
                sql::open_embedded(sqlite_path(&url))?
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    // A broken connection fails its statement and is replaced;
                    // a ping before every statement would double round trips.
                    .test_before_acquire(false)
                    .connect(&url)
                    .await?;
                sqlx::migrate!("../migrations/postgres").run(&pool).await?;
                Db::Pool(pool)
            }
        };
        Ok(Store { db, backend, url })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the database's connections (a test's fresh database can then
    /// be dropped).
    pub async fn close(&self) {
        self.db.close().await;
    }

    /// Wakes the workers of other processes (PostgreSQL only; an embedded
    /// database has one process). Delivered when the transaction commits.
    async fn notify_workers(&self, tx: &mut Tx, job_id: &str) -> Result<()> {
        if self.backend == Backend::Postgres {
            tx.execute(&NOTIFY, args![NOTIFY_CHANNEL, job_id]).await?;
        }
        Ok(())
    }

    /// Calls `wake` whenever another process queues work (PostgreSQL's
    /// LISTEN); returns at once on SQLite. Runs until the connection fails.
    pub async fn listen(&self, wake: impl Fn()) -> Result<()> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let mut listener = sqlx::postgres::PgListener::connect(&self.url).await?;
        listener.listen(NOTIFY_CHANNEL).await?;
        loop {
            listener.recv().await?;
            wake();
        }
    }

    /// Stores a new job and its first message (none for a pending job) in
    /// one transaction, leased to `lease` when given (a worker of this
    /// process takes it at once; see [`JobLease`]).
    /// Returns false, storing nothing, when a job with that id exists.
    pub async fn create_job(
        &self,
        job: &JobRecord,
        first: Option<&NewMessage>,
        lease: Option<&JobLease<'_>>,
    ) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let inserted = tx
            .execute(
                &INSERT_JOB,
                args![
                    &job.id,
                    &job.tenant,
                    job.name.clone(),
                    job.definition.to_string(),
                    job.definition_ref.clone(),
                    job.state.as_str(),
                    Value::Object(job.fields.clone()).to_string(),
                    job.created_at,
                    lease.map(|l| l.worker),
                    lease.map(|l| l.until),
                ],
            )
            .await?;
        if inserted != 1 {
            return Ok(false);
        }
        if let Some(first) = first {
            insert_message(&mut tx, &job.id, &job.tenant, first, None).await?;
            self.notify_workers(&mut tx, &job.id).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Queues a message for a job outside any batch.
    pub async fn enqueue(&self, job_id: &str, tenant: &str, message: &NewMessage) -> Result<()> {
        let mut tx = self.db.begin().await?;
        insert_message(&mut tx, job_id, tenant, message, None).await?;
        self.notify_workers(&mut tx, job_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records this worker as alive; leases of workers that stopped
    /// heartbeating lapse.
    pub async fn heartbeat(&self, worker: &str) -> Result<()> {
        self.db.execute(&HEARTBEAT, args![worker, now_ms()]).await?;
        Ok(())
    }

    /// Forgets every lease (an embedded database has one process: whoever
    /// held a lease before it started is dead).
    pub async fn clear_leases(&self) -> Result<()> {
        let mut tx = self.db.begin().await?;
        tx.execute(&CLEAR_JOB_LEASES, args![]).await?;
        tx.execute(&CLEAR_MESSAGE_LEASES, args![]).await?;
        tx.execute(&DELETE_WORKERS, args![]).await?;
        tx.commit().await
    }

    /// When the earliest future message (a timer) is due, for sleeping
    /// until then. Messages already due are either being worked on or
    /// claimed on the next round; counting them would make an idle worker
    /// spin while a call is in flight.
    pub async fn next_due(&self) -> Result<Option<i64>> {
        let row = self.db.fetch_one(&NEXT_DUE, args![now_ms()]).await?;
        row.opt_int("due")
    }
}

mod work;
pub use work::{WorkTx, Written};

/// The PostgreSQL channel workers listen on: a message was queued.
pub const NOTIFY_CHANNEL: &str = "mastermind_work";

async fn insert_message(
    tx: &mut Tx,
    job_id: &str,
    tenant: &str,
    m: &NewMessage,
    lease_owner: Option<&str>,
) -> Result<i64> {
    let fei = match &m.message {
        Message::Dispatch(d) => Some(d.fei.0.clone()),
        Message::Apply { fei, .. }
        | Message::Cancel { fei, .. }
        | Message::Result { fei, .. }
        | Message::Timer { fei, .. } => Some(fei.0.clone()),
        Message::Reply { to, .. } => Some(to.0.clone()),
        Message::Retry { .. } => None,
    };
    let body = serde_json::to_string(&m.message).map_err(|e| corrupt("message", e))?;
    let row = tx
        .fetch_one(&INSERT_MESSAGE, args![job_id, tenant, m.message.kind(), fei, body, m.due_at, lease_owner])
        .await?;
    row.int("id")
}

/// The file behind a normalized `sqlite://PATH?mode` URL.
fn sqlite_path(url: &str) -> &str {
    let path = url.strip_prefix("sqlite://").unwrap_or(url);
    path.split_once('?').map_or(path, |(p, _)| p)
}

/// Accepts `sqlite:PATH`, `sqlite://PATH`, a bare path, or a PostgreSQL URL.
fn normalize_url(url: &str) -> Result<(Backend, String)> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_owned()));
    }
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    // An in-memory database would lose every job with the process.
    if path.is_empty() || path.contains("://") || path.starts_with(":memory:") {
        return Err(StoreError::BadUrl(url.to_owned()));
    }
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let mode = if query.is_empty() { "mode=rwc".to_owned() } else { query.to_owned() };
    Ok((Backend::Sqlite, format!("sqlite://{path}?{mode}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_constraints_list_every_state() {
        for migration in [
            include_str!("../../../migrations/sqlite/0003_job_states.sql"),
            include_str!("../../../migrations/postgres/0003_job_states.sql"),
        ] {
            let listed = migration.split("state IN (").nth(1).and_then(|l| l.split(')').next()).unwrap_or("");
            let states: Vec<&str> = listed.split(',').map(|s| s.trim().trim_matches('\'')).collect();
            let all: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
            assert_eq!(states, all);
        }
    }

    #[test]
    fn database_urls() {
        let sqlite = |u: &str| normalize_url(u).map(|(b, url)| (b, sqlite_path(&url).to_owned())).ok();
        assert_eq!(sqlite("/tmp/a.db"), Some((Backend::Sqlite, "/tmp/a.db".into())));
        assert_eq!(sqlite("sqlite:///tmp/a.db"), Some((Backend::Sqlite, "/tmp/a.db".into())));
        assert_eq!(sqlite("sqlite:a.db?mode=rw"), Some((Backend::Sqlite, "a.db".into())));
        assert_eq!(normalize_url("postgres://u@h/db").unwrap().0, Backend::Postgres);
        for bad in ["", "sqlite::memory:", ":memory:", "mysql://h/db"] {
            assert!(normalize_url(bad).is_err(), "{bad}");
        }
    }
}
