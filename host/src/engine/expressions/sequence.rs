//! `sequence`: applies its children one after the other, each with the
//! workitem the previous one replied with. `let` is a sequence that opens a
//! variable scope (its attributes become variables).

use super::super::flow::Flow;
use super::super::model::*;
use super::child_count;
use crate::language::Node;
use serde_json::json;

pub(crate) fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
    if node.name == "let" {
        let mut vars = Fields::new();
        for (k, v) in &node.attrs {
            if !super::COMMON_ATTRIBUTES.contains(&k.as_str()) {
                match super::expand(flow, fei, node, &workitem, v) {
                    Ok(v) => vars.insert(k.clone(), v),
                    Err(e) => return flow.fail(fei, e),
                };
            }
        }
        if let Some(e) = flow.get_mut(fei) {
            e.variables = Some(vars);
        }
    }
    start(flow, fei, workitem);
}

/// Binds the subprocess definitions among the children (so they may be
/// called before they appear), then applies the first other child.
pub(crate) fn start(flow: &mut Flow, fei: &Fei, workitem: Workitem) {
    let definitions: Vec<usize> = flow
        .get(fei)
        .and_then(|e| flow.node(&e.tree).ok())
        .map(|n| {
            n.children.iter().enumerate().filter(|(_, c)| super::define::is_definition(c)).map(|(i, _)| i).collect()
        })
        .unwrap_or_default();
    for position in definitions {
        super::define::bind(flow, fei, position);
    }
    next(flow, fei, 0, workitem)
}

pub(crate) fn reply(flow: &mut Flow, fei: &Fei, workitem: Workitem) {
    let position = flow.get(fei).and_then(|e| e.state.get("position").and_then(|p| p.as_u64())).unwrap_or(0) as usize;
    next(flow, fei, position + 1, workitem)
}

fn next(flow: &mut Flow, fei: &Fei, position: usize, workitem: Workitem) {
    // Subprocess definitions inside a body are bound, not run.
    let mut position = position;
    let tree = flow.get(fei).map(|e| e.tree.clone());
    let node = tree.as_ref().and_then(|t| flow.node(t).ok());
    let count = child_count(flow, fei);
    while let Some(n) = &node
        && position < count
        && super::define::is_definition(&n.children[position])
    {
        position += 1;
    }
    if position >= count {
        return flow.reply_to_parent(fei, workitem);
    }
    if let Some(e) = flow.get_mut(fei) {
        e.state = json!({ "position": position });
    }
    flow.apply_child(fei, position, workitem);
}
