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
//! The two databases number differently, each the cheaper way for it. On
//! PostgreSQL one statement reads the largest number and inserts after it
//! (one round trip). On SQLite that statement reads the table it writes and
//! returns rows, and SQLite answers both by building a temporary table for
//! each batch (a tenth of the committer's time in a profile): it reads the
//! largest number first and inserts plain rows instead (docs/benchmarks.md).

use super::Backend;
use super::sql::{SqlValue, Statement, Tx, args, statements};
use super::work::{PerRowCount, ROWS_PER_STATEMENT};
use super::{NewEvent, Result, corrupt, now_ms};

statements! {
    LAST_EVENT (Sqlite) = "SELECT COALESCE(MAX(seq), 0) AS last FROM events WHERE job_id = $1";
    DELETE_OLD_EVENTS = "DELETE FROM events WHERE job_id = $1 AND seq <= $2";
}

/// PostgreSQL's INSERT of `rows` events, numbered in the statement: `$1`
/// job, `$2` tenant, `$3` time, then kind and body per row; each row's
/// offset is a literal (markers and constants spliced, values bound).
pub(super) fn append_statement(rows: usize) -> Statement {
    let rows: Vec<String> =
        (0..rows).map(|i| format!("SELECT {} AS k, ${} AS kind, ${} AS body", i + 1, 4 + 2 * i, 5 + 2 * i)).collect();
    Statement::built(
        "store::events::append_statement",
        format!(
            "INSERT INTO events (job_id, seq, tenant, at, kind, body)
             SELECT $1, base.last + v.k, $2, $3, v.kind, v.body
             FROM (SELECT COALESCE(MAX(seq), 0) AS last FROM events WHERE job_id = $1) base,
                  ({}) v
             RETURNING seq",
            rows.join(" UNION ALL ")
        ),
    )
    .only_on(Backend::Postgres)
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

static APPEND: PerRowCount = PerRowCount::new(append_statement);
static INSERT: PerRowCount = PerRowCount::new(insert_statement);

/// Numbers `events` after the job's last, stores them and drops all but
/// the last `keep` of the job's events. Returns the first one's number.
pub(super) async fn append(tx: &mut Tx, job_id: &str, tenant: &str, events: &[NewEvent], keep: usize) -> Result<i64> {
    if events.is_empty() {
        return Ok(0);
    }
    let now = now_ms();
    let (first, last) = match tx.backend() {
        Backend::Postgres => {
            let mut range: Option<(i64, i64)> = None;
            for chunk in events.chunks(ROWS_PER_STATEMENT) {
                let mut args = args![job_id, tenant, now];
                push_rows(&mut args, chunk);
                for row in tx.fetch_all(APPEND.rows(chunk.len()), args).await? {
                    let seq = row.int("seq")?;
                    range = Some(range.map_or((seq, seq), |(a, b)| (a.min(seq), b.max(seq))));
                }
            }
            range.ok_or_else(|| corrupt("events", "nothing was stored"))?
        }
        Backend::Sqlite => {
            let first = tx.fetch_one(&LAST_EVENT, args![job_id]).await?.int("last")? + 1;
            let mut next = first;
            for chunk in events.chunks(ROWS_PER_STATEMENT) {
                let mut args = args![job_id, tenant, now, next];
                push_rows(&mut args, chunk);
                tx.execute(INSERT.rows(chunk.len()), args).await?;
                next += chunk.len() as i64;
            }
            (first, next - 1)
        }
    };
    let keep = keep.max(1) as i64;
    if last > keep {
        tx.execute(&DELETE_OLD_EVENTS, args![job_id, last - keep]).await?;
    }
    Ok(first)
}

fn push_rows(args: &mut Vec<SqlValue>, events: &[NewEvent]) {
    for e in events {
        args.push(SqlValue::from(e.kind));
        args.push(SqlValue::from(&e.body));
    }
}
