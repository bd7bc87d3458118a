//! Where a job's work is done: committers.
//!
//! Two kinds of work reach a job: the claim loop leased it because it has
//! due messages ([`Work::Claimed`]), or one of its participant calls
//! finished ([`Work::Finished`]). Each job belongs to one committer task
//! (by a hash of its id), so this process never works on a job twice at
//! once. A committer takes every piece of work queued for it and does it in
//! one transaction (group commit: one commit, one WAL write, for all the
//! busy jobs), then starts the participant calls the batches stored.
//!
//! A finished call is journaled — dispatch deleted, history appended — in
//! the same transaction that processes its result and journals the next
//! dispatch, when no other live worker holds the job's lease. Otherwise the
//! result is queued as a message for that worker, as before.
//!
//! On the exclusive embedded store the committer keeps each running job's
//! live expressions in memory between batches (nobody else writes them), so
//! a step reads only the job's row and its due messages. The copy is
//! dropped whenever a transaction fails, and read back from the store.

use super::backlog::Backlog;
use super::dispatcher::Claimed;
use super::flow::Flow;
use super::{Engine, Event, TenantRuntime};
use crate::language::Definition;
use crate::model::{Expression, Fei, Message};
use crate::store::{HistoryEntry, NewMessage, StoreError, StoredMessage, Take, Taken, WorkTx};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Running jobs whose expressions a committer keeps in memory at most.
const MAX_CACHED_JOBS: usize = 20_000;

pub(crate) enum Work {
    /// The claim loop leased this job: process its due messages.
    Claimed { job_id: String, tenant: String },
    /// This process just stored (or started) this job: process its first
    /// message without waiting for the claim loop.
    Launched { job_id: String, tenant: String },
    /// A participant call of this job finished.
    Finished(Box<Finished>),
}

pub(crate) struct Finished {
    pub dispatch_id: i64,
    pub job_id: String,
    pub tenant: String,
    /// The `result` message for the participant expression.
    pub result: NewMessage,
    pub history: HistoryEntry,
    /// The call's log and progress lines, then its `step_finished`: stored
    /// and published with the result (not at all if the call was
    /// withdrawn meanwhile).
    pub events: Vec<Event>,
    /// The outcome's size as JSON: what storing it writes, beyond a step's
    /// usual rows (the committers share their time by it, `backlog.rs`).
    pub bytes: usize,
    /// The call's place in its tenant's share, kept until a committer
    /// takes the result into a group (`dispatcher.rs`).
    pub claimed: Option<Claimed>,
}

/// What a step writes besides its outcome (a dispatch, a history row, an
/// expression, a few events): the weight of a piece of work with no
/// outcome of its own.
const STEP_BYTES: usize = 1 << 10;

impl Work {
    pub(super) fn job_id(&self) -> &str {
        match self {
            Work::Claimed { job_id, .. } | Work::Launched { job_id, .. } => job_id,
            Work::Finished(f) => &f.job_id,
        }
    }

    pub(super) fn tenant(&self) -> &str {
        match self {
            Work::Claimed { tenant, .. } | Work::Launched { tenant, .. } => tenant,
            Work::Finished(f) => &f.tenant,
        }
    }

    /// How its job is taken (`WorkTx::take_jobs`): a claimed or launched
    /// job's lease is this worker's; a finished call's job is opened.
    fn take(&self) -> Take<'_> {
        match self {
            Work::Claimed { job_id, .. } | Work::Launched { job_id, .. } => Take::Claimed(job_id),
            Work::Finished(f) => {
                Take::Finished { job_id: &f.job_id, tenant: &f.tenant, dispatch_id: f.dispatch_id, history: &f.history }
            }
        }
    }

    /// Frees a finished call's place in its tenant's share (its result is
    /// being stored).
    fn release_claim(&mut self) {
        if let Work::Finished(f) = self {
            f.claimed = None;
        }
    }

    /// Bytes (estimated) that doing this work writes.
    pub(super) fn weight(&self) -> usize {
        match self {
            Work::Claimed { .. } | Work::Launched { .. } => STEP_BYTES,
            Work::Finished(f) => STEP_BYTES.saturating_add(f.bytes),
        }
    }
}

