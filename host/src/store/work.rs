//! The worker's side of the store: claiming jobs and participant calls,
//! and the transaction a job's work is done in ([`WorkTx`]).
//!
//! A [`WorkTx`] holds one or more jobs' batches (the engine commits the
//! work of several busy jobs together, one commit for all). For each job
//! the first statement either checks and releases the lease this worker
//! took in [`Store::claim_jobs`] ([`WorkTx::take_claimed`]), or, for a
//! participant's result, checks that no other live worker holds the job
//! ([`WorkTx::open_job`]); [`WorkTx::take_jobs`] does either for every job
//! of a round at once (`store::take`). Both update the job's row, so on
//! PostgreSQL the row stays locked until the commit: no other process can
//! work on the job in between, and one that tries waits for the commit and
//! then sees its effects. Its due messages and expressions are read only
//! then ([`WorkTx::prefetch`]; on PostgreSQL sent with the statements that
//! take the jobs, which it runs first).
//!
//! Claims: a worker leases at most as many calls as it asks for, skipping
//! the tenants it has no room for; a call it claimed and may not make (its
//! share of the tenant's calls is taken, see `engine::dispatcher`) is given
//! back at once ([`Store::release_dispatches`]). A lease whose worker
//! stopped heartbeating for the takeover time is anyone's; a worker that
//! stops cleanly is forgotten at once ([`Store::retire_worker`]).
//!
//! A batch's participant calls: the dispatches it withdrew are deleted
//! before the ones it journaled are inserted, and [`WorkTx::commit`] returns
//! both (their row ids; the flush's statements are answered with the
//! commit), so the caller starts exactly the calls that are still wanted
//! and aborts exactly the withdrawn ones (`store::batches`
//! writes the batches of a transaction together). A call journaled and
//! withdrawn within one batch never reaches the store: the flow drops it
//! (`Flow::withdraw_dispatch`), so it is neither started nor listed.
//!
//! Which jobs are worked on is decided by [`JobState::RUNNABLE`], the one
//! definition of the states in which a job's batches run.

use super::sql::{Sent, SqlValue, Statement, Tx, args, statements};
use super::{
    Backend, HistoryEntry, NewEvent, NewMessage, Result, Store, StoredMessage, corrupt, from_json, insert_message,
    now_ms,
};
use crate::model::{Expression, JobState};
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

/// `'running', 'failed'`: [`JobState::RUNNABLE`] as SQL literals, spliced
/// into the claim queries (constants, never input).
pub(super) static RUNNABLE: LazyLock<String> =
    LazyLock::new(|| JobState::RUNNABLE.iter().map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>().join(", "));

statements! {
    RELEASE_JOB = "UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2";
    TAKE_CLAIMED = "UPDATE jobs SET lease_owner = NULL, lease_until = NULL, updated_at = $1
                    WHERE id = $2 AND lease_owner = $3 RETURNING id, state";
    DELETE_DISPATCH = "DELETE FROM messages WHERE id = $1 AND lease_owner = $2";
    /// On PostgreSQL the dispatch's DELETE (`$1`, if still leased to the
    /// worker, `$2`) and the history's INSERT (`$3`-`$14`, only then) are
    /// one statement; the dispatch's id when journaled.
    FINISH_DISPATCH (Postgres) = "WITH
        gone AS (DELETE FROM messages WHERE id = $1 AND lease_owner = $2 RETURNING id),
        added AS (
            INSERT INTO history (job_id, tenant, fei, line, participant, action, params, attempt, started_at,
                                 ended_at, ok, result)
            SELECT $3::text, $4::text, $5::text, $6::bigint, $7::text, $8::text, $9::text, $10::bigint,
                   $11::bigint, $12::bigint, $13::bigint, $14::text FROM gone)
        SELECT id FROM gone";
    INSERT_HISTORY = "INSERT INTO history (job_id, tenant, fei, line, participant, action, params, attempt, started_at, ended_at, ok, result)
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
    DUE_MESSAGES = "SELECT id, body, job_id, tenant FROM messages
                    WHERE job_id = $1 AND kind <> 'dispatch' AND due_at <= $2 ORDER BY id";
    EXPRESSIONS = "SELECT body FROM expressions WHERE job_id = $1";
    /// [`DUE_MESSAGES`] and [`EXPRESSIONS`] of several jobs (`$1`, a JSON
    /// array of ids) in one round trip (`e` tells the expressions' rows).
    PREFETCH (Postgres) = "SELECT 0 AS e, id, body, job_id, tenant FROM messages
                      WHERE job_id = ANY(ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))
                        AND kind <> 'dispatch' AND due_at <= $2
                      UNION ALL SELECT 1 AS e, 0 AS id, body, job_id, tenant FROM expressions
                      WHERE job_id = ANY(ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))
                      ORDER BY e, id";
    LOCK_JOB = "UPDATE jobs SET updated_at = updated_at WHERE id = $1";
}

