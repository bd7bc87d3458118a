//! `noop`: does nothing and replies at once.

use super::super::flow::Flow;
use crate::model::*;
use crate::language::Node;

pub(crate) struct Noop;

impl super::Kind for Noop {
    const NAMES: &'static [&'static str] = &["noop"];
    type State = ();

    fn apply(flow: &mut Flow, fei: &Fei, _node: &Node, workitem: Workitem) {
        flow.reply_to_parent(fei, workitem);
    }
}
