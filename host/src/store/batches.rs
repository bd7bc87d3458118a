//! Writing the batches of a worker's transaction: each job's batch is
//! staged ([`WorkTx::stage`]) and every staged batch is written at once by
//! [`WorkTx::flush`].
//!
//! Guarantees:
//! - Within a batch, the dispatches and timers it withdrew are deleted
//!   before the messages it queued are inserted (a step cancelled and
//!   applied again in place keeps its new call), as are the messages it
//!   consumed and the expressions it ended.
//! - A job has at most one batch staged: the caller flushes before it
//!   reads the job again in the same transaction (see
//!   [`WorkTx::is_staged`]), so it reads what the earlier batch wrote.
//! - [`WorkTx::commit`] refuses a transaction with batches staged and not
//!   flushed: a call leased to this worker but never started would stay
//!   leased to a live worker.
//!
//! On PostgreSQL all the staged batches — every job of a group commit —
//! are written by one statement (not one per job and kind of change, each
//! planned and run on its own): its rows travel as JSON arrays (`jsonb_to_recordset`), so its
//! text is fixed whatever the number of rows, and a data-modifying `WITH`
//! runs each kind of change on the statement's one snapshot (so a delete
//! never sees a row the same statement inserts: the order above holds).
//! Each change finds its rows through `= ANY(ARRAY(...))` on an indexed
//! column: joined to a set-returning function instead, the planner (which
//! guesses it returns 100 rows) hashes it and scans the whole table.
//! The embedded store runs each batch's statements in place, which costs
//! microseconds each; so does PostgreSQL for a transaction of one batch (a
//! sequential step): its small statements cost no round trip of their own
//! (they travel with the commit, `store::postgres`), and the one
//! statement's work is more than theirs (0.21-0.29 ms in PostgreSQL's log
//! against about 0.1 ms). There a batch's ended expressions are deleted by
//! the statement that stores its expressions.
//!
//! What a flush wrote (the calls it leased, the ones it withdrew) is read
//! from the statements' answers once the transaction commits
//! ([`Flushed::written`]), so nothing waits for them before.

use super::sql::{Answers, Sent, SqlValue, Statement, Tx, args, statements};
use super::work::{PerRowCount, ROWS_PER_STATEMENT, marks};
use super::{Backend, BatchChanges, Result, StoredMessage, WorkTx, corrupt, message_fei, now_ms, send_message};
use crate::model::Message;
use serde_json::{Value, json};
use std::collections::HashMap;

/// A job's batch, staged until the flush.
pub(super) struct Staged {
    job_id: String,
    tenant: String,
    /// Its first `leased` participant calls are leased to the worker.
    leased: usize,
    changes: BatchChanges,
}

/// What a staged batch stored and withdrew.
#[derive(Debug, Default)]
pub struct Written {
    /// The participant calls the batch journaled leased to its worker, in
    /// the batch's order.
    pub dispatches: Vec<StoredMessage>,
    /// Row ids of the dispatches the batch withdrew (calls to abort).
    pub withdrawn: Vec<i64>,
    /// Some of its calls were stored unleased, for any worker to claim.
    pub unleased: bool,
}

