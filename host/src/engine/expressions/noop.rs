//! `noop`: does nothing and replies at once.

use super::super::flow::Flow;
use super::super::model::*;

pub(crate) fn apply(flow: &mut Flow, fei: &Fei, workitem: Workitem) {
    flow.reply_to_parent(fei, workitem);
}
