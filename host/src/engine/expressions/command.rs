//! Cursor commands: `rewind`, `continue`, `reset`, `break` (`_break`),
//! `stop`, `over`, `skip`, `back`, `jump`. A command travels in the
//! workitem's `__command__` field to the nearest enclosing cursor, loop or
//! iterator (or the one tagged `ref:`), which acts on it.

use super::super::flow::{COMMAND_FIELD, Flow};
use crate::model::*;
use super::{expand, value_text};
use crate::language::Node;
use serde_json::{Value, json};

pub(crate) struct Command;

impl super::Kind for Command {
    const NAMES: &'static [&'static str] = &["rewind", "continue", "reset", "jump", "break", "_break", "stop", "over", "skip", "back"];
    type State = ();

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        apply(flow, fei, node, workitem)
    }
}

/// Whether the live expression `fei` obeys commands (a cursor, a loop, an iterator).
fn obeys_commands(flow: &Flow, fei: &Fei) -> bool {
    flow.get(fei).is_some_and(|e| super::properties(&e.kind).obeys_commands)
}

pub(crate) fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
    let name = if node.name == "_break" { "break" } else { node.name.as_str() };
    let raw_arg = match name {
        "skip" | "back" => node.attr("step").or(node.args.first()),
        "jump" => node.attr("to").or(node.args.first()),
        _ => None,
    };
    let arg = match raw_arg.map(|v| expand(flow, fei, node, &workitem, v)).transpose() {
        Ok(v) => v.map(|v| match v.as_i64() {
            Some(_) => v,
            None => value_text(&v).trim().parse::<i64>().map(Value::from).unwrap_or(v),
        }),
        Err(e) => return flow.fail(fei, e),
    };
    let parent = flow.get(fei).and_then(|e| e.parent.clone());
    let target = match node.attr_str("ref") {
        Some(tag) => flow.variable(fei, tag).and_then(|v| v.as_str().map(|s| Fei(s.to_owned()))),
        None => commanded_ancestor(flow, parent.as_ref()),
    };
    let Some(target) = target.filter(|t| obeys_commands(flow, t)) else {
        return flow.reply_to_parent(fei, workitem);
    };
    let mut command = workitem.clone();
    command.fields.insert(COMMAND_FIELD.into(), json!([name, arg]));
    if Some(&target) == parent.as_ref() {
        return flow.reply_to_parent(fei, command);
    }
    let ancestor = is_ancestor(flow, &target, fei);
    flow.queue(Message::Reply { to: target, from: fei.clone(), workitem: command });
    if !ancestor {
        flow.reply_to_parent(fei, workitem);
    }
}

fn commanded_ancestor(flow: &Flow, from: Option<&Fei>) -> Option<Fei> {
    let mut cursor = from.cloned();
    while let Some(f) = cursor {
        if obeys_commands(flow, &f) {
            return Some(f);
        }
        cursor = flow.get(&f)?.parent.clone();
    }
    None
}

pub(crate) fn is_ancestor(flow: &Flow, ancestor: &Fei, of: &Fei) -> bool {
    let mut cursor = flow.get(of).and_then(|e| e.parent.clone());
    while let Some(f) = cursor {
        if &f == ancestor {
            return true;
        }
        cursor = flow.get(&f).and_then(|e| e.parent.clone());
    }
    false
}

/// Takes the command out of a workitem: (command, argument), with Ruote's
/// aliases folded (`over`/`stop` are `break`, `back n` is `skip -n`).
/// Without one in the workitem, the expression's `break_if:` /
/// `rewind_unless:`-style attributes may still issue one.
pub(crate) fn take(flow: &Flow, fei: &Fei, node: &Node, workitem: &mut Workitem) -> Option<(String, Value)> {
    let (mut name, mut arg) = match workitem.fields.remove(COMMAND_FIELD) {
        Some(Value::Array(v)) => (value_text(v.first()?), v.get(1).cloned().unwrap_or(Value::Null)),
        _ => attribute_command(flow, fei, node, workitem)?,
    };
    match name.as_str() {
        "over" | "stop" => name = "break".into(),
        "back" => {
            name = "skip".into();
            arg = Value::from(-arg.as_i64().unwrap_or(1));
        }
        "skip" if arg.is_null() => arg = Value::from(1),
        _ => {}
    }
    Some((name, arg))
}

fn attribute_command(flow: &Flow, fei: &Fei, node: &Node, workitem: &Workitem) -> Option<(String, Value)> {
    for dir in ["if", "unless"] {
        for com in ["break", "rewind", "reset", "over", "stop"] {
            let Some(Value::String(cond)) = node.attr(&format!("{com}_{dir}")) else { continue };
            let holds = crate::language::condition::evaluate(cond, &flow.lookup(fei, workitem)).unwrap_or(false);
            if holds == (dir == "if") {
                return Some((com.to_owned(), Value::Null));
            }
        }
    }
    None
}

/// Whether `child` is a direct child of `parent`.
pub(crate) fn is_direct_child(parent: &Fei, child: &Fei) -> bool {
    child.expid().rsplit_once('_').is_some_and(|(p, _)| p == parent.expid())
}
