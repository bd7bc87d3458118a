//! One batch of work on one job, in memory.
//!
//! A [`Flow`] holds the job's live expressions and processes its messages
//! one after the other — each message may queue more, which are processed
//! in the same batch — until the job has nothing left to do but wait
//! (for a participant, a timer or a reply). The caller then writes every
//! change in one transaction ([`Flow::into_changes`]). Participant calls
//! and timers are not run here: they become persisted messages.

use super::expressions;
use super::registry::Resolver;
use crate::language::dollar::{self, Lookup};
use crate::language::{Definition, Node};
use crate::model::*;
use crate::store::{BatchChanges, LockChange, NewMessage, now_ms};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};

/// Something worth telling whoever watches the job.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum FlowEvent {
    /// An `echo` expression's text.
    Echo {
        /// The text, dollar notation resolved.
        text: String,
    },
    /// A step failed and no handler took the error: the job is failed.
    StepFailed {
        /// The failed expression.
        fei: String,
        /// Why it failed.
        error: StepError,
    },
    /// An `approval` waits for a person's decision.
    ApprovalRequested {
        /// The approval expression.
        fei: String,
        /// What it asks, dollar notation resolved.
        prompt: String,
    },
    /// The job ended (completed or canceled).
    Finished {
        /// The state it ended in.
        state: JobState,
    },
}

pub(crate) struct Flow<'a> {
    pub job_id: &'a str,
    pub definition: &'a Definition,
    pub resolver: &'a dyn Resolver,
    pub exprs: HashMap<Fei, Expression>,
    dirty: HashSet<Fei>,
    removed: HashSet<Fei>,
    queue: VecDeque<Message>,
    persist: Vec<NewMessage>,
    withdrawn: Vec<Fei>,
    /// Removed expressions that may have timers pending: those go too.
    withdrawn_timers: Vec<Fei>,
    pub state: JobState,
    state_changed: bool,
    final_fields: Option<Fields>,
    job_error: Option<Option<StepError>>,
    pub events: Vec<FlowEvent>,
    /// Messages handled in this batch.
    handled: usize,
    /// Locks asked for and let go of (`lock`), in order.
    locks: Vec<LockChange>,
}

/// The result of [`Flow::into_changes`].
pub(crate) struct BatchOutcome {
    pub changes: BatchChanges,
    pub events: Vec<FlowEvent>,
    pub state: JobState,
    pub expressions: HashMap<Fei, Expression>,
}

/// How many messages one batch handles before the rest wait for the next.
pub const MAX_MESSAGES_PER_BATCH: usize = 10_000;

/// Field name cursor commands travel in (as in Ruote).
pub const COMMAND_FIELD: &str = "__command__";

impl<'a> Flow<'a> {
    pub fn new(
        job_id: &'a str,
        state: JobState,
        definition: &'a Definition,
        resolver: &'a dyn Resolver,
        expressions: HashMap<Fei, Expression>,
    ) -> Self {
        Flow {
            job_id,
            definition,
            resolver,
            exprs: expressions,
            dirty: HashSet::new(),
            removed: HashSet::new(),
            queue: VecDeque::new(),
            persist: Vec::new(),
            withdrawn: Vec::new(),
            withdrawn_timers: Vec::new(),
            state,
            state_changed: false,
            final_fields: None,
            job_error: None,
            events: Vec::new(),
            handled: 0,
            locks: Vec::new(),
        }
    }

    /// Processes one message and everything it leads to (the unit tests'
    /// way in; a batch goes through [`Self::run_all`]).
    #[cfg(test)]
    pub fn run(&mut self, message: Message) {
        self.run_all([message]);
    }

    /// Processes `messages` in order, and everything they lead to, as one
    /// queue: a message stored behind another is handled after it (a
    /// cancel loaded with the apply it targets waits for that apply).
    ///
    /// A batch handles at most [`MAX_MESSAGES_PER_BATCH`] messages: what is
    /// still queued then is persisted, due now, for the next batch. A loop
    /// that never waits (`cursor do rewind end`) thus still commits, lets
    /// a cancel in, and never holds its worker for ever.
    pub fn run_all(&mut self, messages: impl IntoIterator<Item = Message>) {
        self.queue.extend(messages);
        while let Some(m) = self.queue.pop_front() {
            if self.state.is_final() {
                // A finished job ignores stragglers (late replies, timers).
                continue;
            }
            // A cancel is never put off: it is what ends such a loop.
            if self.handled >= MAX_MESSAGES_PER_BATCH && !matches!(m, Message::Cancel { .. }) {
                let now = self.now();
                self.persist(m, now);
                continue;
            }
            self.handled += 1;
            self.handle(m);
        }
    }

