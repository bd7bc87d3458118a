//! The expressions of the language, one file each, with the same verbs as
//! Ruote's: `apply` (start), `reply` (a child finished), `cancel`.
//!
//! This module does what every expression shares: resolving a node to an
//! expression kind (a built-in expression, a subprocess, or a participant
//! step), the `if:`/`unless:`, `tag:` and `timeout:` attributes, and the
//! default reply and cancel behaviour.

mod add_branches;
mod cancel_process;
mod command;
mod concurrence;
mod concurrent_iterator;
mod cursor;
pub(crate) mod define;
mod echo;
mod equals;
mod error;
mod filter;
mod given;
mod if_;
mod inc;
mod iterator;
mod lose;
mod noop;
pub(crate) mod participant;
mod path;
mod redo;
mod restore;
mod save;
mod sequence;
mod set;
mod subprocess;
mod that;
mod undo;
mod wait;

use super::flow::Flow;
use super::model::*;
use crate::language::{Node, attributes, condition};
use serde_json::Value;

/// Names of the built-in expressions (and their Ruote aliases).
pub const BUILTIN: &[&str] = &[
    "sequence",
    "concurrence",
    "cursor",
    "loop",
    "repeat",
    "iterator",
    "concurrent_iterator",
    "if",
    "_if",
    "unless",
    "_unless",
    "wait",
    "sleep",
    "set",
    "unset",
    "define",
    "process_definition",
    "workflow_definition",
    "subprocess",
    "error",
    "echo",
    "cancel_process",
    "terminate",
    "noop",
    "participant",
    "rewind",
    "continue",
    "reset",
    "jump",
    "break",
    "_break",
    "stop",
    "over",
    "skip",
    "back",
    "let",
    "inc",
    "dec",
    "equals",
    "given",
    "that",
    "of",
    "undo",
    "cancel",
    "kill",
    "redo",
    "_redo",
    "lose",
    "save",
    "restore",
    "set_fields",
    "filter",
    "add_branches",
    "add_branch",
];

/// Attributes every expression understands; a participant step passes all
/// the others on as params.
pub const COMMON_ATTRIBUTES: &[&str] = &["if", "unless", "timeout", "on_error", "on_timeout", "tag", "forget"];

/// What a node turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Resolved {
    Builtin(&'static str),
    Subprocess(TreeRef),
    Participant { participant: String, action: String },
}

/// Resolves a node: a built-in, a subprocess defined in scope, or a
/// participant step.
pub(crate) fn resolve(flow: &Flow, scope: Option<&Fei>, node: &Node) -> Result<Resolved, StepError> {
    let name = canonical(&node.name);
    if let Some(b) = BUILTIN.iter().find(|b| **b == name && **b != "participant") {
        return Ok(Resolved::Builtin(b));
    }
    if let Some(scope) = scope
        && let Some(tree) = subprocess::lookup(flow, scope, &node.name)
    {
        return Ok(Resolved::Subprocess(tree));
    }
    flow.registry
        .resolve_step(&node.name, node)
        .map(|(participant, action)| Resolved::Participant { participant, action })
        .map_err(|m| StepError::new("bad-input", m).at_line(node.span.line))
}