/// The queues of this engine's committers (empty when it is not running).
#[derive(Default)]
pub(crate) struct Committers(Mutex<Vec<mpsc::UnboundedSender<Work>>>);

/// What a piece of work needs besides the store, resolved before its
/// transaction begins: on SQLite's one connection, a lookup inside the
/// transaction would wait for the transaction.
struct Context {
    definition: Arc<Definition>,
    runtime: Arc<TenantRuntime>,
}

/// What to do once a transaction committed.
#[derive(Default)]
struct After {
    /// Events stored with the transaction, to publish: the index of their
    /// append in it (numbered at the commit, `numbers`), job, events.
    events: Vec<(usize, String, Vec<Event>)>,
    /// Each append's first number, as the commit answered.
    numbers: Vec<i64>,
    /// Withdrawn dispatches: their calls are aborted.
    withdrawn: Vec<i64>,
    /// The calls the batches leased to this process, each counted against
    /// its tenant since its batch was staged.
    dispatches: Vec<(StoredMessage, Claimed)>,
    /// Per batch staged, in order, the claims of the calls it leases
    /// (`WorkTx::stage`), paired at the commit with what it stored.
    staged: Vec<Vec<Claimed>>,
    /// A lease was released: messages that arrived meanwhile are claimed
    /// by the claim loop.
    wake: bool,
}

/// Work whose job was taken: its batch is to run.
struct Opened<'c> {
    state: crate::model::JobState,
    context: &'c Context,
    /// A finished call's result, processed after the due messages.
    result: Option<Message>,
    /// Events that come before the batch's (the finished call's).
    earlier: Vec<Event>,
}

/// Running jobs' live expressions, as committed (exclusive store only).
#[derive(Default)]
struct ExpressionCache(HashMap<String, HashMap<Fei, Expression>>);

impl Engine {
    /// Starts this engine's committers; they stop with `stop`, once their
    /// queues are empty.
    pub(super) fn start_committers(self: &Arc<Self>, stop: &CancellationToken) {
        // SQLite writes through one connection: one committer groups best.
        // On PostgreSQL two: a transaction is two round trips, and more
        // committers only make smaller groups, each commit's fixed cost
        // paid for fewer steps (three processes on two cores: 3,130-3,220
        // steps/s with two, 2,630-2,930 with four, 2,360-2,620 with one;
        // docs/benchmarks.md).
        let shards = if self.store.backend() == crate::store::Backend::Sqlite { 1 } else { 2 };
        let mut senders = Vec::with_capacity(shards);
        for _ in 0..shards {
            let (tx, rx) = mpsc::unbounded_channel();
            senders.push(tx);
            let engine = self.clone();
            let stop = stop.clone();
            tokio::spawn(async move { engine.committer(rx, stop).await });
        }
        *self.committers.0.lock().unwrap_or_else(|p| p.into_inner()) = senders;
    }

    /// Hands work to the job's committer, or does it here when the
    /// committers have stopped (a call that finishes after `run` returned).
    pub(super) async fn submit(self: &Arc<Self>, work: Work) {
        if let Err(work) = self.hand_over(work) {
            self.process_group(vec![work], None).await;
        }
    }

    /// Whether this engine's committers run (work handed over is done).
    pub(super) fn committing(&self) -> bool {
        !self.committers.0.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    }

    /// Queues work for the job's committer; gives it back when this engine
    /// is not running.
    pub(super) fn hand_over(&self, work: Work) -> Result<(), Work> {
        let sender = {
            let shards = self.committers.0.lock().unwrap_or_else(|p| p.into_inner());
            (!shards.is_empty()).then(|| {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                work.job_id().hash(&mut h);
                shards[(h.finish() % shards.len() as u64) as usize].clone()
            })
        };
        match sender {
            Some(sender) => sender.send(work).map_err(|e| e.0),
            None => Err(work),
        }
    }