    fn handle(&mut self, message: Message) {
        match message {
            Message::Apply { fei, parent, tree, workitem, variables, retries } => {
                expressions::apply(self, fei, parent, tree, workitem, variables, retries)
            }
            Message::Reply { to, from, workitem } => {
                if self.exprs.contains_key(&to) {
                    if let Some(e) = self.get_mut(&to) {
                        e.children.retain(|c| c != &from);
                    }
                    expressions::reply(self, &to, &from, workitem);
                }
            }
            Message::Cancel { fei, kill } => expressions::cancel(self, &fei, kill),
            Message::Result { fei, outcome, attempt } => expressions::participant::result(self, &fei, outcome, attempt),
            Message::Timer { fei, kind, token } => {
                let current = self.exprs.get(&fei).is_some_and(|e| match kind {
                    TimerKind::Timeout => e.timeout_token == token,
                    _ => e.timer_token == token,
                });
                if current {
                    expressions::timer(self, &fei, kind);
                }
            }
            Message::Retry { fields } => super::handlers::retry_failed(self, fields),
            Message::Decision { fei, decision } => expressions::approval::decide(self, &fei, decision),
            Message::Granted { fei } => expressions::lock::granted(self, &fei),
            Message::Dispatch(_) => {} // never queued in a flow
        }
    }

    /// Asks for, or lets go of, a lock: applied when the batch commits.
    pub fn change_lock(&mut self, change: LockChange) {
        self.locks.push(change);
    }

    pub fn queue(&mut self, message: Message) {
        self.queue.push_back(message);
    }

    /// Puts a cancel for `fei`, which is not applied yet, behind the apply
    /// that is on its way (in this batch's queue, or put off to the next
    /// batch), so that a cancel never overtakes an apply and misses the
    /// expression it creates. Without an apply on its way, it is dropped.
    pub fn cancel_after_apply(&mut self, fei: &Fei, kill: bool) {
        let applies = |m: &Message| matches!(m, Message::Apply { fei: f, .. } if f == fei);
        let cancel = Message::Cancel { fei: fei.clone(), kill };
        if self.queue.iter().any(applies) {
            self.queue.push_back(cancel);
        } else if self.persist.iter().any(|m| applies(&m.message)) {
            let now = self.now();
            self.persist(cancel, now);
        }
    }

    /// Persists `message` to be processed at `due_at` (a timer, a dispatch).
    pub fn persist(&mut self, message: Message, due_at: i64) {
        self.persist.push(NewMessage { message, due_at });
    }

    pub fn get(&self, fei: &Fei) -> Option<&Expression> {
        self.exprs.get(fei)
    }

    pub fn get_mut(&mut self, fei: &Fei) -> Option<&mut Expression> {
        if self.exprs.contains_key(fei) {
            self.dirty.insert(fei.clone());
        }
        self.exprs.get_mut(fei)
    }

    pub fn insert(&mut self, e: Expression) {
        self.removed.remove(&e.fei);
        self.dirty.insert(e.fei.clone());
        self.exprs.insert(e.fei.clone(), e);
    }

    /// Drops an expression that is about to be applied again in place (its
    /// parent still counts it as a child).
    pub fn remove_for_reapply(&mut self, fei: &Fei) {
        self.remove(fei);
    }

    /// Takes an expression out of the job, with its timers: a `wait '3d'`
    /// cancelled, or a job that ended, leaves no timer behind.
    fn remove(&mut self, fei: &Fei) -> Option<Expression> {
        self.dirty.remove(fei);
        self.removed.insert(fei.clone());
        let e = self.exprs.remove(fei)?;
        if e.timer_token > 0 || e.timeout_token > 0 {
            self.persist.retain(|m| !matches!(&m.message, Message::Timer { fei: f, .. } if f == fei));
            self.withdrawn_timers.push(fei.clone());
        }
        Some(e)
    }