/// [`WorkTx::open_job`]'s UPDATE ([`RUNNABLE`] spliced, once).
pub(super) fn open_job_statement() -> &'static Statement {
    static OPEN_JOB: LazyLock<Statement> = LazyLock::new(|| {
        Statement::built(
            "store::work::open_job_statement",
            format!(
                "UPDATE jobs SET updated_at = $1
                 WHERE id = $2 AND state IN ({})
                   AND (lease_owner IS NULL OR lease_owner = $3 OR lease_until < $1
                        OR lease_owner NOT IN (SELECT id FROM workers WHERE heartbeat_at > $4))
                 RETURNING id, state",
                *RUNNABLE
            ),
        )
    });
    &OPEN_JOB
}

/// [`Store::claim_jobs`]'s UPDATE ([`RUNNABLE`] and the row lock spliced:
/// constants).
pub(super) fn claim_jobs_statement(backend: Backend) -> Statement {
    let lock = if backend == Backend::Postgres { "FOR UPDATE OF j SKIP LOCKED" } else { "" };
    // Fair between tenants, as claim_dispatches.
    Statement::built(
        "store::work::claim_jobs_statement",
        format!(
            "UPDATE jobs SET lease_owner = $1, lease_until = $2 WHERE id IN (
                SELECT j.id FROM jobs j WHERE j.id IN (
                    SELECT ranked.id FROM (
                        SELECT c.id, c.updated_at, ROW_NUMBER() OVER (PARTITION BY c.tenant ORDER BY c.updated_at) AS turn
                        FROM jobs c
                        WHERE c.id IN (SELECT m.job_id FROM messages m WHERE m.kind <> 'dispatch' AND m.due_at <= $3)
                          AND c.state IN ({runnable})
                          AND (c.lease_owner IS NULL OR c.lease_until < $3
                               OR c.lease_owner NOT IN (SELECT id FROM workers WHERE heartbeat_at > $5))
                    ) ranked ORDER BY ranked.turn, ranked.updated_at LIMIT $4)
                  -- Checked again on the locked row (see claim_dispatches).
                  AND (j.lease_owner IS NULL OR j.lease_until < $3
                       OR j.lease_owner NOT IN (SELECT id FROM workers WHERE heartbeat_at > $5))
                {lock})
             RETURNING id, tenant",
            runnable = *RUNNABLE
        ),
    )
}

