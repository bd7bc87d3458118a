//! Durable storage, on SQLite (embedded default) or PostgreSQL (several
//! processes sharing one database), through one SQL dialect-neutral
//! implementation (every statement is written once, and named; `sql.rs`
//! runs it on either database; [`statements()`] lists them all, so a test
//! prepares each on both).
//!
//! Two types split the store by what they own; both run on the same
//! database handle (a [`Catalogue`] is a cheap clone of its [`Store`]'s):
//! - [`Store`], the job journal: what jobs do. Jobs, their messages
//!   (participant calls, timers, replies) and live expressions, workers'
//!   leases and heartbeats, the batches workers commit ([`WorkTx`]), events,
//!   step history, listings, and the database itself (open, close, listen,
//!   ping). A kind of row a job's batches or its lifecycle write belongs
//!   here, and may need a [`WorkTx`] method.
//! - [`Catalogue`] (reached by [`Store::catalogue`]), what a tenant
//!   configures: tenants and their tokens, definitions, participants,
//!   secrets, triggers, schedules, and the audit log of changes to them.
//!   Written by the API, the CLI and the schedules' loop, read when jobs
//!   are launched or run; never inside a job's batch. A new kind a tenant (or the server's admin) sets up
//!   belongs here, in a file of its own with `impl Catalogue`.
//!
//! Guarantees of the journal:
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
//! Each catalogue kind's file states its own guarantees.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let store = mastermind::store::Store::open("sqlite:///tmp/mm.db").await?;
//! let running = store.jobs_in_state(mastermind::model::JobState::Running).await?;
//! let tenants = store.catalogue().tenants().await?;
//! # Ok(()) }
//! ```

// The job journal.
mod batches;
mod events;
mod jobs;
mod listing;
mod locks;
mod notifications;
mod postgres;
pub(crate) mod sql;
mod statements;
mod take;
mod wakeup;
mod wal_writes;
mod work;

// The catalogue.
mod audit;
mod catalogue;
mod definitions;
mod participants;
mod schedules;
mod secrets;
mod tenants;
mod triggers;
mod uploads;
mod webhooks;

pub use audit::AuditEntry;
pub use batches::Written;
pub use catalogue::Catalogue;
pub use definitions::{DefinitionRecord, DefinitionSummary};
pub use jobs::{Controlled, Transition};
pub use listing::JobFilter;
pub use locks::{LockChange, LockEntry};
pub use notifications::{DeliveryRecord, NewNotification, Notification};
pub use participants::ParticipantRecord;
pub use schedules::ScheduleRecord;
pub use sql::Statement;
pub use statements::statements;
pub use take::{Take, Taken};
pub use tenants::{AdminTokenChange, TenantRecord, TokenRecord};
pub use triggers::TriggerRecord;
pub use uploads::{COMPILING, FAILED, READY, UploadRecord};
pub use webhooks::WebhookRecord;
pub use work::{Committed, WorkTx};

use crate::model::{Expression, Fields, JobState, Message, StepError};
use serde_json::Value;
use sql::{Db, Tx, args, statements};
use sqlx::any::AnyPoolOptions;
use std::time::Duration;

