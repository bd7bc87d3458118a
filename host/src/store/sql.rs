//! Running a statement on either database, written once.
//!
//! PostgreSQL goes through tokio-postgres (`store::postgres`), which sends
//! a transaction's statements without waiting for each answer (they travel
//! together until an answer is needed, [`Tx::send`], [`Tx::answer`]). The
//! embedded SQLite database goes through one rusqlite connection that
//! statements use in place, under an async mutex: sqlx's SQLite driver
//! sends every statement to a thread of its own and waits for the answer,
//! and on these machines the two thread wake-ups cost more than SQLite
//! executing the statement (a step is about nine statements; see
//! docs/benchmarks.md). Here a whole transaction runs without leaving the
//! task that holds the connection.
//!
//! Guarantees:
//! - Statements use PostgreSQL's `$N` markers on both databases; each
//!   marker takes argument N, wherever it appears.
//! - A [`Tx`] dropped without [`Tx::commit`] is rolled back: on SQLite
//!   before the connection is released, on PostgreSQL before the connection
//!   serves another (`store::postgres`).
//! - A transaction's statements run in the order they were sent; an
//!   answer is read once every earlier statement has answered, and a
//!   statement that fails fails the transaction, whose commit then fails.
//! - An embedded transaction takes the write lock when it begins (`BEGIN
//!   IMMEDIATE`), so it never fails half-way for want of the lock.
//!
//! ```no_run
//! # async fn demo(store: &mastermind::store::Store) -> Result<(), mastermind::store::StoreError> {
//! let running = store.jobs_in_state(mastermind::model::JobState::Running).await?;
//! # Ok(()) }
//! ```

use super::postgres::{Answer, PgPool, PgTx};
use super::{Backend, Result, StoreError};
use rusqlite::types::{ToSqlOutput, ValueRef};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// A statement the store runs, named: every one is listed by
/// [`statements()`](super::statements()) (fixed texts through `statements!`,
/// texts built at run time through a named function), so a test can
/// prepare them all on both databases, and an error can say which failed.
#[derive(Debug, Clone)]
pub struct Statement {
    name: &'static str,
    sql: Cow<'static, str>,
    /// The one database it runs on, when not both.
    only: Option<Backend>,
}

impl Statement {
    /// Only [`statements!`] calls this: a fixed text is listed by it.
    pub(crate) const fn fixed(name: &'static str, sql: &'static str, only: Option<Backend>) -> Self {
        Statement { name, sql: Cow::Borrowed(sql), only }
    }

    /// A text built at run time by the function `name` (markers, constants).
    pub(crate) fn built(name: &'static str, sql: String) -> Self {
        Statement { name, sql: Cow::Owned(sql), only: None }
    }

    /// Runs on `backend` only (a text one database needs and the other
    /// would run worse, or not at all).
    pub(crate) fn only_on(mut self, backend: Backend) -> Self {
        self.only = Some(backend);
        self
    }

    /// `module::NAME` for a fixed text, `module::function` for a built one.
    pub fn name(&self) -> &'static str {
        self.name.strip_prefix("mastermind::").unwrap_or(self.name)
    }

    /// Its text, with PostgreSQL's `$N` markers (as run on either
    /// database).
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// Whether the store runs it on `backend` (`pg_notify` is PostgreSQL's,
    /// `BEGIN IMMEDIATE` SQLite's).
    pub fn runs_on(&self, backend: Backend) -> bool {
        self.only.is_none_or(|only| only == backend)
    }
}