    /// Takes the work queued for it into a [`Backlog`] and does it one
    /// group (one transaction) at a time, each tenant getting its share.
    async fn committer(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Work>, stop: CancellationToken) {
        let mut cache = self.config.exclusive.then(ExpressionCache::default);
        let mut backlog = Backlog::default();
        loop {
            if backlog.is_empty() {
                let first = tokio::select! {
                    w = rx.recv() => match w {
                        Some(w) => w,
                        None => break,
                    },
                    _ = stop.cancelled() => break,
                };
                backlog.push(first);
            }
            while let Ok(w) = rx.try_recv() {
                backlog.push(w);
            }
            let mut group = backlog.next_group();
            // The calls' places free up before their batches lease the
            // jobs' next calls.
            group.iter_mut().for_each(Work::release_claim);
            self.process_group(group, cache.as_mut()).await;
        }
        // Later work is done by whoever submits it; what is queued, here.
        rx.close();
        while let Ok(w) = rx.try_recv() {
            backlog.push(w);
        }
        while !backlog.is_empty() {
            for w in backlog.next_group() {
                self.process_group(vec![w], None).await;
            }
        }
    }

    /// Does `group` in one transaction; if that fails, each piece in its own.
    async fn process_group(self: &Arc<Self>, group: Vec<Work>, mut cache: Option<&mut ExpressionCache>) {
        let mut items = Vec::with_capacity(group.len());
        for work in group {
            let context = self.context(&work).await;
            items.push((work, context));
        }
        // Jobs in a fixed order, so two processes' transactions lock rows
        // in the same order (PostgreSQL); a job's own work stays in order.
        items.sort_by(|a, b| a.0.job_id().cmp(b.0.job_id()));
        let outcome = self.commit_items(&items, cache.as_deref_mut()).await;
        let failed = match outcome {
            Ok(after) => return self.after_commit(after),
            Err(e) => e,
        };
        if let Some(cache) = cache.as_deref_mut() {
            for (work, _) in &items {
                cache.0.remove(work.job_id());
            }
        }
        if items.len() > 1 {
            tracing::warn!(error = %failed, pieces = items.len(), "group commit failed; committing one by one");
            for item in items {
                let one = std::slice::from_ref(&item);
                match self.commit_items(one, cache.as_deref_mut()).await {
                    Ok(after) => self.after_commit(after),
                    Err(e) => {
                        if let Some(cache) = cache.as_deref_mut() {
                            cache.0.remove(item.0.job_id());
                        }
                        self.work_failed(&item.0, e).await;
                    }
                }
            }
        } else if let Some((work, _)) = items.into_iter().next() {
            self.work_failed(&work, failed).await;
        }
    }

    async fn work_failed(&self, work: &Work, error: StoreError) {
        match work {
            // Its messages stay queued: the lease is given back for the
            // claim loop (this worker's or another's) to try again.
            Work::Claimed { job_id, .. } | Work::Launched { job_id, .. } => {
                tracing::error!(job = %job_id, error = %error, "processing job failed");
                if let Err(e) = self.store.release_job(job_id, &self.worker_id).await {
                    tracing::error!(job = %job_id, error = %e, "releasing job failed");
                }
                self.wake.notify_one();
            }
            Work::Finished(f) => {
                tracing::error!(job = %f.job_id, error = %error, "storing a participant result failed")
            }
        }
    }

    async fn context(&self, work: &Work) -> Option<Context> {
        let resolved = async {
            let definition = self.definition(work.job_id()).await?;
            let runtime = self.runtime(work.tenant()).await?;
            Ok::<_, StoreError>(Context { definition, runtime })
        };
        match resolved.await {
            Ok(c) => Some(c),
            Err(e) => {
                // A finished call's result is still journaled, as a message.
                tracing::error!(job = %work.job_id(), error = %e, "loading the job's definition or tenant failed");
                None
            }
        }
    }