/// Why a store operation failed. A method that fails part way through a
/// transaction of its own stores nothing of it (the transaction is rolled
/// back); a failed [`WorkTx`] is dropped by its caller, which rolls it back.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A connection failed through sqlx (while migrating, or listening
    /// for wake-ups).
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A PostgreSQL statement or connection failed.
    #[error("database: {}", with_causes(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// No PostgreSQL connection could be had (the pool waited its time).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The migrations could not be applied when the store was opened.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back (not what this version
    /// writes) or a value could not be encoded to be written; also a
    /// definition name pushed concurrently too often to get a version.
    #[error("corrupt {what} in the store: {detail}")]
    Corrupt {
        /// Which kind of value (`"job state"`, `"message"`...).
        what: &'static str,
        /// The parser's or the serializer's complaint.
        detail: String,
    },
    /// [`Store::open`] was given a URL it cannot use (an in-memory SQLite
    /// database would lose every job with the process).
    #[error("unsupported database URL '{0}': use sqlite:PATH or postgres://...")]
    BadUrl(String),
    /// A `postgres://` URL the PostgreSQL driver refuses (an option it
    /// does not know, a malformed host).
    #[error("database URL '{url}': {reason}")]
    PostgresUrl {
        /// The URL, its password replaced.
        url: String,
        /// The driver's complaint.
        reason: String,
    },
    /// The database URL's `durability=` is neither `normal` nor `full`.
    #[error("database URL '{0}': durability is normal or full")]
    BadDurability(String),
    /// The embedded SQLite database (through rusqlite) failed or refused a
    /// statement.
    #[error("embedded database: {0}")]
    Embedded(String),
    /// A job is leased to another worker, so work under this worker's
    /// lease must not be committed. (The store's own methods answer `None`
    /// or `false` for a lost lease instead; nothing constructs this yet.)
    #[error("job {0} is leased to another worker")]
    LeaseLost(String),
}

/// An error and what caused it: tokio-postgres says only "db error" and
/// keeps the server's message in its source.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    text
}

/// PostgreSQL connections a store opens at most (beside sqlx's one for
/// `Store::listen`).
const PG_CONNECTIONS: usize = 16;

/// A store operation's result: [`StoreError`] unless said otherwise.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

statements! {
    INSERT_JOB = "INSERT INTO jobs (id, tenant, name, definition_ref, state, fields, error, created_at, updated_at,
                                    lease_owner, lease_until, dry_run)
                  VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING";
    /// Apart from the job's row, which every step rewrites
    /// (migrations/*/0010_job_definitions.sql).
    INSERT_JOB_DEFINITION = "INSERT INTO job_definitions (job_id, definition) VALUES ($1, $2)";
    HEARTBEAT = "INSERT INTO workers (id, heartbeat_at) VALUES ($1, $2)
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at";
    CLEAR_JOB_LEASES = "UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL";
    CLEAR_MESSAGE_LEASES = "UPDATE messages SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL";
    DELETE_WORKERS = "DELETE FROM workers";
    LIVE_WORKERS = "SELECT id FROM workers WHERE heartbeat_at > $1 ORDER BY id";
    RETIRE_WORKER = "DELETE FROM workers WHERE id = $1";
    NEXT_DUE = "SELECT MIN(due_at) AS due FROM messages WHERE due_at > $1";
    INSERT_MESSAGE = "INSERT INTO messages (job_id, tenant, kind, fei, body, due_at, lease_owner)
                      VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
    /// What [`Store::durability`] reads, on each database.
    SYNCHRONOUS_COMMIT (Postgres) = "SELECT current_setting('synchronous_commit') AS setting";
    SYNCHRONOUS (Sqlite) = "PRAGMA synchronous";
}

/// Which database a store runs on, chosen by its URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded file database: one process, one connection.
    Sqlite,
    /// A server database that several processes may share.
    Postgres,
}

/// A job as stored.
#[derive(Debug, Clone)]
pub struct JobRecord {
    /// A UUIDv7: ids sort by creation time (listings page by id).
    pub id: String,
    /// The tenant that owns the job; only it sees the job.
    pub tenant: String,
    /// The stored definition's name, for a job launched from one.
    pub name: Option<String>,
    /// The definition tree the job runs (null when a listing left it out).
    pub definition: Value,
    /// `name@version` of the stored definition it was launched from.
    pub definition_ref: Option<String>,
    /// Where the job is in its lifecycle.
    pub state: JobState,
    /// The job's workitem fields, as its last batch left them.
    pub fields: Fields,
    /// Why the job failed, while it is failed.
    pub error: Option<StepError>,
    /// Milliseconds since the Unix epoch, as every time in the store.
    pub created_at: i64,
    /// When the job last changed state or was last worked on.
    pub updated_at: i64,
    /// When the job reached a final state.
    pub finished_at: Option<i64>,
    /// A dry run's stubs: its capability calls are answered by the host
    /// from them and nothing is sent. `None` for a real job.
    pub dry_run: Option<Value>,
}