/// `statements! { NAME = "SQL"; ... }`: a module's fixed statements, each a
/// static named after itself, and `STATEMENTS`, all of them, which
/// [`statements()`](super::statements()) lists. `NAME (Postgres) = ...` runs on
/// that database only. Texts are literals or `concat!` of literals.
macro_rules! statements {
    ($($(#[$doc:meta])* $name:ident $(($only:ident))? = $sql:expr;)*) => {
        $(
            $(#[$doc])*
            pub(super) static $name: $crate::store::sql::Statement = $crate::store::sql::Statement::fixed(
                concat!(module_path!(), "::", stringify!($name)),
                $sql,
                $crate::store::sql::only!($($only)?),
            );
        )*
        /// This module's fixed statements.
        pub(super) static STATEMENTS: &[&$crate::store::sql::Statement] = &[$(&$name),*];
    };
}
pub(crate) use statements;

macro_rules! only {
    () => {
        None
    };
    ($backend:ident) => {
        Some($crate::store::Backend::$backend)
    };
}
pub(crate) use only;

statements! {
    /// Takes the write lock at once (see the module documentation).
    BEGIN_IMMEDIATE (Sqlite) = "BEGIN IMMEDIATE";
    COMMIT (Sqlite) = "COMMIT";
    ROLLBACK (Sqlite) = "ROLLBACK";
}

/// A statement's argument, or a column's value. NULLs keep their type:
/// PostgreSQL needs it to bind them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SqlValue {
    Int(Option<i64>),
    Text(Option<String>),
    Blob(Option<Vec<u8>>),
}

impl From<i64> for SqlValue {
    fn from(v: i64) -> Self {
        SqlValue::Int(Some(v))
    }
}

impl From<Option<i64>> for SqlValue {
    fn from(v: Option<i64>) -> Self {
        SqlValue::Int(v)
    }
}

impl From<bool> for SqlValue {
    fn from(v: bool) -> Self {
        SqlValue::Int(Some(i64::from(v)))
    }
}

impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        SqlValue::Text(Some(v.to_owned()))
    }
}

impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        SqlValue::Text(Some(v))
    }
}

impl From<&String> for SqlValue {
    fn from(v: &String) -> Self {
        SqlValue::Text(Some(v.clone()))
    }
}

impl From<Option<String>> for SqlValue {
    fn from(v: Option<String>) -> Self {
        SqlValue::Text(v)
    }
}

impl From<Option<&str>> for SqlValue {
    fn from(v: Option<&str>) -> Self {
        SqlValue::Text(v.map(str::to_owned))
    }
}

impl From<Vec<u8>> for SqlValue {
    fn from(v: Vec<u8>) -> Self {
        SqlValue::Blob(Some(v))
    }
}

/// `args![a, b, ...]`: a statement's arguments, `$1`, `$2`, ...
macro_rules! args {
    ($($arg:expr),* $(,)?) => { vec![$($crate::store::sql::SqlValue::from($arg)),*] };
}
pub(crate) use args;

impl rusqlite::ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            SqlValue::Int(Some(v)) => ValueRef::Integer(*v),
            SqlValue::Text(Some(v)) => ValueRef::Text(v.as_bytes()),
            SqlValue::Blob(Some(v)) => ValueRef::Blob(v),
            SqlValue::Int(None) | SqlValue::Text(None) | SqlValue::Blob(None) => ValueRef::Null,
        }))
    }
}

/// One result row, read by column name: a statement's columns can be
/// reordered or added without a mapper reading the wrong one.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    /// The result set's column names, shared by all its rows.
    columns: Arc<[String]>,
    values: Vec<SqlValue>,
}

impl Row {
    pub(super) fn new(columns: Arc<[String]>, values: Vec<SqlValue>) -> Self {
        Row { columns, values }
    }
}

fn column_error(column: &str, wanted: &str, got: &SqlValue) -> StoreError {
    StoreError::Corrupt { what: "column", detail: format!("column '{column}': wanted {wanted}, found {got:?}") }
}

impl Row {
    fn get(&self, column: &str) -> Result<&SqlValue> {
        // A linear scan: rows have a dozen columns at most.
        let i = self.columns.iter().position(|c| c == column);
        i.and_then(|i| self.values.get(i)).ok_or_else(|| StoreError::Corrupt {
            what: "column",
            detail: format!("no column '{column}' in the row (it has {:?})", self.columns),
        })
    }

    pub fn int(&self, column: &str) -> Result<i64> {
        self.opt_int(column)?.ok_or_else(|| column_error(column, "an integer", &SqlValue::Int(None)))
    }

