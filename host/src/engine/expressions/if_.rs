//! `if` (`_if`) and `unless` (`_unless`): a condition (first argument or
//! `test:`) chooses between the first child (then) and the second (else).
//!
//! Without a condition, as in Ruote, the first child is the condition: it
//! runs first (usually an `equals`), and the field `__result__` it leaves
//! chooses between the second child (true) and the third (else).

use super::super::flow::Flow;
use super::super::model::*;
use super::child_count;
use super::equals::result_is_true;
use crate::language::{Node, condition};
use serde_json::{Value, json};

pub(crate) fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
    let unless = node.name.trim_start_matches('_') == "unless";
    let Some(test) = node.args.first().or_else(|| super::attr(node, &["test", "t"])) else {
        if child_count(flow, fei) == 0 {
            let e = StepError::new(
                "bad-input",
                format!("{}: no condition (write {} '${{f:x}} == y' do ... end)", node.name, node.name),
            );
            return flow.fail(fei, e.at_line(node.span.line));
        }
        // The first child computes `__result__`.
        if let Some(e) = flow.get_mut(fei) {
            e.state = json!({ "condition_child": true });
        }
        return flow.apply_child(fei, 0, workitem);
    };
    let holds = match test {
        Value::String(s) => match condition::evaluate(s, &flow.lookup(fei, &workitem)) {
            Ok(h) => h,
            Err(e) => {
                return flow
                    .fail(fei, StepError::new("bad-input", format!("{}: {e}", node.name)).at_line(node.span.line));
            }
        },
        other => super::truthy(other),
    };
    let branch = if holds != unless { 0 } else { 1 };
    apply_branch(flow, fei, branch, workitem);
}

pub(crate) fn reply(flow: &mut Flow, fei: &Fei, from: &Fei, workitem: Workitem) {
    let Some(e) = flow.get(fei) else { return };
    let condition_child = e.state.get("condition_child").and_then(Value::as_bool) == Some(true);
    if !condition_child || from.child_index() != 0 {
        return flow.reply_to_parent(fei, workitem);
    }
    let unless = e.kind == "unless";
    if let Some(e) = flow.get_mut(fei) {
        e.state = Value::Null;
    }
    let branch = if result_is_true(&workitem) != unless { 1 } else { 2 };
    apply_branch(flow, fei, branch, workitem);
}

fn apply_branch(flow: &mut Flow, fei: &Fei, branch: usize, workitem: Workitem) {
    if branch < child_count(flow, fei) {
        flow.apply_child(fei, branch, workitem);
    } else {
        flow.reply_to_parent(fei, workitem);
    }
}
