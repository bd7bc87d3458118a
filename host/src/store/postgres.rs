//! PostgreSQL through tokio-postgres: a pool, and transactions whose
//! statements are pipelined.
//!
//! Why not sqlx here (it still runs the migrations and `Store::listen`):
//! sqlx waits for each statement's answer before it sends the next, so a
//! transaction of n statements costs n + 2 round trips (`BEGIN`,
//! `COMMIT`). tokio-postgres sends a request when its future is first
//! polled and hands the answers back in order, so statements whose answers
//! are not needed yet travel together ([`PgTx::send`]): a worker's step,
//! which needs one answer (the job and its messages) before it can compute
//! its writes, costs two round trips (`store::work`).
//!
//! Guarantees:
//! - A transaction's statements run in the order they were sent, `BEGIN`
//!   first, and an answer is read only once every earlier one was
//!   ([`PgTx::read_through`]).
//! - A statement that fails fails the transaction: PostgreSQL refuses every
//!   later one, and [`PgTx::commit`] returns the first error (its `COMMIT`
//!   only rolls back). Nothing of it is stored.
//! - A transaction dropped before its commit is rolled back before its
//!   connection serves anyone else: a task holds the connection until its
//!   `ROLLBACK` was answered.
//! - Arguments are bound with the types sqlx gave them (`bigint`, `text`,
//!   `bytea`; a NULL keeps its type), so a statement's text means the same
//!   on both drivers; each connection prepares a statement once.
//!
//! ```no_run
//! # async fn demo(store: &mastermind::store::Store) -> Result<(), mastermind::store::StoreError> {
//! // Every PostgreSQL statement of the store's runs here.
//! let running = store.jobs_in_state(mastermind::model::JobState::Running).await?;
//! # Ok(()) }
//! ```

use super::sql::{Row, SqlValue, Statement};
use super::{Result, StoreError};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use futures_util::StreamExt;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

/// How long a statement waits for a free connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// A statement's rows and the rows it changed.
pub(super) type Answer = (Vec<Row>, u64);

type Pending = Pin<Box<dyn Future<Output = std::result::Result<Answer, tokio_postgres::Error>> + Send>>;

/// The store's PostgreSQL connections.
#[derive(Clone)]
pub(crate) struct PgPool(Pool);

impl PgPool {
    /// A pool of at most `connections` on `config` (see [`config`]);
    /// connects once, so an unreachable server fails here.
    pub(crate) async fn connect(config: tokio_postgres::Config, connections: usize) -> Result<Self> {
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            // A broken connection fails its statement and is replaced; a
            // ping before every use would double the round trips.
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(connections)
            .wait_timeout(Some(ACQUIRE_TIMEOUT))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let pool = PgPool(pool);
        drop(pool.get().await?);
        Ok(pool)
    }

