//! The expressions of the language, one file each, with the same verbs as
//! Ruote's: `apply` (start), `reply` (a child finished), `cancel`.
//!
//! This module does what every expression shares: resolving a node to an
//! expression kind (a built-in expression, a subprocess, or a participant
//! step), the `if:`/`unless:`, `tag:` and `timeout:` attributes, and the
//! default reply and cancel behaviour.

use super::flow::Flow;
use crate::language::{Node, attributes, condition};
use crate::model::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize as _, Serialize};
use serde_json::Value;

/// What one kind of expression is and does, declared once in its own file:
/// its names, its properties, its typed state and its verbs. Name
/// resolution, dispatch and the definition checks all read these
/// declarations, so adding an expression is adding one file (and one line
/// to [`vocabulary!`]).
pub(crate) trait Kind {
    /// Its name first, then the aliases it answers to (Ruote's `names`).
    const NAMES: &'static [&'static str];
    /// What the rest of the engine needs to know about it.
    const PROPERTIES: Properties = Properties::PLAIN;
    /// What it keeps between messages, stored as JSON in its row: every
    /// field has a default, so a row written by an older version loads.
    type State: Serialize + DeserializeOwned + Default;

    /// Starts it: `node` is its definition node, `workitem` what it got.
    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem);

    /// Child `from` finished with `workitem`. Ruote's default: reply to the
    /// parent with it.
    fn reply(flow: &mut Flow, fei: &Fei, from: &Fei, workitem: Workitem) {
        let _ = from;
        flow.reply_to_parent(fei, workitem)
    }

    /// It is being cancelled (before its children are): let go of what it
    /// holds outside the job.
    fn on_cancel(flow: &mut Flow, fei: &Fei) {
        let _ = (flow, fei);
    }

    /// The timer it armed ([`arm_timer`] with [`TimerKind::Wake`]) rang.
    /// The default is `wait`'s: reply with the workitem it was applied with.
    fn wake(flow: &mut Flow, fei: &Fei) {
        let applied = flow.get(fei).map(|e| e.applied.clone()).unwrap_or_default();
        flow.reply_to_parent(fei, applied);
    }
}

/// Properties of an expression kind that other parts of the engine ask about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Properties {
    /// Obeys cursor commands (`rewind`, `break`, `skip`, `jump`...) that
    /// travel up from its children.
    pub obeys_commands: bool,
    /// A subprocess definition (`define`): bound in its enclosing body, run
    /// only when called.
    pub is_definition: bool,
    /// Names another expression by its tag (`undo 'x'`), which the
    /// definition check resolves.
    pub references_tag: bool,
    /// Its children are data (a `filter`'s rules), not steps.
    pub children_are_data: bool,
    /// Applied again (a retry), it keeps the variables it was applied with:
    /// it was given them, it did not compute them itself.
    pub keeps_variables: bool,
    /// Failed on purpose: an operator's retry acknowledges the failure and
    /// the flow goes on past it (Ruote's replay at error of `error`).
    pub retry_goes_past: bool,
}

impl Properties {
    pub const PLAIN: Properties = Properties {
        obeys_commands: false,
        is_definition: false,
        references_tag: false,
        children_are_data: false,
        keeps_variables: false,
        retry_goes_past: false,
    };
}

/// One entry of the vocabulary: a [`Kind`] as data.
pub(crate) struct Spec {
    pub names: &'static [&'static str],
    pub properties: Properties,
    apply: fn(&mut Flow, &Fei, &Node, Workitem),
    reply: fn(&mut Flow, &Fei, &Fei, Workitem),
    on_cancel: fn(&mut Flow, &Fei),
    wake: fn(&mut Flow, &Fei),
}

impl Spec {
    const fn of<K: Kind>() -> Spec {
        Spec {
            names: K::NAMES,
            properties: K::PROPERTIES,
            apply: K::apply,
            reply: K::reply,
            on_cancel: K::on_cancel,
            wake: K::wake,
        }
    }

    /// The name stored as the expression's kind.
    pub fn name(&self) -> &'static str {
        self.names[0]
    }
}

