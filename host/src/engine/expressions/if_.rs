//! `if` (`_if`) and `unless` (`_unless`): a condition (first argument or
//! `test:`) chooses between the first child (then) and the second (else).

use super::super::flow::Flow;
use super::super::model::*;
use super::child_count;
use crate::language::{Node, condition};
use serde_json::Value;

pub(crate) fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
    let Some(test) = node.args.first().or_else(|| super::attr(node, &["test", "t"])) else {
        let e = StepError::new("bad-input", format!("{}: no condition (write {} '${{f:x}} == y' do ... end)", node.name, node.name));
        return flow.fail(fei, e.at_line(node.span.line));
    };
    let holds = match test {
        Value::String(s) => match condition::evaluate(s, &flow.lookup(fei, &workitem)) {
            Ok(h) => h,
            Err(e) => return flow.fail(fei, StepError::new("bad-input", format!("{}: {e}", node.name)).at_line(node.span.line)),
        },
        other => super::truthy(other),
    };
    let take_first = if node.name.trim_start_matches('_') == "unless" { !holds } else { holds };
    let branch = if take_first { 0 } else { 1 };
    if branch < child_count(flow, fei) {
        flow.apply_child(fei, branch, workitem);
    } else {
        flow.reply_to_parent(fei, workitem);
    }
}
