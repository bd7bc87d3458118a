//! `undo` / `cancel` and `kill`: cancel the expression tagged `ref:` (or
//! the first argument), as Ruote's: `undo ref: 'invoicing'`, `cancel
//! 'invoicing'`. The cancelled expression replies to its parent with the
//! fields it started with, so the flow goes on after it. `kill` cancels the
//! same way but skips the handlers an expression has pending for its
//! cancellation (an `on_error` or `on_timeout` handler that is cancelling it
//! to run a handler, retry or pass): it just goes.
//!
//! The step itself replies at once — unless the target encloses it, in
//! which case it is cancelled along with the target.
//!
//! A tag whose expression has already ended (or is already being
//! cancelled) is nothing to do, as in Ruote; a missing `ref`, or a tag never
//! applied in scope, is an error.

use super::super::flow::Flow;
use crate::model::*;
use super::command::is_ancestor;
use super::{expand, value_text};
use crate::language::Node;
use serde_json::Value;

pub(crate) struct Undo;

impl super::Kind for Undo {
    const NAMES: &'static [&'static str] = &["undo", "cancel", "kill"];
    const PROPERTIES: super::Properties = super::Properties { references_tag: true, ..super::Properties::PLAIN };
    type State = ();

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        apply(flow, fei, node, workitem)
    }
}

pub(crate) fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
    let target = match tagged(flow, fei, node, &workitem) {
        Ok(t) => t,
        Err(e) => return flow.fail(fei, e),
    };
    let Some(target) = target.filter(|t| flow.get(t).is_some_and(|e| e.status == Status::Active)) else {
        return flow.reply_to_parent(fei, workitem);
    };
    let kill = node.name == "kill";
    let encloses = &target == fei || is_ancestor(flow, &target, fei);
    flow.queue(Message::Cancel { fei: target, kill });
    if !encloses {
        flow.reply_to_parent(fei, workitem);
    }
}

/// The live expression a `ref:` (or first argument) names by its tag:
/// `None` when that expression has ended.
pub(crate) fn tagged(flow: &Flow, fei: &Fei, node: &Node, workitem: &Workitem) -> Result<Option<Fei>, StepError> {
    let bad = |m: String| StepError::new(StepErrorKind::BadInput, format!("{}: {m}", node.name)).at_line(node.span.line);
    let Some(raw) = node.attr("ref").or(node.args.first()) else {
        return Err(bad(format!("which expression? Name its tag: {} ref: 'tag' (or {} 'tag')", node.name, node.name)));
    };
    let tag = value_text(&expand(flow, fei, node, workitem, raw)?).trim().to_owned();
    if tag.is_empty() {
        return Err(bad(format!("an empty tag (write {} ref: 'tag')", node.name)));
    }
    match flow.variable(fei, &tag) {
        None => Err(bad(format!("no expression tagged '{tag}' has been applied in this scope"))),
        Some(Value::String(id)) if id.contains('!') => Ok(flow.get(&Fei(id.clone())).map(|e| e.fei.clone())),
        Some(other) => {
            Err(bad(format!("variable '{tag}' holds {}, not a tag", crate::language::tree::describe_value(&other))))
        }
    }
}
