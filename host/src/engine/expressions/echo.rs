//! `echo 'text'`: shows a line to whoever watches the job (dollar notation
//! resolved), then replies.

use super::super::flow::{Flow, FlowEvent};
use crate::model::*;
use crate::language::Node;
use serde_json::Value;

pub(crate) struct Echo;

impl super::Kind for Echo {
    const NAMES: &'static [&'static str] = &["echo"];
    type State = ();

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        apply(flow, fei, node, workitem)
    }
}

pub(crate) fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
    let raw = node.args.first().or_else(|| node.attr("text")).cloned().unwrap_or(Value::String(String::new()));
    match super::expand(flow, fei, node, &workitem, &raw) {
        Ok(v) => {
            flow.events.push(FlowEvent::Echo { text: super::value_text(&v) });
            flow.reply_to_parent(fei, workitem);
        }
        Err(e) => flow.fail(fei, e),
    }
}