/// Declares the expression modules and the vocabulary in one list.
macro_rules! vocabulary {
    ($($module:ident => [$($kind:ident),+]),* $(,)?) => {
        $(pub(crate) mod $module;)*
        /// Every expression kind, each declared in its own module.
        pub(crate) static VOCABULARY: &[Spec] = &[$($(Spec::of::<$module::$kind>()),+),*];
    };
}

vocabulary! {
    add_branches => [AddBranches],
    apply => [Apply],
    approval => [Approval],
    await_ => [Await],
    cancel_process => [CancelProcess],
    command => [Command],
    concurrence => [Concurrence],
    concurrent_iterator => [ConcurrentIterator],
    cron => [Cron],
    cursor => [Cursor, Loop],
    define => [Define],
    echo => [Echo],
    equals => [Equals],
    error => [Error],
    filter => [Filter],
    forget => [Forget],
    given => [Given],
    if_ => [If],
    inc => [Inc],
    iterator => [Iterator],
    lock => [Lock],
    lose => [Lose],
    noop => [Noop],
    once => [Once],
    on_error => [OnError],
    participant => [Participant],
    redo => [Redo],
    reserve => [Reserve],
    restore => [Restore],
    save => [Save],
    sequence => [Sequence, Let],
    set => [Set],
    stall => [Stall],
    subprocess => [Subprocess],
    that => [That],
    undo => [Undo],
    wait => [Wait],
}
mod path;

/// A tagged expression ended: the `await`s for it reply.
pub(crate) fn left_tag(flow: &mut Flow, tag: &str, workitem: &Workitem) {
    await_::happened(flow, await_::Event::LeftTag, tag, workitem);
}

/// The kind of a participant step, as stored.
pub(crate) const PARTICIPANT: &str = "participant";

/// Whether a node is written as an explicit participant step
/// (`participant 'x'`, or Ruote's `ref 'x'`), which names its target in an
/// argument or `ref:` rather than in its own name.
pub fn is_explicit_step(name: &str) -> bool {
    participant::Participant::NAMES.contains(&name)
}

/// Attributes every expression understands; a participant step passes all
/// the others on as params.
pub const COMMON_ATTRIBUTES: &[&str] =
    &["if", "unless", "timeout", "on_error", "on_timeout", "on_cancel", "tag", "forget"];

/// The expression kind answering to `name` (an expression name or alias as
/// written, or a kind as stored).
pub(crate) fn lookup(name: &str) -> Option<&'static Spec> {
    VOCABULARY.iter().find(|spec| spec.names.contains(&name))
}

/// Whether `name` is an expression of the language (and so not a
/// participant or subprocess name).
pub fn is_expression(name: &str) -> bool {
    lookup(name).is_some_and(|spec| spec.name() != PARTICIPANT)
}

/// The properties of the expression kind `name`; plain for a name that is
/// not one (a participant step).
pub(crate) fn properties(name: &str) -> Properties {
    lookup(name).map(|spec| spec.properties).unwrap_or(Properties::PLAIN)
}

/// What a node is: a named expression, a call of a subprocess defined in
/// scope (seen from the expression `fei` itself, so a handler applied in
/// the root's place still sees the root's subprocesses), or else a
/// participant step.
fn kind_of(flow: &Flow, fei: &Fei, node: &Node) -> &'static Spec {
    if let Some(spec) = lookup(&node.name) {
        return spec;
    }
    let calls_subprocess = subprocess::lookup(flow, fei, &node.name).is_some();
    let kind = if calls_subprocess { subprocess::Subprocess::NAMES[0] } else { PARTICIPANT };
    lookup(kind).expect("subprocess and participant are in the vocabulary")
}

/// An expression's typed state (its kind's default when it has none yet).
pub(crate) fn state<K: Kind>(flow: &Flow, fei: &Fei) -> K::State {
    flow.get(fei).and_then(|e| K::State::deserialize(&e.state).ok()).unwrap_or_default()
}

/// Replaces an expression's state.
pub(crate) fn set_state<K: Kind>(flow: &mut Flow, fei: &Fei, state: &K::State) {
    if let Some(e) = flow.get_mut(fei) {
        e.state = serde_json::to_value(state).unwrap_or(Value::Null);
    }
}

/// Changes an expression's state in place.
pub(crate) fn update_state<K: Kind>(flow: &mut Flow, fei: &Fei, change: impl FnOnce(&mut K::State)) {
    let mut current = state::<K>(flow, fei);
    change(&mut current);
    set_state::<K>(flow, fei, &current);
}