statements! {
    SET_JOB_STATE = "UPDATE jobs SET state = $1, finished_at = $2 WHERE id = $3";
    SET_JOB_FIELDS = "UPDATE jobs SET fields = $1 WHERE id = $2";
    SET_JOB_ERROR = "UPDATE jobs SET error = $1 WHERE id = $2";
    /// Every staged batch of a PostgreSQL transaction (see the module
    /// documentation). `$1` consumed message ids; `$2` ended expressions,
    /// `$3` withdrawn dispatches, `$4` withdrawn timers (`job_id`, `fei`);
    /// `$5` expressions; `$6` messages; `$7` job changes.
    WRITE_GROUP (Postgres) = "WITH
        ended_rows AS MATERIALIZED (SELECT * FROM jsonb_to_recordset($2::jsonb) AS r(job_id text, fei text)),
        withdrawn_rows AS MATERIALIZED (SELECT * FROM jsonb_to_recordset($3::jsonb) AS r(job_id text, fei text)),
        timer_rows AS MATERIALIZED (SELECT * FROM jsonb_to_recordset($4::jsonb) AS r(job_id text, fei text)),
        job_rows AS MATERIALIZED (
            SELECT * FROM jsonb_to_recordset($7::jsonb)
                AS r(job_id text, state text, finished_at bigint, fields text, set_error boolean, error text)),
        consumed AS (
            DELETE FROM messages WHERE id = ANY(ARRAY(SELECT value::bigint FROM jsonb_array_elements_text($1::jsonb)))),
        ended AS (
            DELETE FROM expressions e
            WHERE e.job_id = ANY(ARRAY(SELECT job_id FROM ended_rows))
              AND (e.job_id, e.fei) IN (SELECT job_id, fei FROM ended_rows)),
        withdrawn AS (
            DELETE FROM messages m
            WHERE m.job_id = ANY(ARRAY(SELECT job_id FROM withdrawn_rows)) AND m.kind = 'dispatch'
              AND (m.job_id, m.fei) IN (SELECT job_id, fei FROM withdrawn_rows)
            RETURNING m.id, m.job_id),
        timers AS (
            DELETE FROM messages m
            WHERE m.job_id = ANY(ARRAY(SELECT job_id FROM timer_rows)) AND m.kind = 'timer'
              AND (m.job_id, m.fei) IN (SELECT job_id, fei FROM timer_rows)),
        upserted AS (
            INSERT INTO expressions (job_id, fei, tenant, body)
            SELECT job_id, fei, tenant, body
            FROM jsonb_to_recordset($5::jsonb) AS r(job_id text, fei text, tenant text, body text)
            ON CONFLICT (job_id, fei) DO UPDATE SET body = excluded.body),
        inserted AS (
            INSERT INTO messages (job_id, tenant, kind, fei, body, due_at, lease_owner)
            SELECT job_id, tenant, kind, fei, body, due_at, lease_owner
            FROM jsonb_to_recordset($6::jsonb)
                 AS r(n bigint, job_id text, tenant text, kind text, fei text, body text, due_at bigint, lease_owner text)
            ORDER BY n
            RETURNING id, job_id, fei, kind, lease_owner),
        changed AS (
            UPDATE jobs j SET
                state = COALESCE(r.state, j.state),
                finished_at = CASE WHEN r.state IS NULL THEN j.finished_at ELSE r.finished_at END,
                fields = COALESCE(r.fields, j.fields),
                error = CASE WHEN r.set_error THEN r.error ELSE j.error END
            FROM job_rows r
            WHERE j.id = ANY(ARRAY(SELECT job_id FROM job_rows)) AND j.id = r.job_id)
        SELECT 'withdrawn' AS what, id, job_id, NULL AS fei FROM withdrawn
        UNION ALL
        SELECT 'leased', id, job_id, fei FROM inserted WHERE kind = 'dispatch' AND lease_owner IS NOT NULL";
}

/// Deletes `n` messages by id (`$1`...).
pub(super) fn delete_messages_statement(n: usize) -> Statement {
    Statement::built(
        "store::batches::delete_messages_statement",
        format!("DELETE FROM messages WHERE id IN ({})", marks(1, n)),
    )
}

/// Deletes `n` of a job's expressions: `$1` job, then feis.
pub(super) fn delete_expressions_statement(n: usize) -> Statement {
    Statement::built(
        "store::batches::delete_expressions_statement",
        format!("DELETE FROM expressions WHERE job_id = $1 AND fei IN ({})", marks(2, n)),
    )
}