/// A message as stored, with its row id and job.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    /// Its row id: increasing in insertion order, and how a dispatch is
    /// finished or withdrawn.
    pub id: i64,
    /// The job it is for.
    pub job_id: String,
    /// The job's tenant.
    pub tenant: String,
    /// What it says.
    pub message: Message,
}

/// A message to store, due at a time.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// What it says.
    pub message: Message,
    /// When it may be processed (now for most; a timer's time; a
    /// participant call's journal time).
    pub due_at: i64,
}

/// One row of a job's step history.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HistoryEntry {
    /// The expression that made the call.
    pub fei: String,
    /// The call's line in the definition's source, when known.
    pub line: Option<u32>,
    /// Who was called.
    pub participant: String,
    /// What it was asked to do.
    pub action: String,
    /// The parameters it was given.
    pub params: Value,
    /// Which attempt of the step this was (1 for the first).
    pub attempt: u32,
    /// When the call started.
    pub started_at: i64,
    /// When it ended.
    pub ended_at: i64,
    /// Whether it succeeded.
    pub ok: bool,
    /// Field updates on success, the error otherwise.
    pub result: Value,
}

/// A live expression found by its kind, with the job it belongs to.
#[derive(Debug, Clone)]
pub struct WaitingExpression {
    /// Its job.
    pub job_id: String,
    /// The job's name, if it has one.
    pub job_name: Option<String>,
    /// `name@version` of the stored definition the job runs.
    pub definition: Option<String>,
    /// The expression itself.
    pub expression: Expression,
}

/// A participant call in flight, as journaled.
#[derive(Debug, Clone)]
pub struct RunningStep {
    /// The expression that made the call.
    pub fei: String,
    /// The call's line in the definition's source, when known.
    pub line: Option<u32>,
    /// Who is called.
    pub participant: String,
    /// What it is asked to do.
    pub action: String,
    /// Which attempt of the step this is (1 for the first).
    pub attempt: u32,
    /// When the call was journaled (it starts then, or when a call slot frees).
    pub since: i64,
}

/// A lease a new job is stored with: the worker that launched it takes it
/// directly ([`WorkTx::take_claimed`]), and no claim query spends time on it
/// meanwhile. Lapses like any lease if that worker dies first.
#[derive(Debug, Clone, Copy)]
pub struct JobLease<'a> {
    /// The worker that holds it.
    pub worker: &'a str,
    /// When it lapses.
    pub until: i64,
}

/// An event to store: its name and its data, as streamed.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Its name, as streamed (`"step"`, `"end"`...).
    pub kind: &'static str,
    /// Its data as JSON text.
    pub body: String,
}

/// An event as stored, with its place in the job's sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Its number in the job's sequence: from 1, without gaps, in commit
    /// order.
    pub seq: i64,
    /// Its name, as streamed.
    pub kind: String,
    /// Its data.
    pub data: Value,
}

/// Everything one batch of a job changed, written in one transaction.
#[derive(Debug, Default)]
pub struct BatchChanges {
    /// Row ids of the messages the batch processed (deleted).
    pub consumed: Vec<i64>,
    /// Expressions the batch created or changed (stored whole).
    pub upserts: Vec<Expression>,
    /// Feis of the expressions the batch ended (deleted).
    pub removals: Vec<String>,
    /// Messages the batch queued (participant calls are journaled, leased
    /// to the batch's worker).
    pub messages: Vec<NewMessage>,
    /// Feis whose pending dispatch must be withdrawn (their step was cancelled).
    pub withdrawn_dispatches: Vec<String>,
    /// Feis whose pending timers are deleted (their expression is gone).
    pub withdrawn_timers: Vec<String>,
    /// The job's new state, when it changed.
    pub job_state: Option<JobState>,
    /// The job's new fields, when they changed.
    pub job_fields: Option<Fields>,
    /// `Some(None)` clears the error.
    pub job_error: Option<Option<StepError>>,
    /// Locks the batch asked for or let go of (applied at the commit).
    pub locks: Vec<LockChange>,
}

