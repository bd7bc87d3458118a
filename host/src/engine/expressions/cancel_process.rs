//! `cancel_process`: ends the whole job as canceled. `terminate` ends it as
//! completed, with the current fields.

use super::super::flow::Flow;
use crate::model::*;
use crate::language::Node;

pub(crate) struct CancelProcess;

impl super::Kind for CancelProcess {
    const NAMES: &'static [&'static str] = &["cancel_process", "terminate"];
    type State = ();

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        apply(flow, fei, node, workitem)
    }
}

pub(crate) fn apply(flow: &mut Flow, _fei: &Fei, node: &Node, workitem: Workitem) {
    let state = if node.name == "terminate" { JobState::Completed } else { JobState::Canceled };
    flow.finish(state, workitem.fields);
}