    /// Does `items` in one transaction, in rounds: each round takes every
    /// job it has work for (in order; a job's later work waits for the
    /// next round, which reads what this one wrote), reads them all at
    /// once (PostgreSQL), runs their batches and writes them together.
    async fn commit_items(
        self: &Arc<Self>,
        items: &[(Work, Option<Context>)],
        mut cache: Option<&mut ExpressionCache>,
    ) -> Result<After, StoreError> {
        let mut tx = self.store.begin_work().await?;
        let mut after = After::default();
        let mut rest: Vec<&(Work, Option<Context>)> = items.iter().collect();
        while !rest.is_empty() {
            let mut seen = std::collections::HashSet::new();
            let (round, later): (Vec<_>, Vec<_>) = rest.into_iter().partition(|(w, _)| seen.insert(w.job_id()));
            let takes: Vec<Take> = round.iter().map(|(work, _)| work.take()).collect();
            let taken = tx.take_jobs(&takes, &self.worker_id, self.config.takeover_after).await?;
            let mut opened = Vec::with_capacity(round.len());
            for ((work, context), taken) in round.into_iter().zip(taken) {
                if let Some(o) = self.open(&mut tx, work, context.as_ref(), taken, &mut after).await? {
                    opened.push((work, o));
                }
            }
            for (work, o) in opened {
                self.batch(&mut tx, work.job_id(), work.tenant(), o, cache.as_deref_mut(), &mut after).await?;
            }
            tx.flush(&self.worker_id).await?;
            rest = later;
        }
        let committed = tx.commit().await?;
        after.numbers = committed.events;
        // The leased calls are started after the commit, the withdrawn ones
        // aborted.
        for (written, claims) in committed.written.into_iter().zip(std::mem::take(&mut after.staged)) {
            after.withdrawn.extend(written.withdrawn);
            after.dispatches.extend(written.dispatches.into_iter().zip(claims));
            // Calls left unleased: this process's claim loop looks again
            // when it has room (the others were woken by the flush).
            after.wake |= written.unleased;
        }
        Ok(after)
    }