/// Deletes the dispatches of `n` of a job's expressions, returning their
/// ids: `$1` job, then feis.
pub(super) fn withdraw_dispatches_statement(n: usize) -> Statement {
    Statement::built(
        "store::batches::withdraw_dispatches_statement",
        format!(
            "DELETE FROM messages WHERE job_id = $1 AND kind = 'dispatch' AND fei IN ({}) RETURNING id",
            marks(2, n)
        ),
    )
}

/// Deletes the timers of `n` of a job's expressions: `$1` job, then feis.
pub(super) fn withdraw_timers_statement(n: usize) -> Statement {
    Statement::built(
        "store::batches::withdraw_timers_statement",
        format!("DELETE FROM messages WHERE job_id = $1 AND kind = 'timer' AND fei IN ({})", marks(2, n)),
    )
}

/// Stores `n` of a job's expressions: `$1` job, `$2` tenant, then fei and
/// body per row.
pub(super) fn upsert_expressions_statement(n: usize) -> Statement {
    let rows: Vec<String> = (0..n).map(|i| format!("($1, ${}, $2, ${})", 3 + 2 * i, 4 + 2 * i)).collect();
    Statement::built(
        "store::batches::upsert_expressions_statement",
        format!(
            "INSERT INTO expressions (job_id, fei, tenant, body) VALUES {}
             ON CONFLICT (job_id, fei) DO UPDATE SET body = excluded.body",
            rows.join(", ")
        ),
    )
}

/// PostgreSQL: deletes a job's ended expressions and stores `n` of its
/// expressions in one round trip: `$1` job, `$2` tenant, `$3` the ended
/// feis (a JSON array), then fei and body per row. A batch never both ends
/// and stores one fei (`Flow` keeps them apart), so the two parts never
/// touch the same row.
pub(super) fn end_and_upsert_expressions_statement(n: usize) -> Statement {
    let rows: Vec<String> = (0..n).map(|i| format!("($1, ${}, $2, ${})", 4 + 2 * i, 5 + 2 * i)).collect();
    Statement::built(
        "store::batches::end_and_upsert_expressions_statement",
        format!(
            "WITH ended AS (
                DELETE FROM expressions
                WHERE job_id = $1 AND fei = ANY(ARRAY(SELECT jsonb_array_elements_text($3::jsonb))))
             INSERT INTO expressions (job_id, fei, tenant, body) VALUES {}
             ON CONFLICT (job_id, fei) DO UPDATE SET body = excluded.body",
            rows.join(", ")
        ),
    )
    .only_on(Backend::Postgres)
}

static DELETE_MESSAGES: PerRowCount = PerRowCount::new(delete_messages_statement);
static DELETE_EXPRESSIONS: PerRowCount = PerRowCount::new(delete_expressions_statement);
static WITHDRAW_DISPATCHES: PerRowCount = PerRowCount::new(withdraw_dispatches_statement);
static WITHDRAW_TIMERS: PerRowCount = PerRowCount::new(withdraw_timers_statement);
static UPSERT_EXPRESSIONS: PerRowCount = PerRowCount::new(upsert_expressions_statement);
static END_AND_UPSERT_EXPRESSIONS: PerRowCount = PerRowCount::new(end_and_upsert_expressions_statement);

impl WorkTx {
    /// Stages a job's batch, to be written by [`WorkTx::flush`]: its first
    /// `leased` participant calls leased to the flushing worker, the others
    /// unleased (waking the other processes' workers to claim them).
    /// Returns its index in what the flush returns.
    pub fn stage(&mut self, job_id: &str, tenant: &str, leased: usize, changes: BatchChanges) -> usize {
        self.staged.push(Staged { job_id: job_id.to_owned(), tenant: tenant.to_owned(), leased, changes });
        self.staged.len() - 1
    }

    /// Whether a batch of `job_id` is staged (and must be flushed before
    /// the job is read again).
    pub fn is_staged(&self, job_id: &str) -> bool {
        self.staged.iter().any(|s| s.job_id == job_id)
    }

