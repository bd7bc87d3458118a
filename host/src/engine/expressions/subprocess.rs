//! Calling a subprocess: `subprocess 'name'`, `subprocess ref: 'name'`, or
//! the name as a step. The call opens a variable scope holding its
//! attributes; the definition's body runs inside it.

use super::super::flow::Flow;
use super::super::model::*;
use super::{COMMON_ATTRIBUTES, expand};
use crate::language::Node;
use serde_json::Value;

/// The tree bound to `name` as a subprocess, seen from `scope`.
pub(crate) fn lookup(flow: &Flow, scope: &Fei, name: &str) -> Option<TreeRef> {
    let v = flow.variable(scope, name)?;
    serde_json::from_value(v.get("__subprocess__")?.clone()).ok()
}

/// `subprocess 'name'` / `subprocess ref: 'name'`.
pub(crate) fn apply_named(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
    let name = node.first_arg_str().or_else(|| node.attr_str("ref")).map(str::to_owned);
    let tree = name.as_deref().and_then(|n| lookup(flow, fei, n));
    match tree {
        Some(tree) => apply(flow, fei, node, tree, workitem),
        None => {
            let what = name.unwrap_or_default();
            flow.fail(
                fei,
                StepError::new("bad-input", format!("subprocess '{what}' is not defined")).at_line(node.span.line),
            )
        }
    }
}

pub(crate) fn apply(flow: &mut Flow, fei: &Fei, node: &Node, tree: TreeRef, workitem: Workitem) {
    let mut vars = Fields::new();
    for (k, v) in &node.attrs {
        if COMMON_ATTRIBUTES.contains(&k.as_str()) || k == "ref" {
            continue;
        }
        match expand(flow, fei, node, &workitem, v) {
            Ok(v) => vars.insert(k.clone(), v),
            Err(e) => return flow.fail(fei, e),
        };
    }
    if let Some(e) = flow.get_mut(fei) {
        e.kind = "subprocess".into();
        e.variables = Some(vars);
        e.state = Value::Null;
    }
    let body = fei.child(0);
    if let Some(e) = flow.get_mut(fei) {
        e.children.push(body.clone());
    }
    flow.queue(Message::Apply { fei: body, parent: Some(fei.clone()), tree, workitem, variables: None, retries: 0 });
}
