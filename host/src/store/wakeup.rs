//! Waking other processes' workers when work is queued for them
//! (PostgreSQL's NOTIFY, which their `Store::listen` hears), sent after the
//! transaction that queued the work commits rather than inside it.
//!
//! Why: a transaction that has sent a NOTIFY holds a database-wide lock
//! through its commit, WAL flush included, so every transaction queueing
//! work would commit one at a time across all the processes — one fsync
//! each where group commit shares one between many. Here a transaction only
//! says it queued work ([`Tx::wake_others_on_commit`](super::sql::Tx)); once it
//! committed, [`Wakeup::wake`] asks this store's task to send a NOTIFY, and
//! every request made while one is being sent is answered by the next: a
//! burst of commits costs a NOTIFY or two, each its own short transaction.
//!
//! Guarantees:
//! - A NOTIFY follows every commit that queued work, never precedes it: a
//!   woken worker finds the work committed.
//! - A wake-up is a hint. A process that dies between its commit and the
//!   NOTIFY leaves the work to be found by the others' next claim (their
//!   idle poll, half a second at most).

use super::NOTIFY_CHANNEL;
use super::postgres::PgPool;
use super::sql::{args, statements};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;

statements! {
    /// Wakes other processes' workers (see `Store::listen`).
    NOTIFY (Postgres) = "SELECT pg_notify($1, 'work')";
}

/// See the module documentation.
pub(crate) struct Wakeup {
    /// A commit asked for a NOTIFY not yet sent.
    pending: AtomicBool,
    asked: Notify,
}

impl Wakeup {
    /// Starts the task sending this pool's NOTIFYs; it ends when the pool
    /// is closed.
    pub(crate) fn start(pool: PgPool) -> Arc<Self> {
        let wakeup = Arc::new(Wakeup { pending: AtomicBool::new(false), asked: Notify::new() });
        let sender = wakeup.clone();
        tokio::spawn(async move {
            loop {
                sender.asked.notified().await;
                if !sender.pending.swap(false, Ordering::AcqRel) {
                    continue;
                }
                let sent = pool.run(&NOTIFY, args![NOTIFY_CHANNEL]).await;
                if let Err(e) = sent {
                    if pool.is_closed() {
                        break;
                    }
                    tracing::warn!(error = %e, "waking the other processes failed (they poll)");
                }
            }
        });
        wakeup
    }

    /// A transaction that queued work committed: wake the others soon.
    pub(crate) fn wake(&self) {
        self.pending.store(true, Ordering::Release);
        self.asked.notify_one();
    }
}