/// The database behind the engine, and the job journal on it (see the
/// module documentation for what it owns and what its [`Catalogue`] owns).
/// Cheap to clone: clones share the connections.
#[derive(Clone)]
pub struct Store {
    /// Where statements run (see `sql.rs`).
    db: Db,
    backend: Backend,
    url: String,
    /// What tenants configure, on the same `db`.
    catalogue: Catalogue,
}

/// Milliseconds since the Unix epoch (0 if the clock is before it): how
/// every time in the store is written.
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
    ///
    /// # Errors
    /// [`StoreError::BadUrl`] for a URL of neither kind (or an in-memory
    /// SQLite database), [`StoreError::PostgresUrl`] for a PostgreSQL URL
    /// the driver refuses; [`StoreError::Migrate`] when a migration fails;
    /// [`StoreError::Database`], [`StoreError::Postgres`] or
    /// [`StoreError::Embedded`] when the database cannot be reached or
    /// opened.
    pub async fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let (backend, url, durability) = normalize_url(url)?;
        let db = match backend {
            Backend::Sqlite => {
                // sqlx runs the migrations (its table records which ran),
                // then the store's own connection takes over (see sql.rs).
                let pool = AnyPoolOptions::new().max_connections(1).connect(&url).await?;
                let migrated = sqlx::migrate!("../migrations/sqlite").run(&pool).await;
                pool.close().await;
                migrated?;
                sql::open_embedded(sqlite_path(&url), durability.unwrap_or_default())?
            }
            Backend::Postgres => {
                // sqlx runs the migrations; the store's statements go
                // through its own pool (see postgres.rs).
                let config = postgres::config(&url)?;
                let pool = AnyPoolOptions::new().max_connections(1).connect(&url).await?;
                let migrated = sqlx::migrate!("../migrations/postgres").run(&pool).await;
                pool.close().await;
                migrated?;
                let pool = postgres::PgPool::connect(config, PG_CONNECTIONS).await?;
                let wakeup = wakeup::Wakeup::start(pool.clone());
                Db::Pool(pool, wakeup)
            }
        };
        Ok(Store { catalogue: Catalogue::new(db.clone()), db, backend, url })
    }

    /// Which database the store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// How this store's commits reach the disk, as its database says
    /// (on PostgreSQL the server's own setting unless the URL chose).
    ///
    /// # Errors
    /// [`StoreError::Postgres`] or [`StoreError::Embedded`] when the
    /// database cannot be asked.
    pub async fn durability(&self) -> Result<Durability> {
        Ok(match self.backend {
            // `local`, `remote_write`, `remote_apply` and `on` all wait for
            // the local disk.
            Backend::Postgres => match self.db.fetch_one(&SYNCHRONOUS_COMMIT, args![]).await?.str("setting")? {
                "off" => Durability::Normal,
                _ => Durability::Full,
            },
            // 0 OFF (never set by the store), 1 NORMAL, 2 FULL, 3 EXTRA.
            Backend::Sqlite => match self.db.fetch_one(&SYNCHRONOUS, args![]).await?.int("synchronous")? {
                ..=1 => Durability::Normal,
                _ => Durability::Full,
            },
        })
    }

    /// What tenants configure (tenants, tokens, definitions, participants,
    /// secrets, triggers, schedules, the audit log), on this store's
    /// database.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// Closes the database's connections (a test's fresh database can then
    /// be dropped).
    pub async fn close(&self) {
        self.db.close().await;
    }

    /// Calls `wake` whenever another process queues work (PostgreSQL's
    /// LISTEN); returns at once on SQLite. Runs until the connection fails.
    ///
    /// # Errors
    /// [`StoreError::Database`] when the listening connection cannot be
    /// made or fails.
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
    ///
    /// # Errors
    /// A [`StoreError`] when the database fails.
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
                    job.definition_ref.clone(),
                    job.state.as_str(),
                    Value::Object(job.fields.clone()).to_string(),
                    job.created_at,
                    lease.map(|l| l.worker),
                    lease.map(|l| l.until),
                    job.dry_run.as_ref().map(Value::to_string),
                ],
            )
            .await?;
        if inserted != 1 {
            return Ok(false);
        }
        tx.execute(&INSERT_JOB_DEFINITION, args![&job.id, job.definition.to_string()]).await?;
        if let Some(first) = first {
            insert_message(&mut tx, &job.id, &job.tenant, first, None).await?;
            tx.wake_others_on_commit();
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Queues a message for a job outside any batch.
    ///
    /// # Errors
    /// A [`StoreError`] when the database fails.
    pub async fn enqueue(&self, job_id: &str, tenant: &str, message: &NewMessage) -> Result<()> {
        let mut tx = self.db.begin().await?;
        insert_message(&mut tx, job_id, tenant, message, None).await?;
        tx.wake_others_on_commit();
        tx.commit().await?;
        Ok(())
    }

    /// Records this worker as alive; leases of workers that stopped
    /// heartbeating lapse.
    ///
    /// # Errors
    /// A [`StoreError`] when the database fails.
    pub async fn heartbeat(&self, worker: &str) -> Result<()> {
        self.db.execute(&HEARTBEAT, args![worker, now_ms()]).await?;
        Ok(())
    }

    /// The workers that heartbeated within `stale_after`, by id.
    ///
    /// # Errors
    /// A [`StoreError`] when the database fails.
    pub async fn live_workers(&self, stale_after: Duration) -> Result<Vec<String>> {
        let since = now_ms() - stale_after.as_millis() as i64;
        let rows = self.db.fetch_all(&LIVE_WORKERS, args![since]).await?;
        rows.iter().map(|r| r.text("id")).collect()
    }

    /// Forgets a worker that stopped: the others stop counting it among
    /// the live (their shares of each tenant's calls grow at their next
    /// heartbeat), and what it still holds is theirs to take at once.
    ///
    /// # Errors
    /// A [`StoreError`] when the database fails.
    pub async fn retire_worker(&self, worker: &str) -> Result<()> {
        self.db.execute(&RETIRE_WORKER, args![worker]).await?;
        Ok(())
    }

    /// Forgets every lease (an embedded database has one process: whoever
    /// held a lease before it started is dead).
    ///
    /// # Errors
    /// A [`StoreError`] when the database fails.
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
    ///
    /// # Errors
    /// A [`StoreError`] when the database fails.
    pub async fn next_due(&self) -> Result<Option<i64>> {
        let row = self.db.fetch_one(&NEXT_DUE, args![now_ms()]).await?;
        row.opt_int("due")
    }
}