/// [`Store::claim_dispatches`]'s UPDATE, skipping `skipped` tenants
/// ([`RUNNABLE`], the row lock and markers spliced; tenant ids are bound,
/// `$5`, `$6`, ...).
pub(super) fn claim_dispatches_statement(backend: Backend, skipped: usize) -> Statement {
    let lock = if backend == Backend::Postgres { "FOR UPDATE OF m SKIP LOCKED" } else { "" };
    let skip = if skipped == 0 { String::new() } else { format!("AND c.tenant NOT IN ({})", marks(5, skipped)) };
    // PostgreSQL refuses FOR UPDATE next to a window function: rank the
    // candidates in a subquery, lock in the outer one.
    Statement::built(
        "store::work::claim_dispatches_statement",
        format!(
            "UPDATE messages SET lease_owner = $1, lease_until = $2 WHERE id IN (
                SELECT m.id FROM messages m WHERE m.id IN (
                    SELECT ranked.id FROM (
                        SELECT c.id, ROW_NUMBER() OVER (PARTITION BY c.tenant ORDER BY c.id) AS turn
                        FROM messages c JOIN jobs j ON j.id = c.job_id
                        WHERE c.kind = 'dispatch' AND c.due_at <= $2 AND j.state IN ({runnable})
                          AND (c.lease_owner IS NULL OR c.lease_owner NOT IN
                               (SELECT id FROM workers WHERE heartbeat_at > $3))
                          {skip}
                    ) ranked ORDER BY ranked.turn, ranked.id LIMIT $4)
                  -- Checked again on the locked row: another worker may have
                  -- claimed it since the candidates were read.
                  AND (m.lease_owner IS NULL OR m.lease_owner NOT IN
                       (SELECT id FROM workers WHERE heartbeat_at > $3))
                {lock})
             RETURNING id, body, job_id, tenant",
            runnable = *RUNNABLE
        ),
    )
}

// The lists below vary in length, so their texts are built; only
// generated markers (`marks`) are spliced into them, every value is bound.

/// Gives back `n` participant calls a worker (`$1`) leased and will not
/// make (`$2`...).
pub(super) fn release_dispatches_statement(n: usize) -> Statement {
    Statement::built(
        "store::work::release_dispatches_statement",
        format!(
            "UPDATE messages SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1 AND id IN ({})",
            marks(2, n)
        ),
    )
}

static RELEASE_DISPATCHES: PerRowCount = PerRowCount::new(release_dispatches_statement);

/// Rows one multi-row statement writes at most.
pub(super) const ROWS_PER_STATEMENT: usize = 32;

/// A multi-row statement whose text depends only on its row count: each
/// of the [`ROWS_PER_STATEMENT`] texts built once, on first use, instead of
/// formatted again for every batch.
pub(super) struct PerRowCount {
    built: OnceLock<Vec<Statement>>,
    build: fn(usize) -> Statement,
}

impl PerRowCount {
    pub(super) const fn new(build: fn(usize) -> Statement) -> Self {
        PerRowCount { built: OnceLock::new(), build }
    }

    /// The statement for `rows` rows, 1 to [`ROWS_PER_STATEMENT`] (callers
    /// cut their rows in chunks of at most that many).
    pub(super) fn rows(&self, rows: usize) -> &Statement {
        &self.built.get_or_init(|| (1..=ROWS_PER_STATEMENT).map(self.build).collect())[rows - 1]
    }
}