pub(crate) fn apply(
    flow: &mut Flow,
    fei: Fei,
    parent: Option<Fei>,
    tree: TreeRef,
    workitem: Workitem,
    variables: Option<Fields>,
    retries: u32,
) {
    let node = match flow.node(&tree) {
        Ok(n) => n,
        Err(e) => return fail_unapplied(flow, fei, parent, e),
    };
    // The root opens the process scope.
    let variables = if parent.is_none() { Some(variables.unwrap_or_default()) } else { variables };
    flow.insert(Expression {
        fei: fei.clone(),
        parent,
        tree,
        kind: String::new(),
        applied: workitem.clone(),
        variables,
        children: Vec::new(),
        state: Value::Null,
        status: Status::Active,
        timer_token: 0,
        timeout_token: 0,
        retries,
        tag: None,
        forgotten: false,
        after_cancel: None,
        error_handlers: Vec::new(),
    });
    let spec = kind_of(flow, &fei, &node);
    if let Some(e) = flow.get_mut(&fei) {
        e.kind = spec.name().to_owned();
    }

    // `if:` / `unless:` skip the expression altogether.
    for (attr, wanted) in [("if", true), ("unless", false)] {
        let Some(cond) = node.attr(attr) else { continue };
        match condition::evaluate_value(cond, &flow.lookup(&fei, &workitem)) {
            Ok(h) if h == wanted => {}
            Ok(_) => return flow.reply_to_parent(&fei, workitem),
            Err(e) => {
                return flow.fail(
                    &fei,
                    StepError::new(StepErrorKind::BadInput, format!("{attr}: {e}")).at_line(node.span.line),
                );
            }
        }
    }
    if let Some(tag) = node.attr_str("tag") {
        let tag = tag.to_owned();
        flow.set_variable(&fei, &tag, Some(Value::String(fei.0.clone())));
        if let Some(e) = flow.get_mut(&fei) {
            e.tag = Some(tag.clone());
        }
        await_::happened(flow, await_::Event::EnteredTag, &tag, &workitem);
    }
    if let Some(timeout) = node.attr("timeout") {
        match attributes::parse_duration(&value_text(timeout)) {
            Ok(d) => arm_timer(flow, &fei, TimerKind::Timeout, d.as_millis() as i64),
            Err(e) => {
                return flow.fail(
                    &fei,
                    StepError::new(StepErrorKind::BadInput, format!("timeout: {e}")).at_line(node.span.line),
                );
            }
        }
    }
    if node.attr("forget").is_some_and(truthy) {
        // Reply at once; the expression goes on, forgotten.
        if let Some(e) = flow.get_mut(&fei) {
            e.forgotten = true;
        }
        let parent = flow.get(&fei).and_then(|e| e.parent.clone());
        if let Some(parent) = parent {
            flow.queue(Message::Reply { to: parent, from: fei.clone(), workitem: workitem.clone() });
        }
    }
    (spec.apply)(flow, &fei, &node, workitem)
}

/// An expression that could not even be applied fails in its parent's
/// place in the tree: record it so the error has a step to point at.
fn fail_unapplied(flow: &mut Flow, fei: Fei, parent: Option<Fei>, error: StepError) {
    flow.insert(Expression {
        fei: fei.clone(),
        parent,
        tree: TreeRef::Path(Vec::new()),
        kind: "unresolved".into(),
        applied: Workitem::default(),
        variables: None,
        children: Vec::new(),
        state: Value::Null,
        status: Status::Active,
        timer_token: 0,
        timeout_token: 0,
        retries: 0,
        tag: None,
        forgotten: false,
        after_cancel: None,
        error_handlers: Vec::new(),
    });
    flow.fail(&fei, error);
}

pub(crate) fn reply(flow: &mut Flow, to: &Fei, from: &Fei, workitem: Workitem) {
    let Some(e) = flow.get(to) else { return };
    if e.status == Status::Cancelling {
        // Waiting for children to go before replying itself.
        if e.children.is_empty() {
            super::handlers::cancelled(flow, to, workitem);
        }
        return;
    }
    match lookup(&e.kind) {
        Some(spec) => (spec.reply)(flow, to, from, workitem),
        None => flow.reply_to_parent(to, workitem),
    }
}