    /// Writes every staged batch (see the module documentation), leasing
    /// their first calls to `worker`; what each stored is known once the
    /// transaction commits ([`WorkTx::commit`]).
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read: then the transaction must be dropped.
    pub async fn flush(&mut self, worker: &str) -> Result<()> {
        let staged = std::mem::take(&mut self.staged);
        // What was read ahead may be what these batches change.
        self.prefetched.clear();
        // One batch (a sequential step) goes faster through the small
        // statements, as on SQLite.
        if self.tx.backend() == Backend::Postgres && staged.len() > 1 {
            let flushed = write_group(&mut self.tx, &staged, worker).await?;
            self.flushed.push(flushed);
        } else {
            for batch in &staged {
                let flushed = write_one(&mut self.tx, batch, worker).await?;
                self.flushed.push(flushed);
            }
        }
        if self.flushed.iter().any(Flushed::unleased) {
            self.tx.wake_others_on_commit();
        }
        for batch in staged {
            let (job_id, tenant) = (batch.job_id, batch.tenant);
            self.locks.extend(batch.changes.locks.into_iter().map(|change| super::locks::Pending {
                job_id: job_id.clone(),
                tenant: tenant.clone(),
                change,
            }));
        }
        Ok(())
    }
}

/// Batches flushed: the statements whose answers tell what they stored.
pub(super) enum Flushed {
    /// One batch, written by its own statements ([`write_one`]).
    One {
        /// The call-withdrawing statements (they answer the calls' ids).
        withdrawn: Vec<Sent>,
        /// The calls leased to the worker: each one's INSERT (it answers
        /// the row's id) and what it stored.
        leased: Vec<(Sent, StoredMessage)>,
        unleased: bool,
    },
    /// Several batches, written by one statement ([`write_group`]).
    Group(Box<Grouped>),
}

/// [`WRITE_GROUP`]'s answer to read, and how to read it.
pub(super) struct Grouped {
    sent: Sent,
    /// The batches, in staging order: job and tenant.
    batches: Vec<(String, String)>,
    /// Each leased call's batch, by job and step (one call per step in a
    /// batch), and its message.
    leased_by: HashMap<(String, Option<String>), (usize, Message)>,
    unleased: Vec<bool>,
}

impl Flushed {
    fn unleased(&self) -> bool {
        match self {
            Flushed::One { unleased, .. } => *unleased,
            Flushed::Group(g) => g.unleased.iter().any(|u| *u),
        }
    }

    /// What the batches stored, in staging order, as the commit answered.
    pub(super) fn written(flushed: Vec<Flushed>, answers: &mut Answers) -> Result<Vec<Written>> {
        let mut all = Vec::with_capacity(flushed.len());
        for f in flushed {
            match f {
                Flushed::One { withdrawn, leased, unleased } => {
                    let mut written = Written { unleased, ..Written::default() };
                    for sent in withdrawn {
                        for row in answers.take(sent)?.0 {
                            written.withdrawn.push(row.int("id")?);
                        }
                    }
                    for (sent, mut stored) in leased {
                        let row = answers.take(sent)?.0.into_iter().next();
                        stored.id = row.ok_or_else(|| corrupt("batch", "a call was not stored"))?.int("id")?;
                        written.dispatches.push(stored);
                    }
                    all.push(written);
                }
                Flushed::Group(group) => all.extend(group.written(answers)?),
            }
        }
        Ok(all)
    }
}