/// The PostgreSQL channel workers listen on: a message was queued.
pub const NOTIFY_CHANNEL: &str = "mastermind_work";

async fn insert_message(
    tx: &mut Tx,
    job_id: &str,
    tenant: &str,
    m: &NewMessage,
    lease_owner: Option<&str>,
) -> Result<i64> {
    let sent = send_message(tx, job_id, tenant, m, lease_owner).await?;
    let row = tx.answer(sent).await?.0.into_iter().next();
    row.ok_or_else(|| corrupt("message", "not stored"))?.int("id")
}

/// Sends [`insert_message`]'s INSERT; it answers the message's id.
async fn send_message(
    tx: &mut Tx,
    job_id: &str,
    tenant: &str,
    m: &NewMessage,
    lease_owner: Option<&str>,
) -> Result<sql::Sent> {
    let fei = message_fei(&m.message);
    let body = serde_json::to_string(&m.message).map_err(|e| corrupt("message", e))?;
    tx.send(&INSERT_MESSAGE, args![job_id, tenant, m.message.kind(), fei, body, m.due_at, lease_owner]).await
}

/// The expression a message is for (its row's `fei`).
fn message_fei(message: &Message) -> Option<String> {
    match message {
        Message::Dispatch(d) => Some(d.fei.0.clone()),
        Message::Apply { fei, .. }
        | Message::Cancel { fei, .. }
        | Message::Result { fei, .. }
        | Message::Timer { fei, .. }
        | Message::Decision { fei, .. }
        | Message::Granted { fei } => Some(fei.0.clone()),
        Message::Reply { to, .. } => Some(to.0.clone()),
        Message::Retry { .. } => None,
    }
}