/// Ruote spells Ruby keywords with a leading underscore.
fn canonical(name: &str) -> &str {
    match name {
        "_if" => "if",
        "_unless" => "unless",
        "_break" => "break",
        "_redo" => "redo",
        other => other,
    }
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
    let resolved = match resolve(flow, parent.as_ref(), &node) {
        Ok(r) => r,
        Err(e) => return fail_unapplied(flow, fei, parent, e),
    };
    let kind = match &resolved {
        Resolved::Builtin(b) => canonical(b).to_owned(),
        Resolved::Subprocess(_) => "subprocess".to_owned(),
        Resolved::Participant { .. } => "participant".to_owned(),
    };
    // The root opens the process scope.
    let variables = if parent.is_none() { Some(variables.unwrap_or_default()) } else { variables };
    flow.insert(Expression {
        fei: fei.clone(),
        parent,
        tree,
        kind,
        applied: workitem.clone(),
        variables,
        children: Vec::new(),
        state: Value::Null,
        status: Status::Active,
        timer_token: 0,
        retries,
        tag: None,
        forgotten: false,
        after_cancel: None,
    });

    // `if:` / `unless:` skip the expression altogether.
    for (attr, wanted) in [("if", true), ("unless", false)] {
        let Some(cond) = node.attr(attr) else { continue };
        let holds = match cond {
            Value::Bool(b) => Ok(*b),
            Value::String(s) => condition::evaluate(s, &flow.lookup(&fei, &workitem)).map_err(|e| e.to_string()),
            other => Ok(!other.is_null()),
        };
        match holds {
            Ok(h) if h == wanted => {}
            Ok(_) => return flow.reply_to_parent(&fei, workitem),
            Err(e) => {
                return flow.fail(&fei, StepError::new("bad-input", format!("{attr}: {e}")).at_line(node.span.line));
            }
        }
    }
    if let Some(tag) = node.attr_str("tag") {
        let tag = tag.to_owned();
        flow.set_variable(&fei, &tag, Some(Value::String(fei.0.clone())));
        if let Some(e) = flow.get_mut(&fei) {
            e.tag = Some(tag);
        }
    }
    if let Some(timeout) = node.attr("timeout") {
        match attributes::parse_duration(&value_text(timeout)) {
            Ok(d) => arm_timer(flow, &fei, TimerKind::Timeout, d.as_millis() as i64),
            Err(e) => {
                return flow.fail(&fei, StepError::new("bad-input", format!("timeout: {e}")).at_line(node.span.line));
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

    match resolved {
        Resolved::Participant { participant, action } => {
            participant::apply(flow, &fei, &node, participant, action, workitem)
        }
        Resolved::Subprocess(tree) => subprocess::apply(flow, &fei, &node, tree, workitem),
        Resolved::Builtin(name) => match canonical(name) {
            "sequence" | "let" => sequence::apply(flow, &fei, &node, workitem),
            "concurrence" => concurrence::apply(flow, &fei, &node, workitem),
            "cursor" | "loop" | "repeat" => cursor::apply(flow, &fei, &node, workitem),
            "iterator" => iterator::apply(flow, &fei, &node, workitem),
            "concurrent_iterator" => concurrent_iterator::apply(flow, &fei, &node, workitem),
            "if" | "unless" => if_::apply(flow, &fei, &node, workitem),
            "wait" | "sleep" => wait::apply(flow, &fei, &node, workitem),
            "set" | "unset" => set::apply(flow, &fei, &node, workitem),
            "inc" | "dec" => inc::apply(flow, &fei, &node, workitem),
            "define" | "process_definition" | "workflow_definition" => define::apply(flow, &fei, &node, workitem),
            "subprocess" => subprocess::apply_named(flow, &fei, &node, workitem),
            "error" => error::apply(flow, &fei, &node, workitem),
            "echo" => echo::apply(flow, &fei, &node, workitem),
            "cancel_process" | "terminate" => cancel_process::apply(flow, &fei, &node, workitem),
            "equals" => equals::apply(flow, &fei, &node, workitem),
            "given" => given::apply(flow, &fei, &node, workitem),
            "that" | "of" => that::apply(flow, &fei, &node, workitem),
            "undo" | "cancel" | "kill" => undo::apply(flow, &fei, &node, workitem),
            "redo" => redo::apply(flow, &fei, &node, workitem),
            "lose" => lose::apply(flow, &fei, workitem),
            "save" => save::apply(flow, &fei, &node, workitem),
            "restore" | "set_fields" => restore::apply(flow, &fei, &node, workitem),
            "filter" => filter::apply(flow, &fei, &node, workitem),
            "add_branches" | "add_branch" => add_branches::apply(flow, &fei, &node, workitem),
            "rewind" | "continue" | "reset" | "jump" | "break" | "stop" | "over" | "skip" | "back" => {
                command::apply(flow, &fei, &node, workitem)
            }
            _ => noop::apply(flow, &fei, workitem),
        },
    }
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
        retries: 0,
        tag: None,
        forgotten: false,
        after_cancel: None,
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
    match e.kind.as_str() {
        "sequence" | "let" | "define" => sequence::reply(flow, to, workitem),
        "concurrence" => concurrence::reply(flow, to, from, workitem),
        "cursor" | "loop" | "repeat" => cursor::reply(flow, to, from, workitem),
        "iterator" => iterator::reply(flow, to, from, workitem),
        "concurrent_iterator" => concurrent_iterator::reply(flow, to, from, workitem),
        "if" | "unless" => if_::reply(flow, to, from, workitem),
        "given" => given::reply(flow, to, workitem),
        "that" | "of" => that::reply(flow, to, workitem),
        // Its children's replies go nowhere.
        "lose" => {}
        _ => flow.reply_to_parent(to, workitem),
    }
}

/// Cancels an expression: its children first, then it replies to its
/// parent with the workitem it was applied with. A kill also drops what
/// was to follow the cancellation (an on_error / on_timeout handler, a
/// redo) in the expression and everything under it.
pub(crate) fn cancel(flow: &mut Flow, fei: &Fei, kill: bool) {
    let Some(e) = flow.get(fei) else { return };
    let children = e.children.clone();
    if e.kind == "participant" {
        flow.withdraw_dispatch(fei);
    }
    if let Some(e) = flow.get_mut(fei) {
        e.status = Status::Cancelling;
        e.timer_token += 1;
        if kill {
            e.after_cancel = None;
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
            let applied = flow.get(fei).map(|e| e.applied.clone()).unwrap_or_default();
            flow.reply_to_parent(fei, applied);
        }
        TimerKind::Timeout => super::handlers::on_timeout(flow, fei),
        TimerKind::Retry => super::handlers::retry_now(flow, fei),
    }
}

/// Arms a timer of `kind` for `fei`, `after_ms` from now.
pub(crate) fn arm_timer(flow: &mut Flow, fei: &Fei, kind: TimerKind, after_ms: i64) {
    let Some(e) = flow.get_mut(fei) else { return };
    e.timer_token += 1;
    let token = e.timer_token;
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

pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Null => false,
        Value::String(s) => !matches!(s.as_str(), "" | "false" | "nil" | "null" | "no"),
        _ => true,
    }
}

/// The first of several attribute spellings present (`count` / `c`).
pub(crate) fn attr<'n>(node: &'n Node, names: &[&str]) -> Option<&'n Value> {
    names.iter().find_map(|n| node.attr(n))
}

/// The number of children of the node an expression was applied from.
pub(crate) fn child_count(flow: &Flow, fei: &Fei) -> usize {
    flow.get(fei).and_then(|e| flow.node(&e.tree).ok()).map(|n| n.children.len()).unwrap_or(0)
}

/// An attribute value with dollar notation resolved against the
/// expression's workitem and scope; a missing field is an error naming it
/// and the step's line.
pub(crate) fn expand(
    flow: &Flow,
    fei: &Fei,
    node: &Node,
    workitem: &Workitem,
    value: &Value,
) -> Result<Value, StepError> {
    crate::language::dollar::substitute_value(value, &flow.lookup(fei, workitem))
        .map_err(|e| StepError::new("bad-input", e.to_string()).at_line(node.span.line))
}

pub(crate) use define::is_definition;