/// Cancels an expression: its children first, then it replies to its
/// parent with the workitem it was applied with. A kill also drops what
/// was to follow the cancellation (an on_error / on_timeout handler, a
/// redo) in the expression and everything under it.
pub(crate) fn cancel(flow: &mut Flow, fei: &Fei, kill: bool) {
    let Some(e) = flow.get(fei) else {
        flow.cancel_after_apply(fei, kill);
        return;
    };
    let children = e.children.clone();
    // A cancel (not a kill) nobody else is handling runs `on_cancel:`.
    let on_cancel = match (&e.after_cancel, kill) {
        (None, false) => flow.node(&e.tree).ok().and_then(|n| n.attr_str("on_cancel").map(str::to_owned)),
        _ => None,
    };
    if let Some(spec) = lookup(&e.kind) {
        (spec.on_cancel)(flow, fei);
    }
    if let Some(e) = flow.get_mut(fei) {
        e.status = Status::Cancelling;
        e.timer_token += 1;
        e.timeout_token += 1;
        if kill {
            e.after_cancel = None;
        } else if let Some(name) = on_cancel.filter(|n| !n.trim().is_empty()) {
            e.after_cancel = Some(AfterCancel::OnCancel { name });
        }
    }
    if children.is_empty() {
        let applied = flow.get(fei).map(|e| e.applied.clone()).unwrap_or_default();
        super::handlers::cancelled(flow, fei, applied);
    } else {
        for child in children {
            flow.queue(Message::Cancel { fei: child, kill });
        }
    }
}

pub(crate) fn timer(flow: &mut Flow, fei: &Fei, kind: TimerKind) {
    match kind {
        TimerKind::Wake => {
            if let Some(spec) = flow.get(fei).and_then(|e| lookup(&e.kind)) {
                (spec.wake)(flow, fei)
            }
        }
        TimerKind::Timeout => super::handlers::on_timeout(flow, fei),
        TimerKind::Retry => super::handlers::retry_now(flow, fei),
    }
}

/// Arms a timer of `kind` for `fei`, `after_ms` from now.
pub(crate) fn arm_timer(flow: &mut Flow, fei: &Fei, kind: TimerKind, after_ms: i64) {
    let Some(e) = flow.get_mut(fei) else { return };
    let token = match kind {
        TimerKind::Timeout => &mut e.timeout_token,
        _ => &mut e.timer_token,
    };
    *token += 1;
    let token = *token;
    let due = flow.now() + after_ms.max(0);
    flow.persist(Message::Timer { fei: fei.clone(), kind, token }, due);
}

/// A value as text, for attributes like durations given as numbers.
pub(crate) fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(crate) use condition::truthy;

/// The first of several attribute spellings present (`count` / `c`).
pub(crate) fn attr<'n>(node: &'n Node, names: &[&str]) -> Option<&'n Value> {
    names.iter().find_map(|n| node.attr(n))
}

/// The children of `fei`'s node as one branch to apply: the only child, or
/// a sequence of them (an iterator's body, a `cron`'s tick).
pub(crate) fn body(flow: &Flow, fei: &Fei) -> Result<TreeRef, StepError> {
    let tree = flow.get(fei).map(|e| e.tree.clone()).ok_or_else(|| StepError::new(StepErrorKind::Internal, "gone"))?;
    let node = flow.node(&tree)?;
    if node.children.len() == 1 {
        return flow.child_tree(&tree, 0);
    }
    let mut sequence = Node::new("sequence", crate::language::Span { line: node.span.line, ..Default::default() });
    sequence.children = node.children.clone();
    Ok(TreeRef::Inline(Box::new(NodeJson::from_node(&sequence))))
}

/// Applies `tree` as `fei`'s child number `index` (a branch of its own, as
/// [`body`] gives), with `variables` opening a scope when given.
pub(crate) fn apply_branch(
    flow: &mut Flow,
    fei: &Fei,
    index: usize,
    tree: TreeRef,
    workitem: Workitem,
    variables: Option<Fields>,
) {
    let child = fei.child(index);
    if let Some(e) = flow.get_mut(fei) {
        e.children.push(child.clone());
    }
    flow.queue(Message::Apply { fei: child, parent: Some(fei.clone()), tree, workitem, variables, retries: 0 });
}