    async fn get(&self) -> Result<Object> {
        self.0.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => StoreError::Postgres(e),
            other => StoreError::Unavailable(other.to_string()),
        })
    }

    /// Runs one statement on its own (its own transaction).
    pub(crate) async fn run(&self, statement: &Statement, args: Vec<SqlValue>) -> Result<Answer> {
        let client = self.get().await?;
        let prepared = prepare(&client, statement, &args).await?;
        Ok(answer(&client, &prepared, &args).await?)
    }

    /// Begins a transaction; its `BEGIN` travels with its first statement.
    pub(crate) async fn begin(&self) -> Result<PgTx> {
        let client = Arc::new(self.get().await?);
        let runtime = tokio::runtime::Handle::current();
        let mut tx = PgTx { client, runtime, pending: VecDeque::new(), finished: false };
        tx.push(None, tx.simple("BEGIN")).await;
        Ok(tx)
    }

    pub(crate) fn close(&self) {
        self.0.close();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

/// The connections' settings from `url` (a `postgres://` URL as the store
/// normalized it): read before anything connects, so a URL this driver
/// refuses (an option it does not know) says so, not a migration's error.
pub(crate) fn config(url: &str) -> Result<tokio_postgres::Config> {
    url.parse().map_err(|e: tokio_postgres::Error| StoreError::PostgresUrl {
        url: super::redacted_url(url),
        reason: super::with_causes(&e),
    })
}

/// Prepares `statement` on `client` (once per connection: the pool's
/// statement cache) with the types of `args`.
async fn prepare(client: &Object, statement: &Statement, args: &[SqlValue]) -> Result<tokio_postgres::Statement> {
    let types: Vec<Type> = args.iter().map(SqlValue::pg_type).collect();
    client.prepare_typed_cached(statement.sql(), &types).await.map_err(|e| named(statement, e))
}

fn named(statement: &Statement, e: tokio_postgres::Error) -> StoreError {
    tracing::debug!(statement = statement.name(), error = %e, "statement refused");
    StoreError::Postgres(e)
}

/// Runs a prepared statement: its rows (columns converted) and the rows it
/// changed.
async fn answer(
    client: &tokio_postgres::Client,
    prepared: &tokio_postgres::Statement,
    args: &[SqlValue],
) -> std::result::Result<Answer, tokio_postgres::Error> {
    let stream = client.query_raw(prepared, args.iter()).await?;
    futures_util::pin_mut!(stream);
    let mut rows = Vec::new();
    let mut columns: Option<Arc<[String]>> = None;
    while let Some(row) = stream.next().await {
        let row = row?;
        let names = columns.get_or_insert_with(|| row.columns().iter().map(|c| c.name().to_owned()).collect());
        rows.push(Row::new(names.clone(), values(&row)?));
    }
    Ok((rows, stream.rows_affected().unwrap_or(0)))
}

/// A row's values, by their columns' types.
fn values(row: &tokio_postgres::Row) -> std::result::Result<Vec<SqlValue>, tokio_postgres::Error> {
    (0..row.len())
        .map(|i| {
            Ok(match *row.columns()[i].type_() {
                Type::INT8 => SqlValue::Int(row.try_get(i)?),
                Type::INT4 => SqlValue::Int(row.try_get::<_, Option<i32>>(i)?.map(i64::from)),
                Type::INT2 => SqlValue::Int(row.try_get::<_, Option<i16>>(i)?.map(i64::from)),
                Type::BOOL => SqlValue::Int(row.try_get::<_, Option<bool>>(i)?.map(i64::from)),
                Type::BYTEA => SqlValue::Blob(row.try_get(i)?),
                // Text, and anything else text-like; another type is an
                // error naming it.
                _ => SqlValue::Text(row.try_get(i)?),
            })
        })
        .collect()
}

impl SqlValue {
    /// The type it is bound as (sqlx's, see the module documentation).
    fn pg_type(&self) -> Type {
        match self {
            SqlValue::Int(_) => Type::INT8,
            SqlValue::Text(_) => Type::TEXT,
            SqlValue::Blob(_) => Type::BYTEA,
        }
    }
}

impl ToSql for SqlValue {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            SqlValue::Int(v) => v.to_sql_checked(ty, out),
            SqlValue::Text(v) => v.as_deref().to_sql_checked(ty, out),
            SqlValue::Blob(v) => v.as_deref().to_sql_checked(ty, out),
        }
    }

    /// Checked per value, by the conversion it delegates to.
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A transaction on one connection (see the module documentation).
pub(crate) struct PgTx {
    client: Arc<Object>,
    /// Where the rollback of a transaction dropped runs.
    runtime: tokio::runtime::Handle,
    /// Statements sent, their answers not read yet, in order: the number
    /// [`PgTx::send`] was given (None for `BEGIN` and `COMMIT`), and the
    /// answer to come.
    pending: VecDeque<(Option<usize>, Pending)>,
    /// Committed: nothing to roll back.
    finished: bool,
}

impl PgTx {
    /// Sends `statement` (preparing it first if this connection has not),
    /// its answer to be read by [`PgTx::read_through`] as number `n`.
    ///
    /// tokio-postgres hands a request's answer over a channel of one
    /// message, and reads nothing more from the server until that answer is
    /// taken: whatever waits on the connection must wait for the oldest
    /// answer first. A statement not yet prepared waits for its `Parse`
    /// answer, so the answers before it are read first, into `answers`.
    pub(crate) async fn send(
        &mut self,
        n: usize,
        statement: &Statement,
        args: Vec<SqlValue>,
        answers: &mut HashMap<usize, Answer>,
    ) -> Result<()> {
        let client = self.client.clone();
        let prepared = {
            let mut preparing = std::pin::pin!(prepare(&client, statement, &args));
            match std::future::poll_fn(|cx| Poll::Ready(preparing.as_mut().poll(cx))).await {
                Poll::Ready(prepared) => prepared,
                Poll::Pending => {
                    // An earlier statement's failure is the one to report.
                    self.read_through(usize::MAX, answers).await?;
                    preparing.await
                }
            }
        }?;
        self.push(Some(n), Box::pin(async move { answer(&client, &prepared, &args).await })).await;
        Ok(())
    }