    pub fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        match self.get(column)? {
            SqlValue::Int(v) => Ok(*v),
            SqlValue::Text(None) | SqlValue::Blob(None) => Ok(None),
            other => Err(column_error(column, "an integer", other)),
        }
    }

    pub fn text(&self, column: &str) -> Result<String> {
        self.str(column).map(str::to_owned)
    }

    /// Text borrowed from the row (JSON bodies are parsed from it, not copied).
    pub fn str(&self, column: &str) -> Result<&str> {
        match self.get(column)? {
            SqlValue::Text(Some(v)) => Ok(v),
            other => Err(column_error(column, "text", other)),
        }
    }

    pub fn opt_text(&self, column: &str) -> Result<Option<String>> {
        match self.get(column)? {
            SqlValue::Text(v) => Ok(v.clone()),
            SqlValue::Int(None) | SqlValue::Blob(None) => Ok(None),
            other => Err(column_error(column, "text", other)),
        }
    }

    pub fn blob(&self, column: &str) -> Result<Vec<u8>> {
        match self.get(column)? {
            SqlValue::Blob(Some(v)) => Ok(v.clone()),
            SqlValue::Text(Some(v)) => Ok(v.clone().into_bytes()),
            other => Err(column_error(column, "bytes", other)),
        }
    }
}

/// Where statements run.
#[derive(Clone)]
pub(crate) enum Db {
    Embedded(Arc<Mutex<rusqlite::Connection>>),
    /// PostgreSQL, and how its transactions wake other processes.
    Pool(PgPool, Arc<super::wakeup::Wakeup>),
}

/// The embedded connection waits this long for another connection's write
/// lock (a second process on the same file, or a tool) before failing.
const EMBEDDED_BUSY: Duration = Duration::from_secs(10);

/// WAL pages after which a commit checkpoints itself: a backstop, for
/// when the background checkpointer falls behind (see [`open_embedded`]).
const WAL_AUTOCHECKPOINT_PAGES: i64 = 10_000;

/// How often the background checkpointer copies the WAL into the database:
/// often, so each copy is small (at 200 ms and 1 s the API bench's p99 was
/// 18-22 and 33-35 ms, at 50 ms 5-6 ms; docs/benchmarks.md).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// Opens the embedded database's connection (already migrated).
pub(crate) fn open_embedded(path: &str, durability: super::Durability) -> Result<Db> {
    use rusqlite::OpenFlags;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = connect(path, flags)?;
    // WAL: readers never block the writer; NORMAL sync is durable against a
    // killed process, FULL against a power loss too (docs/benchmarks.md,
    // "Durability").
    conn.pragma_update(None, "journal_mode", "WAL").map_err(embedded_error)?;
    let synchronous = match durability {
        super::Durability::Normal => "NORMAL",
        super::Durability::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", synchronous).map_err(embedded_error)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(embedded_error)?;
    // The commit that crosses this many WAL pages copies them into the
    // database first, inside the commit: at SQLite's default (1,000 pages)
    // 4-5 ms once in a hundred steps, at 10,000 pages ten times rarer and
    // ten times longer (45-50 ms: the API's p99, docs/benchmarks.md). A
    // thread of its own checkpoints instead, off every commit; the setting
    // stays as a backstop.
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES).map_err(embedded_error)?;
    conn.busy_timeout(EMBEDDED_BUSY).map_err(embedded_error)?;
    // Every statement the store runs, prepared once.
    conn.set_prepared_statement_cache_capacity(512);
    let writer = Arc::new(Mutex::new(conn));
    spawn_checkpointer(path, Arc::downgrade(&writer))?;
    Ok(Db::Embedded(writer))
}

/// Copies the WAL into the database every [`CHECKPOINT_EVERY`] on a
/// connection of its own, until the store's connection is gone. PASSIVE:
/// it never waits for the writer or a reader, and copies what it can; the
/// writer then starts the WAL over from its beginning, so the file stays
/// small and no commit pays for a checkpoint.
fn spawn_checkpointer(path: &str, writer: std::sync::Weak<Mutex<rusqlite::Connection>>) -> Result<()> {
    use rusqlite::OpenFlags;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = connect(path, flags)?;
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while writer.strong_count() > 0 {
                std::thread::sleep(CHECKPOINT_EVERY);
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::debug!(error = %e, "background checkpoint");
                }
            }
        })
        .map_err(|e| StoreError::Embedded(format!("starting the checkpoint thread: {e}")))?;
    Ok(())
}

/// A connection to the embedded file, through the VFS that writes each
/// commit's WAL frames at once (`store/wal_writes.rs`).
fn connect(path: &str, flags: rusqlite::OpenFlags) -> Result<rusqlite::Connection> {
    let vfs = super::wal_writes::vfs().map_err(StoreError::Embedded)?;
    rusqlite::Connection::open_with_flags_and_vfs(path, flags, vfs).map_err(embedded_error)
}

