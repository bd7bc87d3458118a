//! `concurrent_iterator`: like `iterator`, but all items at once, each
//! branch with its own variables; branches merge like a `concurrence`
//! (`count:`, `merge:`, `merge_type:`, `remaining:`).

use super::super::flow::Flow;
use super::super::model::*;
use super::{child_count, concurrence, iterator};
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
    let settings = match concurrence::settings(flow, fei, node, &workitem, list.len()) {
        Ok(s) => s,
        Err(e) => return flow.fail(fei, e),
    };
    let Some(e) = flow.get(fei) else { return };
    // Several children form one sequence per branch.
    let body = if children == 1 {
        match flow.child_tree(&e.tree, 0) {
            Ok(t) => t,
            Err(err) => return flow.fail(fei, err),
        }
    } else {
        let mut seq = Node::new("sequence", Span { line: node.span.line, ..Span::default() });
        seq.children = node.children.clone();
        TreeRef::Inline(Box::new(NodeJson::from_node(&seq)))
    };
    if let Some(e) = flow.get_mut(fei) {
        e.state = settings;
    }
    let name = target.get("name").and_then(Value::as_str).unwrap_or("i").to_owned();
    let to_field = target.get("field").and_then(Value::as_bool) == Some(true);
    for (i, value) in list.into_iter().enumerate() {
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
}

pub(crate) fn reply(flow: &mut Flow, fei: &Fei, from: &Fei, workitem: Workitem) {
    concurrence::reply(flow, fei, from, workitem);
}
