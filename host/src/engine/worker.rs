//! The worker loop: claims jobs with due messages and participant calls,
//! hands the former to their committer (`committer.rs`) and makes the
//! latter concurrently, each in a task the dispatcher (`dispatcher.rs`)
//! keeps track of.

use super::committer::{Finished, Work};
use super::dispatcher::{Claimed, Share};
use super::{Engine, Event, TenantRuntime};
use crate::capabilities::{EventSink, ParticipantEvent};
use crate::model::{Dispatch, Message, StepError};
use crate::sandbox::{CallContext, CallEnv, CallError, CallRequest, ErrorKind};
use crate::store::{HistoryEntry, NewMessage, StoreError, StoredMessage, now_ms};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a job stays leased to a worker that stopped heartbeating.
pub(super) const JOB_LEASE: Duration = Duration::from_secs(30);
const IDLE_POLL: Duration = Duration::from_millis(500);
/// Participant calls one claim takes at most.
const CLAIM_BATCH: usize = 64;

impl Engine {
    /// Works until `stop` is cancelled: resumes whatever a dead process
    /// left (its jobs, its calls, its timers) and whatever arrives.
    ///
    /// # Errors
    /// When the store fails at start (clearing leases, the first heartbeat)
    /// or in the claim loop.
    pub async fn run(self: &Arc<Self>, stop: CancellationToken) -> Result<(), StoreError> {
        if self.config.exclusive {
            self.store.clear_leases().await?;
        }
        self.store.heartbeat(&self.worker_id).await?;
        self.refresh_share().await?;
        self.start_committers(&stop);
        let heart = {
            let engine = self.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                while !stop.is_cancelled() {
                    tokio::select! {
                        _ = tokio::time::sleep(engine.config.takeover_after / 5) => {}
                        _ = stop.cancelled() => break,
                    }
                    if let Err(e) = engine.store.heartbeat(&engine.worker_id).await {
                        tracing::warn!(error = %e, "heartbeat failed");
                    }
                    if let Err(e) = engine.refresh_share().await {
                        tracing::warn!(error = %e, "reading the live processes failed");
                    }
                }
            })
        };
        // Other processes sharing a PostgreSQL database wake us when they
        // queue work, so nothing waits for the idle poll.
        let listener = {
            let engine = self.clone();
            tokio::spawn(async move {
                let woken = engine.clone();
                if let Err(e) = engine.store.listen(move || woken.wake.notify_one()).await {
                    tracing::warn!(error = %e, "LISTEN failed; falling back to polling");
                }
            })
        };
        while !stop.is_cancelled() {
            let mut busy = false;
            for (job_id, tenant) in
                self.store.claim_jobs(&self.worker_id, JOB_LEASE, self.config.takeover_after, 32).await?
            {
                busy = true;
                self.submit(Work::Claimed { job_id, tenant }).await;
            }
            // A claim takes a bounded batch: processes woken together
            // take turns rather than the first taking every call.
            let room = self.dispatcher.room().min(CLAIM_BATCH) as i64;
            if room > 0 {
                let saturated = self.dispatcher.saturated();
                let claimed =
                    self.store.claim_dispatches(&self.worker_id, self.config.takeover_after, room, &saturated).await?;
                self.dispatcher.set_backlog(claimed.len() as i64 == room);
                busy |= !claimed.is_empty();
                self.start_claimed(claimed).await;
            }
            if !busy {
                let wait = match self.store.next_due().await? {
                    Some(due) => Duration::from_millis((due - now_ms()).clamp(1, IDLE_POLL.as_millis() as i64) as u64),
                    None => IDLE_POLL,
                };
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = self.dispatcher.freed() => {}
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.cancelled() => {}
                }
            }
        }
        heart.abort();
        listener.abort();
        // Once its last heartbeat is over, so none follows.
        let _ = heart.await;
        if let Err(e) = self.store.retire_worker(&self.worker_id).await {
            tracing::warn!(error = %e, "forgetting this worker failed");
        }
        Ok(())
    }

    /// Reads which processes are alive and so this process's share of each
    /// tenant's calls (alone with an embedded database).
    pub(super) async fn refresh_share(&self) -> Result<(), StoreError> {
        if self.config.exclusive {
            return Ok(());
        }
        let live = self.store.live_workers(self.config.takeover_after).await?;
        let share = match live.iter().position(|id| *id == self.worker_id) {
            Some(rank) => Share { live: live.len(), rank },
            // Our own heartbeat failed: count ourselves last.
            None => Share { live: live.len() + 1, rank: live.len() },
        };
        *self.share.lock().unwrap_or_else(|p| p.into_inner()) = share;
        Ok(())
    }

    /// This process's place among the live ones.
    pub(super) fn share(&self) -> Share {
        *self.share.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The calls of a tenant limited to `limit` this process may run at once.
    pub(super) fn share_of(&self, limit: usize) -> usize {
        self.share().of(limit)
    }

    /// Starts the calls the claim loop leased that this process's share of
    /// their tenant's calls has room for; gives the others back.
    async fn start_claimed(self: &Arc<Self>, claimed: Vec<StoredMessage>) {
        let mut refused = Vec::new();
        for dispatch in claimed {
            let claim = match self.runtime(&dispatch.tenant).await {
                Ok(runtime) => self.dispatcher.reserve(&dispatch.tenant, self.share_of(runtime.max_concurrent_calls)),
                Err(e) => {
                    tracing::error!(job = %dispatch.job_id, error = %e, "loading the tenant of a call failed");
                    None
                }
            };
            match claim {
                Some(claim) => self.spawn_call(dispatch, claim),
                None => refused.push(dispatch.id),
            }
        }
        if !refused.is_empty()
            && let Err(e) = self.store.release_dispatches(&refused, &self.worker_id).await
        {
            tracing::warn!(error = %e, calls = refused.len(), "giving back calls failed");
        }
    }

    /// Makes a participant call in its own task, known to the dispatcher
    /// by its dispatch's id (aborted if the batch of a cancel withdraws
    /// it) and counted against its tenant by `claimed`; its result goes to
    /// the job's committer, which journals it and moves the job on.
    pub(super) fn spawn_call(self: &Arc<Self>, stored: StoredMessage, claimed: Claimed) {
        if !matches!(stored.message, Message::Dispatch(_)) {
            return;
        }
        let engine = self.clone();
        self.dispatcher.spawn(stored.id, claimed, |claimed| async move {
            let job_id = stored.job_id.clone();
            let outcome = async {
                let runtime = engine.runtime(&stored.tenant).await?;
                // At least one: a call claimed under a larger share runs.
                let limit = engine.share_of(runtime.max_concurrent_calls).max(1);
                let Some(_permits) = engine.dispatcher.slots(&stored.tenant, limit).await else { return Ok(()) };
                engine.call(stored, &runtime, claimed).await
            }
            .await;
            if let Err(e) = outcome {
                tracing::error!(job = %job_id, error = %e, "storing a participant result failed");
            }
        });
    }

    /// Makes the call; its result keeps `claimed` until a committer takes
    /// it.
    async fn call(
        self: &Arc<Self>,
        stored: StoredMessage,
        runtime: &TenantRuntime,
        claimed: Claimed,
    ) -> Result<(), StoreError> {
        let Message::Dispatch(d) = stored.message else { return Ok(()) };
        let job_id = stored.job_id;
        let started = now_ms();
        // Its `step_started` was stored with the batch that journaled it.
        let lines = Arc::new(StepEvents { fei: d.fei.0.clone(), lines: Mutex::new(Vec::new()) });
        let outcome = self.invoke(&job_id, &stored.tenant, &d, runtime, lines.clone()).await;
        let ended = now_ms();
        let error = outcome.as_ref().err().map(|e| StepError::from_call(e).at_line(d.line));
        let history = HistoryEntry {
            fei: d.fei.0.clone(),
            line: (d.line > 0).then_some(d.line),
            participant: d.participant.clone(),
            action: d.action.clone(),
            params: Value::Object(d.params.clone()),
            attempt: d.attempt,
            started_at: started,
            ended_at: ended,
            ok: outcome.is_ok(),
            result: match &outcome {
                Ok(updates) => Value::Object(updates.clone()),
                Err(_) => serde_json::to_value(&error).unwrap_or(Value::Null),
            },
        };
        let result =
            NewMessage { message: Message::Result { fei: d.fei.clone(), outcome, attempt: d.attempt }, due_at: ended };
        let mut events = std::mem::take(&mut *lines.lines.lock().unwrap_or_else(|p| p.into_inner()));
        events.push(Event::StepFinished {
            fei: d.fei.0,
            line: d.line,
            participant: d.participant,
            action: d.action,
            elapsed_ms: (ended - started).max(0) as u64,
            error,
        });
        let bytes = json_len(&history.result);
        let finished = Finished {
            dispatch_id: stored.id,
            job_id,
            tenant: stored.tenant,
            result,
            history,
            events,
            bytes,
            claimed: Some(claimed),
        };
        self.submit(Work::Finished(Box::new(finished))).await;
        Ok(())
    }

    async fn invoke(
        &self,
        job_id: &str,
        tenant: &str,
        d: &Dispatch,
        runtime: &TenantRuntime,
        lines: Arc<StepEvents>,
    ) -> Result<crate::model::Fields, CallError> {
        let Some(registered) = runtime.registry.get(&d.participant) else {
            return Err(CallError::new(
                ErrorKind::Fatal,
                format!("participant '{}' is not registered here", d.participant),
            ));
        };
        let mut limits = runtime.limits.clone();
        if let Some(ms) = d.deadline_ms {
            limits.deadline = limits.deadline.min(Duration::from_millis(ms));
        }
        let dry_run = self.dry_run(job_id).await.map_err(|e| CallError::new(ErrorKind::Retryable, e.to_string()))?;
        let env = CallEnv {
            grants: registered.grants.clone(),
            secrets: runtime.secrets.clone(),
            limits,
            events: Some(lines),
            dry_run,
        };
        let request = CallRequest {
            action: d.action.clone(),
            params: Value::Object(d.params.clone()),
            fields: Value::Object(d.workitem.fields.clone()),
            context: CallContext {
                job_id: job_id.to_owned(),
                step_id: d.fei.expid().to_owned(),
                attempt: d.attempt,
                idempotency_key: d.idempotency_key.clone(),
                tenant: tenant.to_owned(),
                settings: registered.settings.clone(),
            },
        };
        self.sandbox.invoke(&registered.participant, request, &env).await.map(|o| o.updates)
    }
}

/// Log and progress lines a call emits in one call at most (the sandbox
/// bounds them too, by bytes: the log budget).
const MAX_CALL_LINES: usize = 1_000;

/// Collects a call's log and progress lines: they are stored, in the job's
/// event sequence, with the call's result (a call made again after a crash
/// emits them again; the lost attempt's are not kept).
struct StepEvents {
    fei: String,
    lines: Mutex<Vec<Event>>,
}

impl EventSink for StepEvents {
    fn emit(&self, event: ParticipantEvent) {
        let event = match event {
            ParticipantEvent::Log { level, message } => Event::Log { fei: self.fei.clone(), level, message },
            ParticipantEvent::Progress { message, percent } => {
                Event::Progress { fei: self.fei.clone(), message, percent }
            }
            ParticipantEvent::Planned { capability, call } => {
                Event::Planned { fei: self.fei.clone(), capability, call }
            }
        };
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() < MAX_CALL_LINES {
            lines.push(event);
        }
    }
}

/// The length of `value` as JSON text, without building the text.
fn json_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail, and a Value always serializes.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}