fn embedded_error(e: rusqlite::Error) -> StoreError {
    StoreError::Embedded(e.to_string())
}

/// Runs one statement on the embedded connection: rows and changed rows.
fn run_embedded(conn: &rusqlite::Connection, statement: &Statement, args: &[SqlValue]) -> Result<Answer> {
    let mut stmt = conn.prepare_cached(statement.sql()).map_err(embedded_error)?;
    for i in 1..=stmt.parameter_count() {
        let name = stmt.parameter_name(i).unwrap_or_default();
        let arg =
            name.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()).and_then(|n| args.get(n.wrapping_sub(1)));
        let Some(arg) = arg else {
            let statement = statement.name();
            return Err(StoreError::Embedded(format!("parameter '{name}' of {statement} has no argument")));
        };
        stmt.raw_bind_parameter(i, arg).map_err(embedded_error)?;
    }
    // Named once per result set, when it has a row.
    let mut columns: Option<Arc<[String]>> = None;
    let names = |stmt: &rusqlite::Statement<'_>| -> Arc<[String]> {
        stmt.column_names().into_iter().map(str::to_owned).collect()
    };
    let count = stmt.column_count();
    let mut rows = Vec::new();
    let mut cursor = stmt.raw_query();
    while let Some(row) = cursor.next().map_err(embedded_error)? {
        let columns = columns.get_or_insert_with(|| names(AsRef::as_ref(row))).clone();
        let mut values = Vec::with_capacity(count);
        for i in 0..count {
            values.push(match row.get_ref(i).map_err(embedded_error)? {
                ValueRef::Null => SqlValue::Text(None),
                ValueRef::Integer(v) => SqlValue::Int(Some(v)),
                ValueRef::Real(v) => SqlValue::Int(Some(v as i64)),
                ValueRef::Text(v) => SqlValue::Text(Some(String::from_utf8_lossy(v).into_owned())),
                ValueRef::Blob(v) => SqlValue::Blob(Some(v.to_vec())),
            });
        }
        rows.push(Row { columns, values });
    }
    drop(cursor);
    Ok((rows, conn.changes()))
}

impl Db {
    /// Runs a statement outside any transaction: its rows.
    pub async fn fetch_all(&self, statement: &Statement, args: Vec<SqlValue>) -> Result<Vec<Row>> {
        Ok(self.run(statement, args).await?.0)
    }

    pub async fn fetch_optional(&self, statement: &Statement, args: Vec<SqlValue>) -> Result<Option<Row>> {
        Ok(self.fetch_all(statement, args).await?.into_iter().next())
    }

    pub async fn fetch_one(&self, statement: &Statement, args: Vec<SqlValue>) -> Result<Row> {
        self.fetch_optional(statement, args).await?.ok_or_else(|| missing_row(statement))
    }

    /// Runs a statement outside any transaction: how many rows it changed.
    pub async fn execute(&self, statement: &Statement, args: Vec<SqlValue>) -> Result<u64> {
        Ok(self.run(statement, args).await?.1)
    }

    async fn run(&self, statement: &Statement, args: Vec<SqlValue>) -> Result<Answer> {
        match self {
            Db::Embedded(conn) => run_embedded(&*conn.lock().await, statement, &args),
            Db::Pool(pool, _) => pool.run(statement, args).await,
        }
    }

    pub async fn begin(&self) -> Result<Tx> {
        let conn = match self {
            Db::Embedded(conn) => {
                let conn = conn.clone().lock_owned().await;
                run_embedded(&conn, &BEGIN_IMMEDIATE, &[])?;
                TxConn::Embedded(EmbeddedTx(conn))
            }
            Db::Pool(pool, wakeup) => TxConn::Pool(pool.begin().await?, wakeup.clone()),
        };
        Ok(Tx { conn, answers: HashMap::new(), sent: 0, wake: false })
    }

    pub async fn close(&self) {
        if let Db::Pool(pool, _) = self {
            pool.close();
        }
    }
}

fn missing_row(statement: &Statement) -> StoreError {
    StoreError::Corrupt { what: "row", detail: format!("{} returned no row", statement.name()) }
}