    /// The node a tree reference points at.
    pub fn node(&self, tree: &TreeRef) -> Result<Cow<'a, Node>, StepError> {
        match tree {
            TreeRef::Path(path) => {
                let mut node = &self.definition.root;
                for &i in path {
                    node = node
                        .children
                        .get(i as usize)
                        .ok_or_else(|| StepError::new(StepErrorKind::Internal, format!("no node at path {path:?}")))?;
                }
                Ok(Cow::Borrowed(node))
            }
            TreeRef::Inline(json) => crate::language::json::node_from_json(&json.0)
                .map(Cow::Owned)
                .map_err(|e| StepError::new(StepErrorKind::Internal, format!("stored tree: {e}"))),
        }
    }

    /// A reference to child `index` of the tree `tree`.
    pub fn child_tree(&self, tree: &TreeRef, index: usize) -> Result<TreeRef, StepError> {
        Ok(match tree {
            TreeRef::Path(path) => {
                let mut p = path.clone();
                p.push(index as u32);
                TreeRef::Path(p)
            }
            TreeRef::Inline(_) => {
                let node = self.node(tree)?;
                let child =
                    node.children.get(index).ok_or_else(|| StepError::new(StepErrorKind::Internal, "no such child"))?;
                TreeRef::Inline(Box::new(NodeJson::from_node(child)))
            }
        })
    }

    /// Applies child `index` of expression `fei` with `workitem`.
    pub fn apply_child(&mut self, fei: &Fei, index: usize, workitem: Workitem) {
        self.apply_child_with(fei, index, workitem, None)
    }

    pub fn apply_child_with(&mut self, fei: &Fei, index: usize, workitem: Workitem, variables: Option<Fields>) {
        let Some(e) = self.get(fei) else { return };
        let tree = match self.child_tree(&e.tree, index) {
            Ok(t) => t,
            Err(err) => return self.fail(fei, err),
        };
        expressions::apply_branch(self, fei, index, tree, workitem, variables);
    }

    /// Ends expression `fei`: it leaves the job and its parent gets the workitem.
    pub fn reply_to_parent(&mut self, fei: &Fei, workitem: Workitem) {
        let Some(e) = self.remove(fei) else { return };
        if let Some(tag) = &e.tag {
            expressions::left_tag(self, tag, &workitem);
        }
        if e.forgotten {
            return;
        }
        match e.parent {
            Some(parent) => self.queue(Message::Reply { to: parent, from: fei.clone(), workitem }),
            None if e.status == Status::Cancelling && e.after_cancel.is_none() => {
                self.finish(JobState::Canceled, workitem.fields)
            }
            None => self.finish(JobState::Completed, workitem.fields),
        }
    }

    /// The whole job is over.
    pub fn finish(&mut self, state: JobState, fields: Fields) {
        self.set_state(state);
        self.final_fields = Some(fields);
        let live: Vec<Fei> = self.exprs.keys().cloned().collect();
        // A `lock` still live (a forgotten branch's) lets go with the job;
        // the others let go as they ended, so most jobs write nothing here.
        if self.exprs.values().any(|e| e.kind == expressions::lock::Lock::NAME) {
            self.locks.push(LockChange::LeaveAll);
        }
        for fei in live {
            self.withdraw_dispatch(&fei);
            self.remove(&fei);
        }
        self.events.push(FlowEvent::Finished { state });
    }

    pub fn set_state(&mut self, state: JobState) {
        if self.state != state {
            self.state = state;
            self.state_changed = true;
        }
    }

    pub fn set_error(&mut self, error: Option<StepError>) {
        self.job_error = Some(error);
    }

    /// Withdraws a participant call: one journaled by an earlier batch is
    /// deleted (and aborted if in flight) with this batch; one journaled by
    /// this batch is dropped before it is stored, so it is never made. A
    /// dispatch of the same expression persisted later in the batch (a
    /// retry in place) is kept.
    pub fn withdraw_dispatch(&mut self, fei: &Fei) {
        if self.exprs.get(fei).is_some_and(|e| e.kind == expressions::PARTICIPANT) {
            self.withdrawn.push(fei.clone());
            self.persist.retain(|m| !matches!(&m.message, Message::Dispatch(d) if d.fei == *fei));
        }
    }

    /// An error at expression `fei`: handled by the nearest `on_error`, or
    /// the step fails and with it the job.
    pub fn fail(&mut self, fei: &Fei, error: StepError) {
        super::handlers::on_error(self, fei, error);
    }

    /// The value of variable `name`, looked up through enclosing scopes.
    pub fn variable(&self, from: &Fei, name: &str) -> Option<Value> {
        let (root_only, name) = root_prefixed(name);
        let (head, rest) = match name.split_once('.') {
            Some((h, r)) => (h, Some(r)),
            None => (name, None),
        };
        let mut cursor = self.exprs.get(from);
        let mut found = None;
        while let Some(e) = cursor {
            if let Some(vars) = &e.variables
                && (!root_only || e.parent.is_none())
                && let Some(v) = vars.get(head)
            {
                found = Some(v.clone());
                break;
            }
            cursor = e.parent.as_ref().and_then(|p| self.exprs.get(p));
        }
        let value = found?;
        match rest {
            Some(path) => dollar::lookup_path(&value, path),
            None => Some(value),
        }
    }

    /// Sets a variable in the nearest enclosing scope (the root when none).
    pub fn set_variable(&mut self, from: &Fei, name: &str, value: Option<Value>) {
        let (root_only, name) = root_prefixed(name);
        let mut target = None;
        let mut cursor = self.exprs.get(from);
        while let Some(e) = cursor {
            if e.variables.is_some() && !root_only {
                target = Some(e.fei.clone());
                break;
            }
            if e.parent.is_none() {
                target = Some(e.fei.clone());
                break;
            }
            cursor = e.parent.as_ref().and_then(|p| self.exprs.get(p));
        }
        if let Some(fei) = target
            && let Some(e) = self.get_mut(&fei)
        {
            let vars = e.variables.get_or_insert_with(Fields::new);
            match value {
                Some(v) => vars.insert(name.to_owned(), v),
                None => vars.remove(name),
            };
        }
    }

    /// The scope (an expression with variables) that holds variable
    /// `name` as seen from `from`, or else the one [`Self::set_variable`]
    /// would put it in: so that expressions in nested scopes that share a
    /// variable (a `reserve` mutex) read and write the same one.
    /// A name with a leading `/` is the root's; the name without it is
    /// returned beside the scope.
    pub fn variable_scope<'n>(&self, from: &Fei, name: &'n str) -> Option<(Fei, &'n str)> {
        let (root_only, name) = root_prefixed(name);
        let mut cursor = self.exprs.get(from);
        let mut nearest = None;
        while let Some(e) = cursor {
            if root_only {
                if e.parent.is_none() {
                    return Some((e.fei.clone(), name));
                }
            } else if let Some(vars) = &e.variables {
                if vars.contains_key(name) {
                    return Some((e.fei.clone(), name));
                }
                nearest.get_or_insert_with(|| e.fei.clone());
            } else if e.parent.is_none() {
                nearest.get_or_insert_with(|| e.fei.clone());
            }
            cursor = e.parent.as_ref().and_then(|p| self.exprs.get(p));
        }
        nearest.map(|fei| (fei, name))
    }

    /// Dollar-notation context for expression `fei` with `workitem`, in
    /// which a missing field or variable is an error (conditions read it
    /// so, to tell `is set` from empty; participant params, to fail the
    /// step rather than send an empty value).
    pub fn lookup<'f>(&'f self, fei: &'f Fei, workitem: &'f Workitem) -> FlowLookup<'f, 'a> {
        FlowLookup { flow: self, fei, workitem, lenient: false }
    }

    /// What the batch changed, to write in one transaction, and the live
    /// expressions after it (the worker keeps them while it may go on with
    /// the job, so the next batch need not read them back).
    pub fn into_changes(self, consumed: Vec<i64>) -> BatchOutcome {
        let upserts = self.dirty.iter().filter_map(|f| self.exprs.get(f).cloned()).collect();
        let changes = BatchChanges {
            consumed,
            upserts,
            removals: self.removed.iter().map(|f| f.0.clone()).collect(),
            messages: self.persist,
            withdrawn_dispatches: self.withdrawn.iter().map(|f| f.0.clone()).collect(),
            withdrawn_timers: self.withdrawn_timers.into_iter().map(|f| f.0).collect(),
            job_state: self.state_changed.then_some(self.state),
            job_fields: self.final_fields,
            job_error: self.job_error,
            locks: self.locks,
        };
        BatchOutcome { changes, events: self.events, state: self.state, expressions: self.exprs }
    }

    pub fn now(&self) -> i64 {
        now_ms()
    }
}

