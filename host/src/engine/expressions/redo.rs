//! `redo` (`_redo`): cancels the expression tagged `ref:` (or the first
//! argument) and applies it again, with the fields it started with the
//! first time (Ruote: "a redo will restart with the workitem as it was when
//! the workitem entered the tagged region", unlike a cursor's `rewind`).
//!
//! ```ruby
//! sequence tag: 'deploy' do
//!   deploy_app
//!   _redo 'deploy', unless: '${healthy}'
//! end
//! ```
//!
//! The step replies at once unless the target encloses it (then it is
//! cancelled with it). Variables survive the redo; the target's own
//! `on_error` retry count starts over. A tag whose expression has ended is
//! nothing to do; a missing `ref` or a tag never applied is an error, as
//! for `undo`.

use super::super::flow::Flow;
use crate::model::*;
use super::command::is_ancestor;
use crate::language::Node;

pub(crate) struct Redo;

impl super::Kind for Redo {
    const NAMES: &'static [&'static str] = &["redo", "_redo"];
    const PROPERTIES: super::Properties = super::Properties { references_tag: true, ..super::Properties::PLAIN };
    type State = ();

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        apply(flow, fei, node, workitem)
    }
}

pub(crate) fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
    let target = match super::undo::tagged(flow, fei, node, &workitem) {
        Ok(t) => t,
        Err(e) => return flow.fail(fei, e),
    };
    let Some(target) = target.filter(|t| flow.get(t).is_some_and(|e| e.status == Status::Active)) else {
        return flow.reply_to_parent(fei, workitem);
    };
    let forgotten = flow.get(&target).is_some_and(|e| e.forgotten);
    if let Some(e) = flow.get_mut(&target)
        && !forgotten
    {
        // A forgotten expression already replied: applying it again would
        // reply twice, so it is only cancelled.
        e.after_cancel = Some(AfterCancel::Redo);
    }
    let encloses = &target == fei || is_ancestor(flow, &target, fei);
    flow.queue(Message::Cancel { fei: target, kill: false });
    if !encloses {
        flow.reply_to_parent(fei, workitem);
    }
}