/// A transaction; see the module documentation. Each statement is sent
/// ([`Tx::send`]) and its answer read when needed ([`Tx::answer`]): on
/// PostgreSQL the statements sent meanwhile travel together
/// (`store::postgres`); the embedded database answers each at once.
pub(crate) struct Tx {
    conn: TxConn,
    /// Answers arrived and not yet taken, by the number [`Sent`] holds.
    answers: HashMap<usize, Answer>,
    /// Statements sent so far (the next one's number).
    sent: usize,
    /// Once committed, other processes' workers are woken (PostgreSQL).
    wake: bool,
}

enum TxConn {
    Embedded(EmbeddedTx),
    /// A PostgreSQL transaction, and how its commit wakes other processes
    /// (`store::wakeup`).
    Pool(PgTx, Arc<super::wakeup::Wakeup>),
}

/// A statement sent in a transaction, its answer not read yet.
#[must_use = "a statement's answer is read with Tx::answer or Answers::take"]
#[derive(Debug)]
pub(crate) struct Sent(usize);

/// What a committed transaction's statements answered and no one read
/// before the commit.
pub(crate) struct Answers(HashMap<usize, Answer>);

impl Answers {
    /// `sent`'s rows and the rows it changed.
    pub fn take(&mut self, sent: Sent) -> Result<Answer> {
        self.0.remove(&sent.0).ok_or_else(|| unanswered(&sent))
    }
}

fn unanswered(sent: &Sent) -> StoreError {
    StoreError::Corrupt { what: "transaction", detail: format!("statement {} has no answer", sent.0) }
}

/// The embedded connection, held for the length of a transaction.
pub(crate) struct EmbeddedTx(OwnedMutexGuard<rusqlite::Connection>);

impl Tx {
    pub fn backend(&self) -> Backend {
        match self.conn {
            TxConn::Embedded(_) => Backend::Sqlite,
            TxConn::Pool(..) => Backend::Postgres,
        }
    }

    /// Sends a statement without waiting for its answer (the embedded
    /// database runs it at once). A statement that fails fails the
    /// transaction: the error comes from this call, a later
    /// [`Tx::answer`] or the commit.
    pub async fn send(&mut self, statement: &Statement, args: Vec<SqlValue>) -> Result<Sent> {
        let n = self.sent;
        self.sent += 1;
        match &mut self.conn {
            TxConn::Embedded(tx) => {
                let answer = run_embedded(&tx.0, statement, &args)?;
                self.answers.insert(n, answer);
            }
            TxConn::Pool(tx, _) => tx.send(n, statement, args, &mut self.answers).await?,
        }
        Ok(Sent(n))
    }

    /// Sends a statement whose answer no one reads (a write): its failure
    /// fails the transaction all the same.
    pub async fn queue(&mut self, statement: &Statement, args: Vec<SqlValue>) -> Result<()> {
        let sent = self.send(statement, args).await?;
        self.forget(sent);
        Ok(())
    }

    /// No one reads `sent`'s answer (an answer still to come is dropped
    /// with the transaction's).
    pub fn forget(&mut self, sent: Sent) {
        self.answers.remove(&sent.0);
    }

    /// What `sent` answered (its rows, and the rows it changed), once every
    /// statement sent before it has.
    pub async fn answer(&mut self, sent: Sent) -> Result<Answer> {
        if let TxConn::Pool(tx, _) = &mut self.conn {
            tx.read_through(sent.0, &mut self.answers).await?;
        }
        self.answers.remove(&sent.0).ok_or_else(|| unanswered(&sent))
    }

    pub async fn fetch_all(&mut self, statement: &Statement, args: Vec<SqlValue>) -> Result<Vec<Row>> {
        let sent = self.send(statement, args).await?;
        Ok(self.answer(sent).await?.0)
    }

    pub async fn fetch_optional(&mut self, statement: &Statement, args: Vec<SqlValue>) -> Result<Option<Row>> {
        Ok(self.fetch_all(statement, args).await?.into_iter().next())
    }

    pub async fn fetch_one(&mut self, statement: &Statement, args: Vec<SqlValue>) -> Result<Row> {
        self.fetch_optional(statement, args).await?.ok_or_else(|| missing_row(statement))
    }

    pub async fn execute(&mut self, statement: &Statement, args: Vec<SqlValue>) -> Result<u64> {
        let sent = self.send(statement, args).await?;
        Ok(self.answer(sent).await?.1)
    }