    /// A statement without arguments or rows, through the simple protocol.
    fn simple(&self, sql: &'static str) -> Pending {
        let client = self.client.clone();
        Box::pin(async move { client.batch_execute(sql).await.map(|()| (Vec::new(), 0)) })
    }

    /// Polls `pending` once, which sends its request, and queues it.
    async fn push(&mut self, n: Option<usize>, mut pending: Pending) {
        let mut done = None;
        std::future::poll_fn(|cx| {
            if let Poll::Ready(answer) = pending.as_mut().poll(cx) {
                done = Some(answer);
            }
            Poll::Ready(())
        })
        .await;
        // Answered at once (a request it could not encode): kept in order.
        let pending = match done {
            Some(answer) => Box::pin(std::future::ready(answer)),
            None => pending,
        };
        self.pending.push_back((n, pending));
    }

    /// Reads the answers of everything sent up to number `n` (all when
    /// `n` is `usize::MAX`) into `answers`: the first error if any.
    pub(crate) async fn read_through(&mut self, n: usize, answers: &mut HashMap<usize, Answer>) -> Result<()> {
        while self.pending.front().is_some_and(|(m, _)| m.is_none_or(|m| m <= n)) {
            let Some((m, pending)) = self.pending.pop_front() else { break };
            let answer = pending.await?;
            if let Some(m) = m {
                answers.insert(m, answer);
            }
        }
        Ok(())
    }

    /// Commits (sending `COMMIT` with whatever is pending) and reads every
    /// answer into `answers`; the first error fails the commit.
    pub(crate) async fn commit(&mut self, answers: &mut HashMap<usize, Answer>) -> Result<()> {
        self.push(None, self.simple("COMMIT")).await;
        self.read_through(usize::MAX, answers).await?;
        self.finished = true;
        Ok(())
    }
}

