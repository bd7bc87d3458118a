//! Appending to a job's events: the transaction of the batch that produced
//! them numbers and stores them.
//!
//! Guarantees:
//! - Numbers follow the job's largest, without gaps, in commit order. The
//!   caller's transaction holds the job's row (a batch from its first
//!   statement, a control call from its UPDATE), so two transactions of one
//!   job cannot number events at once: PostgreSQL makes the second wait for
//!   the first's commit, and SQLite has one writer.
//! - Retention keeps the newest `keep` events of a job; the newest is never
//!   dropped, so the largest number survives it.
//!
//! A worker's transaction ([`WorkTx`](super::WorkTx)) holds several jobs'
//! batches; their events wait in it ([`Pending`]) and are stored together
//! just before the commit ([`append`]), in the order they were appended.
//! A control call stores its one event the same way.
//!
//! The two databases number differently, each the cheaper way for it. On
//! PostgreSQL one statement reads each job's largest number and inserts
//! after it, for every job of the transaction at once (one statement per
//! 32 events, not one per job), and its numbers are read after the commit:
//! the statements, each job's retention and the `COMMIT` travel together. On SQLite such a statement reads the table
//! it writes and returns rows, and SQLite answers both by building a
//! temporary table for each batch (a tenth of the committer's time in a
//! profile): it reads each job's largest number first and inserts plain
//! rows instead (docs/benchmarks.md).

use super::Backend;
use super::sql::{Answers, Sent, SqlValue, Statement, Tx, args, statements};
use super::work::{PerRowCount, ROWS_PER_STATEMENT};
use super::{NewEvent, Result, corrupt, now_ms};
use std::collections::HashMap;

statements! {
    LAST_EVENT (Sqlite) = "SELECT COALESCE(MAX(seq), 0) AS last FROM events WHERE job_id = $1";
    DELETE_OLD_EVENTS = "DELETE FROM events WHERE job_id = $1 AND seq <= $2";
    /// All but the newest `$2` events of job `$1`, after a statement that
    /// appended more than that (see [`append_jobs_statement`]).
    KEEP_NEWEST_EVENTS (Postgres) = "DELETE FROM events
        WHERE job_id = $1 AND seq <= (SELECT MAX(seq) FROM events WHERE job_id = $1) - $2";
}

/// SQLite's INSERT of `rows` events numbered from `$4`: `$1` job, `$2`
/// tenant, `$3` time, `$4` the first number, then kind and body per row
/// (markers and constants spliced, values bound).
pub(super) fn insert_statement(rows: usize) -> Statement {
    let rows: Vec<String> =
        (0..rows).map(|i| format!("($1, $4 + {i}, $2, $3, ${}, ${})", 5 + 2 * i, 6 + 2 * i)).collect();
    Statement::built(
        "store::events::insert_statement",
        format!("INSERT INTO events (job_id, seq, tenant, at, kind, body) VALUES {}", rows.join(", ")),
    )
    .only_on(Backend::Sqlite)
}

/// PostgreSQL's INSERT of `rows` events of any of the transaction's jobs,
/// each numbered after its job's largest, and each job's retention: `$1`
/// time, then job, tenant, offset within the job (from 1), kind, body and
/// the job's events kept per row. Answers each job's first and last
/// number (markers spliced, values bound). The retention's DELETE sees the
/// table as the statement began: the rows it inserts are never dropped by
/// it, so a job with more rows in one statement than it keeps needs
/// [`KEEP_NEWEST_EVENTS`] after.
pub(super) fn append_jobs_statement(rows: usize) -> Statement {
    let rows: Vec<String> = (0..rows)
        .map(|i| {
            let n = 2 + 6 * i;
            format!(
                "(${n}::text, ${}::text, ${}::bigint, ${}::text, ${}::text, ${}::bigint)",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5
            )
        })
        .collect();
    Statement::built(
        "store::events::append_jobs_statement",
        format!(
            "WITH v (job_id, tenant, k, kind, body, keep) AS (VALUES {}),
             jobs AS MATERIALIZED (
                SELECT v.job_id, MAX(v.k) AS n, MIN(v.keep) AS keep,
                       (SELECT COALESCE(MAX(e.seq), 0) FROM events e WHERE e.job_id = v.job_id) AS last
                FROM v GROUP BY v.job_id),
             stored AS (
                INSERT INTO events (job_id, seq, tenant, at, kind, body)
                SELECT v.job_id, jobs.last + v.k, v.tenant, $1, v.kind, v.body
                FROM v JOIN jobs ON jobs.job_id = v.job_id
                RETURNING job_id, seq),
             dropped AS (
                DELETE FROM events e USING jobs
                WHERE e.job_id = jobs.job_id AND e.seq <= jobs.last + jobs.n - jobs.keep)
             SELECT job_id, MIN(seq) AS first, MAX(seq) AS last FROM stored GROUP BY job_id",
            rows.join(", ")
        ),
    )
    .only_on(Backend::Postgres)
}

static APPEND_JOBS: PerRowCount = PerRowCount::new(append_jobs_statement);
static INSERT: PerRowCount = PerRowCount::new(insert_statement);

/// A job's events to store: appended in a worker's transaction and stored
/// by [`append`] before it commits, or stored by a control call at once.
pub(super) struct Pending {
    pub(super) job_id: String,
    pub(super) tenant: String,
    pub(super) rows: Vec<NewEvent>,
    /// The job's events kept: all but the newest `keep` are dropped.
    pub(super) keep: usize,
}

