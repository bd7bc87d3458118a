//! Locks per key: the rows behind `lock 'deploy-${env}', limit: 1 do ...
//! end` (`engine/expressions/lock.rs`).
//!
//! Guarantees:
//! - A key never has more holders than the limit its waiters asked for: a
//!   waiter enters only while fewer than its own `limit` hold the key.
//! - Waiters enter in the order they asked (first come, first served): the
//!   first waiter that cannot enter stops the ones behind it.
//! - Every change to a key's rows is made by a transaction that first
//!   updates the key's row in `lock_keys`; on PostgreSQL that row stays
//!   locked until the commit, so two processes' transactions change one
//!   key in turn, never both at once. A transaction takes its keys' rows in
//!   one order (tenant, then key), so two of them never wait for each other.
//! - A batch's lock changes are applied when its transaction commits, with
//!   the rest of the batch or not at all: a process killed before the
//!   commit leaves the key as it was, and the job's messages are processed
//!   again by whoever takes the job over. A hold belongs to the job, not to
//!   the process that took it.
//! - A waiter let in gets a `granted` message in the same transaction,
//!   which the job's next batch (in any process) turns into running the
//!   block. A hold ends with the block, its cancellation, or its job's
//!   end; a row whose job is over is dropped whenever its key changes.
//!
//! ```no_run
//! # async fn demo(store: mastermind::store::Store) -> anyhow::Result<()> {
//! for entry in store.locks("acme", None).await? {
//!     println!("{} {} {:?}", entry.key, entry.job_id, entry.position);
//! }
//! # Ok(()) }
//! ```

use super::sql::{Tx, args, statements};
use super::{NewMessage, Result, Store, insert_message, now_ms};
use crate::model::{Fei, JobState, Message};
use serde::Serialize;
use std::collections::BTreeMap;

statements! {
    TOUCH_KEY = "INSERT INTO lock_keys (tenant, key, changes) VALUES ($1, $2, 1)
                 ON CONFLICT (tenant, key) DO UPDATE SET changes = lock_keys.changes + 1";
    FORGET = "DELETE FROM locks WHERE job_id = $1 AND fei = $2";
    REQUEST = "INSERT INTO locks (tenant, key, job_id, fei, max_holders, line, requested_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7)";
    JOB_LOCKS = "SELECT key, fei FROM locks WHERE job_id = $1";
    KEY_ROWS = "SELECT l.id, l.job_id, l.fei, l.max_holders, l.held_at, j.state
                FROM locks l LEFT JOIN jobs j ON j.id = l.job_id
                WHERE l.tenant = $1 AND l.key = $2 ORDER BY l.id";
    DROP_ROW = "DELETE FROM locks WHERE id = $1";
    ENTER = "UPDATE locks SET held_at = $1 WHERE id = $2";
    TENANT_LOCKS = "SELECT key, job_id, fei, max_holders, line, requested_at, held_at
                    FROM locks WHERE tenant = $1 ORDER BY key, id";
    JOB_KEYS_LOCKS = "SELECT key, job_id, fei, max_holders, line, requested_at, held_at FROM locks
                      WHERE tenant = $1 AND key IN (SELECT key FROM locks WHERE tenant = $1 AND job_id = $2)
                      ORDER BY key, id";
}

/// A change a batch makes to its job's locks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockChange {
    /// The `lock` expression `fei` asks for `key`, behind those already
    /// waiting (an earlier request or hold of the same expression is
    /// dropped first: it was applied again).
    Request {
        /// The key, per tenant.
        key: String,
        /// The lock expression.
        fei: String,
        /// How many may hold the key at once, as this expression sees it.
        max_holders: u32,
        /// Its definition line, for those who look at the queue.
        line: u32,
    },
    /// The expression `fei` lets go of `key`, held or waited for.
    Leave {
        /// The key.
        key: String,
        /// The lock expression.
        fei: String,
    },
    /// The job ended: everything it holds or waits for goes.
    LeaveAll,
}

/// A batch's lock changes, kept by the transaction until it commits.
pub(super) struct Pending {
    pub job_id: String,
    pub tenant: String,
    pub change: LockChange,
}

/// One holder or waiter of a key, as [`Store::locks`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockEntry {
    /// The key.
    pub key: String,
    /// The job holding or waiting.
    pub job_id: String,
    /// Its `lock` expression.
    pub fei: String,
    /// The `limit` it asked for.
    pub limit: i64,
    /// Its definition line.
    pub line: i64,
    /// When it asked, in milliseconds since the Unix epoch.
    pub requested_at: i64,
    /// When it got in; `None` while it waits.
    pub held_at: Option<i64>,
    /// Its place among the key's waiters (1 is next); `None` for a holder.
    pub position: Option<usize>,
}