impl Drop for PgTx {
    /// Not committed (an error, or a task cancelled mid-transaction): a
    /// task on the transaction's runtime rolls back, holding the connection
    /// until answered. (Once that runtime is gone, so is the task driving
    /// the connection: the pool finds it closed and drops it.)
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        let client = self.client.clone();
        drop(self.runtime.spawn(async move {
            // Their answers are discarded; the ROLLBACK runs after them.
            drop(pending);
            if let Err(e) = client.batch_execute("ROLLBACK").await {
                tracing::warn!(error = %e, "rolling back a transaction failed");
            }
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql::args;

    /// A fresh database on the test server (`MASTERMIND_TEST_POSTGRES_URL`,
    /// as `tests/run` sets it) and a pool on it, both gone with
    /// [`Fresh::finish`].
    struct Fresh {
        admin: tokio_postgres::Client,
        name: String,
        pool: PgPool,
    }

    impl Fresh {
        /// `connections`: the pool's size.
        async fn new(test: &str, connections: usize) -> Fresh {
            let admin_url = std::env::var("MASTERMIND_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let (admin, connection) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(connection);
            let name = format!("mm_unit_{test}_{}", std::process::id());
            // Each its own statement: CREATE DATABASE runs outside a transaction.
            admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).await.unwrap();
            admin.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
            let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(base, _)| base);
            let pool = PgPool::connect(config(&format!("{base}/{name}")).unwrap(), connections).await.unwrap();
            Fresh { admin, name, pool }
        }

        async fn finish(self) {
            self.pool.close();
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            self.admin.batch_execute(&sql).await.unwrap();
        }
    }

    fn st(sql: &'static str) -> Statement {
        Statement::fixed("test", sql, None)
    }

    async fn count(pool: &PgPool) -> i64 {
        pool.run(&st("SELECT count(*) AS n FROM t"), args![]).await.unwrap().0[0].int("n").unwrap()
    }

    #[tokio::test]
    async fn pipelined_statements_answer_in_order_and_one_failing_fails_the_commit() {
        let db = Fresh::new("pipeline", 2).await;
        let pool = &db.pool;
        pool.run(&st("CREATE TABLE t (a bigint PRIMARY KEY, b text)"), args![]).await.unwrap();
        let insert = st("INSERT INTO t (a, b) VALUES ($1, $2) RETURNING a");

        let mut tx = pool.begin().await.unwrap();
        let mut answers = HashMap::new();
        for n in 0..3 {
            tx.send(n, &insert, args![n as i64, format!("row {n}")], &mut answers).await.unwrap();
        }
        tx.read_through(1, &mut answers).await.unwrap();
        assert_eq!(answers.keys().copied().collect::<std::collections::BTreeSet<_>>(), [0, 1].into());
        assert_eq!(answers[&1].0[0].int("a").unwrap(), 1);
        tx.commit(&mut answers).await.unwrap();
        assert_eq!((answers[&2].0[0].int("a").unwrap(), answers[&2].1), (2, 1));
        assert_eq!(count(pool).await, 3);

        // A duplicate key in the middle: the commit fails with its error,
        // and nothing of the transaction is stored.
        let mut tx = pool.begin().await.unwrap();
        for (n, a) in [(0, 10), (1, 1), (2, 11)] {
            tx.send(n, &insert, args![a as i64, "again"], &mut HashMap::new()).await.unwrap();
        }
        let error = tx.commit(&mut HashMap::new()).await.unwrap_err().to_string();
        assert!(error.contains("duplicate key"), "{error}");
        drop(tx);
        assert_eq!(count(pool).await, 3);
        db.finish().await;
    }

    /// A statement the connection has not prepared, sent while large
    /// answers are on their way: it must not wait for its `Parse` answer
    /// behind answers no one reads (tokio-postgres stops reading the
    /// connection until they are taken).
    #[tokio::test]
    async fn a_statement_prepared_behind_unread_answers_does_not_wait_forever() {
        let db = Fresh::new("prepare", 1).await;
        let pool = &db.pool;
        let mut tx = pool.begin().await.unwrap();
        let mut answers = HashMap::new();
        let big = st("SELECT generate_series(1, $1) AS n, repeat('x', 100) AS pad");
        let sent = async {
            for n in 0..4 {
                tx.send(n, &big, args![20_000i64], &mut answers).await.unwrap();
            }
            tx.send(4, &st("SELECT $1 + 1 AS n"), args![1i64], &mut answers).await.unwrap();
            tx.commit(&mut answers).await.unwrap();
        };
        tokio::time::timeout(Duration::from_secs(20), sent).await.expect("the transaction finished");
        assert_eq!(answers[&0].0.len(), 20_000);
        assert_eq!(answers[&4].0[0].int("n").unwrap(), 2);
        db.finish().await;
    }

    #[tokio::test]
    async fn a_dropped_transaction_is_rolled_back_before_its_connection_serves_again() {
        let db = Fresh::new("rollback", 1).await;
        // One connection: the next statement gets the dropped transaction's.
        let pool = &db.pool;
        pool.run(&st("CREATE TABLE t (a bigint)"), args![]).await.unwrap();
        let mut tx = pool.begin().await.unwrap();
        tx.send(0, &st("INSERT INTO t VALUES (1)"), args![], &mut HashMap::new()).await.unwrap();
        drop(tx);
        assert_eq!(count(pool).await, 0);
        let status = st("SELECT pg_current_xact_id_if_assigned()::text AS xid");
        let xid = pool.run(&status, args![]).await.unwrap().0[0].opt_text("xid").unwrap();
        assert_eq!(xid, None, "the connection is outside any transaction");
        db.finish().await;
    }

    #[tokio::test]
    async fn values_keep_their_types_both_ways() {
        let db = Fresh::new("values", 1).await;
        let pool = &db.pool;
        let create = st("CREATE TABLE t (i8 bigint, i4 integer, i2 smallint, b boolean, t text, y bytea)");
        pool.run(&create, args![]).await.unwrap();
        let insert = st("INSERT INTO t VALUES ($1, $2, $2, $3 <> 0, $4, $5), ($6, NULL, NULL, NULL, $7, $8)");
        let args =
            args![1i64 << 40, 7i64, 1i64, "text", vec![0u8, 255], None::<i64>, None::<String>, SqlValue::Blob(None)];
        assert_eq!(pool.run(&insert, args).await.unwrap().1, 2);
        let (rows, _) = pool.run(&st("SELECT * FROM t ORDER BY i8 NULLS LAST"), args![]).await.unwrap();
        let first = &rows[0];
        assert_eq!(first.int("i8").unwrap(), 1 << 40);
        assert_eq!((first.int("i4").unwrap(), first.int("i2").unwrap(), first.int("b").unwrap()), (7, 7, 1));
        assert_eq!((first.text("t").unwrap(), first.blob("y").unwrap()), ("text".to_owned(), vec![0, 255]));
        let second = &rows[1];
        assert_eq!((second.opt_int("i8").unwrap(), second.opt_int("i4").unwrap()), (None, None));
        assert_eq!((second.opt_text("t").unwrap(), second.opt_int("b").unwrap()), (None, None));
        // A type the store never reads is an error naming it, not a guess.
        let error = pool.run(&st("SELECT 1.5::float8 AS f"), args![]).await.unwrap_err().to_string();
        assert!(error.contains("float8"), "{error}");
        db.finish().await;
    }
}
