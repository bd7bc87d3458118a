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
use crate::model::*;
use super::equals::{RESULT_FIELD, result_is_true};
use super::{Kind, child_count, expand, set_state, state, update_state};
use crate::language::Node;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) struct Given;

impl Kind for Given {
    const NAMES: &'static [&'static str] = &["given"];
    type State = Subject;

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        let subject = match node.args.first().or_else(|| super::attr(node, &["test", "t"])) {
            Some(raw) => match expand(flow, fei, node, &workitem, raw) {
                Ok(v) => v,
                Err(e) => return flow.fail(fei, e),
            },
            None => Value::Null,
        };
        set_state::<Given>(flow, fei, &Subject { position: 0, subject });
        next(flow, fei, 0, workitem);
    }

    fn reply(flow: &mut Flow, fei: &Fei, _from: &Fei, workitem: Workitem) {
        if result_is_true(&workitem) {
            return end(flow, fei, workitem);
        }
        let position = state::<Given>(flow, fei).position;
        next(flow, fei, position + 1, workitem);
    }
}

/// What is compared, and which child runs.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Subject {
    #[serde(default)]
    pub position: usize,
    #[serde(default)]
    pub subject: Value,
}

pub(crate) const GIVEN_FIELD: &str = "__given__";

fn next(flow: &mut Flow, fei: &Fei, position: usize, mut workitem: Workitem) {
    if position >= child_count(flow, fei) {
        return end(flow, fei, workitem);
    }
    let subject = state::<Given>(flow, fei).subject;
    // Each child starts with the given's subject and no result.
    workitem.fields.remove(RESULT_FIELD);
    if subject.is_null() {
        workitem.fields.remove(GIVEN_FIELD);
    } else {
        workitem.fields.insert(GIVEN_FIELD.into(), subject);
    }
    update_state::<Given>(flow, fei, |s| s.position = position);
    flow.apply_child(fei, position, workitem);
}

fn end(flow: &mut Flow, fei: &Fei, mut workitem: Workitem) {
    workitem.fields.remove(GIVEN_FIELD);
    workitem.fields.remove(RESULT_FIELD);
    flow.reply_to_parent(fei, workitem);
}