/// `$first, $first+1, ...`: `n` bind markers.
pub(super) fn marks(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// One transaction of the worker's: the batches of one or more jobs,
/// stored together by [`WorkTx::commit`] or not at all (dropped, it is
/// rolled back). Each job's work starts by taking the job
/// ([`WorkTx::take_claimed`] or [`WorkTx::open_job`]), which on PostgreSQL
/// holds the job's row until the commit, so no other process works on it
/// meanwhile.
pub struct WorkTx {
    pub(super) tx: Tx,
    /// Events appended, stored at the commit.
    events: Vec<super::events::Pending>,
    /// Lock changes, applied at the commit.
    pub(super) locks: Vec<super::locks::Pending>,
    /// Batches staged, written by the flush (`store::batches`).
    pub(super) staged: Vec<super::batches::Staged>,
    /// Batches flushed, what they stored told by the commit's answers.
    pub(super) flushed: Vec<super::batches::Flushed>,
    /// Jobs' due messages and expressions read ahead ([`WorkTx::prefetch`]).
    pub(super) prefetched: std::collections::HashMap<String, (Vec<StoredMessage>, Vec<Expression>)>,
}

fn parse_state(state: String) -> Result<JobState> {
    JobState::parse(&state).ok_or_else(|| corrupt("job state", &state))
}

fn stored_messages(rows: Vec<super::sql::Row>, what: &'static str) -> Result<Vec<StoredMessage>> {
    rows.iter()
        .map(|r| {
            Ok(StoredMessage {
                id: r.int("id")?,
                message: from_json(what, r.str("body")?)?,
                job_id: r.text("job_id")?,
                tenant: r.text("tenant")?,
            })
        })
        .collect()
}

impl Store {
    /// Leases up to `limit` jobs that have messages due and are not leased
    /// to a live worker. Returns their ids and tenants.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn claim_jobs(
        &self,
        worker: &str,
        lease: Duration,
        stale_after: Duration,
        limit: i64,
    ) -> Result<Vec<(String, String)>> {
        let now = now_ms();
        let sql = claim_jobs_statement(self.backend);
        let args = args![worker, now + lease.as_millis() as i64, now, limit, now - stale_after.as_millis() as i64];
        let rows = self.db.fetch_all(&sql, args).await?;
        rows.iter().map(|r| Ok((r.text("id")?, r.text("tenant")?))).collect()
    }

    /// Gives up a claimed job's lease (its work failed: someone may retry).
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn release_job(&self, job_id: &str, worker: &str) -> Result<()> {
        self.db.execute(&RELEASE_JOB, args![job_id, worker]).await?;
        Ok(())
    }

    /// Leases up to `limit` participant calls that are due, not paused and
    /// not held by a live worker, skipping `skip_tenants`. Fair between
    /// tenants: every tenant's oldest call comes before any tenant's second.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn claim_dispatches(
        &self,
        worker: &str,
        stale_after: Duration,
        limit: i64,
        skip_tenants: &[String],
    ) -> Result<Vec<StoredMessage>> {
        let now = now_ms();
        let sql = claim_dispatches_statement(self.backend, skip_tenants.len());
        let mut args = args![worker, now, now - stale_after.as_millis() as i64, limit];
        args.extend(skip_tenants.iter().map(SqlValue::from));
        let mut out = stored_messages(self.db.fetch_all(&sql, args).await?, "dispatch")?;
        out.sort_by_key(|m| m.id);
        Ok(out)
    }

    /// Gives back participant calls `worker` claimed and will not make (its
    /// share of their tenant's calls is taken), waking the other processes
    /// to claim them.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn release_dispatches(&self, ids: &[i64], worker: &str) -> Result<()> {
        let mut tx = self.db.begin().await?;
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let mut args = args![worker];
            args.extend(chunk.iter().map(|id| SqlValue::from(*id)));
            tx.execute(RELEASE_DISPATCHES.rows(chunk.len()), args).await?;
        }
        tx.wake_others_on_commit();
        tx.commit().await
    }

    /// Begins a transaction of the worker's (on SQLite it holds the one
    /// connection's write lock until committed or dropped).
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn begin_work(&self) -> Result<WorkTx> {
        Ok(WorkTx {
            tx: self.db.begin().await?,
            events: Vec::new(),
            locks: Vec::new(),
            staged: Vec::new(),
            flushed: Vec::new(),
            prefetched: Default::default(),
        })
    }
}

