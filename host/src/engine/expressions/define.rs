//! `define 'name' do ... end`: a subprocess definition. Inside a body it is
//! bound to a variable of that name when the enclosing sequence starts (so
//! it may be called before or after it appears); applied as the body of a
//! subprocess call, it runs its children in sequence.

use super::super::flow::Flow;
use super::super::model::*;
use crate::language::Node;
use serde_json::json;

pub(crate) fn is_definition(node: &Node) -> bool {
    matches!(node.name.as_str(), "define" | "process_definition" | "workflow_definition")
}

pub(crate) fn name_of(node: &Node) -> Option<String> {
    node.first_arg_str().or_else(|| node.attr_str("name")).map(str::to_owned)
}

/// Binds child `position` of `scope` (a definition) to its name.
pub(crate) fn bind(flow: &mut Flow, scope: &Fei, position: usize) {
    let Some(e) = flow.get(scope) else { return };
    let Ok(tree) = flow.child_tree(&e.tree, position) else { return };
    let Ok(node) = flow.node(&tree) else { return };
    if let Some(name) = name_of(&node) {
        flow.set_variable(scope, &name, Some(json!({ "__subprocess__": tree })));
    }
}

pub(crate) fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
    let parent_is_call =
        flow.get(fei).and_then(|e| e.parent.as_ref()).and_then(|p| flow.get(p)).is_some_and(|p| p.kind == "subprocess");
    if parent_is_call {
        return super::sequence::start(flow, fei, workitem);
    }
    if let (Some(name), Some(e)) = (name_of(node), flow.get(fei)) {
        let tree = e.tree.clone();
        flow.set_variable(fei, &name, Some(json!({ "__subprocess__": tree })));
    }
    flow.reply_to_parent(fei, workitem);
}