/// The file behind a normalized `sqlite://PATH?mode` URL.
fn sqlite_path(url: &str) -> &str {
    let path = url.strip_prefix("sqlite://").unwrap_or(url);
    path.split_once('?').map_or(path, |(p, _)| p)
}

/// How a commit reaches the disk before it returns: the URL's
/// `durability=normal|full`. SQLite's default is `normal`; PostgreSQL's,
/// when the URL says nothing, is the server's own `synchronous_commit`
/// (`on` unless its operator changed it), which the store leaves alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// A commit is in the operating system's (SQLite) or the database
    /// server's (PostgreSQL) hands when it returns, not yet on the disk:
    /// a killed or crashed Mastermind process loses nothing; a power loss,
    /// an operating system crash, or (PostgreSQL) a crash of the server may
    /// lose the last commits, never the database's consistency (as if those
    /// transactions had not committed). SQLite's `synchronous=NORMAL` in WAL
    /// mode; PostgreSQL's `synchronous_commit=off` on the store's
    /// connections, where the server's WAL writer flushes within three
    /// `wal_writer_delay`s (600 ms by default).
    #[default]
    Normal,
    /// Every commit is on the disk (fsync) before it returns, and survives
    /// a power loss too: `synchronous=FULL`; `synchronous_commit=on`.
    Full,
}

impl Durability {
    /// As the URL says it.
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Normal => "normal",
            Durability::Full => "full",
        }
    }

    /// The PostgreSQL connection parameter that gives it (URL-encoded
    /// `options=-c synchronous_commit=...`, sent when a connection starts:
    /// no statement, no round trip).
    fn postgres_option(self) -> &'static str {
        match self {
            Durability::Normal => "options=-c%20synchronous_commit%3Doff",
            Durability::Full => "options=-c%20synchronous_commit%3Don",
        }
    }
}

/// A database URL fit to print: a password (in the authority or as
/// `password=`) replaced by `***`; any other URL as given.
pub fn redacted_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else { return url.to_owned() };
    let in_query = parsed.query_pairs().any(|(k, _)| k == "password");
    if parsed.password().is_none() && !in_query {
        return url.to_owned();
    }
    if parsed.password().is_some() {
        // Only a URL that cannot have a password refuses one.
        let _ = parsed.set_password(Some("***"));
    }
    if in_query {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| (k.to_string(), if k == "password" { "***".to_owned() } else { v.to_string() }))
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

