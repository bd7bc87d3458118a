//! `error 'message'`: fails the step on purpose (on_error handlers apply).

use super::super::flow::Flow;
use super::super::model::*;
use crate::language::Node;
use serde_json::Value;

pub(crate) fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
    let raw = node.args.first().or_else(|| node.attr("message")).cloned().unwrap_or(Value::String("error".into()));
    let error = match super::expand(flow, fei, node, &workitem, &raw) {
        Ok(v) => StepError::new("error", super::value_text(&v)).at_line(node.span.line),
        Err(e) => e,
    };
    flow.fail(fei, error);
}
