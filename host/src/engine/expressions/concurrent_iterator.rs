//! `concurrent_iterator`: like `iterator`, but all items at once, each
//! branch with its own variables; branches merge like a `concurrence`
//! (`count:`, `merge:`, `merge_type:`, `remaining:`). `add_branches` adds
//! items while it runs.

use super::super::flow::Flow;
use super::super::model::*;
use super::{attr, child_count, concurrence, iterator};
use crate::language::{Node, Span};
use serde_json::{Value, json};

pub(crate) fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
    let children = child_count(flow, fei);
    let (list, target) = match iterator::list_and_target(flow, fei, node, &workitem) {
        Ok(x) => x,
        Err(e) => return flow.fail(fei, e),
    };
    if children == 0 || list.is_empty() {
        return flow.reply_to_parent(fei, workitem);
    }
    let mut settings = match concurrence::settings(flow, fei, node, &workitem, list.len()) {
        Ok(s) => s,
        Err(e) => return flow.fail(fei, e),
    };
    // Without a positive count, branches added later are waited for too.
    let fixed = attr(node, &["count", "c", "wait_for", "wf"]).is_some_and(|c| c.as_i64().is_none_or(|n| n >= 0));
    settings["target"] = target;
    settings["size"] = json!(0);
    settings["grows"] = json!(!fixed);
    settings["times"] = json!(attr(node, &["times", "branches"]).is_some());
    if let Some(e) = flow.get_mut(fei) {
        e.state = settings;
    }
    if let Err(e) = add(flow, fei, list, &workitem) {
        flow.fail(fei, e);
    }
}

/// Applies one branch per item, numbered after the existing ones.
fn add(flow: &mut Flow, fei: &Fei, items: Vec<Value>, workitem: &Workitem) -> Result<(), StepError> {
    let Some(e) = flow.get(fei) else { return Ok(()) };
    let node = flow.node(&e.tree)?;
    // Several children form one sequence per branch.
    let body = if node.children.len() == 1 {
        flow.child_tree(&e.tree, 0)?
    } else {
        let mut seq = Node::new("sequence", Span { line: node.span.line, ..Span::default() });
        seq.children = node.children.clone();
        TreeRef::Inline(Box::new(NodeJson::from_node(&seq)))
    };
    let target = e.state.get("target").cloned().unwrap_or(Value::Null);
    let name = target.get("name").and_then(Value::as_str).unwrap_or("i").to_owned();
    let to_field = target.get("field").and_then(Value::as_bool) == Some(true);
    let first = e.state.get("size").and_then(Value::as_u64).unwrap_or(0) as usize;
    for (offset, value) in items.into_iter().enumerate() {
        let i = first + offset;
        let mut w = workitem.clone();
        let mut vars = Fields::new();
        vars.insert("ii".into(), json!(i));
        if to_field {
            w.fields.insert(name.clone(), value);
        } else {
            vars.insert(name.clone(), value);
        }
        let child = fei.child(i);
        if let Some(e) = flow.get_mut(fei) {
            e.children.push(child.clone());
            e.state["size"] = json!(i + 1);
        }
        flow.queue(Message::Apply {
            fei: child,
            parent: Some(fei.clone()),
            tree: body.clone(),
            workitem: w,
            variables: Some(vars),
            retries: 0,
        });
    }
    Ok(())
}

/// `add_branches`: more items for a running concurrent iterator. On a
/// `times:` iterator a single number `n` adds the next `n` indexes.
pub(crate) fn add_branches(flow: &mut Flow, fei: &Fei, items: Vec<Value>) -> Result<(), StepError> {
    let Some(e) = flow.get(fei) else { return Ok(()) };
    let size = e.state.get("size").and_then(Value::as_u64).unwrap_or(0);
    let times = e.state.get("times").and_then(Value::as_bool) == Some(true);
    let items = match items.as_slice() {
        [n] if times => match n.as_u64().or_else(|| n.as_str().and_then(|s| s.trim().parse().ok())) {
            Some(n) => (size..size + n).map(Value::from).collect(),
            None => items,
        },
        _ => items,
    };
    let added = items.len() as u64;
    let grows = e.state.get("grows").and_then(Value::as_bool) != Some(false);
    let applied = e.applied.clone();
    if let Some(e) = flow.get_mut(fei)
        && grows
    {
        let expected = e.state.get("expected").and_then(Value::as_u64).unwrap_or(0);
        e.state["expected"] = json!(expected + added);
    }
    add(flow, fei, items, &applied)
}

pub(crate) fn reply(flow: &mut Flow, fei: &Fei, from: &Fei, workitem: Workitem) {
    concurrence::reply(flow, fei, from, workitem);
}