/// Resolves `${f:...}` against the workitem and `${v:...}` against the
/// expression's scopes.
pub(crate) struct FlowLookup<'f, 'a> {
    flow: &'f Flow<'a>,
    fei: &'f Fei,
    workitem: &'f Workitem,
    lenient: bool,
}

impl FlowLookup<'_, '_> {
    /// As Ruote reads expressions' attributes: a missing value is nothing.
    pub fn lenient(mut self) -> Self {
        self.lenient = true;
        self
    }
}

impl Lookup for FlowLookup<'_, '_> {
    fn field(&self, path: &str) -> Option<Value> {
        let fields = &self.workitem.fields;
        if let Some(v) = fields.get(path) {
            return Some(v.clone());
        }
        let (head, rest) = path.split_once('.')?;
        dollar::lookup_path(fields.get(head)?, rest)
    }

    fn variable(&self, path: &str) -> Option<Value> {
        self.flow.variable(self.fei, path)
    }

    fn missing_reads_empty(&self) -> bool {
        self.lenient
    }
}

/// `'/name'` (or `'//name'`) names the root scope's variable `name`.
fn root_prefixed(name: &str) -> (bool, &str) {
    match name.strip_prefix('/') {
        Some(rest) => (true, rest.trim_start_matches('/')),
        None => (false, name),
    }
}