/// Accepts `sqlite:PATH`, `sqlite://PATH`, a bare path, or a PostgreSQL
/// URL. `durability=` is the store's and is taken out of the URL (on
/// PostgreSQL it becomes the connections' `synchronous_commit`); the other
/// parameters stay.
fn normalize_url(url: &str) -> Result<(Backend, String, Option<Durability>)> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut durability = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("durability", "normal")) => durability = Some(Durability::Normal),
            Some(("durability", "full")) => durability = Some(Durability::Full),
            Some(("durability", _)) => {
                return Err(StoreError::BadDurability(redacted_url(url)));
            }
            _ => rest.push(pair),
        }
    }
    if base.starts_with("postgres://") || base.starts_with("postgresql://") {
        rest.extend(durability.map(Durability::postgres_option));
        let url = if rest.is_empty() { base.to_owned() } else { format!("{base}?{}", rest.join("&")) };
        return Ok((Backend::Postgres, url, durability));
    }
    let path = base.strip_prefix("sqlite://").or_else(|| base.strip_prefix("sqlite:")).unwrap_or(base);
    // An in-memory database would lose every job with the process.
    if path.is_empty() || path.contains("://") || path.starts_with(":memory:") {
        return Err(StoreError::BadUrl(redacted_url(url)));
    }
    let mode = if rest.is_empty() { "mode=rwc".to_owned() } else { rest.join("&") };
    Ok((Backend::Sqlite, format!("sqlite://{path}?{mode}"), Some(durability.unwrap_or_default())))
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
        let sqlite = |u: &str| normalize_url(u).map(|(b, url, _)| (b, sqlite_path(&url).to_owned())).ok();
        assert_eq!(sqlite("/tmp/a.db"), Some((Backend::Sqlite, "/tmp/a.db".into())));
        assert_eq!(sqlite("sqlite:///tmp/a.db"), Some((Backend::Sqlite, "/tmp/a.db".into())));
        assert_eq!(sqlite("sqlite:a.db?mode=rw"), Some((Backend::Sqlite, "a.db".into())));
        assert_eq!(normalize_url("postgres://u@h/db").unwrap().0, Backend::Postgres);
        let durability = |u: &str| normalize_url(u).map(|(_, url, d)| (url, d)).ok();
        assert_eq!(durability("a.db"), Some(("sqlite://a.db?mode=rwc".into(), Some(Durability::Normal))));
        assert_eq!(
            durability("sqlite:a.db?durability=full"),
            Some(("sqlite://a.db?mode=rwc".into(), Some(Durability::Full)))
        );
        assert_eq!(
            durability("sqlite:a.db?mode=rw&durability=normal"),
            Some(("sqlite://a.db?mode=rw".into(), Some(Durability::Normal)))
        );
        // PostgreSQL: the server's own unless the URL says, then the
        // connections' option; the URL's other parameters stay.
        assert_eq!(durability("postgres://u@h/db"), Some(("postgres://u@h/db".into(), None)));
        assert_eq!(
            durability("postgres://u@h/db?sslmode=disable&durability=normal"),
            Some((
                "postgres://u@h/db?sslmode=disable&options=-c%20synchronous_commit%3Doff".into(),
                Some(Durability::Normal)
            ))
        );
        assert_eq!(
            durability("postgresql://u@h/db?durability=full"),
            Some(("postgresql://u@h/db?options=-c%20synchronous_commit%3Don".into(), Some(Durability::Full)))
        );
        assert_eq!(redacted_url("postgres://me:hunter2@h:5432/db"), "postgres://me:***@h:5432/db");
        assert_eq!(redacted_url("postgres://h/db?user=me&password=hunter2"), "postgres://h/db?user=me&password=***");
        assert_eq!(redacted_url("postgres://me@h/db"), "postgres://me@h/db");
        let refused = normalize_url("postgres://me:hunter2@h/db?durability=off").unwrap_err().to_string();
        assert!(refused.contains("me:***@h") && !refused.contains("hunter2"), "{refused}");
        assert_eq!(redacted_url("sqlite:/tmp/a.db"), "sqlite:/tmp/a.db");
        assert_eq!(redacted_url("/tmp/a.db"), "/tmp/a.db");
        // A PostgreSQL URL the driver refuses says why, before connecting.
        let (_, url, _) = normalize_url("postgres://me:hunter2@127.0.0.1:1/db?no_such_option=1").unwrap();
        let refused = postgres::config(&url).unwrap_err().to_string();
        assert!(refused.contains("no_such_option") && refused.contains("me:***@"), "{refused}");
        assert!(!refused.contains("hunter2") && !refused.contains("unsupported"), "{refused}");
        let unsupported = normalize_url("mysql://me:hunter2@h/db").unwrap_err().to_string();
        assert!(unsupported.contains("me:***@h") && !unsupported.contains("hunter2"), "{unsupported}");
        for bad in [
            "",
            "sqlite::memory:",
            ":memory:",
            "mysql://h/db",
            "a.db?durability=always",
            "postgres://h/db?durability=off",
        ] {
            assert!(normalize_url(bad).is_err(), "{bad}");
        }
    }
}