/// One batch, a statement per kind of change (the embedded store; a
/// PostgreSQL transaction of one batch).
async fn write_one(tx: &mut Tx, batch: &Staged, worker: &str) -> Result<Flushed> {
    let (job_id, tenant, changes) = (&batch.job_id, &batch.tenant, &batch.changes);
    for ids in changes.consumed.chunks(ROWS_PER_STATEMENT) {
        tx.queue(DELETE_MESSAGES.rows(ids.len()), ids.iter().map(|id| SqlValue::from(*id)).collect()).await?;
    }
    // On PostgreSQL, with the first upsert when there is one (a round trip).
    let mut removals = changes.removals.as_slice();
    if tx.backend() == Backend::Postgres && !changes.upserts.is_empty() {
        removals = &[];
    }
    for feis in removals.chunks(ROWS_PER_STATEMENT) {
        tx.queue(DELETE_EXPRESSIONS.rows(feis.len()), job_and(job_id, feis)).await?;
    }
    let mut withdrawn = Vec::new();
    for feis in changes.withdrawn_dispatches.chunks(ROWS_PER_STATEMENT) {
        withdrawn.push(tx.send(WITHDRAW_DISPATCHES.rows(feis.len()), job_and(job_id, feis)).await?);
    }
    for feis in changes.withdrawn_timers.chunks(ROWS_PER_STATEMENT) {
        tx.queue(WITHDRAW_TIMERS.rows(feis.len()), job_and(job_id, feis)).await?;
    }
    for (chunk, exprs) in changes.upserts.chunks(ROWS_PER_STATEMENT).enumerate() {
        let mut args = args![job_id, tenant];
        let statement = if tx.backend() == Backend::Postgres {
            let ended = if chunk == 0 { changes.removals.as_slice() } else { &[] };
            args.push(SqlValue::from(Value::from(ended).to_string()));
            END_AND_UPSERT_EXPRESSIONS.rows(exprs.len())
        } else {
            UPSERT_EXPRESSIONS.rows(exprs.len())
        };
        for e in exprs {
            args.push(SqlValue::from(&e.fei.0));
            args.push(SqlValue::from(serde_json::to_string(e).map_err(|e| corrupt("expression", e))?));
        }
        tx.queue(statement, args).await?;
    }
    let (mut leased, mut unleased) = (Vec::new(), false);
    for m in &changes.messages {
        let is_dispatch = matches!(m.message, Message::Dispatch(_));
        let lease = is_dispatch && leased.len() < batch.leased;
        unleased |= is_dispatch && !lease;
        let sent = send_message(tx, job_id, tenant, m, lease.then_some(worker)).await?;
        match lease {
            true => leased.push((sent, stored(0, batch, &m.message))),
            false => tx.forget(sent),
        }
    }
    if let Some(state) = changes.job_state {
        let finished = state.is_final().then(now_ms);
        tx.queue(&SET_JOB_STATE, args![state.as_str(), finished, job_id]).await?;
    }
    if let Some(fields) = &changes.job_fields {
        tx.queue(&SET_JOB_FIELDS, args![Value::Object(fields.clone()).to_string(), job_id]).await?;
    }
    if let Some(error) = &changes.job_error {
        tx.queue(&SET_JOB_ERROR, args![error_text(error.as_ref()), job_id]).await?;
    }
    Ok(Flushed::One { withdrawn, leased, unleased })
}

fn job_and(job_id: &str, feis: &[String]) -> Vec<SqlValue> {
    let mut args = args![job_id];
    args.extend(feis.iter().map(SqlValue::from));
    args
}

fn error_text(error: Option<&crate::model::StepError>) -> Option<String> {
    error.map(|e| serde_json::to_string(e).unwrap_or_default())
}

fn stored(id: i64, batch: &Staged, message: &Message) -> StoredMessage {
    StoredMessage { id, job_id: batch.job_id.clone(), tenant: batch.tenant.clone(), message: message.clone() }
}

