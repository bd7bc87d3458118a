//! Taking the jobs of one round of a worker's transaction at once
//! ([`WorkTx::take_jobs`]): a claimed job's lease checked and released, a
//! finished call's job opened and its outcome journaled.
//!
//! Guarantees (those of [`WorkTx::take_claimed`], [`WorkTx::open_job`] and
//! [`WorkTx::finish_dispatch`], which the embedded store, and PostgreSQL
//! for a round of one job, run one by one):
//! - A job is taken only under the same conditions, and on PostgreSQL its
//!   row stays locked until the commit.
//! - On PostgreSQL the round's job rows are locked in the order of their
//!   ids, whatever the plan (`SELECT ... ORDER BY id FOR UPDATE` first), as
//!   the committer orders its work: two processes' transactions never wait
//!   for each other in a cycle.
//! - A call's outcome is journaled (its dispatch deleted, its history row
//!   added) only if its dispatch is still leased to this worker.
//!
//! On PostgreSQL a round of several jobs is two statements, where it was
//! two or three per job; each statement's rows travel as one JSON array,
//! found through `= ANY(ARRAY(...))` on an index (see `store::batches`).
//! Whichever statements take the round, they are sent together with the
//! read of the jobs' due messages and expressions ([`WorkTx::prefetch`]),
//! which PostgreSQL runs after them, once the rows are locked: the round,
//! with the transaction's `BEGIN`, is one round trip (`store::postgres`).

use super::sql::{Sent, Statement, args, statements};
use super::work::{RUNNABLE, TAKE_CLAIMED, open_job_statement};
use super::{Backend, HistoryEntry, Result, WorkTx, corrupt, now_ms};
use crate::model::JobState;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;
use std::time::Duration;

/// What a round does with one job.
pub enum Take<'a> {
    /// This worker claimed (or launched) it: check and release the lease.
    Claimed(&'a str),
    /// One of its calls finished here: open the job and journal the
    /// outcome of dispatch `dispatch_id`.
    Finished {
        /// The job.
        job_id: &'a str,
        /// Its tenant.
        tenant: &'a str,
        /// The call's dispatch row.
        dispatch_id: i64,
        /// What the call did, for the job's history.
        history: &'a HistoryEntry,
    },
}

/// What taking one job gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// Its state when taken; None when the lease was lost (claimed) or
    /// the job may not be worked on here (finished: see
    /// [`WorkTx::open_job`]).
    pub state: Option<JobState>,
    /// A finished call's outcome was journaled (false when its dispatch
    /// was gone: cancelled or taken over).
    pub journaled: bool,
}

impl Take<'_> {
    fn job_id(&self) -> &str {
        match self {
            Take::Claimed(job_id) | Take::Finished { job_id, .. } => job_id,
        }
    }
}

statements! {
    /// Every finished call of a round: `$1` the calls (JSON rows), `$2` the
    /// worker. Returns the dispatches journaled.
    FINISH_DISPATCHES (Postgres) = "WITH
        r AS MATERIALIZED (
            SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(dispatch_id bigint, job_id text, tenant text, fei text,
                line bigint, participant text, action text, params text, attempt bigint, started_at bigint,
                ended_at bigint, ok bigint, result text)),
        gone AS (
            DELETE FROM messages m WHERE m.id = ANY(ARRAY(SELECT dispatch_id FROM r)) AND m.lease_owner = $2
            RETURNING m.id),
        added AS (
            INSERT INTO history (job_id, tenant, fei, line, participant, action, params, attempt, started_at, ended_at,
                                 ok, result)
            SELECT r.job_id, r.tenant, r.fei, r.line, r.participant, r.action, r.params, r.attempt, r.started_at,
                   r.ended_at, r.ok, r.result
            FROM r JOIN gone ON gone.id = r.dispatch_id ORDER BY r.dispatch_id)
        SELECT id FROM gone";
}

/// Every job of a round, taken (PostgreSQL): `$1` now, `$2` the claimed
/// jobs' ids and `$3` the finished calls' (JSON arrays), `$4` the worker,
/// `$5` the oldest live heartbeat ([`RUNNABLE`] spliced: constants).
pub(super) fn take_jobs_statement() -> &'static Statement {
    static TAKE_JOBS: LazyLock<Statement> = LazyLock::new(|| {
        Statement::built(
            "store::take::take_jobs_statement",
            format!(
                "WITH
                    claimed AS MATERIALIZED (SELECT value AS id FROM jsonb_array_elements_text($2::jsonb)),
                    finished AS MATERIALIZED (SELECT value AS id FROM jsonb_array_elements_text($3::jsonb)),
                    locked AS MATERIALIZED (
                        SELECT id FROM jobs
                        WHERE id = ANY(ARRAY(SELECT id FROM claimed UNION ALL SELECT id FROM finished))
                        ORDER BY id FOR UPDATE)
                 UPDATE jobs j SET updated_at = $1,
                     lease_owner = CASE WHEN j.id IN (SELECT id FROM claimed) THEN NULL ELSE j.lease_owner END,
                     lease_until = CASE WHEN j.id IN (SELECT id FROM claimed) THEN NULL ELSE j.lease_until END
                 FROM locked
                 WHERE j.id = locked.id
                   AND ((j.id IN (SELECT id FROM claimed) AND j.lease_owner = $4)
                        OR (j.id IN (SELECT id FROM finished) AND j.state IN ({runnable})
                            AND (j.lease_owner IS NULL OR j.lease_owner = $4 OR j.lease_until < $1
                                 OR j.lease_owner NOT IN (SELECT id FROM workers WHERE heartbeat_at > $5))))
                 RETURNING j.id, j.state",
                runnable = *RUNNABLE
            ),
        )
        .only_on(Backend::Postgres)
    });
    &TAKE_JOBS
}