    /// Once this transaction commits, other processes' workers are woken
    /// (PostgreSQL; an embedded database has one process).
    pub fn wake_others_on_commit(&mut self) {
        self.wake = self.backend() == Backend::Postgres;
    }

    pub async fn commit(self) -> Result<()> {
        self.commit_answering().await.map(drop)
    }

    /// Commits; returns the answers of the statements sent and not read.
    pub async fn commit_answering(mut self) -> Result<Answers> {
        match &mut self.conn {
            TxConn::Embedded(tx) => run_embedded(&tx.0, &COMMIT, &[]).map(drop)?,
            TxConn::Pool(tx, wakeup) => {
                tx.commit(&mut self.answers).await?;
                if self.wake {
                    wakeup.wake();
                }
            }
        }
        Ok(Answers(std::mem::take(&mut self.answers)))
    }
}

impl Drop for EmbeddedTx {
    /// Not committed (an error, or a task cancelled mid-transaction): undo
    /// before the next user of the connection gets it.
    fn drop(&mut self) {
        if !self.0.is_autocommit()
            && let Err(e) = self.0.execute_batch(ROLLBACK.sql())
        {
            tracing::error!(error = %e, "rolling back an embedded transaction failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A statement of the test's own.
    fn st(sql: &'static str) -> Statement {
        Statement::fixed("test", sql, None)
    }

    fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = open_embedded(dir.path().join("t.db").to_str().unwrap(), Default::default()).unwrap();
        (dir, db)
    }

    #[tokio::test]
    async fn durability_chooses_how_commits_are_synced() {
        for (durability, expected) in [(super::super::Durability::Normal, 1), (super::super::Durability::Full, 2)] {
            let dir = tempfile::tempdir().unwrap();
            let Db::Embedded(conn) = open_embedded(dir.path().join("t.db").to_str().unwrap(), durability).unwrap()
            else {
                unreachable!()
            };
            let synchronous: i64 = conn.lock().await.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
            assert_eq!(synchronous, expected, "{durability:?}");
        }
    }

    #[tokio::test]
    async fn markers_take_their_numbered_argument_wherever_they_appear() {
        let (_dir, db) = db();
        db.execute(&st("CREATE TABLE t (a INTEGER, b TEXT, c BLOB)"), args![]).await.unwrap();
        db.execute(&st("INSERT INTO t (b, a, c) VALUES ($2, $1, $3)"), args![7, "seven", vec![1u8, 2]]).await.unwrap();
        let row = db
            .fetch_one(&st("SELECT a, b, c, NULL AS d FROM t WHERE a = $1 AND b = $2"), args![7, "seven"])
            .await
            .unwrap();
        assert_eq!(
            (row.int("a").unwrap(), row.text("b").unwrap(), row.blob("c").unwrap()),
            (7, "seven".into(), vec![1, 2])
        );
        assert_eq!((row.opt_int("d").unwrap(), row.opt_text("d").unwrap()), (None, None));
        assert!(row.int("b").is_err(), "text is not an integer");
        let missing = row.text("e").unwrap_err().to_string();
        assert!(missing.contains("'e'"), "{missing}");
        let err = db.execute(&st("INSERT INTO t (a) VALUES ($4)"), args![1]).await.unwrap_err();
        assert!(err.to_string().contains("$4"), "{err}");
    }

    #[tokio::test]
    async fn a_dropped_transaction_is_rolled_back_and_a_committed_one_kept() {
        let (_dir, db) = db();
        db.execute(&st("CREATE TABLE t (a INTEGER)"), args![]).await.unwrap();
        let mut tx = db.begin().await.unwrap();
        tx.execute(&st("INSERT INTO t VALUES (1)"), args![]).await.unwrap();
        drop(tx);
        let mut tx = db.begin().await.unwrap();
        assert_eq!(tx.execute(&st("INSERT INTO t VALUES (2)"), args![]).await.unwrap(), 1);
        tx.commit().await.unwrap();
        let rows = db.fetch_all(&st("SELECT a FROM t"), args![]).await.unwrap();
        assert_eq!(rows.iter().map(|r| r.int("a").unwrap()).collect::<Vec<_>>(), vec![2]);
    }
}