impl WorkTx {
    /// Starts work on a job `worker` claimed: checks the lease is still
    /// its own and releases it (with the commit). Returns the job's state,
    /// or None when the lease was lost.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn take_claimed(&mut self, job_id: &str, worker: &str) -> Result<Option<JobState>> {
        let row = self.tx.fetch_optional(&TAKE_CLAIMED, args![now_ms(), job_id, worker]).await?;
        row.map(|r| parse_state(r.text("state")?)).transpose()
    }

    /// Starts work on a job without a lease (to process a participant's
    /// result at once): its state, or None when the job is not running or
    /// failed, or another live worker holds its lease (then the result is
    /// queued for that worker, see [`WorkTx::queue_message`]).
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn open_job(&mut self, job_id: &str, worker: &str, stale_after: Duration) -> Result<Option<JobState>> {
        let now = now_ms();
        let row = self
            .tx
            .fetch_optional(open_job_statement(), args![now, job_id, worker, now - stale_after.as_millis() as i64])
            .await?;
        row.map(|r| parse_state(r.text("state")?)).transpose()
    }

    /// Journals a participant call's outcome: deletes the dispatch and
    /// appends to history. Returns false (and stores nothing) when the
    /// dispatch is gone or leased to someone else (the step was cancelled
    /// or taken over).
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn finish_dispatch(
        &mut self,
        dispatch_id: i64,
        worker: &str,
        job_id: &str,
        tenant: &str,
        history: &HistoryEntry,
    ) -> Result<bool> {
        if self.tx.backend() == Backend::Postgres {
            let sent = self.send_finish_dispatch(dispatch_id, worker, job_id, tenant, history).await?;
            return Ok(!self.tx.answer(sent).await?.0.is_empty());
        }
        let deleted = self.tx.execute(&DELETE_DISPATCH, args![dispatch_id, worker]).await?;
        if deleted == 0 {
            return Ok(false);
        }
        self.tx.execute(&INSERT_HISTORY, history_row(job_id, tenant, history)).await?;
        Ok(true)
    }

    /// PostgreSQL: sends [`FINISH_DISPATCH`]; it answers the dispatch's id
    /// when it journaled the call.
    pub(super) async fn send_finish_dispatch(
        &mut self,
        dispatch_id: i64,
        worker: &str,
        job_id: &str,
        tenant: &str,
        history: &HistoryEntry,
    ) -> Result<Sent> {
        let mut args = args![dispatch_id, worker];
        args.extend(history_row(job_id, tenant, history));
        self.tx.send(&FINISH_DISPATCH, args).await
    }

    /// Queues a message for whoever processes the job next (waking other
    /// processes' workers on PostgreSQL).
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn queue_message(&mut self, job_id: &str, tenant: &str, message: &NewMessage) -> Result<()> {
        insert_message(&mut self.tx, job_id, tenant, message, None).await?;
        self.tx.wake_others_on_commit();
        Ok(())
    }

    /// The job's due messages, dispatches excepted, oldest first.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn due_messages(&mut self, job_id: &str) -> Result<Vec<StoredMessage>> {
        let rows = self.tx.fetch_all(&DUE_MESSAGES, args![job_id, now_ms()]).await?;
        stored_messages(rows, "message")
    }

    /// Reads the due messages and live expressions of `jobs` in one round
    /// trip on PostgreSQL, for [`WorkTx::due_and_expressions`] to answer
    /// from (nothing on SQLite, where a read costs microseconds). Call it
    /// only once the jobs are taken, so no other process writes them
    /// meanwhile.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn prefetch(&mut self, jobs: &[&str]) -> Result<()> {
        match self.send_prefetch(jobs).await? {
            Some(sent) => self.keep_prefetched(sent).await,
            None => Ok(()),
        }
    }

    /// Sends [`WorkTx::prefetch`]'s read of the jobs not read yet (None
    /// when there is nothing to read); [`WorkTx::keep_prefetched`] keeps
    /// its answer.
    pub(super) async fn send_prefetch(&mut self, jobs: &[&str]) -> Result<Option<Sent>> {
        if self.tx.backend() != Backend::Postgres {
            return Ok(None);
        }
        let jobs: Vec<&str> = jobs.iter().copied().filter(|job| !self.prefetched.contains_key(*job)).collect();
        if jobs.is_empty() {
            return Ok(None);
        }
        let ids = serde_json::Value::from(jobs.clone()).to_string();
        for job in jobs {
            self.prefetched.insert(job.to_owned(), (Vec::new(), Vec::new()));
        }
        Ok(Some(self.tx.send(&PREFETCH, args![ids, now_ms()]).await?))
    }

    /// Keeps what [`PREFETCH`] answered (`e` 0 a due message, 1 an
    /// expression) for each job, which must be one asked for.
    pub(super) async fn keep_prefetched(&mut self, sent: Sent) -> Result<()> {
        for row in self.tx.answer(sent).await?.0 {
            let job = row.text("job_id")?;
            let Some((messages, expressions)) = self.prefetched.get_mut(&job) else {
                return Err(corrupt("prefetch", format!("read a job not asked for: {job}")));
            };
            if row.int("e")? == 1 {
                expressions.push(from_json("expression", row.str("body")?)?);
            } else {
                messages.push(StoredMessage {
                    id: row.int("id")?,
                    message: from_json("message", row.str("body")?)?,
                    job_id: job,
                    tenant: row.text("tenant")?,
                });
            }
        }
        Ok(())
    }

    /// The job's due messages (as [`WorkTx::due_messages`]) and, when
    /// `expressions`, its live expressions: as prefetched, if they were
    /// (once: a second read goes to the database).
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn due_and_expressions(
        &mut self,
        job_id: &str,
        expressions: bool,
    ) -> Result<(Vec<StoredMessage>, Option<Vec<Expression>>)> {
        if expressions && !self.prefetched.contains_key(job_id) {
            self.prefetch(&[job_id]).await?;
        }
        if let Some((messages, stored)) = self.prefetched.remove(job_id) {
            return Ok((messages, expressions.then_some(stored)));
        }
        let messages = self.due_messages(job_id).await?;
        let expressions = match expressions {
            true => Some(self.expressions(job_id).await?),
            false => None,
        };
        Ok((messages, expressions))
    }

    /// The job's live expressions.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn expressions(&mut self, job_id: &str) -> Result<Vec<Expression>> {
        let rows = self.tx.fetch_all(&EXPRESSIONS, args![job_id]).await?;
        rows.iter().map(|r| from_json("expression", r.str("body")?)).collect()
    }

    /// Holds the job's row until the commit (waiting for another worker's
    /// transaction on it to end), as [`WorkTx::open_job`] does when it
    /// takes the job: for work on a job this transaction did not take.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn lock_job(&mut self, job_id: &str) -> Result<()> {
        self.tx.execute(&LOCK_JOB, args![job_id]).await?;
        Ok(())
    }

    /// Appends a batch's events to the job's (see `store::events`): they
    /// are numbered and stored with every other job's of this transaction
    /// when it commits. Returns the index of this append's first number in
    /// what [`WorkTx::commit`] returns.
    pub fn append_events(&mut self, job_id: &str, tenant: &str, events: Vec<NewEvent>, keep: usize) -> usize {
        self.events.push(super::events::Pending {
            job_id: job_id.to_owned(),
            tenant: tenant.to_owned(),
            rows: events,
            keep,
        });
        self.events.len() - 1
    }

    /// Applies the lock changes (letting in the waiters that now may, see
    /// `store::locks`) and stores the appended events, then everything the
    /// transaction did, at once. Returns what the flushed batches stored,
    /// and where each append's events were numbered.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when storing or the commit fails:
    /// then nothing of the transaction is stored.
    pub async fn commit(mut self) -> Result<Committed> {
        if !self.staged.is_empty() {
            return Err(corrupt("transaction", "batches staged and not flushed"));
        }
        let granted = super::locks::apply(&mut self.tx, std::mem::take(&mut self.locks)).await?;
        if !granted.is_empty() {
            self.tx.wake_others_on_commit();
        }
        let numbering = super::events::append(&mut self.tx, &self.events).await?;
        let WorkTx { tx, events, flushed, .. } = self;
        let mut answers = tx.commit_answering().await?;
        let written = super::batches::Flushed::written(flushed, &mut answers)?;
        Ok(Committed { written, events: numbering.firsts(&events, &mut answers)? })
    }
}

/// What a worker's transaction stored ([`WorkTx::commit`]).
#[derive(Debug)]
pub struct Committed {
    /// What each flushed batch stored, in staging order.
    pub written: Vec<super::batches::Written>,
    /// The first number of each append's events, in order (0 for an
    /// append without events).
    pub events: Vec<i64>,
}

/// A call's history row as [`INSERT_HISTORY`] takes it (`$3`-`$14` of
/// [`FINISH_DISPATCH`]).
fn history_row(job_id: &str, tenant: &str, history: &HistoryEntry) -> Vec<SqlValue> {
    args![
        job_id,
        tenant,
        &history.fei,
        history.line.map(i64::from),
        &history.participant,
        &history.action,
        history.params.to_string(),
        i64::from(history.attempt),
        history.started_at,
        history.ended_at,
        history.ok,
        history.result.to_string(),
    ]
}
