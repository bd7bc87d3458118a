//! Durable storage of jobs, live expressions, messages and step history,
//! on SQLite (embedded default) or PostgreSQL (several processes sharing
//! one database), through one SQL dialect-neutral implementation.
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
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let store = mastermind::store::Store::open("sqlite:///tmp/mm.db").await?;
//! let running = store.jobs_in_state(mastermind::engine::JobState::Running).await?;
//! # Ok(()) }
//! ```

mod audit;
mod definitions;
mod listing;
mod participants;
mod schedules;
mod secrets;
mod tenants;
mod triggers;

pub use audit::AuditEntry;
pub use definitions::{DefinitionRecord, DefinitionSummary};
pub use listing::JobFilter;
pub use participants::ParticipantRecord;
pub use schedules::ScheduleRecord;
pub use tenants::{TenantRecord, TokenRecord};
pub use triggers::TriggerRecord;

use crate::engine::{Expression, Fields, JobState, Message, StepError};
use serde_json::Value;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
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
    #[error("job {0} is leased to another worker")]
    LeaseLost(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

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

/// Everything one batch of a job changed, written in one transaction.
#[derive(Debug, Default)]
pub struct BatchChanges {
    pub consumed: Vec<i64>,
    pub upserts: Vec<Expression>,
    pub removals: Vec<String>,
    pub messages: Vec<NewMessage>,
    /// Feis whose pending dispatch must be withdrawn (their step was cancelled).
    pub withdrawn_dispatches: Vec<String>,
    pub job_state: Option<JobState>,
    pub job_fields: Option<Fields>,
    /// `Some(None)` clears the error.
    pub job_error: Option<Option<StepError>>,
}

/// The database behind the engine.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    url: String,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn corrupt(what: &'static str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt { what, detail: e.to_string() }
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `url`:
    /// `sqlite:PATH` / `sqlite://PATH` / a bare file path, or `postgres://...`.
    pub async fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let (backend, url) = normalize_url(url)?;
        let pool = match backend {
            Backend::Sqlite => {
                // One connection: SQLite has one writer at a time anyway, and
                // writers queueing here cost microseconds where writers
                // contending for the file lock back off for milliseconds.
                AnyPoolOptions::new()
                    .max_connections(1)
                    // In-process: there is no connection to go stale, and a
                    // ping per statement would double the work.
                    .test_before_acquire(false)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // WAL: readers never block the writer; NORMAL
                            // sync is durable against a killed process.
                            sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                            sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
                            sqlx::query("PRAGMA busy_timeout = 10000").execute(&mut *conn).await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    // A broken connection fails its statement and is replaced;
                    // a ping before every statement would double round trips.
                    .test_before_acquire(false)
                    .connect(&url)
                    .await?
            }
        };
        match backend {
            Backend::Sqlite => sqlx::migrate!("../migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("../migrations/postgres").run(&pool).await?,
        }
        Ok(Store { pool, backend, url })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Wakes the workers of other processes (PostgreSQL only; an embedded
    /// database has one process). Delivered when the transaction commits.
    async fn notify_workers(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>, job_id: &str) -> Result<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)").bind(NOTIFY_CHANNEL).bind(job_id).execute(&mut **tx).await?;
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
    /// one transaction.
    /// Returns false, storing nothing, when a job with that id exists.
    pub async fn create_job(&self, job: &JobRecord, first: Option<&NewMessage>) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO jobs (id, tenant, name, definition, definition_ref, state, fields, error, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, $8) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&job.id)
        .bind(&job.tenant)
        .bind(job.name.clone())
        .bind(job.definition.to_string())
        .bind(job.definition_ref.clone())
        .bind(job.state.as_str())
        .bind(Value::Object(job.fields.clone()).to_string())
        .bind(job.created_at)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() != 1 {
            return Ok(false);
        }
        if let Some(first) = first {
            insert_message(&mut tx, &job.id, &job.tenant, first, None).await?;
            self.notify_workers(&mut tx, &job.id).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Starts a pending job with `fields`: false when it is no longer pending.
    pub async fn start_job(&self, id: &str, fields: &Fields, first: &NewMessage) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let started = sqlx::query("UPDATE jobs SET state = 'running', fields = $1, updated_at = $2 WHERE id = $3 AND state = 'pending'")
            .bind(Value::Object(fields.clone()).to_string())
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if started.rows_affected() != 1 {
            return Ok(false);
        }
        let tenant: String = sqlx::query("SELECT tenant FROM jobs WHERE id = $1").bind(id).fetch_one(&mut *tx).await?.get(0);
        insert_message(&mut tx, id, &tenant, first, None).await?;
        self.notify_workers(&mut tx, id).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn job(&self, id: &str) -> Result<Option<JobRecord>> {
        let row = sqlx::query(
            "SELECT id, tenant, name, definition, definition_ref, state, fields, error, created_at, updated_at, finished_at
             FROM jobs WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| job_from_row(&r)).transpose()
    }

    /// A job's stored definition tree.
    pub async fn job_definition(&self, id: &str) -> Result<Option<Value>> {
        let row = sqlx::query("SELECT definition FROM jobs WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.map(|r| serde_json::from_str(&r.get::<String, _>(0)).map_err(|e| corrupt("job definition", e))).transpose()
    }

    pub async fn jobs_in_state(&self, state: JobState) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT id FROM jobs WHERE state = $1 ORDER BY created_at")
            .bind(state.as_str())
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| r.get::<String, _>(0)).collect())
    }

    /// Sets a job's state (pause, resume, cancel bookkeeping); a final
    /// state records when the job finished.
    pub async fn set_job_state(&self, id: &str, state: JobState) -> Result<()> {
        let now = now_ms();
        sqlx::query("UPDATE jobs SET state = $1, updated_at = $2, finished_at = $3 WHERE id = $4")
            .bind(state.as_str())
            .bind(now)
            .bind(state.is_final().then_some(now))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Queues a message for a job outside any batch (API actions: cancel,
    /// retry), setting the job's state in the same transaction if given
    /// (a retried job is running again and has no error).
    pub async fn enqueue(&self, job_id: &str, tenant: &str, message: &NewMessage, state: Option<JobState>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        if let Some(state) = state {
            sqlx::query("UPDATE jobs SET state = $1, error = NULL, updated_at = $2 WHERE id = $3")
                .bind(state.as_str())
                .bind(now_ms())
                .bind(job_id)
                .execute(&mut *tx)
                .await?;
        }
        insert_message(&mut tx, job_id, tenant, message, None).await?;
        self.notify_workers(&mut tx, job_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records this worker as alive; leases of workers that stopped
    /// heartbeating lapse.
    pub async fn heartbeat(&self, worker: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO workers (id, heartbeat_at) VALUES ($1, $2)
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
        )
        .bind(worker)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets every lease (an embedded database has one process: whoever
    /// held a lease before it started is dead).
    pub async fn clear_leases(&self) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL")
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE messages SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL")
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM workers").execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// When the earliest future message (a timer) is due, for sleeping
    /// until then. Messages already due are either being worked on or
    /// claimed on the next round; counting them would make an idle worker
    /// spin while a call is in flight.
    pub async fn next_due(&self) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT MIN(due_at) FROM messages WHERE due_at > $1").bind(now_ms()).fetch_one(&self.pool).await?;
        Ok(row.try_get::<Option<i64>, _>(0).ok().flatten())
    }

    pub async fn history(&self, job_id: &str) -> Result<Vec<HistoryEntry>> {
        let rows = sqlx::query(
            "SELECT fei, line, participant, action, params, attempt, started_at, ended_at, ok, result
             FROM history WHERE job_id = $1 ORDER BY id",
        )
        .bind(job_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(HistoryEntry {
                    fei: r.get(0),
                    line: r.get::<Option<i64>, _>(1).map(|l| l as u32),
                    participant: r.get(2),
                    action: r.get(3),
                    params: serde_json::from_str(&r.get::<String, _>(4)).map_err(|e| corrupt("history", e))?,
                    attempt: r.get::<i64, _>(5) as u32,
                    started_at: r.get(6),
                    ended_at: r.get(7),
                    ok: r.get::<i64, _>(8) != 0,
                    result: serde_json::from_str(&r.get::<String, _>(9)).map_err(|e| corrupt("history", e))?,
                })
            })
            .collect()
    }
}

mod work;
pub use work::WorkTx;

/// The PostgreSQL channel workers listen on: a message was queued.
pub const NOTIFY_CHANNEL: &str = "mastermind_work";

async fn insert_message(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    job_id: &str,
    tenant: &str,
    m: &NewMessage,
    lease_owner: Option<&str>,
) -> Result<i64> {
    let fei = match &m.message {
        Message::Dispatch(d) => Some(d.fei.0.clone()),
        Message::Apply { fei, .. } | Message::Cancel { fei, .. } | Message::Result { fei, .. } | Message::Timer { fei, .. } => {
            Some(fei.0.clone())
        }
        Message::Reply { to, .. } => Some(to.0.clone()),
        Message::Retry { .. } => None,
    };
    let body = serde_json::to_string(&m.message).map_err(|e| corrupt("message", e))?;
    let row = sqlx::query(
        "INSERT INTO messages (job_id, tenant, kind, fei, body, due_at, lease_owner)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(job_id)
    .bind(tenant)
    .bind(m.message.kind())
    .bind(fei)
    .bind(body)
    .bind(m.due_at)
    .bind(lease_owner.map(str::to_owned))
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.get(0))
}

fn job_from_row(r: &AnyRow) -> Result<JobRecord> {
    let state: String = r.get(5);
    let fields: String = r.get(6);
    let error: Option<String> = r.get(7);
    Ok(JobRecord {
        id: r.get(0),
        tenant: r.get(1),
        name: r.get(2),
        definition: serde_json::from_str(&r.get::<String, _>(3)).map_err(|e| corrupt("job definition", e))?,
        definition_ref: r.get(4),
        state: JobState::parse(&state).ok_or_else(|| corrupt("job state", &state))?,
        fields: match serde_json::from_str(&fields).map_err(|e| corrupt("job fields", e))? {
            Value::Object(m) => m,
            _ => return Err(corrupt("job fields", "not an object")),
        },
        error: error.map(|e| serde_json::from_str(&e)).transpose().map_err(|e| corrupt("job error", e))?,
        created_at: r.get(8),
        updated_at: r.get(9),
        finished_at: r.get(10),
    })
}

/// Accepts `sqlite:PATH`, `sqlite://PATH`, a bare path, or a PostgreSQL URL.
fn normalize_url(url: &str) -> Result<(Backend, String)> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_owned()));
    }
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    if path.is_empty() || path.contains("://") {
        return Err(StoreError::BadUrl(url.to_owned()));
    }
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let mode = if query.is_empty() { "mode=rwc".to_owned() } else { query.to_owned() };
    Ok((Backend::Sqlite, format!("sqlite://{path}?{mode}")))
}