/// Applies the transaction's lock changes, key by key in (tenant, key)
/// order, and lets in the waiters that now may; returns the jobs given a
/// `granted` message.
pub(super) async fn apply(tx: &mut Tx, pending: Vec<Pending>) -> Result<Vec<String>> {
    let mut by_key: BTreeMap<(String, String), Vec<(String, LockChange)>> = BTreeMap::new();
    for p in pending {
        if p.change == LockChange::LeaveAll {
            for row in tx.fetch_all(&JOB_LOCKS, args![&p.job_id]).await? {
                let (key, fei) = (row.text("key")?, row.text("fei")?);
                let leave = LockChange::Leave { key: key.clone(), fei };
                by_key.entry((p.tenant.clone(), key)).or_default().push((p.job_id.clone(), leave));
            }
            continue;
        }
        let key = match &p.change {
            LockChange::Request { key, .. } | LockChange::Leave { key, .. } => key.clone(),
            LockChange::LeaveAll => continue,
        };
        by_key.entry((p.tenant.clone(), key)).or_default().push((p.job_id, p.change));
    }
    let mut granted = Vec::new();
    for ((tenant, key), changes) in by_key {
        tx.execute(&TOUCH_KEY, args![&tenant, &key]).await?;
        for (job_id, change) in changes {
            match change {
                LockChange::Request { fei, max_holders, line, .. } => {
                    tx.execute(&FORGET, args![&job_id, &fei]).await?;
                    let row = args![&tenant, &key, &job_id, &fei, i64::from(max_holders), i64::from(line), now_ms()];
                    tx.execute(&REQUEST, row).await?;
                }
                LockChange::Leave { fei, .. } => {
                    tx.execute(&FORGET, args![&job_id, &fei]).await?;
                }
                LockChange::LeaveAll => {}
            }
        }
        granted.extend(let_in(tx, &tenant, &key).await?);
    }
    Ok(granted)
}

/// Lets in `key`'s first waiters while there is room; returns their jobs.
async fn let_in(tx: &mut Tx, tenant: &str, key: &str) -> Result<Vec<String>> {
    let mut holders = 0;
    let mut granted = Vec::new();
    for row in tx.fetch_all(&KEY_ROWS, args![tenant, key]).await? {
        let id = row.int("id")?;
        let job_over = row.opt_text("state")?.and_then(|s| JobState::parse(&s)).is_none_or(|s| s.is_final());
        if job_over {
            // Its job ended without letting go (it cannot any more).
            tx.execute(&DROP_ROW, args![id]).await?;
            continue;
        }
        if row.opt_int("held_at")?.is_some() {
            holders += 1;
            continue;
        }
        if holders >= row.int("max_holders")? {
            break;
        }
        let job_id = row.text("job_id")?;
        tx.execute(&ENTER, args![now_ms(), id]).await?;
        let message = NewMessage { message: Message::Granted { fei: Fei(row.text("fei")?) }, due_at: now_ms() };
        insert_message(tx, &job_id, tenant, &message, None).await?;
        holders += 1;
        granted.push(job_id);
    }
    Ok(granted)
}

impl Store {
    /// The tenant's locks: every holder and waiter, by key, in queue order;
    /// only the keys `job` holds or waits for when given.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn locks(&self, tenant: &str, job: Option<&str>) -> Result<Vec<LockEntry>> {
        let rows = match job {
            Some(job) => self.db.fetch_all(&JOB_KEYS_LOCKS, args![tenant, job]).await?,
            None => self.db.fetch_all(&TENANT_LOCKS, args![tenant]).await?,
        };
        let mut entries: Vec<LockEntry> = Vec::with_capacity(rows.len());
        let mut waiting = 0;
        for row in rows {
            let key = row.text("key")?;
            if entries.last().is_none_or(|e| e.key != key) {
                waiting = 0;
            }
            let held_at = row.opt_int("held_at")?;
            let position = held_at.is_none().then(|| {
                waiting += 1;
                waiting
            });
            entries.push(LockEntry {
                key,
                job_id: row.text("job_id")?,
                fei: row.text("fei")?,
                limit: row.int("max_holders")?,
                line: row.int("line")?,
                requested_at: row.int("requested_at")?,
                held_at,
                position,
            });
        }
        Ok(entries)
    }
}
