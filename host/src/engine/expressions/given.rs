//! `given`: Ruote's case/switch. Its children run one after the other, as
//! in a sequence, until one of them says it matched — a `that` whose
//! condition held, an `of` equal to the subject — which ends the `given`.
//! Anything else among the children is the "else" part: it runs when
//! reached.
//!
//! ```ruby
//! given '${status}' do
//!   that '${location} == paris' do ... end   # a condition
//!   of 'ready' do ... end                    # status == 'ready'
//!   of '/^dead/' do ... end                  # a regular expression
//!   notify_campfire message: 'other'         # else
//! end
//! ```
//!
//! The subject (first argument or `t:`/`test:`) travels to the `of`s in the
//! field `__given__`; each `that`/`of` leaves `__result__`. Both fields are
//! removed when the `given` ends.

use super::super::flow::Flow;
use super::super::model::*;
use super::equals::{RESULT_FIELD, result_is_true};
use super::{child_count, expand};
use crate::language::Node;
use serde_json::{Value, json};

pub(crate) const GIVEN_FIELD: &str = "__given__";

pub(crate) fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
    let subject = match node.args.first().or_else(|| super::attr(node, &["test", "t"])) {
        Some(raw) => match expand(flow, fei, node, &workitem, raw) {
            Ok(v) => v,
            Err(e) => return flow.fail(fei, e),
        },
        None => Value::Null,
    };
    if let Some(e) = flow.get_mut(fei) {
        e.state = json!({ "position": 0, "subject": subject });
    }
    next(flow, fei, 0, workitem);
}

pub(crate) fn reply(flow: &mut Flow, fei: &Fei, workitem: Workitem) {
    let Some(e) = flow.get(fei) else { return };
    let position = e.state.get("position").and_then(Value::as_u64).unwrap_or(0) as usize;
    if result_is_true(&workitem) {
        return end(flow, fei, workitem);
    }
    next(flow, fei, position + 1, workitem);
}

fn next(flow: &mut Flow, fei: &Fei, position: usize, mut workitem: Workitem) {
    if position >= child_count(flow, fei) {
        return end(flow, fei, workitem);
    }
    let subject = flow.get(fei).and_then(|e| e.state.get("subject").cloned()).unwrap_or(Value::Null);
    // Each child starts with the given's subject and no result.
    workitem.fields.remove(RESULT_FIELD);
    if subject.is_null() {
        workitem.fields.remove(GIVEN_FIELD);
    } else {
        workitem.fields.insert(GIVEN_FIELD.into(), subject);
    }
    if let Some(e) = flow.get_mut(fei) {
        e.state["position"] = json!(position);
    }
    flow.apply_child(fei, position, workitem);
}

fn end(flow: &mut Flow, fei: &Fei, mut workitem: Workitem) {
    workitem.fields.remove(GIVEN_FIELD);
    workitem.fields.remove(RESULT_FIELD);
    flow.reply_to_parent(fei, workitem);
}