/// Every staged batch on PostgreSQL, in one statement ([`WRITE_GROUP`]).
async fn write_group(tx: &mut Tx, staged: &[Staged], worker: &str) -> Result<Flushed> {
    let (mut consumed, mut ended, mut withdrawn, mut timers) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut upserts, mut messages, mut jobs) = (Vec::new(), Vec::new(), Vec::new());
    let mut unleased = vec![false; staged.len()];
    let mut leased_by = HashMap::new();
    let now = now_ms();
    for (i, batch) in staged.iter().enumerate() {
        let (job, c) = (batch.job_id.as_str(), &batch.changes);
        consumed.extend(c.consumed.iter().copied());
        ended.extend(c.removals.iter().map(|fei| json!({ "job_id": job, "fei": fei })));
        withdrawn.extend(c.withdrawn_dispatches.iter().map(|fei| json!({ "job_id": job, "fei": fei })));
        timers.extend(c.withdrawn_timers.iter().map(|fei| json!({ "job_id": job, "fei": fei })));
        for e in &c.upserts {
            let body = serde_json::to_string(e).map_err(|e| corrupt("expression", e))?;
            upserts.push(json!({ "job_id": job, "fei": e.fei.0, "tenant": batch.tenant, "body": body }));
        }
        let mut leased = 0;
        for m in &c.messages {
            let is_dispatch = matches!(m.message, Message::Dispatch(_));
            let lease = is_dispatch && leased < batch.leased;
            unleased[i] |= is_dispatch && !lease;
            if lease {
                leased += 1;
                leased_by.insert((job.to_owned(), message_fei(&m.message)), (i, m.message.clone()));
            }
            let body = serde_json::to_string(&m.message).map_err(|e| corrupt("message", e))?;
            messages.push(json!({
                "n": messages.len(), "job_id": job, "tenant": batch.tenant, "kind": m.message.kind(),
                "fei": message_fei(&m.message), "body": body, "due_at": m.due_at,
                "lease_owner": lease.then_some(worker),
            }));
        }
        if c.job_state.is_some() || c.job_fields.is_some() || c.job_error.is_some() {
            jobs.push(json!({
                "job_id": job,
                "state": c.job_state.map(|s| s.as_str()),
                "finished_at": c.job_state.filter(|s| s.is_final()).map(|_| now),
                "fields": c.job_fields.as_ref().map(|f| Value::Object(f.clone()).to_string()),
                "set_error": c.job_error.is_some(),
                "error": c.job_error.as_ref().and_then(|e| error_text(e.as_ref())),
            }));
        }
    }
    let array = |rows: Vec<Value>| Value::Array(rows).to_string();
    let args = args![
        array(consumed.into_iter().map(Value::from).collect()),
        array(ended),
        array(withdrawn),
        array(timers),
        array(upserts),
        array(messages),
        array(jobs),
    ];
    let sent = tx.send(&WRITE_GROUP, args).await?;
    let batches = staged.iter().map(|b| (b.job_id.clone(), b.tenant.clone())).collect();
    Ok(Flushed::Group(Box::new(Grouped { sent, batches, leased_by, unleased })))
}

impl Grouped {
    /// Each batch's [`Written`], from the statement's answer.
    fn written(mut self, answers: &mut Answers) -> Result<Vec<Written>> {
        let mut written: Vec<Written> =
            self.unleased.iter().map(|&unleased| Written { unleased, ..Written::default() }).collect();
        let index: HashMap<&str, usize> = self.batches.iter().enumerate().map(|(i, b)| (b.0.as_str(), i)).collect();
        for row in answers.take(self.sent)?.0 {
            let (id, job) = (row.int("id")?, row.text("job_id")?);
            match row.str("what")? {
                "withdrawn" => {
                    let i = index.get(job.as_str()).ok_or_else(|| corrupt("batch", "withdrew another job's call"))?;
                    written[*i].withdrawn.push(id);
                }
                _ => {
                    let fei = row.opt_text("fei")?;
                    let (i, message) = self
                        .leased_by
                        .remove(&(job.clone(), fei))
                        .ok_or_else(|| corrupt("batch", format!("leased a call it did not journal: {job}")))?;
                    let (job_id, tenant) = self.batches[i].clone();
                    written[i].dispatches.push(StoredMessage { id, job_id, tenant, message });
                }
            }
        }
        // In each batch's order (ids grow in insertion order).
        for w in &mut written {
            w.dispatches.sort_by_key(|d| d.id);
        }
        Ok(written)
    }
}
