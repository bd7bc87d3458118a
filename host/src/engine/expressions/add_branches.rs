//! `add_branches` (`add_branch`): adds items — and so branches — to a
//! running `concurrent_iterator`: the nearest enclosing one, or the one
//! tagged `ref:`. Items are an array or comma-separated text (`sep:`), as
//! the first argument or `on:`/`on_val:`, `on_var:`, `on_field:`; on a
//! `times:` iterator a number adds that many indexes. New branches start
//! with the fields the iterator started with; unless the iterator has a
//! positive `count:`, it waits for them too.
//!
//! ```ruby
//! concurrent_iterator on: 'a, b' do
//!   deploy_tester host: '${v:i}'
//!   add_branches 'c, d', if: '${v:ii} == 0'
//! end
//! ```
//!
//! A tagged iterator that has ended is nothing to do (as in Ruote); no
//! iterator at all (no `ref:` and none enclosing), a tag never applied, or
//! a tag naming something else is an error.

use super::super::flow::Flow;
use crate::model::*;
use super::{attr, concurrent_iterator, expand, iterator};
use crate::language::Node;
use crate::language::dollar::Lookup;
use serde_json::Value;

pub(crate) struct AddBranches;

impl super::Kind for AddBranches {
    const NAMES: &'static [&'static str] = &["add_branches", "add_branch"];
    const PROPERTIES: super::Properties = super::Properties { references_tag: true, ..super::Properties::PLAIN };
    type State = ();

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        apply(flow, fei, node, workitem)
    }
}

pub(crate) fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
    let bad = |m: String| StepError::new(StepErrorKind::BadInput, format!("{}: {m}", node.name)).at_line(node.span.line);
    let list = match items(flow, fei, node, &workitem) {
        Ok(Some(list)) => list,
        Ok(None) => return flow.fail(fei, bad("which items? (add_branches 'c, d' or on: [...])".into())),
        Err(e) => return flow.fail(fei, e),
    };
    let target = if node.attr("ref").is_some() {
        match super::undo::tagged(flow, fei, node, &workitem) {
            Ok(Some(t)) => t,
            Ok(None) => return flow.reply_to_parent(fei, workitem),
            Err(e) => return flow.fail(fei, e),
        }
    } else {
        let mut cursor = flow.get(fei).and_then(|e| e.parent.clone());
        loop {
            match cursor.and_then(|c| flow.get(&c)) {
                Some(e) if e.kind == "concurrent_iterator" => break e.fei.clone(),
                Some(e) => cursor = e.parent.clone(),
                None => {
                    return flow.fail(fei, bad("not inside a concurrent_iterator (name one with ref: 'tag')".into()));
                }
            }
        }
    };
    let Some(kind) = flow.get(&target).map(|e| (e.kind.clone(), e.status.clone())) else {
        return flow.reply_to_parent(fei, workitem);
    };
    if kind.0 != "concurrent_iterator" {
        return flow.fail(fei, bad(format!("'{}' is a {}, not a concurrent_iterator", value_of_ref(node), kind.0)));
    }
    if kind.1 == Status::Active
        && let Err(e) = concurrent_iterator::add_branches(flow, &target, list)
    {
        return flow.fail(fei, e);
    }
    flow.reply_to_parent(fei, workitem);
}

fn value_of_ref(node: &Node) -> String {
    node.attr("ref").map(super::value_text).unwrap_or_default()
}

fn items(flow: &Flow, fei: &Fei, node: &Node, workitem: &Workitem) -> Result<Option<Vec<Value>>, StepError> {
    let missing = |what: &str, name: &str| {
        StepError::new(StepErrorKind::BadInput, format!("{}: {what} '{name}' is not set", node.name)).at_line(node.span.line)
    };
    let value = if let Some(f) = attr(node, &["on_field", "on_f", "on_fld"]) {
        let name = super::value_text(&expand(flow, fei, node, workitem, f)?);
        flow.lookup(fei, workitem).field(&name).ok_or_else(|| missing("field", &name))?
    } else if let Some(v) = attr(node, &["on_var", "on_v", "on_variable"]) {
        let name = super::value_text(&expand(flow, fei, node, workitem, v)?);
        flow.variable(fei, &name).ok_or_else(|| missing("variable", &name))?
    } else if let Some(v) = attr(node, &["on", "on_val", "on_value"]).or(node.args.first()) {
        expand(flow, fei, node, workitem, v)?
    } else {
        return Ok(None);
    };
    Ok(Some(iterator::split(node, value)))
}