    /// What taking `work`'s job gave (`taken`) says whether its batch
    /// runs; a finished call whose job is paused or held by another worker
    /// has its result queued for whoever works on the job next.
    async fn open<'c>(
        &self,
        tx: &mut WorkTx,
        work: &Work,
        context: Option<&'c Context>,
        taken: Taken,
        after: &mut After,
    ) -> Result<Option<Opened<'c>>, StoreError> {
        let batch = |result, earlier| {
            let state = taken.state.filter(|s| s.is_runnable())?;
            context.map(|context| Opened { state, context, result, earlier })
        };
        match work {
            Work::Claimed { .. } => {
                after.wake = true;
                Ok(batch(None, Vec::new()))
            }
            Work::Launched { .. } => {
                let opened = batch(None, Vec::new());
                // Paused meanwhile, held by another worker, or not
                // loadable here: the claim loops take it when they can.
                after.wake |= opened.is_none();
                Ok(opened)
            }
            // Cancelled or taken over meanwhile: nothing to store.
            Work::Finished(_) if !taken.journaled => Ok(None),
            Work::Finished(f) => {
                if let Some(opened) = batch(Some(f.result.message.clone()), f.events.clone()) {
                    return Ok(Some(opened));
                }
                // Paused, or leased to another worker: it is theirs.
                after.wake = true;
                // Numbering the job's events needs its row.
                tx.lock_job(&f.job_id).await?;
                self.store_events(tx, &f.job_id, &f.tenant, f.events.clone(), after);
                tx.queue_message(&f.job_id, &f.tenant, &f.result).await?;
                Ok(None)
            }
        }
    }

    /// One batch of a job: its due messages, then the opened work's
    /// result if any.
    async fn batch(
        &self,
        tx: &mut WorkTx,
        job_id: &str,
        tenant: &str,
        opened: Opened<'_>,
        mut cache: Option<&mut ExpressionCache>,
        after: &mut After,
    ) -> Result<(), StoreError> {
        let Opened { state, context, result, earlier } = opened;
        // Taken out of the cache: a failure below leaves no stale copy.
        let cached = cache.as_deref_mut().and_then(|c| c.0.remove(job_id));
        let (messages, loaded) = tx.due_and_expressions(job_id, cached.is_none()).await?;
        if messages.is_empty() && result.is_none() {
            if let (Some(cache), Some(cached)) = (cache, cached) {
                cache.0.insert(job_id.to_owned(), cached);
            }
            self.store_events(tx, job_id, tenant, earlier, after);
            return Ok(());
        }
        let expressions = match cached {
            Some(e) => e,
            None => loaded.unwrap_or_default().into_iter().map(|e| (e.fei.clone(), e)).collect(),
        };
        let mut flow = Flow::new(job_id, state, &context.definition, &*context.runtime.registry, expressions);
        let consumed: Vec<i64> = messages.iter().map(|m| m.id).collect();
        flow.run_all(messages.into_iter().map(|m| m.message).chain(result));
        let outcome = flow.into_changes(consumed);
        let notifications = super::notices::notifications(&context.runtime, &context.definition, job_id, &outcome);
        // A timer (or a retry without delay) is the claim loop's: woken, it
        // claims what is due and sleeps until the next timer.
        after.wake |= outcome.changes.messages.iter().any(|m| !matches!(m.message, Message::Dispatch(_)));
        // Lock changes may let a job in (this one, or another): its
        // `granted` message is the claim loop's too.
        after.wake |= !outcome.changes.locks.is_empty();
        // The calls this process starts itself: all of them when no other
        // process works on the database (they wait for slots here), its
        // share otherwise (the others are left for any process with room).
        let calls = outcome.changes.messages.iter().filter(|m| matches!(m.message, Message::Dispatch(_))).count();
        let share = self.share();
        let alone = self.config.exclusive || share.live == 1;
        let share = share.of(context.runtime.max_concurrent_calls);
        let claims: Vec<Claimed> = (0..calls)
            .map_while(|_| match alone {
                true => Some(self.dispatcher.claim(tenant)),
                false => self.dispatcher.reserve(tenant, share),
            })
            .collect();
        // The batch's events, then a start for each call it journaled.
        let mut events = earlier;
        events.extend(outcome.events.into_iter().map(Event::Flow));
        for m in &outcome.changes.messages {
            if let Message::Dispatch(d) = &m.message {
                events.push(Event::StepStarted {
                    fei: d.fei.0.clone(),
                    line: d.line,
                    participant: d.participant.clone(),
                    action: d.action.clone(),
                    attempt: d.attempt,
                });
            }
        }
        tx.stage(job_id, tenant, claims.len(), outcome.changes);
        after.staged.push(claims);
        if !notifications.is_empty() {
            tx.notify(job_id, tenant, &notifications).await?;
        }
        if let Some(cache) = cache
            && !outcome.state.is_final()
        {
            if cache.0.len() >= MAX_CACHED_JOBS {
                cache.0.clear();
            }
            cache.0.insert(job_id.to_owned(), outcome.expressions);
        }
        self.store_events(tx, job_id, tenant, events, after);
        Ok(())
    }

    /// Appends `events` to the job's sequence (stored, and numbered, when
    /// the transaction commits), to publish after the commit.
    fn store_events(&self, tx: &mut WorkTx, job_id: &str, tenant: &str, events: Vec<Event>, after: &mut After) {
        if events.is_empty() {
            return;
        }
        let rows: Vec<_> = events.iter().map(Event::stored).collect();
        let append = tx.append_events(job_id, tenant, rows, self.config.events_per_job);
        after.events.push((append, job_id.to_owned(), events));
    }

    /// Aborts withdrawn calls first (their slots free up for the calls
    /// started next), publishes, then starts the calls the batches stored.
    fn after_commit(self: &Arc<Self>, after: After) {
        self.dispatcher.abort(&after.withdrawn);
        for (append, job_id, events) in after.events {
            let first = after.numbers.get(append).copied().unwrap_or_default();
            for (i, event) in events.into_iter().enumerate() {
                self.publish(&job_id, first + i as i64, event);
            }
        }
        for (dispatch, claimed) in after.dispatches {
            self.spawn_call(dispatch, claimed);
        }
        if after.wake {
            self.wake.notify_one();
        }
    }
}