/// Where each append's events were numbered: known at once on SQLite,
/// from the commit's answers on PostgreSQL.
pub(super) enum Numbering {
    Known(Vec<i64>),
    /// Each statement's answer (each job's first and last number in it),
    /// and each append's first row: its statement and its place among its
    /// job's rows there (None: no rows).
    Sent {
        statements: Vec<Sent>,
        first_rows: Vec<Option<(usize, i64)>>,
    },
}

/// Stores `pending` (several jobs', a job possibly more than once), each
/// numbered after what its job had, in order, and applies each job's
/// retention.
pub(super) async fn append(tx: &mut Tx, pending: &[Pending]) -> Result<Numbering> {
    match tx.backend() {
        Backend::Sqlite => {
            let mut firsts = Vec::with_capacity(pending.len());
            for p in pending {
                firsts.push(append_one(tx, p).await?);
            }
            Ok(Numbering::Known(firsts))
        }
        Backend::Postgres => append_all(tx, pending).await,
    }
}

impl Numbering {
    /// Each append's first number (0 when it has no events), `pending`
    /// being what was appended.
    pub(super) fn firsts(self, pending: &[Pending], answers: &mut Answers) -> Result<Vec<i64>> {
        let (statements, first_rows) = match self {
            Numbering::Known(firsts) => return Ok(firsts),
            Numbering::Sent { statements, first_rows } => (statements, first_rows),
        };
        // Per statement, each job's number before it (its first minus one).
        let mut bases: Vec<HashMap<String, i64>> = Vec::with_capacity(statements.len());
        for sent in statements {
            let mut base = HashMap::new();
            for stored in answers.take(sent)?.0 {
                base.insert(stored.text("job_id")?, stored.int("first")? - 1);
            }
            bases.push(base);
        }
        pending
            .iter()
            .zip(first_rows)
            .map(|(p, first)| match first {
                None => Ok(0),
                Some((statement, k)) => bases[statement]
                    .get(&p.job_id)
                    .map(|base| base + k)
                    .ok_or_else(|| corrupt("events", "a job's events were not stored")),
            })
            .collect()
    }
}

/// SQLite: reads the job's largest number, inserts plain rows after it.
async fn append_one(tx: &mut Tx, p: &Pending) -> Result<i64> {
    if p.rows.is_empty() {
        return Ok(0);
    }
    let now = now_ms();
    let first = tx.fetch_one(&LAST_EVENT, args![&p.job_id]).await?.int("last")? + 1;
    let mut next = first;
    for chunk in p.rows.chunks(ROWS_PER_STATEMENT) {
        let mut args = args![&p.job_id, &p.tenant, now, next];
        for e in chunk {
            args.push(SqlValue::from(e.kind));
            args.push(SqlValue::from(&e.body));
        }
        tx.execute(INSERT.rows(chunk.len()), args).await?;
        next += chunk.len() as i64;
    }
    drop_old(tx, &p.job_id, next - 1, p.keep).await?;
    Ok(first)
}

/// Drops all but the newest `keep` of a job whose largest number is `last`.
async fn drop_old(tx: &mut Tx, job_id: &str, last: i64, keep: usize) -> Result<()> {
    let keep = keep.max(1) as i64;
    if last > keep {
        tx.execute(&DELETE_OLD_EVENTS, args![job_id, last - keep]).await?;
    }
    Ok(())
}

/// PostgreSQL: every job's rows in statements of [`ROWS_PER_STATEMENT`],
/// each row numbered in the statement after its job's largest, with the
/// job's retention; all sent, their answers read after the commit.
async fn append_all(tx: &mut Tx, pending: &[Pending]) -> Result<Numbering> {
    let rows: Vec<(usize, &NewEvent)> =
        pending.iter().enumerate().flat_map(|(i, p)| p.rows.iter().map(move |r| (i, r))).collect();
    let mut first_rows: Vec<Option<(usize, i64)>> = vec![None; pending.len()];
    let mut statements = Vec::new();
    // Jobs with more rows in one statement than they keep: the statement's
    // retention cannot drop its own rows (see append_jobs_statement).
    let mut overflowing: Vec<(&str, i64)> = Vec::new();
    let now = now_ms();
    for (statement, chunk) in rows.chunks(ROWS_PER_STATEMENT).enumerate() {
        let mut offsets: HashMap<&str, i64> = HashMap::new();
        let mut args = args![now];
        for (i, row) in chunk {
            let p = &pending[*i];
            let keep = p.keep.max(1) as i64;
            let k = offsets.entry(p.job_id.as_str()).or_default();
            *k += 1;
            first_rows[*i].get_or_insert((statement, *k));
            if *k > keep && !overflowing.iter().any(|(job, _)| *job == p.job_id) {
                overflowing.push((p.job_id.as_str(), keep));
            }
            args.extend([
                SqlValue::from(&p.job_id),
                SqlValue::from(&p.tenant),
                SqlValue::from(*k),
                SqlValue::from(row.kind),
                SqlValue::from(&row.body),
                SqlValue::from(keep),
            ]);
        }
        statements.push(tx.send(APPEND_JOBS.rows(chunk.len()), args).await?);
    }
    for (job, keep) in overflowing {
        tx.queue(&KEEP_NEWEST_EVENTS, args![job, keep]).await?;
    }
    Ok(Numbering::Sent { statements, first_rows })
}