impl WorkTx {
    /// Takes a round's jobs (each at most once), in order: what each
    /// gave, as [`WorkTx::take_claimed`], [`WorkTx::open_job`] and
    /// [`WorkTx::finish_dispatch`] would (see the module documentation).
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn take_jobs(&mut self, takes: &[Take<'_>], worker: &str, stale_after: Duration) -> Result<Vec<Taken>> {
        if self.tx.backend() != Backend::Postgres {
            let mut taken = Vec::with_capacity(takes.len());
            for take in takes {
                taken.push(match take {
                    Take::Claimed(job_id) => {
                        Taken { state: self.take_claimed(job_id, worker).await?, journaled: false }
                    }
                    Take::Finished { job_id, tenant, dispatch_id, history } => Taken {
                        state: self.open_job(job_id, worker, stale_after).await?,
                        journaled: self.finish_dispatch(*dispatch_id, worker, job_id, tenant, history).await?,
                    },
                });
            }
            return Ok(taken);
        }
        let now = now_ms();
        let heartbeat = now - stale_after.as_millis() as i64;
        let (taking, journaling) = match takes {
            // One job (a sequential step) goes faster through the small
            // statements, each a fraction of the batched ones' work.
            [Take::Claimed(job_id)] => (self.tx.send(&TAKE_CLAIMED, args![now, *job_id, worker]).await?, None),
            [Take::Finished { job_id, tenant, dispatch_id, history }] => {
                let taking = self.tx.send(open_job_statement(), args![now, *job_id, worker, heartbeat]).await?;
                (taking, Some(self.send_finish_dispatch(*dispatch_id, worker, job_id, tenant, history).await?))
            }
            _ => self.send_take_round(takes, worker, now, heartbeat).await?,
        };
        // Read after the jobs are taken (in the same round trip).
        let jobs: Vec<&str> = takes.iter().map(Take::job_id).collect();
        let reading = self.send_prefetch(&jobs).await?;
        let mut states = HashMap::new();
        for row in self.tx.answer(taking).await?.0 {
            let state = row.text("state")?;
            states.insert(row.text("id")?, JobState::parse(&state).ok_or_else(|| corrupt("job state", &state))?);
        }
        let mut journaled = HashSet::new();
        if let Some(journaling) = journaling {
            for row in self.tx.answer(journaling).await?.0 {
                journaled.insert(row.int("id")?);
            }
        }
        if let Some(reading) = reading {
            self.keep_prefetched(reading).await?;
        }
        Ok(takes
            .iter()
            .map(|t| Taken {
                state: states.get(t.job_id()).copied(),
                journaled: matches!(t, Take::Finished { dispatch_id, .. } if journaled.contains(dispatch_id)),
            })
            .collect())
    }

    /// Sends the statements that take several jobs and journal their
    /// calls (PostgreSQL); they answer the jobs' ids and states, and the
    /// journaled dispatches' ids.
    async fn send_take_round(
        &mut self,
        takes: &[Take<'_>],
        worker: &str,
        now: i64,
        heartbeat: i64,
    ) -> Result<(Sent, Option<Sent>)> {
        let ids = |claimed: bool| {
            let ids: Vec<&str> =
                takes.iter().filter(|t| matches!(t, Take::Claimed(_)) == claimed).map(Take::job_id).collect();
            serde_json::Value::from(ids).to_string()
        };
        let args = args![now, ids(true), ids(false), worker, heartbeat];
        let taking = self.tx.send(take_jobs_statement(), args).await?;
        let calls: Vec<_> = takes
            .iter()
            .filter_map(|t| match t {
                Take::Finished { job_id, tenant, dispatch_id, history: h } => Some(json!({
                    "dispatch_id": dispatch_id, "job_id": job_id, "tenant": tenant, "fei": h.fei,
                    "line": h.line, "participant": h.participant, "action": h.action,
                    "params": h.params.to_string(), "attempt": h.attempt, "started_at": h.started_at,
                    "ended_at": h.ended_at, "ok": i64::from(h.ok), "result": h.result.to_string(),
                })),
                Take::Claimed(_) => None,
            })
            .collect();
        if calls.is_empty() {
            return Ok((taking, None));
        }
        let args = args![serde_json::Value::from(calls).to_string(), worker];
        Ok((taking, Some(self.tx.send(&FINISH_DISPATCHES, args).await?)))
    }
}