/// The value an attribute gives, for the attributes that give one (as
/// Ruote's `set`, `inc`, `equals` read them): `value:`/`val:` (the value,
/// dollar notation expanded unless the node says `escape: true`),
/// `field_value:`/`field_val:`/`f_value:`/`f_val:` (the field of that name,
/// a dotted path) or `variable_value:`/`var_value:`/`v_value:` and their
/// `_val` forms (the variable). `None` for any other attribute. A missing
/// field or variable is null.
pub(crate) fn attribute_value(
    flow: &Flow,
    fei: &Fei,
    node: &Node,
    workitem: &Workitem,
    key: &str,
    raw: &Value,
) -> Option<Result<Value, StepError>> {
    let named = |raw: &Value| expand(flow, fei, node, workitem, raw).map(|v| value_text(&v));
    Some(match key {
        "value" | "val" if node.attr("escape").is_some_and(truthy) => Ok(raw.clone()),
        "value" | "val" => expand(flow, fei, node, workitem, raw),
        "field_value" | "field_val" | "f_value" | "f_val" => named(raw).map(|name| {
            crate::language::dollar::Lookup::field(&flow.lookup(fei, workitem), &name).unwrap_or(Value::Null)
        }),
        "variable_value" | "variable_val" | "var_value" | "var_val" | "v_value" | "v_val" => {
            named(raw).map(|name| flow.variable(fei, &name).unwrap_or(Value::Null))
        }
        _ => return None,
    })
}

/// Whether an attribute is one [`attribute_value`] reads (or `escape:`).
pub(crate) fn is_value_attribute(key: &str) -> bool {
    matches!(
        key,
        "value"
            | "val"
            | "escape"
            | "field_value"
            | "field_val"
            | "f_value"
            | "f_val"
            | "variable_value"
            | "variable_val"
            | "var_value"
            | "var_val"
            | "v_value"
            | "v_val"
    )
}

/// Runs `fei`'s block (its children, as [`body`]) in a scope of its own,
/// for an expression whose value a block computes (`set 'f:x' do ... end`):
/// its reply brings the workitem, whose `__result__` is the value.
pub(crate) fn apply_block(flow: &mut Flow, fei: &Fei, workitem: Workitem) {
    match body(flow, fei) {
        Ok(tree) => apply_branch(flow, fei, 0, tree, workitem, Some(Fields::new())),
        Err(e) => flow.fail(fei, e),
    }
}

/// What a block computed: the `__result__` its last expression left.
pub(crate) fn block_value(workitem: &Workitem) -> Value {
    workitem.fields.get(equals::RESULT_FIELD).cloned().unwrap_or(Value::Null)
}

/// The number of children of the node an expression was applied from.
pub(crate) fn child_count(flow: &Flow, fei: &Fei) -> usize {
    flow.get(fei).and_then(|e| flow.node(&e.tree).ok()).map(|n| n.children.len()).unwrap_or(0)
}

/// An attribute value with dollar notation resolved against the
/// expression's workitem and scope. A missing field or variable reads as
/// empty text (null as a whole `'$f:x'`), as in Ruote; malformed notation
/// is an error at the step's line.
pub(crate) fn expand(
    flow: &Flow,
    fei: &Fei,
    node: &Node,
    workitem: &Workitem,
    value: &Value,
) -> Result<Value, StepError> {
    substitute(flow.lookup(fei, workitem).lenient(), node, value)
}

/// As [`expand`], but a missing field or variable is an error naming it and
/// the step's line: a participant's params must be what the author meant.
pub(crate) fn expand_strictly(
    flow: &Flow,
    fei: &Fei,
    node: &Node,
    workitem: &Workitem,
    value: &Value,
) -> Result<Value, StepError> {
    substitute(flow.lookup(fei, workitem), node, value)
}

fn substitute(lookup: super::flow::FlowLookup, node: &Node, value: &Value) -> Result<Value, StepError> {
    crate::language::dollar::substitute_value(value, &lookup)
        .map_err(|e| StepError::new(StepErrorKind::BadInput, e.to_string()).at_line(node.span.line))
}
